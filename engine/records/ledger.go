package records

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// The ledgers. A stock or ledger effect becomes "bump" steps of the posting:
// each adds deltas to one balance document (a bin per item and warehouse, a
// balance per account and party) under a guard, then appends one ledger entry
// whose id is the posting's id and the step's index.
//
// A bump is applied with a version-guarded replace of the balance document
// that also records the step's key and the values it left in the document's
// "pending" list; the entry is inserted next. A replay therefore knows where
// it stopped: the entry exists (done), or the key is pending (the balance was
// moved; insert the entry), or neither (move the balance). A key stays until
// the balance moves again after its posting ended, and is dropped then.
// Balances are never edited in place otherwise, and entries are only ever
// appended: a cancellation posts reversing entries.
const (
	binsColl         = "sys_stock_bins"
	stockLedgerColl  = "sys_stock_ledger"
	balancesColl     = "sys_party_balances"
	partyLedgerColl  = "sys_party_ledger"
	fPending         = "pending"
	fOnHand          = "on_hand"
	fReserved        = "reserved"
	maxBumpAttempts  = 1000
	guardAvailable   = "available" // on_hand - reserved stays >= 0
	guardReserved    = "reserved"  // reserved and on_hand stay >= 0
	guardExpect      = "expect"    // on_hand is still what the count expected
	insufficientCode = "insufficient_stock"
)

// binID names the bin of item in warehouse.
func binID(item, warehouse string) string { return item + "@" + warehouse }

// ledgerIndexes serve the expression functions, the reports and verify.
var (
	binIndexes = []store.Index{
		{Name: "warehouse", Keys: []store.SortKey{store.Asc("warehouse")}},
		{Name: "item", Keys: []store.SortKey{store.Asc("item")}},
		{Name: "alerted", Keys: []store.SortKey{store.Asc("alerted")}},
	}
	stockLedgerIndexes = []store.Index{
		{Name: "bin", Keys: []store.SortKey{store.Asc("item"), store.Asc("warehouse"), store.Asc("at")}},
		{Name: "voucher", Keys: []store.SortKey{store.Asc("voucher")}},
	}
	balanceIndexes     = []store.Index{{Name: "party", Keys: []store.SortKey{store.Asc("party")}}}
	partyLedgerIndexes = []store.Index{
		{Name: "voucher", Keys: []store.SortKey{store.Asc("voucher")}},
		{Name: "party", Keys: []store.SortKey{store.Asc("party"), store.Asc("at")}},
	}
)

func (e *Engine) ensureLedgerIndexes(ctx context.Context) error {
	for coll, ixs := range map[string][]store.Index{binsColl: binIndexes, stockLedgerColl: stockLedgerIndexes,
		balancesColl: balanceIndexes, partyLedgerColl: partyLedgerIndexes} {
		if err := e.ensureSysIndexes(ctx, coll, ixs...); err != nil {
			return fmt.Errorf("records: ledger indexes: %w", err)
		}
	}
	return nil
}

// bump is the plan of one balance move: the write's Doc holds it.
type bump struct {
	coll, id  string
	init      map[string]any             // identity fields of a new balance document
	delta     map[string]decimal.Decimal // field → amount added
	guard     string
	expect    decimal.Decimal // guardExpect: on_hand before
	entryColl string
	entry     map[string]any // the ledger entry; "balance" is filled when applied
	balanceOf string         // the field whose value after the move is the entry's balance
	path      string         // the field path a refusal is reported on
	params    map[string]any // what a refusal says (item, warehouse, asked)
	minStock  decimal.Decimal
}

func (b bump) write() write {
	delta := map[string]any{}
	for k, v := range b.delta {
		delta[k] = v
	}
	doc := map[string]any{"init": b.init, "delta": delta, "guard": b.guard, "entry_coll": b.entryColl,
		"entry": b.entry, "balance_of": b.balanceOf, "path": b.path, "params": b.params}
	if b.guard == guardExpect {
		doc["expect"] = b.expect
	}
	if !b.minStock.IsZero() {
		doc["min_stock"] = b.minStock
	}
	return write{Op: "bump", Coll: b.coll, ID: b.id, Doc: doc}
}

