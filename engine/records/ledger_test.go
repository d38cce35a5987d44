package records

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

// The stock test package: the stocktake of the inventory template tests
// (engine/templatetest/testdata/inventory/stocktake.yaml) and a goods issue
// whose transition checks the stock with stock() and takes it out.
const stockPackage = `package: stock
version: 1.0.0
label: {zh-CN: 库存, en: Stock}
requires: {core: ^1.0}
`

const stocktakeEntity = `entity: stocktake
label: {zh-CN: 盘点单, en: Stocktake}
number: "ST-{seq:4}"
fields:
  warehouse: {type: link, to: warehouse, required: true, label: {zh-CN: 仓库, en: Warehouse}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      counted: {type: quantity, required: true, min: 0, label: {zh-CN: 实盘数量, en: Counted}}
states:
  counting: {initial: true, label: {zh-CN: 盘点中, en: Counting}, editable_by: [warehouse]}
  posted: {final: true, label: {zh-CN: 已过账, en: Posted}}
transitions:
  post:
    from: counting
    to: posted
    roles: [warehouse]
    label: {zh-CN: 盘点过账, en: Post}
    effects:
      - stock: {move: count, warehouse: warehouse, lines: lines, item: .item, qty: .counted}
access:
  warehouse: {read: true, create: true, update: true}
`

const goodsIssueEntity = `entity: goods_issue
label: {zh-CN: 出库单, en: Goods issue}
number: "GI-{seq:4}"
fields:
  warehouse: {type: link, to: warehouse, required: true, label: {zh-CN: 仓库, en: Warehouse}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, min: 0.001, label: {zh-CN: 数量, en: Quantity}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [warehouse]}
  issued: {final: true, label: {zh-CN: 已出库, en: Issued}}
transitions:
  issue:
    from: draft
    to: issued
    roles: [warehouse]
    label: {zh-CN: 出库, en: Issue}
    checks:
      - check: "all(lines, stock(.item, warehouse) >= .qty)"
        message: {zh-CN: 库存不足, en: Not enough stock}
    effects:
      - stock: {move: out, warehouse: warehouse, lines: lines, item: .item, qty: .qty}
access:
  warehouse: {read: true, create: true, update: true}
`

// ledgerFixture is a store with core and the stock package installed, two
// warehouses and the items asked for (by code).
type ledgerFixture struct {
	st    store.Store
	eng   *Engine
	admin User
	ken   User // warehouse keeper
	wh    string
	wh2   string
	items map[string]string // code → id
}

func newLedgerFixture(tb testing.TB, items ...string) *ledgerFixture {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "yerp.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	cat := fstest.MapFS{
		"stock/package.yaml":     {Data: []byte(stockPackage)},
		"stock/stocktake.yaml":   {Data: []byte(stocktakeEntity)},
		"stock/goods_issue.yaml": {Data: []byte(goodsIssueEntity)},
	}
	entries, err := templates.FS.ReadDir("core")
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := templates.FS.ReadFile("core/" + e.Name())
		if err != nil {
			tb.Fatal(err)
		}
		cat["core/"+e.Name()] = &fstest.MapFile{Data: data}
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.Install(ctx, "stock", packages.Options{}); err != nil {
		tb.Fatal(err)
	}
	f := &ledgerFixture{st: st, eng: New(st, svc.Model, Options{}),
		admin: User{ID: "u-admin", Roles: []string{"admin"}},
		ken:   User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}},
		items: map[string]string{}}
	for _, wh := range []struct{ code, name string }{{"WH1", "杭州主仓"}, {"WH2", "宁波分仓"}} {
		rec, err := f.eng.Create(ctx, f.admin, "warehouse", map[string]any{"code": wh.code, "name": wh.name})
		if err != nil {
			tb.Fatal(err)
		}
		if wh.code == "WH1" {
			f.wh = rec.ID()
		} else {
			f.wh2 = rec.ID()
		}
	}
	for _, code := range items {
		rec, err := f.eng.Create(ctx, f.admin, "item", map[string]any{"code": code, "name": "Item " + code, "unit": "pcs"})
		if err != nil {
			tb.Fatalf("create item %s: %v", code, err)
		}
		f.items[code] = rec.ID()
	}
	return f
}

