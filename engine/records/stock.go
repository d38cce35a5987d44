package records

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// Bin is the stock of one item in one warehouse.
type Bin struct {
	Item      string          `json:"item"`
	Warehouse string          `json:"warehouse"`
	OnHand    decimal.Decimal `json:"on_hand"`
	Reserved  decimal.Decimal `json:"reserved"`
	Available decimal.Decimal `json:"available"`
	// Below minimum: the item's min_stock when the bin's available quantity
	// fell below it (the low-stock alert is raised), else zero.
	MinStock decimal.Decimal `json:"min_stock"`
	Alerted  bool            `json:"below_minimum"`
}

func binOf(d store.Doc) Bin {
	b := Bin{OnHand: decField(d, fOnHand), Reserved: decField(d, fReserved)}
	b.Item, _ = d["item"].(string)
	b.Warehouse, _ = d["warehouse"].(string)
	b.Available = b.OnHand.Sub(b.Reserved)
	b.Alerted = d["alerted"] == true
	if b.Alerted {
		b.MinStock = decField(d, "min_stock")
	}
	return b
}

// Stock returns the bin of item in warehouse (zero when nothing moved yet).
func (e *Engine) Stock(ctx context.Context, item, warehouse string) (Bin, error) {
	d, err := e.st.Get(ctx, binsColl, binID(item, warehouse))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Bin{Item: item, Warehouse: warehouse}, nil
		}
		return Bin{}, fmt.Errorf("records: stock: %w", err)
	}
	return binOf(d), nil
}

// Bins lists bins, of one item and/or one warehouse when given, or only those
// below their minimum; at most 1000.
func (e *Engine) Bins(ctx context.Context, item, warehouse string, belowMinimum bool) ([]Bin, error) {
	if err := e.ensureLedgerIndexes(ctx); err != nil {
		return nil, err
	}
	var fs []store.Filter
	if item != "" {
		fs = append(fs, store.Eq("item", item))
	}
	if warehouse != "" {
		fs = append(fs, store.Eq("warehouse", warehouse))
	}
	if belowMinimum {
		fs = append(fs, store.Eq("alerted", true))
	}
	var f store.Filter
	if len(fs) > 0 {
		f = store.And(fs...)
	}
	page, err := e.st.Find(ctx, binsColl, store.Query{Filter: f, Sort: []store.SortKey{store.Asc(store.IDField)}, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("records: bins: %w", err)
	}
	out := make([]Bin, len(page.Docs))
	for i, d := range page.Docs {
		out[i] = binOf(d)
	}
	return out, nil
}

// OpeningStock posts an opening balance: qty of item received into warehouse
// without a voucher (data take-over, fixtures, the demo).
func (e *Engine) OpeningStock(ctx context.Context, u User, item, warehouse string, qty decimal.Decimal) error {
	it, err := e.get(ctx, "item", item)
	if err != nil {
		return fmt.Errorf("records: opening stock: %w", err)
	}
	bp := bump{minStock: decField(it, "min_stock"), coll: binsColl, id: binID(item, warehouse), init: map[string]any{"item": item, "warehouse": warehouse},
		delta: map[string]decimal.Decimal{fOnHand: qty, fReserved: decimal.Zero}, entryColl: stockLedgerColl, balanceOf: fOnHand,
		path: "qty", params: map[string]any{"item": item, "warehouse": warehouse, "asked": qty.String()},
		entry: map[string]any{"item": item, "warehouse": warehouse, "kind": "opening", "qty": qty, "reserved": decimal.Zero,
			"user": u.ID, "at": e.stamp()}}
	return e.post(ctx, []write{bp.write()})
}

// Balance is what party owes us (receivable and provisional) less what we owe
// them (payable).
func (e *Engine) Balance(ctx context.Context, party string) decimal.Decimal {
	return (&evaluator{e: e, ctx: ctx}).balance(party)
}

// Outstanding is what is still open on a voucher.
func (e *Engine) Outstanding(ctx context.Context, voucher string) decimal.Decimal {
	return (&evaluator{e: e, ctx: ctx}).outstanding(voucher)
}

// Mismatch is a balance that differs from the sum of its ledger.
type Mismatch struct {
	Coll, ID      string
	Field         string
	Stored, Entry decimal.Decimal
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s %s: %s is %s, the ledger sums to %s", m.Coll, m.ID, m.Field, m.Stored, m.Entry)
}

// Verify recomputes every bin and party balance from the ledgers and returns
// each difference (none when the books agree). Run it with no posting in
// flight, e.g. after Recover.
func (e *Engine) Verify(ctx context.Context) ([]Mismatch, error) {
	var out []Mismatch
	states := map[string]string{}
	check := func(coll, ledger string, keys []string, id func(store.Doc) string, fields map[string]string) error {
		accs := []store.Accumulator{}
		for bal, entry := range fields {
			accs = append(accs, store.Accumulator{Op: store.Sum, Path: entry, As: bal})
		}
		groups, err := e.st.Aggregate(ctx, ledger, store.Aggregation{GroupBy: keys, Accumulators: accs})
		if err != nil {
			return err
		}
		sums := map[string]store.Doc{}
		for _, g := range groups {
			sums[id(g)] = g
		}
		q := store.Query{Limit: store.MaxLimit}
		seen := map[string]bool{}
		for {
			page, err := e.st.Find(ctx, coll, q)
			if err != nil {
				return err
			}
			for _, d := range page.Docs {
				seen[d.ID()] = true
				for bal := range fields {
					if s := decField(sums[d.ID()], bal); !decField(d, bal).Equal(s) {
						out = append(out, Mismatch{Coll: coll, ID: d.ID(), Field: bal, Stored: decField(d, bal), Entry: s})
					}
				}
				l, _ := d[fPending].([]any)
				if live, err := e.livePending(ctx, l, states); err != nil {
					return err
				} else if len(live) > 0 {
					out = append(out, Mismatch{Coll: coll, ID: d.ID(), Field: fPending}) // a posting in flight
				}
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		for k, g := range sums {
			if seen[k] {
				continue
			}
			for bal := range fields {
				if s := decField(g, bal); !s.IsZero() {
					out = append(out, Mismatch{Coll: coll, ID: k, Field: bal, Entry: s})
				}
			}
		}
		return nil
	}
	if err := check(binsColl, stockLedgerColl, []string{"item", "warehouse"},
		func(g store.Doc) string { return binID(fmt.Sprint(g["item"]), fmt.Sprint(g["warehouse"])) },
		map[string]string{fOnHand: "qty", fReserved: "reserved"}); err != nil {
		return nil, fmt.Errorf("records: verify stock: %w", err)
	}
	if err := check(balancesColl, partyLedgerColl, []string{"account", "party"},
		func(g store.Doc) string { return fmt.Sprint(g["account"]) + ":" + fmt.Sprint(g["party"]) },
		map[string]string{"debit": "debit", "credit": "credit", "balance": "amount"}); err != nil {
		return nil, fmt.Errorf("records: verify balances: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}