func bumpOf(w write) bump {
	b := bump{coll: w.Coll, id: w.ID, delta: map[string]decimal.Decimal{}}
	b.init, _ = w.Doc["init"].(map[string]any)
	if d, ok := w.Doc["delta"].(map[string]any); ok {
		for k, v := range d {
			b.delta[k], _ = toDecimal(v)
		}
	}
	b.guard, _ = w.Doc["guard"].(string)
	b.expect, _ = toDecimal(w.Doc["expect"])
	b.entryColl, _ = w.Doc["entry_coll"].(string)
	b.entry, _ = w.Doc["entry"].(map[string]any)
	b.balanceOf, _ = w.Doc["balance_of"].(string)
	b.path, _ = w.Doc["path"].(string)
	b.params, _ = w.Doc["params"].(map[string]any)
	b.minStock, _ = toDecimal(w.Doc["min_stock"])
	return b
}

// decField reads a decimal field of a balance document (zero when absent).
func decField(d map[string]any, f string) decimal.Decimal {
	v, _ := toDecimal(d[f])
	return v
}

// holds reports whether the balance values after a move satisfy guard.
func holds(guard string, after map[string]decimal.Decimal, before map[string]any, expect decimal.Decimal) bool {
	switch guard {
	case guardAvailable:
		return after[fOnHand].Sub(after[fReserved]).Sign() >= 0
	case guardReserved:
		return after[fReserved].Sign() >= 0 && after[fOnHand].Sign() >= 0
	case guardExpect:
		return decField(before, fOnHand).Equal(expect)
	}
	return true
}

// pendingKey returns the entry of key in a balance document's pending list.
func pendingKey(doc store.Doc, key string) map[string]any {
	list, _ := doc[fPending].([]any)
	for _, p := range list {
		if m, _ := p.(map[string]any); m["key"] == key {
			return m
		}
	}
	return nil
}

// withoutPending returns doc's pending list without key.
func withoutPending(doc store.Doc, key string) []any {
	list, _ := doc[fPending].([]any)
	out := make([]any, 0, len(list))
	for _, p := range list {
		if m, _ := p.(map[string]any); m["key"] != key {
			out = append(out, p)
		}
	}
	return out
}

// applyBump performs step i of posting pid, a balance move, unless it is done
// (first: the posting was stored just now, so it cannot be). It reports
// whether the move took a bin below its item's minimum (a low-stock alert to
// send once the posting is done). states caches the status of postings whose
// keys the balances still hold.
func (e *Engine) applyBump(ctx context.Context, pid string, i int, w write, first bool, states map[string]string) (raised bool, err error) {
	b := bumpOf(w)
	key := fmt.Sprintf("%s:%d", pid, i)
	if !first {
		if _, err := e.st.Get(ctx, b.entryColl, key); err == nil {
			return false, nil // applied and recorded
		} else if !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("records: posting %s: %w", pid, err)
		}
	}
	var after map[string]any
	for attempt := 0; after == nil; attempt++ {
		if attempt == maxBumpAttempts {
			return false, fmt.Errorf("records: posting %s: %s %s is too busy: %w", pid, b.coll, b.id, store.ErrConflict)
		}
		var cur store.Doc
		var err error
		switch {
		case attempt == 0 && first && w.hint != nil && w.hint.ID() == "":
			err = store.ErrNotFound // the plan found no balance yet
		case attempt == 0 && first && w.hint != nil:
			cur = w.hint
		default:
			cur, err = e.st.Get(ctx, b.coll, b.id)
		}
		fresh := errors.Is(err, store.ErrNotFound)
		if err != nil && !fresh {
			return false, fmt.Errorf("records: posting %s: %w", pid, err)
		}
		if fresh {
			cur = store.Doc{store.IDField: b.id}
			for k, v := range b.init {
				cur[k] = v
			}
		}
		if p := pendingKey(cur, key); p != nil {
			after = p // moved before a crash; the entry is what is missing
			break
		}
		vals := map[string]decimal.Decimal{fOnHand: decField(cur, fOnHand), fReserved: decField(cur, fReserved)}
		for f, d := range b.delta {
			vals[f] = decField(cur, f).Add(d)
		}
		if !holds(b.guard, vals, cur, b.expect) {
			return false, b.refusal(vals, cur)
		}
		next := store.Doc{}
		for k, v := range cur {
			next[k] = v
		}
		rec := map[string]any{"key": key}
		for f := range b.delta {
			next[f] = vals[f]
			rec[f] = vals[f]
		}
		if _, ok := b.delta[b.balanceOf]; !ok && b.balanceOf != "" {
			rec[b.balanceOf] = decField(cur, b.balanceOf)
		}
		live, err := e.livePending(ctx, withoutPending(cur, key), states)
		if err != nil {
			return false, fmt.Errorf("records: posting %s: %w", pid, err)
		}
		next[fPending] = append(live, rec)
		next["updated_at"] = e.stamp()
		raised = b.coll == binsColl && alert(next, b.minStock)
		if fresh {
			_, err = e.st.Insert(ctx, b.coll, next)
		} else {
			_, err = e.st.Replace(ctx, b.coll, next)
		}
		switch {
		case err == nil:
			after = rec
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrDuplicate):
			backoff(attempt) // someone moved it first: read again
		default:
			return false, fmt.Errorf("records: posting %s: %w", pid, err)
		}
	}
	entry := store.Doc{store.IDField: key, fPosting: pid}
	for k, v := range b.entry {
		entry[k] = v
	}
	if b.balanceOf != "" {
		entry["balance"] = after[b.balanceOf]
	}
	if _, err := e.st.Insert(ctx, b.entryColl, entry); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return false, fmt.Errorf("records: posting %s: %w", pid, err)
	}
	return raised, nil
}