// open posts opening stock of an item into WH1.
func (f *ledgerFixture) open(tb testing.TB, code, qty string) {
	tb.Helper()
	if err := f.eng.OpeningStock(ctx, f.admin, f.items[code], f.wh, dec(qty)); err != nil {
		tb.Fatalf("opening stock of %s: %v", code, err)
	}
}

// onHand is the on-hand quantity of an item in WH1.
func (f *ledgerFixture) onHand(tb testing.TB, code string) decimal.Decimal {
	tb.Helper()
	b, err := f.eng.Stock(ctx, f.items[code], f.wh)
	if err != nil {
		tb.Fatal(err)
	}
	return b.OnHand
}

// wantStock fails unless every item has the on-hand quantity given.
func (f *ledgerFixture) wantStock(tb testing.TB, want map[string]string) {
	tb.Helper()
	for code, q := range want {
		if got := f.onHand(tb, code); !got.Equal(dec(q)) {
			tb.Errorf("%s on hand %s, want %s", code, got, q)
		}
	}
}

// verify fails on any difference between the balances and their ledgers.
func (f *ledgerFixture) verify(tb testing.TB) {
	tb.Helper()
	ms, err := f.eng.Verify(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range ms {
		tb.Errorf("verify: %s", m)
	}
}

// doc creates, as the keeper, a stocktake ("counted") or goods issue ("qty")
// in warehouse wh with one line per code and value, in the order given: code,
// value, code, value...
func (f *ledgerFixture) doc(tb testing.TB, entity, wh string, pairs ...string) Record {
	tb.Helper()
	col := "qty"
	if entity == "stocktake" {
		col = "counted"
	}
	var lines []any
	for i := 0; i+1 < len(pairs); i += 2 {
		id, ok := f.items[pairs[i]]
		if !ok {
			tb.Fatalf("no item %s", pairs[i])
		}
		lines = append(lines, map[string]any{"item": id, col: pairs[i+1]})
	}
	rec, err := f.eng.Create(ctx, f.ken, entity, map[string]any{"warehouse": wh, "lines": lines})
	if err != nil {
		tb.Fatalf("create %s: %v", entity, err)
	}
	return rec
}

// plannedWrites plans transition name on a record the way Transition does,
// without writing: the record's replace, then the writes of its effects.
func (f *ledgerFixture) plannedWrites(tb testing.TB, entity, id, name string) []write {
	tb.Helper()
	_, ent, err := f.eng.entity(entity)
	if err != nil {
		tb.Fatal(err)
	}
	t, _ := ent.Decl.Transitions.Get(name)
	before, err := f.eng.get(ctx, entity, id)
	if err != nil {
		tb.Fatal(err)
	}
	rec, others, _, _, err := f.eng.evaluator(ctx, ent, f.ken).plan(t, name, before, map[string]any{}, 0)
	if err != nil {
		tb.Fatalf("plan %s: %v", name, err)
	}
	return append([]write{{Op: "replace", Coll: entity, ID: id, From: before.Version(), Doc: bare(rec), Before: bare(before)}}, others...)
}

// storePosting stores writes as a pending posting, as post does before it
// applies them (the intent of a writer that is about to crash).
func (f *ledgerFixture) storePosting(tb testing.TB, writes []write) string {
	tb.Helper()
	return stageCrashed(tb, f.eng, writes).ID()
}

// step applies step i of a stored posting, as run does.
func (f *ledgerFixture) step(tb testing.TB, pid string, i int, w write) {
	tb.Helper()
	var err error
	if w.Op == "bump" {
		_, err = f.eng.applyBump(ctx, pid, i, w, false, map[string]string{})
	} else {
		err = f.eng.apply(ctx, pid, w, false)
	}
	if err != nil {
		tb.Fatalf("step %d of posting %s: %v", i, pid, err)
	}
}

// entriesOf counts the stock ledger entries a posting wrote.
func (f *ledgerFixture) entriesOf(tb testing.TB, pid string) int64 {
	tb.Helper()
	n, err := f.st.Count(ctx, stockLedgerColl, store.Eq(fPosting, pid))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// recoverOne runs Recover as the server does after a crash and expects it to
// handle exactly one posting.
func (f *ledgerFixture) recoverOne(tb testing.TB) {
	tb.Helper()
	if n, err := f.eng.Recover(ctx, time.Hour); err != nil || n != 0 {
		tb.Fatalf("a fresh posting is left to its writer: %d %v", n, err)
	}
	if n, err := f.eng.Recover(ctx, 0); err != nil || n != 1 {
		tb.Fatalf("recover: %d postings, %v; want 1", n, err)
	}
}

func (f *ledgerFixture) postingStatus(tb testing.TB, pid string) any {
	tb.Helper()
	d, err := f.st.Get(ctx, postingsColl, pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d["status"]
}

// A stocktake posting interrupted after its record and its first move is
// finished by Recover: every bin at its count, one entry per line, the books
// agree.
func TestLedgerRecoverFinishesInterruptedStocktake(t *testing.T) {
	f := newLedgerFixture(t, "A100", "B200", "C300")
	f.open(t, "A100", "10")
	f.open(t, "B200", "20")
	f.open(t, "C300", "30")
	st := f.doc(t, "stocktake", f.wh, "A100", "7", "B200", "25", "C300", "31")
	writes := f.plannedWrites(t, "stocktake", st.ID(), "post")
	if len(writes) != 4 || writes[0].Op != "replace" || writes[1].Op != "bump" || writes[3].Op != "bump" {
		t.Fatalf("planned writes: %d", len(writes))
	}
	pid := f.storePosting(t, writes)
	for i, w := range writes[:2] { // the record and A100; then the crash
		f.step(t, pid, i, w)
	}
	f.wantStock(t, map[string]string{"A100": "7", "B200": "20", "C300": "30"})

	f.recoverOne(t)
	f.wantStock(t, map[string]string{"A100": "7", "B200": "25", "C300": "31"})
	f.verify(t)
	if s := f.postingStatus(t, pid); s != postingDone {
		t.Fatalf("posting status %v", s)
	}
	if n := f.entriesOf(t, pid); n != 3 {
		t.Fatalf("%d ledger entries of the posting, want 3 (one per line)", n)
	}
	if d, _ := f.st.Get(ctx, "stocktake", st.ID()); d["state"] != "posted" {
		t.Fatalf("stocktake after recovery: %v", d["state"])
	}
	e, err := f.st.Get(ctx, stockLedgerColl, pid+":1")
	if err != nil {
		t.Fatal(err)
	}
	if e["kind"] != "count" || !decField(e, "qty").Equal(dec("-3")) || !decField(e, "expected").Equal(dec("10")) ||
		!decField(e, "counted").Equal(dec("7")) || !decField(e, "balance").Equal(dec("7")) {
		t.Fatalf("entry of A100: %v", e)
	}
	// Running it again changes nothing.
	if n, err := f.eng.Recover(ctx, 0); err != nil || n != 0 {
		t.Fatalf("second recover: %d %v", n, err)
	}
	f.wantStock(t, map[string]string{"A100": "7", "B200": "25", "C300": "31"})
}

// An interrupted issue whose replay finds the stock of a later line gone (a
// move made meanwhile) is rolled back whole: the bins it moved are back, the
// record is back in its state, and none of its entries remain.
func TestLedgerRecoverRollsBackShortReplay(t *testing.T) {
	f := newLedgerFixture(t, "A100", "B200")
	f.open(t, "A100", "10")
	f.open(t, "B200", "6")
	gi := f.doc(t, "goods_issue", f.wh, "A100", "4", "B200", "5")
	writes := f.plannedWrites(t, "goods_issue", gi.ID(), "issue")
	pid := f.storePosting(t, writes)
	for i, w := range writes[:2] { // the record and A100
		f.step(t, pid, i, w)
	}
	f.wantStock(t, map[string]string{"A100": "6", "B200": "6"})
	// Meanwhile another issue takes 3 of B200: 3 left, the crashed one wants 5.
	other := f.doc(t, "goods_issue", f.wh, "B200", "3")
	if _, err := f.eng.Transition(ctx, f.ken, "goods_issue", other.ID(), "issue", other.Version(), nil); err != nil {
		t.Fatal(err)
	}

	f.recoverOne(t)
	f.wantStock(t, map[string]string{"A100": "10", "B200": "3"})
	if s := f.postingStatus(t, pid); s != postingRolledBack {
		t.Fatalf("posting status %v, want %s", s, postingRolledBack)
	}
	if n := f.entriesOf(t, pid); n != 0 {
		t.Fatalf("%d ledger entries of a rolled back posting", n)
	}
	if n, _ := f.st.Count(ctx, stockLedgerColl, store.Eq("voucher", gi.ID())); n != 0 {
		t.Fatalf("%d ledger entries name the rolled back issue", n)
	}
	if d, _ := f.st.Get(ctx, "goods_issue", gi.ID()); d["state"] != "draft" {
		t.Fatalf("issue after the roll back: %v", d["state"])
	}
	for _, code := range []string{"A100", "B200"} {
		if l := f.liveKeys(t, code); len(l) != 0 {
			t.Fatalf("bin of %s keeps keys of pending postings: %v", code, l)
		}
	}
	f.verify(t)
}

// liveKeys lists the keys of a bin's pending list whose posting is pending.
func (f *ledgerFixture) liveKeys(tb testing.TB, code string) []any {
	tb.Helper()
	d, _ := f.st.Get(ctx, binsColl, binID(f.items[code], f.wh))
	l, _ := d[fPending].([]any)
	live, err := f.eng.livePending(ctx, l, map[string]string{})
	if err != nil {
		tb.Fatal(err)
	}
	return live
}

// A crash after a bin was moved but before its entry was written (the bin
// holds the step's key in "pending", the entry is missing): Recover writes
// the entry with the balance the move left and does not move the bin again.
func TestLedgerRecoverAfterBinMovedBeforeEntry(t *testing.T) {
	f := newLedgerFixture(t, "A100", "B200")
	f.open(t, "A100", "10")
	f.open(t, "B200", "10")
	gi := f.doc(t, "goods_issue", f.wh, "A100", "3", "B200", "2")
	writes := f.plannedWrites(t, "goods_issue", gi.ID(), "issue")
	pid := f.storePosting(t, writes)
	f.step(t, pid, 0, writes[0])
	f.step(t, pid, 1, writes[1])
	// Undo the entry's insert: the state of a crash between the two writes.
	key := fmt.Sprintf("%s:%d", pid, 1)
	e, err := f.st.Get(ctx, stockLedgerColl, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Delete(ctx, stockLedgerColl, key, e.Version()); err != nil {
		t.Fatal(err)
	}
	bin, _ := f.st.Get(ctx, binsColl, binID(f.items["A100"], f.wh))
	if pendingKey(bin, key) == nil || !decField(bin, fOnHand).Equal(dec("7")) {
		t.Fatalf("bin after the crash: %v", bin)
	}
	// Something else moves A100 before recovery: 1 more in.
	f.open(t, "A100", "1")

	f.recoverOne(t)
	f.wantStock(t, map[string]string{"A100": "8", "B200": "8"})
	f.verify(t)
	e, err = f.st.Get(ctx, stockLedgerColl, key)
	if err != nil {
		t.Fatalf("the missing entry was not written: %v", err)
	}
	if !decField(e, "qty").Equal(dec("-3")) || !decField(e, "balance").Equal(dec("7")) {
		t.Fatalf("entry written at recovery: qty %v balance %v, want -3 and 7 (the balance the move left)", e["qty"], e["balance"])
	}
	if n := f.entriesOf(t, pid); n != 2 {
		t.Fatalf("%d entries of the posting, want 2", n)
	}
	if s := f.postingStatus(t, pid); s != postingDone {
		t.Fatalf("posting status %v", s)
	}
	if l := f.liveKeys(t, "A100"); len(l) != 0 {
		t.Fatalf("keys of pending postings left after recovery: %v", l)
	}
}

// stock() in a transition's check reads every line's bin (loaded at once for
// the record's items) per warehouse, before any move; the effect then sees the
// moves planned by the lines before it.
func TestLedgerStockFunctionInChecks(t *testing.T) {
	f := newLedgerFixture(t, "A100", "B200", "C300", "D400")
	f.open(t, "A100", "10")
	f.open(t, "B200", "2")
	f.open(t, "D400", "1")

	refusedByCheck := func(rec Record) {
		t.Helper()
		opts, err := f.eng.Transitions(ctx, f.ken, "goods_issue", rec.ID())
		if err != nil {
			t.Fatal(err)
		}
		if len(opts) != 1 || opts[0].Allowed || opts[0].Reason != "check" || opts[0].Message["en"] != "Not enough stock" {
			t.Fatalf("options: %+v", opts)
		}
		_, err = f.eng.Transition(ctx, f.ken, "goods_issue", rec.ID(), "issue", rec.Version(), nil)
		if got := codes(err); strings.Join(got, " ") != ":check" {
			t.Fatalf("issue: %v", got)
		}
	}
	// B200 has 2, the third line wants 3.
	refusedByCheck(f.doc(t, "goods_issue", f.wh, "A100", "5", "D400", "1", "B200", "3"))
	// C300 was never in stock.
	refusedByCheck(f.doc(t, "goods_issue", f.wh, "A100", "1", "C300", "1"))
	// A100 is in WH1, not WH2.
	refusedByCheck(f.doc(t, "goods_issue", f.wh2, "A100", "1"))
	f.wantStock(t, map[string]string{"A100": "10", "B200": "2", "D400": "1"})

	// Every line has enough.
	ok := f.doc(t, "goods_issue", f.wh, "D400", "1", "A100", "5", "B200", "2")
	opts, err := f.eng.Transitions(ctx, f.ken, "goods_issue", ok.ID())
	if err != nil || len(opts) != 1 || !opts[0].Allowed {
		t.Fatalf("options: %+v %v", opts, err)
	}
	if _, err := f.eng.Transition(ctx, f.ken, "goods_issue", ok.ID(), "issue", ok.Version(), nil); err != nil {
		t.Fatal(err)
	}
	f.wantStock(t, map[string]string{"A100": "5", "B200": "0", "D400": "0"})

	// Each line alone fits the check (5 >= 3), together they do not: the
	// effect refuses the second line and says what is left for it.
	twice := f.doc(t, "goods_issue", f.wh, "A100", "3", "A100", "3")
	_, err = f.eng.Transition(ctx, f.ken, "goods_issue", twice.ID(), "issue", twice.Version(), nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "lines[1].qty" || ve.Errors[0].Code != insufficientCode ||
		ve.Errors[0].Params["available"] != "2" {
		t.Fatalf("the same item on two lines: %v", err)
	}
	f.wantStock(t, map[string]string{"A100": "5"})
	f.verify(t)
}

// 50 keepers issue 1 unit each of a bin holding 20, at once, through
// transitions: exactly 20 succeed, the bin ends at 0, the books agree.
func TestLedgerConcurrentIssues(t *testing.T) {
	f := newLedgerFixture(t, "A100")
	f.open(t, "A100", "20")
	const n = 50
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = f.doc(t, "goods_issue", f.wh, "A100", "1")
	}
	var wins, short atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := f.eng.Transition(ctx, f.ken, "goods_issue", rec.ID(), "issue", rec.Version(), nil)
			if err == nil {
				wins.Add(1)
				return
			}
			// The check (stock() read before the move) or the move's guard refuses.
			if c := codes(err); len(c) == 1 && (c[0] == ":check" || c[0] == "lines[0].qty:"+insufficientCode) {
				short.Add(1)
				return
			}
			t.Errorf("issue %s: %v", rec.ID(), err)
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 20 || short.Load() != n-20 {
		t.Fatalf("%d issues succeeded, %d refused for stock; want 20 and %d", wins.Load(), short.Load(), n-20)
	}
	f.wantStock(t, map[string]string{"A100": "0"})
	if c, _ := f.st.Count(ctx, "goods_issue", store.Eq("state", "issued")); c != 20 {
		t.Fatalf("%d issues in state issued, want 20", c)
	}
	if c, _ := f.st.Count(ctx, stockLedgerColl, store.Eq("kind", "out")); c != 20 {
		t.Fatalf("%d out entries, want 20", c)
	}
	if c, _ := f.st.Count(ctx, postingsColl, store.Eq("status", postingPending)); c != 0 {
		t.Fatalf("%d postings left pending", c)
	}
	f.verify(t)
}

// A posting's keys stay in its bins after it is done (dropping them at once
// would cost every move a second write): they are not counted as in flight,
// and the next move of a bin drops them.
func TestLedgerKeysOfDonePostingsDropOnNextMove(t *testing.T) {
	f := newLedgerFixture(t, "A100", "B200")
	f.open(t, "A100", "10")
	f.open(t, "B200", "10")
	st := f.doc(t, "stocktake", f.wh, "A100", "9", "B200", "12")
	if _, err := f.eng.Transition(ctx, f.ken, "stocktake", st.ID(), "post", st.Version(), nil); err != nil {
		t.Fatal(err)
	}
	keysOf := func(code string) []string {
		bin, _ := f.st.Get(ctx, binsColl, binID(f.items[code], f.wh))
		l, _ := bin[fPending].([]any)
		var out []string
		for _, p := range l {
			out = append(out, fmt.Sprint(p.(map[string]any)["key"]))
		}
		return out
	}
	old := keysOf("A100")
	if len(old) != 1 || len(f.liveKeys(t, "A100")) != 0 {
		t.Fatalf("A100 after the count: keys %v, live %v", old, f.liveKeys(t, "A100"))
	}
	f.verify(t)
	f.open(t, "A100", "1")
	if now := keysOf("A100"); len(now) != 1 || now[0] == old[0] {
		t.Fatalf("A100 after the next move: keys %v (the count's key %s must be gone)", now, old[0])
	}
	f.wantStock(t, map[string]string{"A100": "10", "B200": "12"})
	f.verify(t)
}

// Two processes recovering at once never run one posting twice: a posting is
// claimed (its lease) before it runs.
func TestLedgerConcurrentRecoverRunsOnce(t *testing.T) {
	f := newLedgerFixture(t, "A100")
	f.open(t, "A100", "100")
	for round := 0; round < 40; round++ {
		want := f.onHand(t, "A100").Add(dec("1"))
		st := f.doc(t, "stocktake", f.wh, "A100", want.String())
		writes := f.plannedWrites(t, "stocktake", st.ID(), "post")
		pid := f.storePosting(t, writes)
		var wg sync.WaitGroup
		var ran atomic.Int64
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(g*round%7) * 50 * time.Microsecond)
				n, err := f.eng.Recover(ctx, 0)
				if err != nil {
					t.Error(err)
				}
				ran.Add(int64(n))
			}()
		}
		wg.Wait()
		if ran.Load() != 1 {
			t.Fatalf("round %d: the posting ran %d times", round, ran.Load())
		}
		f.verify(t)
		if d, _ := f.st.Get(ctx, "stocktake", st.ID()); d["state"] != "posted" || !f.onHand(t, "A100").Equal(want) {
			t.Fatalf("round %d: stocktake %v, on hand %s, want posted and %s", round, d["state"], f.onHand(t, "A100"), want)
		}
		if n := f.entriesOf(t, pid); n != 1 {
			t.Fatalf("round %d: %d entries", round, n)
		}
	}
}

// A record whose posting is pending cannot be edited: the edit would be lost
// if the posting were rolled back. Once the writer's lease has run out, the
// edit finishes the posting first; either way the caller is told to retry.
func TestLedgerEditWaitsForPendingPosting(t *testing.T) {
	f := newLedgerFixture(t, "A100", "B200")
	f.open(t, "A100", "10")
	f.open(t, "B200", "6")
	gi := f.doc(t, "goods_issue", f.wh, "A100", "4", "B200", "5")
	writes := f.plannedWrites(t, "goods_issue", gi.ID(), "issue")
	// The writer is alive (its lease holds) and has written the record only.
	live, err := f.eng.stage(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	f.step(t, live.ID(), 0, writes[0])
	cur, _ := f.eng.get(ctx, "goods_issue", gi.ID())
	lines := map[string]any{"lines": []any{map[string]any{"item": f.items["A100"], "qty": "1"}}}
	if _, err := f.eng.Update(ctx, f.admin, "goods_issue", gi.ID(), cur.Version(), lines); !errors.Is(err, ErrConflict) {
		t.Fatalf("edit during a live posting: %v", err)
	}
	if s := f.postingStatus(t, live.ID()); s != postingPending {
		t.Fatalf("a live posting was taken over: %v", s)
	}
	// The writer crashed: its lease runs out, and the next edit finishes it.
	live["lease"] = ""
	if _, err := f.st.Replace(ctx, postingsColl, live); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Update(ctx, f.admin, "goods_issue", gi.ID(), cur.Version(), lines); !errors.Is(err, ErrConflict) {
		t.Fatalf("edit after the crash: %v", err)
	}
	if s := f.postingStatus(t, live.ID()); s != postingDone {
		t.Fatalf("posting after the edit: %v", s)
	}
	f.wantStock(t, map[string]string{"A100": "6", "B200": "1"})
	f.verify(t)
	cur, _ = f.eng.get(ctx, "goods_issue", gi.ID())
	if _, err := f.eng.Update(ctx, f.admin, "goods_issue", gi.ID(), cur.Version(), lines); err != nil {
		t.Fatalf("the retry: %v", err)
	}
}
