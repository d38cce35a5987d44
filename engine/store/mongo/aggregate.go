package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// errSumOverflow reports a server-side sum that left the int64 range (the
// server then returns a double); the aggregation is redone in Go.
var errSumOverflow = errors.New("sum overflow")

// Aggregate groups matching documents and computes accumulators; see
// store.Store.
//
// Count, Sum and Avg over top-level paths, without Unwind or Truncate, run on
// the server: $match, then $group with $sum (the only accumulator both MongoDB
// and FerretDB v1 provide), plus a count of the numeric values per group for
// each Avg. Everything else (Min, Max, sums over nested paths, which may cross
// arrays, unwinding and truncated keys) streams the matching documents and
// groups them in Go with store.Grouper. Both paths give
// the rows of store.Grouper: sorted by a.Sort then the group keys, and cut at
// a.Limit.
func (s *Store) Aggregate(ctx context.Context, coll string, a store.Aggregation) (_ []store.Doc, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return nil, fmt.Errorf("mongo: aggregate: %w", err)
	}
	a, err = store.CheckAggregation(a)
	if err != nil {
		return nil, fmt.Errorf("mongo: aggregate %s: %w", coll, err)
	}
	match, err := translate(a.Match)
	if err != nil {
		return nil, fmt.Errorf("mongo: aggregate %s: %w", coll, err)
	}
	var rows []store.Doc
	if serverSide(a) {
		rows, err = s.groupOnServer(ctx, c, a, match)
		if errors.Is(err, errSumOverflow) {
			rows, err = s.groupInGo(ctx, c, a, match)
		}
	} else {
		rows, err = s.groupInGo(ctx, c, a, match)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: aggregate %s: %w", coll, err)
	}
	store.SortRows(rows, a)
	if a.Limit > 0 && len(rows) > a.Limit {
		rows = rows[:a.Limit]
	}
	return rows, nil
}

