package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

// The sync test package: a customer stocktake visit that field staff fill on
// their phones and submit, and the goods issue of the ledger tests (a
// transition with a stock effect, so a posting).
const syncPackage = `package: sync
version: 1.0.0
label: {zh-CN: 外勤同步, en: Field sync}
requires: {core: ^1.0}
`

const visitEntity = `entity: visit
label: {zh-CN: 客户盘点, en: Customer stocktake}
number: "CV-{seq:4}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  note: {type: text, label: {zh-CN: 备注, en: Note}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      counted: {type: quantity, required: true, min: 0, label: {zh-CN: 实盘数量, en: Counted}}
states:
  open: {initial: true, label: {zh-CN: 盘点中, en: Open}, editable_by: [field_staff]}
  submitted: {final: true, label: {zh-CN: 已提交, en: Submitted}}
transitions:
  submit: {from: open, to: submitted, roles: [field_staff], label: {zh-CN: 提交, en: Submit}}
access:
  field_staff: {read: "owner == user.id", create: true, update: "owner == user.id"}
`

// clock is a settable clock for the engine (leases run out when the test
// moves it on).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type syncFixture struct {
	st    store.Store
	eng   *Engine
	clk   *clock
	admin User
	fay   User // field staff
	ken   User // warehouse
	ids   map[string]string
}

// eachStore runs a test on SQLite and on MongoDB (FerretDB in-process).
func eachStore(t *testing.T, run func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		run(t, st)
	})
	t.Run("mongo", func(t *testing.T) { run(t, mongotest.Open(t)) })
}

func newSyncFixture(t *testing.T, st store.Store) *syncFixture {
	t.Helper()
	cat := fstest.MapFS{
		"sync/package.yaml":     {Data: []byte(syncPackage)},
		"sync/visit.yaml":       {Data: []byte(visitEntity)},
		"sync/goods_issue.yaml": {Data: []byte(goodsIssueEntity)},
	}
	entries, err := templates.FS.ReadDir("core")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := templates.FS.ReadFile("core/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		cat["core/"+e.Name()] = &fstest.MapFile{Data: data}
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sync", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	f := &syncFixture{st: st, eng: New(st, svc.Model, Options{Now: clk.now}), clk: clk,
		admin: User{ID: "u-admin", Roles: []string{"admin"}},
		fay:   User{ID: "u-fay", Name: "Fay", Roles: []string{"field_staff"}},
		ken:   User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}},
		ids:   map[string]string{}}
	for _, c := range []struct {
		entity, key string
		values      map[string]any
	}{
		{"warehouse", "WH1", map[string]any{"code": "WH1", "name": "杭州主仓"}},
		{"customer", "C1", map[string]any{"code": "C1", "name": "华东贸易"}},
		{"item", "A100", map[string]any{"code": "A100", "name": "Widget", "unit": "pcs"}},
	} {
		rec, err := f.eng.Create(ctx, f.admin, c.entity, c.values)
		if err != nil {
			t.Fatalf("create %s: %v", c.key, err)
		}
		f.ids[c.key] = rec.ID()
	}
	return f
}

