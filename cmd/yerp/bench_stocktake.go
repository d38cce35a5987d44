package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// The floor's copies of the bins and of the stock ledger.
const (
	floorBins   = "bench_floor_bins"
	floorLedger = "bench_floor_ledger"
)

// stocktakeSet is the stocktake scenario's data set: n items in the site's
// warehouse, what each bin holds as the scenario moved it, a warehouse
// keeper who counts and a finance user who approves the variance.
type stocktakeSet struct {
	items   []string
	onHand  []int64
	keeper  benchUser
	finance benchUser
	entry   store.Doc // a stock ledger entry as the engine writes it
	sheet   store.Doc // the first count sheet as the engine stored it
	copies  int
	run     int
}

// buildStocktake creates n items (copies of one the engine created) and puts
// 100–149 of each into the warehouse with one opening stock sheet posted
// through the engine; the bins are copied for the floor.
func (b *benchSite) buildStocktake(ctx context.Context, n int) (*stocktakeSet, error) {
	start := time.Now()
	set := &stocktakeSet{items: []string{b.items[0]}, onHand: make([]int64, n)}
	tmpl, err := b.st.Get(ctx, "item", b.items[0])
	if err != nil {
		return nil, err
	}
	var docs []store.Doc
	for i := 1; i < n; i++ {
		it := maps.Clone(tmpl)
		it[store.IDField], it["code"], it["name"] = uuid.NewString(), fmt.Sprintf("T%05d", i), fmt.Sprintf("盘点商品 %d", i)
		set.items = append(set.items, it.ID())
		docs = append(docs, it)
	}
	if _, err := b.st.InsertMany(ctx, "item", docs); err != nil {
		return nil, err
	}
	lines := make([]any, n)
	for i, it := range set.items {
		set.onHand[i] = 100 + int64(i%50)
		lines[i] = map[string]any{"item": it, "qty": strconv.FormatInt(set.onHand[i], 10)}
	}
	open, err := b.eng.Create(ctx, benchAdmin, "opening_stock", map[string]any{"warehouse": b.warehouse, "lines": lines})
	if err != nil {
		return nil, fmt.Errorf("opening stock: %w", err)
	}
	if _, err := b.eng.Transition(ctx, benchAdmin, "opening_stock", open.ID(), "post", open.Version(), nil); err != nil {
		return nil, fmt.Errorf("opening stock: %w", err)
	}
	if set.keeper.u, set.keeper.token, err = b.userWith(ctx, "keeper", []string{"warehouse"}); err != nil {
		return nil, err
	}
	if set.finance.u, set.finance.token, err = b.userWith(ctx, "finance", []string{"finance"}); err != nil {
		return nil, err
	}
	bins, err := b.st.Find(ctx, records.BinsCollection, store.Query{Filter: store.Eq("warehouse", b.warehouse), Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	if len(bins.Docs) != n {
		return nil, fmt.Errorf("%d bins after the opening stock, want %d", len(bins.Docs), n)
	}
	if _, err := b.st.InsertMany(ctx, floorBins, bins.Docs); err != nil {
		return nil, err
	}
	entries, err := b.st.Find(ctx, records.StockLedgerCollection, store.Query{Limit: 1})
	if err != nil || len(entries.Docs) != 1 {
		return nil, fmt.Errorf("a stock ledger entry: %v", err)
	}
	set.entry = entries.Docs[0]
	benchLog("stocktake: %d items and their opening stock built in %s", n, time.Since(start).Round(time.Millisecond))
	return set, nil
}

// stocktake has a warehouse keeper enter a count sheet of every item over
// HTTP (POST /api/v1/records/stocktake; four lines in five differ from the
// bin by -2..+2) and submit it (the post transition); its variance value is
// over the sheet's approval threshold, so finance approves it, and the
// approval posts it: a count move per line with a variance, each a bin move
// and a stock ledger entry. The time of a sheet is the submission and the
// approval together. Afterwards the books must agree (Verify). The floor is
// the store operations the posting needs at least: one read of the bins,
// a version-guarded replace of each bin that changes and one InsertMany of
// their ledger entries, on copies of the bins.
func (b *benchSite) stocktake(ctx context.Context, n int, entry bool) ([]benchResult, error) {
	if b.stSet == nil {
		set, err := b.buildStocktake(ctx, n)
		if err != nil {
			return nil, err
		}
		b.stSet = set
	}
	set := b.stSet
	set.run++
	lines := make([]any, n)
	counted := make([]int64, n)
	for j := range lines {
		counted[j] = set.onHand[j]
		if j%5 != 0 {
			d := int64((set.run+j)%4) - 2 // -2, -1, 0, 1
			if d >= 0 {
				d++
			}
			counted[j] = max(counted[j]+d, 0)
		}
		lines[j] = map[string]any{"item": set.items[j], "counted": strconv.FormatInt(counted[j], 10)}
	}
	var results []benchResult
	if set.sheet == nil {
		// The first sheet is entered through the API: with entry, all of
		// it (timed); else its first 20 lines. Entering thousands of lines
		// takes the engine minutes (its per-line expressions convert the
		// whole sheet for parent.*), so the sheets posted are copies of it
		// as the engine stored it, a line per item, with each run's counts.
		m := n
		if !entry {
			m = min(n, 20)
		}
		t0 := time.Now()
		var sheet map[string]any
		if err := b.call("POST", "/api/v1/records/stocktake", set.keeper.token, "", map[string]any{"warehouse": b.warehouse, "lines": lines[:m]}, http.StatusCreated, &sheet); err != nil {
			return nil, err
		}
		took := time.Since(t0)
		var err error
		if set.sheet, err = b.st.Get(ctx, "stocktake", fmt.Sprint(sheet["id"])); err != nil {
			return nil, err
		}
		ms := float64(took.Microseconds()) / 1000
		results = append(results, benchResult{Name: fmt.Sprintf("stocktake entry (HTTP, %d lines)", m), Clients: 1, Requests: 1, Seconds: took.Seconds(),
			PerSecond: float64(m) / took.Seconds(), P50: ms, P95: ms, P99: ms, Max: ms,
			Note: "per second = lines; POST of a count sheet (201), first run only; the sheets posted are copies of it as stored, a line per item, with each run's counts"})
	}
	doc, err := b.st.Insert(ctx, "stocktake", set.copySheet(counted))
	if err != nil {
		return nil, err
	}
	id, version := doc.ID(), fmt.Sprint(doc.Version())
	t1 := time.Now()
	var out struct {
		Record   map[string]any `json:"record"`
		Approval string         `json:"approval"`
	}
	if err := b.call("POST", "/api/v1/records/stocktake/"+id+"/transitions/post", set.keeper.token, version, map[string]any{}, 0, &out); err != nil {
		return nil, err
	}
	submitted := time.Since(t1)
	var approved time.Duration
	if out.Approval != "" {
		t2 := time.Now()
		if err := b.call("POST", "/api/v1/approvals/"+out.Approval+"/approve", set.finance.token, "", map[string]any{"comment": "盘点差异已核对"}, http.StatusOK, nil); err != nil {
			return nil, err
		}
		approved = time.Since(t2)
	}
	var rec map[string]any
	if err := b.call("GET", "/api/v1/records/stocktake/"+id, set.keeper.token, "", nil, http.StatusOK, &rec); err != nil {
		return nil, err
	}
	if rec["state"] != "posted" {
		return nil, fmt.Errorf("the count sheet is %v after the approval, not posted", rec["state"])
	}
	copy(set.onHand, counted)
	for _, j := range []int{0, 1, n / 2, n - 1} {
		bin, err := b.eng.Stock(ctx, set.items[j], b.warehouse)
		if err != nil {
			return nil, err
		}
		if !bin.OnHand.Equal(decimal.FromInt(counted[j])) {
			return nil, fmt.Errorf("bin %d holds %s after the count, counted %d", j, bin.OnHand, counted[j])
		}
	}
	ms, err := b.eng.Verify(ctx)
	if err != nil {
		return nil, err
	}
	if len(ms) > 0 {
		return nil, fmt.Errorf("the books disagree after the stocktake: %v", ms[0])
	}
	took := submitted + approved
	ms0 := float64(took.Microseconds()) / 1000
	diffs := 0
	post := benchResult{Name: fmt.Sprintf("stocktake post (HTTP, %d lines)", n), Clients: 1, Requests: 1, Seconds: took.Seconds(),
		PerSecond: float64(n) / took.Seconds(), P50: ms0, P95: ms0, P99: ms0, Max: ms0, Differences: &diffs,
		Note: fmt.Sprintf("per second = lines; submitted in %.0f ms, approved by finance (the variance value is over the sheet's threshold) and posted in %.0f ms; verify: 0 differences",
			float64(submitted.Microseconds())/1000, float64(approved.Microseconds())/1000)}

	// The floor, on the copies of the bins.
	ids := make([]any, n)
	for j, it := range set.items {
		ids[j] = it + "@" + b.warehouse
	}
	t3 := time.Now()
	bins, err := b.st.Find(ctx, floorBins, store.Query{Filter: store.In(store.IDField, ids...), Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	if len(bins.Docs) != n {
		return nil, fmt.Errorf("the floor read %d bins of %d", len(bins.Docs), n)
	}
	index := map[string]int{}
	for j, it := range set.items {
		index[it] = j
	}
	var entries []store.Doc
	for _, bin := range bins.Docs {
		j := index[fmt.Sprint(bin["item"])]
		have, _ := toDecimal(bin["on_hand"])
		if have.Equal(decimal.FromInt(counted[j])) {
			continue
		}
		bin["on_hand"] = decimal.FromInt(counted[j])
		if _, err := b.st.Replace(ctx, floorBins, bin); err != nil {
			return nil, err
		}
		e := maps.Clone(set.entry)
		e[store.IDField], e["item"], e["qty"] = store.NewID(), set.items[j], decimal.FromInt(counted[j]).Sub(have)
		entries = append(entries, e)
	}
	if _, err := b.st.InsertMany(ctx, floorLedger, entries); err != nil {
		return nil, err
	}
	ft := time.Since(t3)
	fms := float64(ft.Microseconds()) / 1000
	floor := benchResult{Name: fmt.Sprintf("stocktake floor (%d lines)", n), Clients: 1, Requests: 1, Seconds: ft.Seconds(),
		PerSecond: float64(n) / ft.Seconds(), P50: fms, P95: fms, P99: fms, Max: fms,
		Note: fmt.Sprintf("one Find of the bins, %d guarded Replace, one InsertMany of %d ledger entries", len(entries), len(entries))}
	post.Floor, post.Ratio = floor.Name, floor.PerSecond/post.PerSecond
	return append(results, post, floor), nil
}

// copySheet is the first count sheet as the engine stored it, with a new id
// and number and the given counts, its lines computed as the engine computes
// them: the book quantity, the variance and its value, now as the time of
// the count.
func (s *stocktakeSet) copySheet(counted []int64) store.Doc {
	doc := maps.Clone(s.sheet)
	delete(doc, store.VersionField)
	s.copies++
	now := time.Now().UTC().Format(template.DateTimeLayout)
	doc[store.IDField], doc["number"], doc["created_at"], doc["updated_at"] = store.NewID(), fmt.Sprintf("PD-BENCH-%04d", s.copies), now, now
	var surplus, shortage decimal.Decimal
	first := doc["lines"].([]any)[0].(map[string]any)
	out := make([]any, len(counted))
	for j := range counted {
		row := maps.Clone(first) // the items are copies of one: same cost, in scope, no barcode
		row["item"], row["_row"] = s.items[j], store.NewID()
		cost, _ := toDecimal(row["cost"])
		expected, c := decimal.FromInt(s.onHand[j]), decimal.FromInt(counted[j])
		v := c.Sub(expected)
		value := v.Mul(cost)
		row["expected"], row["counted"], row["variance"], row["variance_value"], row["counted_at"] = expected, c, v, value, now
		if value.Sign() > 0 {
			surplus = surplus.Add(value)
		} else {
			shortage = shortage.Sub(value)
		}
		out[j] = row
	}
	doc["lines"], doc["surplus_value"], doc["shortage_value"], doc["variance_value"] = out, surplus, shortage, surplus.Add(shortage)
	return doc
}