// serverSide reports whether the server can compute a.
func serverSide(a store.Aggregation) bool {
	// _v is a plain int64, not a number of the value model: leave it to Go.
	if slices.Contains(a.GroupBy, store.VersionField) || a.Unwind != "" || len(a.Truncate) > 0 {
		return false
	}
	for _, acc := range a.Accumulators {
		switch acc.Op {
		case store.Count:
		case store.Sum, store.Avg:
			if store.IsNested(acc.Path) || acc.Path == store.VersionField {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// groupID is the $group _id of a: a document of the group keys, named k0, k1...
// (paths may hold dots, which field names may not), or null without keys.
func groupID(a store.Aggregation) any {
	if len(a.GroupBy) == 0 {
		return nil
	}
	id := bson.D{}
	for i, p := range a.GroupBy {
		id = append(id, bson.E{Key: fmt.Sprintf("k%d", i), Value: "$" + p})
	}
	return id
}

// group is one result group being assembled.
type group struct {
	keys  []any
	count int64
	sums  []decimal.Decimal // per accumulator
	nums  []int64           // numeric values seen, per Avg accumulator
}

// groups collects result groups by their keys. The server may return one
// group as several (MongoDB tells a null key from a missing one, and FerretDB
// leaves missing keys out of a compound _id); the store does not, so groups
// with the same keys are merged.
type groups struct {
	a     store.Aggregation
	bySig map[string]*group
	order []string
}

func (gs *groups) get(id bson.RawValue) (*group, error) {
	keys := make([]any, len(gs.a.GroupBy))
	if len(keys) > 0 {
		doc, ok := id.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("mongo: unexpected group id %s", id)
		}
		for i := range keys {
			rv, err := doc.LookupErr(fmt.Sprintf("k%d", i))
			if err != nil {
				continue // missing
			}
			v, err := fromRawValue(rv)
			if err != nil {
				return nil, fmt.Errorf("group key %s: %w", gs.a.GroupBy[i], err)
			}
			keys[i] = v
		}
	}
	var sig strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sig, "%T:%v\x00", k, k)
	}
	g := gs.bySig[sig.String()]
	if g == nil {
		n := len(gs.a.Accumulators)
		g = &group{keys: keys, sums: make([]decimal.Decimal, n), nums: make([]int64, n)}
		gs.bySig[sig.String()] = g
		gs.order = append(gs.order, sig.String())
	}
	return g, nil
}

func (gs *groups) rows() []store.Doc {
	out := make([]store.Doc, 0, len(gs.order))
	for _, sig := range gs.order {
		g := gs.bySig[sig]
		row := store.Doc{}
		for i, p := range gs.a.GroupBy {
			row[p] = g.keys[i]
		}
		for i, acc := range gs.a.Accumulators {
			switch acc.Op {
			case store.Count:
				row[acc.As] = g.count
			case store.Sum:
				row[acc.As] = g.sums[i]
			case store.Avg:
				row[acc.As] = store.Average(g.sums[i], g.nums[i])
			}
		}
		out = append(out, row)
	}
	return out
}

// groupOnServer computes an aggregation of Count, Sum and Avg with $group. Each
// $group computes a single accumulator: FerretDB v1 feeds the documents of a
// group to the first accumulator only (the later ones see none), so every
// accumulator runs as its own pipeline and the rows are joined by group keys.
// The pipelines are: the document count; one $sum per summed path; and, for
// each averaged path, the count of the documents holding a number there (Avg
// divides by the numbers seen, not by the documents).
func (s *Store) groupOnServer(ctx context.Context, c *mongo.Collection, a store.Aggregation, match bson.D) ([]store.Doc, error) {
	gs := &groups{a: a, bySig: map[string]*group{}}
	type job struct {
		match bson.D
		expr  any // operand of $sum
		apply func(g *group, n int64)
	}
	jobs := []job{{match: match, expr: 1, apply: func(g *group, n int64) { g.count += n }}}
	sums := map[string][]int{} // accumulators summing a path
	nums := map[string][]int{} // Avg accumulators counting the numbers at a path
	var sumPaths, numPaths []string
	for i, acc := range a.Accumulators {
		if acc.Op != store.Sum && acc.Op != store.Avg {
			continue
		}
		if sums[acc.Path] == nil {
			sumPaths = append(sumPaths, acc.Path)
		}
		sums[acc.Path] = append(sums[acc.Path], i)
		if acc.Op == store.Avg {
			if nums[acc.Path] == nil {
				numPaths = append(numPaths, acc.Path)
			}
			nums[acc.Path] = append(nums[acc.Path], i)
		}
	}
	for _, p := range sumPaths {
		jobs = append(jobs, job{match: match, expr: "$" + p, apply: func(g *group, n int64) {
			for _, i := range sums[p] {
				g.sums[i] = g.sums[i].Add(decimal.FromScaled(n, store.Scale))
			}
		}})
	}
	for _, p := range numPaths {
		numeric := and(match, bson.D{{Key: p, Value: bson.D{{Key: "$type", Value: "number"}}}})
		jobs = append(jobs, job{match: numeric, expr: 1, apply: func(g *group, n int64) {
			for _, i := range nums[p] {
				g.nums[i] += n
			}
		}})
	}
	for _, j := range jobs {
		spec := bson.D{{Key: "_id", Value: groupID(a)}, {Key: "v", Value: bson.D{{Key: "$sum", Value: j.expr}}}}
		err := s.runGroup(ctx, c, j.match, spec, func(row bson.Raw) error {
			g, err := gs.get(row.Lookup("_id"))
			if err != nil {
				return err
			}
			rv := row.Lookup("v")
			if rv.Type != bson.TypeInt32 && rv.Type != bson.TypeInt64 {
				return errSumOverflow // a double: the integer sum overflowed
			}
			j.apply(g, rv.AsInt64())
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return gs.rows(), nil
}

// runGroup runs $match and $group and passes each result row to fn.
func (s *Store) runGroup(ctx context.Context, c *mongo.Collection, match, spec bson.D, fn func(bson.Raw) error) error {
	cur, err := c.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: match}},
		{{Key: "$group", Value: spec}},
	})
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if err := fn(cur.Current); err != nil {
			return err
		}
	}
	return cur.Err()
}

// groupInGo streams the matching documents, projected to the paths the
// aggregation reads, into a store.Grouper.
func (s *Store) groupInGo(ctx context.Context, c *mongo.Collection, a store.Aggregation, match bson.D) ([]store.Doc, error) {
	proj := bson.D{}
	seen := map[string]bool{}
	need := func(path string) {
		top := strings.SplitN(path, ".", 2)[0]
		if !seen[top] {
			seen[top] = true
			proj = append(proj, bson.E{Key: top, Value: 1})
		}
	}
	for _, p := range a.GroupBy {
		need(p)
	}
	for _, acc := range a.Accumulators {
		if acc.Op != store.Count {
			need(acc.Path)
		}
	}
	if a.Unwind != "" {
		need(a.Unwind)
	}
	need(store.IDField)
	cur, err := c.Find(ctx, match, options.Find().SetProjection(proj))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	g := store.NewGrouper(store.Aggregation{Match: a.Match, Unwind: a.Unwind, GroupBy: a.GroupBy, Truncate: a.Truncate, Accumulators: a.Accumulators})
	for cur.Next(ctx) {
		d, err := fromRaw(cur.Current)
		if err != nil {
			return nil, err
		}
		g.Add(d)
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	return g.Rows(), nil
}