// backoff waits a little, more after each failed attempt, so that writers
// racing for one balance do not retry in lockstep.
func backoff(attempt int) {
	if attempt == 0 {
		return
	}
	time.Sleep(time.Duration(rand.Int64N(int64(min(attempt, 50)) * int64(100*time.Microsecond))))
}

// refusal is the error of a move its guard refuses.
func (b bump) refusal(after map[string]decimal.Decimal, before store.Doc) error {
	if b.guard == guardExpect {
		return fmt.Errorf("%w: stock of %v moved since it was counted", ErrConflict, b.params["item"])
	}
	params := map[string]any{}
	for k, v := range b.params {
		params[k] = v
	}
	params["available"] = decField(before, fOnHand).Sub(decField(before, fReserved)).String()
	if b.guard == guardReserved {
		params["available"] = decField(before, fReserved).String()
	}
	return &ValidationError{Errors: []FieldError{{Path: b.path, Code: insufficientCode, Params: params}}}
}

// rollbackBump undoes step i of posting pid if it was applied.
func (e *Engine) rollbackBump(ctx context.Context, pid string, i int, w write) error {
	b := bumpOf(w)
	key := fmt.Sprintf("%s:%d", pid, i)
	if d, err := e.st.Get(ctx, b.entryColl, key); err == nil {
		if err := e.st.Delete(ctx, b.entryColl, key, d.Version()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for attempt := 0; attempt < maxBumpAttempts; attempt++ {
		cur, err := e.st.Get(ctx, b.coll, b.id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if pendingKey(cur, key) == nil {
			return nil // not moved
		}
		for f, d := range b.delta {
			cur[f] = decField(cur, f).Sub(d)
		}
		cur[fPending] = withoutPending(cur, key)
		if b.coll == binsColl {
			alert(cur, b.minStock) // back above the minimum: the alert may be raised again
		}
		if _, err := e.st.Replace(ctx, b.coll, cur); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("records: roll back posting %s: %s %s is too busy: %w", pid, b.coll, b.id, store.ErrConflict)
}

// livePending keeps the keys of a balance's pending list whose posting is
// still pending: a key outlives its posting until the balance moves again
// (here), which spares every move a second write to drop it.
func (e *Engine) livePending(ctx context.Context, list []any, states map[string]string) ([]any, error) {
	out := list[:0:0]
	for _, p := range list {
		m, _ := p.(map[string]any)
		pid, _, _ := strings.Cut(fmt.Sprint(m["key"]), ":")
		st, ok := states[pid]
		if !ok {
			d, err := e.st.Get(ctx, postingsColl, pid)
			switch {
			case err == nil:
				st, _ = d["status"].(string)
			case errors.Is(err, store.ErrNotFound):
				st = postingRolledBack
			default:
				return nil, err
			}
			if st != postingPending {
				states[pid] = st // final: it will not change
			}
		}
		if st == postingPending {
			out = append(out, p)
		}
	}
	return out, nil
}

// alert sets a bin's "alerted" flag from its available quantity and the
// item's minimum: raised once when it falls below (true is returned, for the
// caller to notify), cleared when it is back at or above the minimum.
func alert(bin store.Doc, minStock decimal.Decimal) bool {
	if minStock.Sign() <= 0 {
		bin["alerted"] = false // no minimum (any more): nothing to warn of
		return false
	}
	below := decField(bin, fOnHand).Sub(decField(bin, fReserved)).Cmp(minStock) < 0
	was := bin["alerted"] == true
	switch {
	case below && !was:
		bin["alerted"], bin["min_stock"] = true, minStock
		return true
	case !below && was:
		bin["alerted"] = false
	}
	return false
}

// lowStock tells the purchasing role that an item fell below its minimum.
func (e *Engine) lowStock(ctx context.Context, w write) {
	dir, ok := e.users.(roleDirectory)
	if !ok {
		return
	}
	b := bumpOf(w)
	bin, err := e.st.Get(ctx, w.Coll, w.ID)
	if err != nil || bin["alerted"] != true {
		return // back above the minimum meanwhile
	}
	ids, err := dir.WithRoles(ctx, []string{"purchasing"})
	if err != nil {
		return
	}
	item, wh := fmt.Sprint(b.params["item"]), fmt.Sprint(b.params["warehouse"])
	avail := decField(bin, fOnHand).Sub(decField(bin, fReserved)).String()
	for _, u := range ids {
		_, _ = e.st.Insert(ctx, notificationsColl, store.Doc{store.IDField: store.NewID(),
			"user": u, "kind": "low_stock", "entity": "item", "record": bin["item"], "read": false, "at": e.stamp(),
			"message": map[string]any{
				"zh-CN": fmt.Sprintf("库存预警：%s 在 %s 的可用量 %s 低于安全库存 %s", item, wh, avail, b.minStock),
				"en":    fmt.Sprintf("Low stock: %s in %s has %s available, below the minimum of %s", item, wh, avail, b.minStock),
			}})
	}
}

// idOf turns the value of a link expression (the linked record as the
// expression sees it, or an id) into the id.
func idOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	id, _ := stored(&template.FieldDecl{Type: template.Str{V: "link"}}, v)
	s, _ := id.(string)
	return s
}

// effectLines evaluates the item and qty of a stock effect: one pair per row
// of its lines, or a single pair.
func (ev *evaluator) effectLines(b *template.EffectBody, place string, rec Record, in map[string]any) (items []string, qtys []decimal.Decimal, err error) {
	itemOut, err := ev.runValue(place+".item", rec, in)
	if err != nil {
		return nil, nil, err
	}
	qtyOut, err := ev.runValue(place+".qty", rec, in)
	if err != nil {
		return nil, nil, err
	}
	if b.Lines.V == "" {
		q, _ := toDecimal(qtyOut)
		return []string{idOf(itemOut)}, []decimal.Decimal{q}, nil
	}
	is, qs := sliceOf(itemOut), sliceOf(qtyOut)
	for i := range is {
		items = append(items, idOf(is[i]))
		var q decimal.Decimal
		if i < len(qs) {
			q, _ = toDecimal(qs[i])
		}
		qtys = append(qtys, q)
	}
	return items, qtys, nil
}

// sliceOf returns the elements of a slice value of any element type.
func sliceOf(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	rv := reflectValue(v)
	if !rv.IsValid() {
		return nil
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}

// binState is the bin as planned so far in this transition: stored values
// plus the moves planned before.
func (ev *evaluator) binState(item, wh string) map[string]decimal.Decimal {
	id := binID(item, wh)
	if st, ok := ev.planned[id]; ok {
		return st
	}
	d := ev.bins[id]
	st := map[string]decimal.Decimal{fOnHand: decField(d, fOnHand), fReserved: decField(d, fReserved)}
	ev.planned[id] = st
	return st
}

// loadBins reads, with one query, the bins of items in warehouse that are not
// known yet.
func (ev *evaluator) loadBins(items []string, wh string) error {
	var want []any
	for _, it := range items {
		id := binID(it, wh)
		if _, ok := ev.bins[id]; !ok {
			ev.bins[id] = nil
			want = append(want, id)
		}
	}
	for start := 0; start < len(want); start += store.MaxLimit {
		chunk := want[start:min(start+store.MaxLimit, len(want))]
		page, err := ev.e.st.Find(ev.ctx, binsColl, store.Query{Filter: store.In(store.IDField, chunk...), Limit: len(chunk)})
		if err != nil {
			return fmt.Errorf("records: stock: %w", err)
		}
		for _, d := range page.Docs {
			ev.bins[d.ID()] = d
		}
	}
	return nil
}

// stockWrites plans a stock effect: one bump per line (two for a transfer),
// each checked against the bins as planned so far. Every short line is
// reported in short, not only the first.
func (ev *evaluator) stockWrites(eff template.EffectDecl, place string, rec Record, in map[string]any) ([]write, []FieldError, error) {
	b := &eff.Body
	whOut, err := ev.runValue(place+".warehouse", rec, in)
	if err != nil {
		return nil, nil, err
	}
	wh := idOf(whOut)
	to := ""
	if b.Move.V == "transfer" {
		toOut, err := ev.runValue(place+".to_warehouse", rec, in)
		if err != nil {
			return nil, nil, err
		}
		to = idOf(toOut)
	}
	items, qtys, err := ev.effectLines(b, place, rec, in)
	if err != nil {
		return nil, nil, err
	}
	countedAt, confirmed, err := ev.countTimes(b, place, rec, in, len(items))
	if err != nil {
		return nil, nil, err
	}
	qtyCol := "qty" // the column a line's error is reported on
	if c := strings.TrimPrefix(b.Qty.Src, "."); c != b.Qty.Src && isIdent(c) {
		qtyCol = c
	}
	if wh == "" || (b.Move.V == "transfer" && to == "") {
		return nil, []FieldError{{Path: "warehouse", Code: "required"}}, nil
	}
	if err := ev.loadBins(items, wh); err != nil {
		return nil, nil, err
	}
	if to != "" {
		if err := ev.loadBins(items, to); err != nil {
			return nil, nil, err
		}
	}
	whRec, err := ev.linked("warehouse", wh)
	if err != nil {
		return nil, nil, err
	}
	if err := ev.fetchLinks("item", items); err != nil {
		return nil, nil, err
	}
	var ws []write
	var short []FieldError
	hinted := map[string]bool{}
	for i, item := range items {
		q := qtys[i]
		path, itemPath := qtyCol, "item"
		if b.Lines.V != "" {
			path, itemPath = fmt.Sprintf("%s[%d].%s", b.Lines.V, i, qtyCol), fmt.Sprintf("%s[%d].item", b.Lines.V, i)
		}
		if item == "" {
			short = append(short, FieldError{Path: itemPath, Code: "required"})
			continue
		}
		if q.Sign() < 0 || (q.IsZero() && b.Move.V != "count") {
			if q.Sign() < 0 {
				short = append(short, FieldError{Path: path, Code: "min", Params: map[string]any{"min": "0"}})
			}
			continue
		}
		itemRec, err := ev.linked("item", item)
		if err != nil {
			return nil, nil, err
		}
		if itemRec == nil {
			short = append(short, FieldError{Path: itemPath, Code: "not_found"})
			continue
		}
		negOK := itemRec["allow_negative_stock"] == true
		minStock := decField(itemRec, "min_stock")
		mv := func(wh string, whRec map[string]any, kind string, delta map[string]decimal.Decimal, guard string) {
			st := ev.binState(item, wh)
			after := map[string]decimal.Decimal{fOnHand: st[fOnHand], fReserved: st[fReserved]}
			for f, d := range delta {
				after[f] = after[f].Add(d)
			}
			if negOK && guard == guardAvailable {
				guard = ""
			}
			params := map[string]any{"item": label(itemRec), "warehouse": label(whRec), "asked": q.String()}
			bp := bump{coll: binsColl, id: binID(item, wh), init: map[string]any{"item": item, "warehouse": wh},
				delta: delta, guard: guard, entryColl: stockLedgerColl, balanceOf: fOnHand, path: path, params: params, minStock: minStock}
			if guard == guardExpect {
				bp.expect = st[fOnHand]
			}
			if !holds(guard, after, map[string]any{fOnHand: st[fOnHand]}, bp.expect) {
				params["available"] = st[fOnHand].Sub(st[fReserved]).String()
				if guard == guardReserved {
					params["available"] = st[fReserved].String()
				}
				short = append(short, FieldError{Path: path, Code: insufficientCode, Params: params})
				return
			}
			st[fOnHand], st[fReserved] = after[fOnHand], after[fReserved]
			bp.entry = map[string]any{"item": item, "warehouse": wh, "kind": kind,
				"qty": delta[fOnHand], "reserved": delta[fReserved], "voucher_entity": ev.ent.Name, "voucher": rec.ID(),
				"voucher_number": rec[fNumber], "line": i, "user": ev.user.ID, "at": ev.e.stamp()}
			if kind == "count" {
				bp.entry["expected"], bp.entry["counted"] = bp.expect, q
			}
			w := bp.write()
			if _, seen := hinted[bp.id]; !seen { // later moves of the bin read it again
				hinted[bp.id] = true
				if w.hint = ev.bins[bp.id]; w.hint == nil {
					w.hint = store.Doc{}
				}
			}
			ws = append(ws, w)
		}
		z := decimal.Zero
		switch b.Move.V {
		case "in":
			mv(wh, whRec, "in", map[string]decimal.Decimal{fOnHand: q, fReserved: z}, "")
		case "out":
			if b.FromReserved {
				mv(wh, whRec, "out", map[string]decimal.Decimal{fOnHand: q.Neg(), fReserved: q.Neg()}, guardReserved)
			} else {
				mv(wh, whRec, "out", map[string]decimal.Decimal{fOnHand: q.Neg(), fReserved: z}, guardAvailable)
			}
		case "reserve":
			mv(wh, whRec, "reserve", map[string]decimal.Decimal{fOnHand: z, fReserved: q}, guardAvailable)
		case "release":
			mv(wh, whRec, "release", map[string]decimal.Decimal{fOnHand: z, fReserved: q.Neg()}, guardReserved)
		case "transfer":
			toRec, err := ev.linked("warehouse", to)
			if err != nil {
				return nil, nil, err
			}
			n := len(short)
			mv(wh, whRec, "transfer_out", map[string]decimal.Decimal{fOnHand: q.Neg(), fReserved: z}, guardAvailable)
			if len(short) == n {
				mv(to, toRec, "transfer_in", map[string]decimal.Decimal{fOnHand: q, fReserved: z}, "")
			}
		case "count":
			// A line counted before its item last moved here would undo that
			// move: it is counted again, or confirmed.
			if moved, _ := ev.bins[binID(item, wh)]["updated_at"].(string); countedAt[i] != "" && moved > countedAt[i] && !confirmed[i] {
				short = append(short, FieldError{Path: path, Code: "stale_count", Params: map[string]any{
					"item": label(itemRec), "warehouse": label(whRec), "counted_at": countedAt[i], "moved_at": moved}})
				continue
			}
			st := ev.binState(item, wh)
			if q.Equal(st[fOnHand]) {
				continue // no variance, nothing to adjust
			}
			mv(wh, whRec, "count", map[string]decimal.Decimal{fOnHand: q.Sub(st[fOnHand]), fReserved: z}, guardExpect)
		}
	}
	return ws, short, nil
}

// countTimes evaluates counted_at and confirmed of a count, per line (empty
// and false when the effect does not give them).
func (ev *evaluator) countTimes(b *template.EffectBody, place string, rec Record, in map[string]any, n int) ([]string, []bool, error) {
	at, ok := make([]string, n), make([]bool, n)
	err := ev.perLine(b, b.CountedAt, place+".counted_at", rec, in, n, func(i int, v any) {
		if s, err := template.StoreValue("datetime", v); err == nil && s != nil {
			at[i] = fmt.Sprint(s)
		}
	})
	if err == nil {
		err = ev.perLine(b, b.Confirmed, place+".confirmed", rec, in, n, func(i int, v any) { ok[i] = v == true })
	}
	if err != nil {
		return nil, nil, err
	}
	return at, ok, nil
}

// perLine evaluates effect value x (the program at place), when set, and
// gives each of the n lines its value: one value per row of the effect's
// lines, or the one value for a single move.
func (ev *evaluator) perLine(b *template.EffectBody, x template.Expr, place string, rec Record, in map[string]any, n int, set func(i int, v any)) error {
	if !x.IsSet() {
		return nil
	}
	out, err := ev.runValue(place, rec, in)
	if err != nil {
		return err
	}
	vals := []any{out}
	if b.Lines.V != "" {
		vals = sliceOf(out)
	}
	for i := 0; i < n && i < len(vals); i++ {
		set(i, vals[i])
	}
	return nil
}

// isIdent reports whether s is a plain field name.
func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// label names a linked record in messages and titles: its code and name,
// else its number, else its id.
func label(r map[string]any) string {
	if r == nil {
		return ""
	}
	code, _ := r["code"].(string)
	name, _ := r["name"].(string)
	switch {
	case code != "" && name != "":
		return code + " " + name
	case code != "":
		return code
	case name != "":
		return name
	}
	if n, _ := r[fNumber].(string); n != "" {
		return n // a document without code or name: a payment, a shipping notice
	}
	if id, _ := r[fID].(string); id != "" {
		return id // a record
	}
	return fmt.Sprint(r[store.IDField]) // a stored document
}

// ledgerWrites plans a ledger effect: a bump of the party's balance in the
// account and its entry.
func (ev *evaluator) ledgerWrites(eff template.EffectDecl, place string, rec Record, in map[string]any) ([]write, error) {
	b := &eff.Body
	partyOut, err := ev.runValue(place+".party", rec, in)
	if err != nil {
		return nil, err
	}
	party := idOf(partyOut)
	if party == "" {
		return nil, &ValidationError{Errors: []FieldError{{Path: "party", Code: "required"}}}
	}
	side := "debit"
	amountPlace := place + ".debit"
	if b.Credit.IsSet() {
		side, amountPlace = "credit", place+".credit"
	}
	out, err := ev.runValue(amountPlace, rec, in)
	if err != nil {
		return nil, err
	}
	amount, _ := toDecimal(out)
	if amount.IsZero() {
		return nil, nil
	}
	voucher := rec.ID()
	if b.Voucher.IsSet() {
		v, err := ev.runValue(place+".voucher", rec, in)
		if err != nil {
			return nil, err
		}
		voucher = idOf(v)
	}
	// balance: what the party owes us on receivable and provisional, what we
	// owe them on payable.
	signed := amount
	if (side == "credit") != (b.Account.V == "payable") {
		signed = amount.Neg()
	}
	entry := map[string]any{"account": b.Account.V, "party": party, side: amount, "amount": signed,
		"voucher": voucher, "voucher_entity": ev.ent.Name, "record": rec.ID(), "record_number": rec[fNumber],
		"provisional": b.Account.V == "provisional", "user": ev.user.ID, "at": ev.e.stamp()}
	if b.Due.IsSet() {
		if v, err := ev.runValue(place+".due", rec, in); err == nil && v != nil {
			if s, err := template.StoreValue("date", v); err == nil {
				entry["due"] = s
			}
		}
	}
	bp := bump{coll: balancesColl, id: b.Account.V + ":" + party, init: map[string]any{"account": b.Account.V, "party": party},
		delta: map[string]decimal.Decimal{side: amount, "balance": signed}, entryColl: partyLedgerColl, entry: entry, balanceOf: "balance",
		path: "party", params: map[string]any{}}
	return []write{bp.write()}, nil
}

func reflectValue(v any) reflect.Value {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return reflect.Value{}
	}
	return rv
}

// The functions expressions call on the ledgers. They are given to an
// expression only when it names them, and read in batches: the first stock()
// of a warehouse loads the bins of every item the record names, at once.

// functions adds to doc the ledger functions that names uses.
func (ev *evaluator) functions(doc map[string]any, names []string, rec map[string]any) {
	for _, n := range names {
		switch n {
		case "stock":
			doc[n] = func(item, warehouse any) decimal.Decimal {
				it, wh := idOf(item), idOf(warehouse)
				if it == "" || wh == "" {
					return decimal.Zero
				}
				if _, ok := ev.bins[binID(it, wh)]; !ok {
					_ = ev.loadBins(append(ev.itemIDs(rec), it), wh) // a failed read counts as no stock
				}
				st := ev.binState(it, wh)
				return st[fOnHand].Sub(st[fReserved])
			}
		case "on_hand":
			doc[n] = func(item, warehouse any) decimal.Decimal {
				it, wh := idOf(item), idOf(warehouse)
				if it == "" || wh == "" {
					return decimal.Zero
				}
				if _, ok := ev.bins[binID(it, wh)]; !ok {
					_ = ev.loadBins(append(ev.itemIDs(rec), it), wh) // a failed read counts as no stock
				}
				return ev.binState(it, wh)[fOnHand]
			}
		case "balance":
			doc[n] = func(party any) decimal.Decimal { return ev.balance(idOf(party)) }
		case "outstanding":
			doc[n] = func(voucher any) decimal.Decimal { return ev.outstanding(idOf(voucher)) }
		}
	}
}

// itemIDs lists the items that rec and its table rows link to.
func (ev *evaluator) itemIDs(rec map[string]any) []string {
	var out []string
	for _, fe := range ev.ent.Decl.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		if f.Type.V == "link" && f.To.V == "item" {
			if id, ok := rec[fe.Key.V].(string); ok && id != "" {
				out = append(out, id)
			}
		}
		if f.Type.V != "table" {
			continue
		}
		rows, _ := rec[fe.Key.V].([]any)
		for _, col := range f.Fields {
			if col.Val == nil || col.Val.Type.V != "link" || col.Val.To.V != "item" {
				continue
			}
			for _, r := range rows {
				row, _ := r.(map[string]any)
				if id, ok := row[col.Key.V].(string); ok && id != "" {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// balance is what party owes us (receivable and provisional) less what we
// owe them (payable); a failed read counts as zero.
func (ev *evaluator) balance(party string) decimal.Decimal {
	if party == "" {
		return decimal.Zero
	}
	page, err := ev.e.st.Find(ev.ctx, balancesColl, store.Query{Filter: store.Eq("party", party), Limit: 10})
	if err != nil {
		return decimal.Zero
	}
	sum := decimal.Zero
	for _, d := range page.Docs {
		b := decField(d, "balance")
		if d["account"] == "payable" {
			b = b.Neg()
		}
		sum = sum.Add(b)
	}
	return sum
}

// outstanding is what is still open on a voucher: the sum of its entries,
// debits less the credits that settle them (for payables the other way round).
func (ev *evaluator) outstanding(voucher string) decimal.Decimal {
	if voucher == "" {
		return decimal.Zero
	}
	groups, err := ev.e.st.Aggregate(ev.ctx, partyLedgerColl, store.Aggregation{Match: store.Eq("voucher", voucher),
		Accumulators: []store.Accumulator{{Op: store.Sum, Path: "amount", As: "open"}}})
	if err != nil || len(groups) == 0 {
		return decimal.Zero
	}
	return decField(groups[0], "open")
}
