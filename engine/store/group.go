package store

import (
	"fmt"
	"sort"
	"strings"

	"github.com/yerp/yerp/engine/decimal"
)

// Grouper computes an Aggregation over documents fed to it one by one, in Go. A
// backend uses it for accumulators its database cannot compute (the MongoDB test
// peer has no $min or $max), after pushing the match down to the database.
type Grouper struct {
	a      Aggregation
	groups map[string]*groupAcc
	order  []string
}

type groupAcc struct {
	keys  []any
	count int64
	sums  []decimal.Decimal
	nums  []int64 // how many numbers each accumulator saw
	mins  []any
	maxs  []any
}

// NewGrouper starts a grouping for the checked aggregation a.
func NewGrouper(a Aggregation) *Grouper {
	return &Grouper{a: a, groups: map[string]*groupAcc{}}
}

// Add feeds one matching document (normalized, as Get returns it). With
// Unwind, each element of the unwound array is grouped as its own document.
func (g *Grouper) Add(doc Doc) {
	if g.a.Unwind == "" {
		g.add(doc)
		return
	}
	elems, _ := doc[g.a.Unwind].([]any)
	for _, e := range elems {
		view := make(Doc, len(doc))
		for k, v := range doc {
			view[k] = v
		}
		view[g.a.Unwind] = e
		g.add(view)
	}
}

// TruncateKey is the group key of v cut to n characters (see
// Aggregation.Truncate): nil when v is not a string.
func TruncateKey(v any, n int) any {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func (g *Grouper) add(doc Doc) {
	keys := make([]any, len(g.a.GroupBy))
	var sig strings.Builder
	for i, p := range g.a.GroupBy {
		if vs, ok := Lookup(doc, p); ok && len(vs) > 0 {
			keys[i] = vs[0]
		}
		if n, ok := g.a.Truncate[p]; ok {
			keys[i] = TruncateKey(keys[i], n)
		}
		fmt.Fprintf(&sig, "%T:%v\x00", keys[i], keys[i])
	}
	n := len(g.a.Accumulators)
	ga := g.groups[sig.String()]
	if ga == nil {
		ga = &groupAcc{keys: keys, sums: make([]decimal.Decimal, n), nums: make([]int64, n), mins: make([]any, n), maxs: make([]any, n)}
		g.groups[sig.String()] = ga
		g.order = append(g.order, sig.String())
	}
	ga.count++
	for i, acc := range g.a.Accumulators {
		if acc.Op == Count {
			continue
		}
		vs, _ := Lookup(doc, acc.Path)
		for _, v := range vs {
			switch x := v.(type) {
			case decimal.Decimal:
				ga.sums[i] = ga.sums[i].Add(x)
				ga.nums[i]++
			case string:
			default:
				continue
			}
			if ga.mins[i] == nil || lessForMinMax(v, ga.mins[i]) {
				ga.mins[i] = v
			}
			if ga.maxs[i] == nil || lessForMinMax(ga.maxs[i], v) {
				ga.maxs[i] = v
			}
		}
	}
}

// lessForMinMax orders numbers before strings, as both databases do.
func lessForMinMax(a, b any) bool {
	if c, ok := Compare(a, b); ok {
		return c < 0
	}
	_, aNum := a.(decimal.Decimal)
	return aNum
}

// Rows returns the result rows, sorted and limited as the aggregation asks.
func (g *Grouper) Rows() []Doc {
	rows := make([]Doc, 0, len(g.order))
	for _, sig := range g.order {
		ga := g.groups[sig]
		row := Doc{}
		for i, p := range g.a.GroupBy {
			row[p] = ga.keys[i]
		}
		for i, acc := range g.a.Accumulators {
			switch acc.Op {
			case Count:
				row[acc.As] = ga.count
			case Sum:
				row[acc.As] = ga.sums[i]
			case Min:
				row[acc.As] = ga.mins[i]
			case Max:
				row[acc.As] = ga.maxs[i]
			case Avg:
				row[acc.As] = Average(ga.sums[i], ga.nums[i])
			}
		}
		rows = append(rows, row)
	}
	SortRows(rows, g.a)
	if g.a.Limit > 0 && len(rows) > g.a.Limit {
		rows = rows[:g.a.Limit]
	}
	return rows
}

// Average is sum/n rounded to Scale digits, or nil when n is 0.
func Average(sum decimal.Decimal, n int64) any {
	if n == 0 {
		return nil
	}
	avg, _ := sum.Div(decimal.FromInt(n), Scale)
	return avg
}

// SortRows orders aggregation rows by a.Sort, then by the group keys (nil first).
func SortRows(rows []Doc, a Aggregation) {
	keys := append([]SortKey{}, a.Sort...)
	for _, p := range a.GroupBy {
		keys = append(keys, SortKey{Path: p})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, k := range keys {
			c := orderValues(rows[i][k.Path], rows[j][k.Path])
			if c == 0 {
				continue
			}
			if k.Desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
}

// orderValues is the sort order of both databases over the value model:
// nil < numbers < strings < bools.
func orderValues(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case nil:
			return 0
		case decimal.Decimal, int64:
			return 1
		case string:
			return 2
		default:
			return 3
		}
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	if x, ok := a.(int64); ok {
		a = decimal.FromInt(x)
	}
	if y, ok := b.(int64); ok {
		b = decimal.FromInt(y)
	}
	c, _ := Compare(a, b)
	return c
}