func (f *syncFixture) count(t *testing.T, coll string) int64 {
	t.Helper()
	n, err := f.st.Count(ctx, coll, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// visitOp is the create of a visit counting qty of A100 at C1.
func (f *syncFixture) visitOp(key, qty string) Op {
	return Op{Key: key, Op: OpCreate, Entity: "visit", Values: map[string]any{
		"customer": f.ids["C1"], "lines": []any{map[string]any{"item": f.ids["A100"], "counted": qty}}}}
}

// same compares two results as a client sees them: the record's JSON, the
// warnings, the approval, the error's text and kind.
func same(t *testing.T, what string, a, b Result) {
	t.Helper()
	ja, _ := json.Marshal(a.Record)
	jb, _ := json.Marshal(b.Record)
	ea, eb := fmt.Sprint(a.Err), fmt.Sprint(b.Err)
	if string(ja) != string(jb) || ea != eb || errorKind(a.Err) != errorKind(b.Err) || a.Approval != b.Approval ||
		!reflect.DeepEqual(a.Warnings, b.Warnings) || a.Key != b.Key {
		t.Fatalf("%s: results differ:\n%s %v\n%s %v", what, ja, a.Err, jb, b.Err)
	}
	var va, vb *ValidationError
	if errors.As(a.Err, &va) != errors.As(b.Err, &vb) || va != nil && !reflect.DeepEqual(codes(a.Err), codes(b.Err)) {
		t.Fatalf("%s: validation errors differ: %v / %v", what, a.Err, b.Err)
	}
}

// A batch sent twice (the phone never saw the answer) gives the same results
// and writes nothing the second time: a create, a transition on it by
// reference, an update of a record that does not exist, an invalid create.
func TestBatchReplayReturnsTheSameResults(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		bad := f.visitOp("v-bad", "-1")
		ops := []Op{
			f.visitOp("v-1", "12"),
			{Key: "v-1-submit", Op: OpTransition, Entity: "visit", ID: "$0", Transition: "submit"},
			{Key: "v-ghost", Op: OpUpdate, Entity: "visit", ID: "no-such-id", Version: 1, Values: map[string]any{"note": "x"}},
			bad,
			{Key: "v-bad-submit", Op: OpTransition, Entity: "visit", Ref: "v-bad", Transition: "submit"},
		}
		first, err := f.eng.Batch(ctx, f.fay, ops)
		if err != nil {
			t.Fatal(err)
		}
		if first[0].Err != nil || first[0].Record["state"] != "open" {
			t.Fatalf("create: %+v", first[0])
		}
		if first[1].Err != nil || first[1].Record.ID() != first[0].Record.ID() || first[1].Record["state"] != "submitted" || first[1].Record.Version() != 2 {
			t.Fatalf("submit by reference: %+v", first[1])
		}
		if !errors.Is(first[2].Err, ErrNotFound) {
			t.Fatalf("update of a missing record: %v", first[2].Err)
		}
		if got := codes(first[3].Err); !reflect.DeepEqual(got, []string{"lines[0].counted:min"}) {
			t.Fatalf("invalid create: %v", got)
		}
		if got := codes(first[4].Err); !reflect.DeepEqual(got, []string{"ref:ref_failed"}) {
			t.Fatalf("reference to a failed operation: %v", got)
		}
		visits, audits := f.count(t, "visit"), f.count(t, auditColl)
		again, err := f.eng.Batch(ctx, f.fay, ops)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ops {
			same(t, fmt.Sprintf("operation %d", i), first[i], again[i])
		}
		for i, replayed := range []bool{true, true, true, true, false} {
			if again[i].Replayed != replayed { // op 4 never reached the store: it is checked again
				t.Fatalf("operation %d replayed = %v", i, again[i].Replayed)
			}
		}
		if again[1].Record.Version() != 2 {
			t.Fatalf("replayed version: %v", again[1].Record["version"])
		}
		if v, a := f.count(t, "visit"), f.count(t, auditColl); v != visits || a != audits || v != 1 {
			t.Fatalf("the replay wrote: visits %d → %d, audit %d → %d", visits, v, audits, a)
		}
		// The keys are the user's: another user's same key is another request.
		other := User{ID: "u-gus", Roles: []string{"field_staff"}}
		res := f.eng.Once(ctx, other, f.visitOp("v-1", "12"))
		if res.Err != nil || res.Replayed || res.Record.ID() == first[0].Record.ID() {
			t.Fatalf("another user's key: %+v", res)
		}
	})
}

// The same key with other content is refused, and the first result stays.
func TestBatchKeyReusedWithOtherContent(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		first := f.eng.Once(ctx, f.fay, f.visitOp("k", "5"))
		if first.Err != nil {
			t.Fatal(first.Err)
		}
		res := f.eng.Once(ctx, f.fay, f.visitOp("k", "6"))
		if got := codes(res.Err); !reflect.DeepEqual(got, []string{"key:key_reused"}) {
			t.Fatalf("other content: %v", res.Err)
		}
		if again := f.eng.Once(ctx, f.fay, f.visitOp("k", "5")); !again.Replayed || again.Record.ID() != first.Record.ID() {
			t.Fatalf("the first content again: %+v", again)
		}
		if n := f.count(t, "visit"); n != 1 {
			t.Fatalf("%d visits", n)
		}
	})
}

