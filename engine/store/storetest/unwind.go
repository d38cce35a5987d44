package storetest

import (
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// testAggregateUnwind groups the elements of an array of documents (a table's
// rows) and groups keys truncated to a prefix (a date's month). The expected
// rows are computed here from the fixture, row by row.
func testAggregateUnwind(t *testing.T, s store.Store) {
	orders := []store.Doc{
		{"customer": "c1", "day": "2026-01-05", "state": "done", "lines": []any{
			map[string]any{"item": "tea", "qty": dec("1.5"), "amount": dec("10.10")},
			map[string]any{"item": "rice", "qty": 2, "amount": dec("0.20")},
		}},
		{"customer": "c2", "day": "2026-01-31", "state": "done", "lines": []any{
			map[string]any{"item": "tea", "qty": 3, "amount": dec("30.01")},
		}},
		{"customer": "c1", "day": "2026-02-01", "state": "done", "lines": []any{
			map[string]any{"item": "tea", "qty": dec("0.1"), "amount": dec("0.2")},
			map[string]any{"item": "salt", "amount": dec("5")},
		}},
		{"customer": "c3", "day": "2026-02-10", "state": "draft", "lines": []any{
			map[string]any{"item": "tea", "qty": 100, "amount": 1000},
		}},
		{"customer": "c3", "day": 20260301, "state": "done", "lines": []any{}},
		{"customer": "c4", "state": "done"},
	}
	for _, o := range orders {
		mustInsert(t, s, "orders", o)
	}
	// Expected per item over the done orders, from the fixture.
	type acc struct {
		n        int64
		qty, amt decimal.Decimal
		maxDay   any
	}
	byItem := map[string]*acc{}
	byMonth := map[any]*acc{}
	for _, o := range orders {
		if o["state"] != "done" {
			continue
		}
		lines, _ := o["lines"].([]any)
		for _, l := range lines {
			row := l.(map[string]any)
			item := row["item"].(string)
			if byItem[item] == nil {
				byItem[item] = &acc{}
			}
			a := byItem[item]
			a.n++
			if q, ok := row["qty"]; ok {
				a.qty = a.qty.Add(toDec(q))
			}
			a.amt = a.amt.Add(toDec(row["amount"]))
			if d, ok := o["day"].(string); ok && (a.maxDay == nil || d > a.maxDay.(string)) {
				a.maxDay = d
			}
		}
		var month any
		if d, ok := o["day"].(string); ok {
			month = d[:7]
		}
		if byMonth[month] == nil {
			byMonth[month] = &acc{}
		}
		byMonth[month].n++
	}
	got, err := s.Aggregate(ctx, "orders", store.Aggregation{
		Match:   store.Eq("state", "done"),
		Unwind:  "lines",
		GroupBy: []string{"lines.item"},
		Accumulators: []store.Accumulator{
			{Op: store.Count, As: "n"},
			{Op: store.Sum, Path: "lines.qty", As: "qty"},
			{Op: store.Sum, Path: "lines.amount", As: "amount"},
			{Op: store.Max, Path: "day", As: "last"},
		},
		Sort: []store.SortKey{store.Desc("amount")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []store.Doc
	for item, a := range byItem {
		want = append(want, store.Doc{"lines.item": item, "n": a.n, "qty": a.qty, "amount": a.amt, "last": a.maxDay})
	}
	sortDocs(want, "amount")
	checkRows(t, "table rows by item", got, want)
	if len(want) != 3 {
		t.Fatalf("fixture: %d items, want 3", len(want))
	}

	got, err = s.Aggregate(ctx, "orders", store.Aggregation{
		Match:        store.Eq("state", "done"),
		GroupBy:      []string{"day"},
		Truncate:     map[string]int{"day": 7},
		Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want = nil
	for m, a := range byMonth {
		want = append(want, store.Doc{"day": m, "n": a.n})
	}
	sortDocs(want, "day")
	checkRows(t, "orders by month", got, want)

	// Unwound rows grouped by the parent's month, summing a column.
	got, err = s.Aggregate(ctx, "orders", store.Aggregation{
		Match:        store.Eq("customer", "c1"),
		Unwind:       "lines",
		GroupBy:      []string{"day"},
		Truncate:     map[string]int{"day": 7},
		Accumulators: []store.Accumulator{{Op: store.Sum, Path: "lines.amount", As: "amount"}},
		Limit:        1,
	})
	if err != nil {
		t.Fatal(err)
	}
	first := decimal.Zero
	for _, l := range orders[0]["lines"].([]any) {
		first = first.Add(toDec(l.(map[string]any)["amount"]))
	}
	checkRows(t, "c1 by month, limit 1", got, []store.Doc{{"day": "2026-01", "amount": first}})

	_, err = s.Aggregate(ctx, "orders", store.Aggregation{GroupBy: []string{"day"}, Truncate: map[string]int{"state": 3}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}})
	wantErr(t, err, store.ErrInvalid, "truncate of a key that is not grouped")
	_, err = s.Aggregate(ctx, "orders", store.Aggregation{Unwind: "lines.item", Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}})
	wantErr(t, err, store.ErrInvalid, "unwind of a nested path")
}

func toDec(v any) decimal.Decimal {
	d, _, _ := store.ToDecimal(v)
	return d
}

// sortDocs orders want as Aggregate does: by key (descending for numbers
// named in desc), nil first.
func sortDocs(docs []store.Doc, key string) {
	a := store.Aggregation{}
	if _, ok := docs[0][key].(decimal.Decimal); ok {
		a.Sort = []store.SortKey{store.Desc(key)}
	} else {
		a.Sort = []store.SortKey{store.Asc(key)}
	}
	store.SortRows(docs, a)
}
