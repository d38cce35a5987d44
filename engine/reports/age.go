package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// age folds the unit rows of an ageing report (grouped by the report's keys
// and the unit, buckets.per) into the report's groups: each unit whose
// bucketed measure is not zero adds its measures to its group, and its
// bucketed measure to the column of its age, in whole days from its date to
// asOf. A unit without a date is aged 0 days.
func age(r *template.Report, units []store.Doc, asOf time.Time) []store.Doc {
	b := r.Buckets
	names, _ := b.Columns()
	groups := map[string]store.Doc{}
	var order []string
	for _, u := range units {
		amount, _ := u[b.Measure].(decimal.Decimal)
		if amount.IsZero() {
			continue // settled
		}
		var sig strings.Builder
		for _, k := range r.Keys {
			fmt.Fprintf(&sig, "%T:%v\x00", u[k.Field.Path], u[k.Field.Path])
		}
		g := groups[sig.String()]
		if g == nil {
			g = store.Doc{}
			for _, k := range r.Keys {
				g[k.Field.Path] = u[k.Field.Path]
			}
			for _, n := range names {
				g[n] = decimal.Zero
			}
			groups[sig.String()] = g
			order = append(order, sig.String())
		}
		for _, me := range r.Measures {
			g[me.Name] = fold(me.Op, g[me.Name], u[me.Name])
		}
		days := 0
		for i := range b.Dates {
			if s, ok := u[dateAcc(i)].(string); ok && len(s) >= 10 {
				if t, err := time.Parse(template.DateLayout, s[:10]); err == nil {
					days = int(asOf.Sub(t).Hours() / 24)
					break
				}
			}
		}
		col := bucket(days, b.Edges)
		g[names[col]] = g[names[col]].(decimal.Decimal).Add(amount)
	}
	out := make([]store.Doc, 0, len(order))
	for _, sig := range order {
		out = append(out, groups[sig])
	}
	return out
}

// bucket is the index of the column of an age: 0 for not yet due (negative
// age), then one per edge (0..e1, e1+1..e2, ...), then over the last edge.
func bucket(days int, edges []int) int {
	if days < 0 {
		return 0
	}
	for i, e := range edges {
		if days <= e {
			return i + 1
		}
	}
	return len(edges) + 1
}

// fold combines one unit's accumulator value into its group's.
func fold(op string, acc, v any) any {
	switch op {
	case "count":
		a, _ := acc.(int64)
		n, _ := v.(int64)
		return a + n
	case "sum":
		a, _ := acc.(decimal.Decimal)
		n, _ := v.(decimal.Decimal)
		return a.Add(n)
	case "min", "max":
		if acc == nil {
			return v
		}
		if v == nil {
			return acc
		}
		if c, ok := store.Compare(v, acc); ok && (op == "min" && c < 0 || op == "max" && c > 0) {
			return v
		}
		return acc
	}
	return acc
}