// Twenty attempts with one key at once: exactly one applies, every one
// answers with its result.
func TestBatchConcurrentReplays(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		op := f.visitOp("same", "3")
		results := make([]Result, 20)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = f.eng.Once(ctx, f.fay, op)
			}()
		}
		wg.Wait()
		applied := 0
		for i, r := range results {
			if r.Err != nil {
				t.Fatalf("attempt %d: %v", i, r.Err)
			}
			if r.Record.ID() != results[0].Record.ID() {
				t.Fatalf("attempt %d got record %s, attempt 0 %s", i, r.Record.ID(), results[0].Record.ID())
			}
			if !r.Replayed {
				applied++
			}
		}
		if applied != 1 {
			t.Fatalf("%d attempts applied", applied)
		}
		if n := f.count(t, "visit"); n != 1 {
			t.Fatalf("%d visits", n)
		}
	})
}

// crashAfterWrite runs op the way once does but stops before the key is
// completed: the writer died between its writes and the key's result.
func (f *syncFixture) crashAfterWrite(t *testing.T, u User, op Op) Result {
	t.Helper()
	rv, stored, err := f.eng.reserve(ctx, u, op)
	if err != nil || stored != nil {
		t.Fatalf("reserve: %v %v", stored, err)
	}
	res := f.eng.execute(ctx, u, rv, op, op.ID, op.Version)
	if res.Err != nil {
		t.Fatalf("%s: %v", op.Op, res.Err)
	}
	return res
}

// A writer that died after writing and before storing the key's result: the
// replay (once the lease ran out) finds the write and completes the key; it
// does not write again.
func TestBatchCrashBetweenWriteAndKey(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		create := f.visitOp("crash-create", "7")
		lost := f.crashAfterWrite(t, f.fay, create)
		// The audit entry of the creation was lost with the writer too.
		if err := f.st.Delete(ctx, auditColl, auditOf(t, f, lost.Record.ID()).ID(), 1); err != nil {
			t.Fatal(err)
		}
		f.clk.add(leaseFor + time.Second)
		res := f.eng.Once(ctx, f.fay, create)
		if res.Err != nil || res.Record.ID() != lost.Record.ID() || res.Record["number"] != lost.Record["number"] {
			t.Fatalf("replay after the crash: %+v, first %v", res, lost.Record)
		}
		if n := f.count(t, "visit"); n != 1 {
			t.Fatalf("%d visits", n)
		}
		if auditOf(t, f, lost.Record.ID()) == nil {
			t.Fatal("the creation's audit entry was not written by the replay")
		}
		if again := f.eng.Once(ctx, f.fay, create); !again.Replayed || again.Record.ID() != lost.Record.ID() {
			t.Fatalf("the key is not completed: %+v", again)
		}

		// An update, and a transition without effects.
		id := lost.Record.ID()
		update := Op{Key: "crash-update", Op: OpUpdate, Entity: "visit", ID: id, Version: 1, Values: map[string]any{"note": "门店已关"}}
		f.crashAfterWrite(t, f.fay, update)
		f.clk.add(leaseFor + time.Second)
		if res := f.eng.Once(ctx, f.fay, update); res.Err != nil || res.Record.Version() != 2 || res.Record["note"] != "门店已关" {
			t.Fatalf("update replayed after the crash: %+v", res)
		}
		submit := Op{Key: "crash-submit", Op: OpTransition, Entity: "visit", ID: id, Version: 2, Transition: "submit"}
		f.crashAfterWrite(t, f.fay, submit)
		f.clk.add(leaseFor + time.Second)
		if res := f.eng.Once(ctx, f.fay, submit); res.Err != nil || res.Record.Version() != 3 || res.Record["state"] != "submitted" {
			t.Fatalf("transition replayed after the crash: %+v", res)
		}
		rec, err := f.eng.Get(ctx, f.fay, "visit", id)
		if err != nil || rec.Version() != 3 {
			t.Fatalf("the record was written again: %v %v", rec, err)
		}

	})
}

// auditOf returns the creation entry of a record, or nil.
func auditOf(t *testing.T, f *syncFixture, id string) store.Doc {
	t.Helper()
	page, err := f.st.Find(ctx, auditColl, store.Query{Filter: store.And(store.Eq("record", id), store.Eq("action", "create"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Docs) == 0 {
		return nil
	}
	return page.Docs[0]
}

// A transition with a stock effect whose writer died in the middle of its
// posting (the stock taken and the record written, the audit entry not yet):
// the replay finishes the posting and answers with the record; the stock
// moved once.
func TestBatchCrashInsidePosting(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		if err := f.eng.OpeningStock(ctx, f.admin, f.ids["A100"], f.ids["WH1"], dec("10")); err != nil {
			t.Fatal(err)
		}
		gi, err := f.eng.Create(ctx, f.ken, "goods_issue", map[string]any{"warehouse": f.ids["WH1"],
			"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "4"}}})
		if err != nil {
			t.Fatal(err)
		}
		op := Op{Key: "issue-1", Op: OpTransition, Entity: "goods_issue", ID: gi.ID(), Version: 1, Transition: "issue"}
		rv, _, err := f.eng.reserve(ctx, f.ken, op)
		if err != nil {
			t.Fatal(err)
		}
		// Plan and stage the posting as Transition does, apply its first
		// write (the record), and stop.
		_, ent, _ := f.eng.entity("goods_issue")
		tr, _ := ent.Decl.Transitions.Get("issue")
		before, _ := f.eng.get(ctx, "goods_issue", gi.ID())
		rec, others, _, _, err := f.eng.evaluator(ctx, ent, f.ken).plan(tr, "issue", before, map[string]any{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		writes := orderPosting(write{Op: "replace", Coll: "goods_issue", ID: gi.ID(), From: 1, Doc: bare(rec), Before: bare(before)}, others)
		rctx := withRequest(ctx, rv.req)
		doc, err := f.eng.stage(rctx, writes)
		if err != nil {
			t.Fatal(err)
		}
		if doc.ID() != rv.req.id {
			t.Fatalf("the posting's id %s is not the request's %s", doc.ID(), rv.req.id)
		}
		var first int
		for i, w := range writes {
			if w.Coll == "goods_issue" {
				first = i
			}
		}
		for i := 0; i <= first; i++ {
			if writes[i].Op == "bump" {
				if _, err := f.eng.applyBump(ctx, doc.ID(), i, writes[i], false, map[string]string{}); err != nil {
					t.Fatal(err)
				}
			} else if err := f.eng.apply(ctx, doc.ID(), writes[i], false); err != nil {
				t.Fatal(err)
			}
		}
		f.clk.add(leaseFor + time.Second)
		res := f.eng.Once(ctx, f.ken, op)
		if res.Err != nil || res.Record["state"] != "issued" || res.Record.Version() != 2 {
			t.Fatalf("replay of the interrupted issue: %+v", res)
		}
		bin, err := f.st.Get(ctx, binsColl, binID(f.ids["A100"], f.ids["WH1"]))
		if err != nil {
			t.Fatal(err)
		}
		if oh := bin["on_hand"]; fmt.Sprint(oh) != "6" {
			t.Fatalf("on hand %v after issuing 4 of 10 once", oh)
		}
		if again := f.eng.Once(ctx, f.ken, op); !again.Replayed || again.Record.Version() != 2 {
			t.Fatalf("second replay: %+v", again)
		}
		if fmt.Sprint(mustGet(t, f.st, binsColl, binID(f.ids["A100"], f.ids["WH1"]))["on_hand"]) != "6" {
			t.Fatal("the second replay moved stock")
		}
	})
}

func mustGet(t *testing.T, st store.Store, coll, id string) store.Doc {
	t.Helper()
	d, err := st.Get(ctx, coll, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Errors are results too: a stale version is kept as a conflict, a stock
// shortage with its lines; a record changed by a keyed update loses the
// stamp at the next unkeyed write.
func TestBatchStoredErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		v := f.eng.Once(ctx, f.fay, f.visitOp("v", "1"))
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		stale := Op{Key: "stale", Op: OpUpdate, Entity: "visit", ID: v.Record.ID(), Version: 9, Values: map[string]any{"note": "x"}}
		first := f.eng.Once(ctx, f.fay, stale)
		again := f.eng.Once(ctx, f.fay, stale)
		if !errors.Is(first.Err, ErrConflict) || !errors.Is(again.Err, ErrConflict) || !again.Replayed {
			t.Fatalf("stale update: %v / %+v", first.Err, again)
		}
		same(t, "stale update", first, again)

		gi, err := f.eng.Create(ctx, f.ken, "goods_issue", map[string]any{"warehouse": f.ids["WH1"],
			"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "4"}}})
		if err != nil {
			t.Fatal(err)
		}
		issue := Op{Key: "short", Op: OpTransition, Entity: "goods_issue", ID: gi.ID(), Version: 1, Transition: "issue"}
		first = f.eng.Once(ctx, f.ken, issue)
		again = f.eng.Once(ctx, f.ken, issue)
		var ve *ValidationError
		if !errors.As(again.Err, &ve) || !again.Replayed {
			t.Fatalf("short stock replayed: %+v", again)
		}
		same(t, "short stock", first, again)

		// Bad operations are reported field by field and reserve nothing.
		res, err := f.eng.Batch(ctx, f.fay, []Op{
			{Op: OpCreate, Entity: "visit"},
			{Key: "x", Op: "delete", Entity: "visit"},
			{Key: "y", Op: OpUpdate, Entity: "visit"},
			{Key: "z", Op: OpTransition, Entity: "visit", ID: "$5", Version: 1, Transition: "submit"},
			ParseOp(map[string]any{"key": "w", "op": "update", "entity": "visit", "id": v.Record.ID(), "version": "two", "values": []any{}, "color": "red"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"key:required"},
			{"op:unknown_op"},
			{"id:required", "version:required"},
			{"id:bad_ref"},
			{"color:unknown_field", "values:not_an_object", "version:not_a_number"},
		}
		for i, w := range want {
			if got := codes(res[i].Err); !reflect.DeepEqual(got, w) {
				t.Errorf("operation %d: %v, want %v", i, got, w)
			}
		}
		if n, err := f.st.Count(ctx, keysColl, store.Eq("user", f.fay.ID)); err != nil || n != 2 {
			t.Fatalf("fay holds %d keys (%v), want 2", n, err)
		}
		if _, err := f.eng.Batch(ctx, f.fay, make([]Op, MaxBatch+1)); !errors.Is(err, ErrBatchTooLarge) {
			t.Fatalf("a batch too large: %v", err)
		}
	})
}

// Keys expire after KeyRetention: PurgeKeys removes them, and a key past its
// retention is a new request even before it is purged.
func TestBatchKeysExpire(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newSyncFixture(t, st)
		first := f.eng.Once(ctx, f.fay, f.visitOp("old", "1"))
		f.eng.Once(ctx, f.fay, f.visitOp("kept", "1"))
		if first.Err != nil {
			t.Fatal(first.Err)
		}
		f.clk.add(KeyRetention - time.Hour)
		if n, err := f.eng.PurgeKeys(ctx); err != nil || n != 0 {
			t.Fatalf("purged %d (%v) within the retention", n, err)
		}
		if r := f.eng.Once(ctx, f.fay, f.visitOp("old", "1")); !r.Replayed || r.Record.ID() != first.Record.ID() {
			t.Fatalf("within the retention: %+v", r)
		}
		f.clk.add(2 * time.Hour)
		r := f.eng.Once(ctx, f.fay, f.visitOp("old", "2")) // past it: new content is fine
		if r.Err != nil || r.Replayed || r.Record.ID() == first.Record.ID() {
			t.Fatalf("past the retention: %+v", r)
		}
		if n, err := f.eng.PurgeKeys(ctx); err != nil || n != 1 {
			t.Fatalf("purged %d (%v), want the kept key only", n, err)
		}
		if n := f.count(t, keysColl); n != 1 {
			t.Fatalf("%d keys left, want the renewed one", n)
		}
	})
}
