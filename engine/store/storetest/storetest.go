// Package storetest is the conformance suite of the store contract: every backend
// runs the same tests through Run, so both behave the same for the engine.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// Opener returns a new, empty store for one test; the opener registers its
// cleanup with t.Cleanup.
type Opener func(t testing.TB) store.Store

// Run runs every contract test against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"InsertGetRoundTrip", testRoundTrip},
		{"InvalidInputWritesNothing", testInvalidInput},
		{"MissingCollectionsReadEmpty", testMissingCollection},
		{"Duplicates", testDuplicates},
		{"UniqueIndexOverExistingDuplicates", testUniqueOverExisting},
		{"EnsureIndexesIdempotent", testEnsureIndexes},
		{"ReplaceVersionGuard", testReplace},
		{"ReplaceRace32", testReplaceRace},
		{"DeleteVersionGuard", testDelete},
		{"Increment", testIncrement},
		{"GuardedDecrementRace32", testDecrementRace},
		{"FilterOperators", testFilters},
		{"FilterValuesCannotInject", testInjection},
		{"SortCursorPagination", testPagination},
		{"CursorMisuse", testCursorMisuse},
		{"ProjectionAndCount", testProjectionCount},
		{"DecimalsExact", testDecimals},
		{"Aggregate", testAggregate},
		{"AggregateUnwindAndTruncate", testAggregateUnwind},
		{"DecimalSumOf100000Cents", testCentSum},
		{"InsertManyStopsAtFirstFailure", testInsertMany},
		{"BatchWritesThroughOneWriter", testBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

func mustInsert(t testing.TB, s store.Store, coll string, d store.Doc) store.Doc {
	t.Helper()
	out, err := s.Insert(ctx, coll, d)
	if err != nil {
		t.Fatalf("insert %v: %v", d, err)
	}
	return out
}

func mustGet(t testing.TB, s store.Store, coll, id string) store.Doc {
	t.Helper()
	d, err := s.Get(ctx, coll, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// Equal compares two values of the store's value model: decimals by number
// (1.50 equals 1.5), documents and arrays element by element.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Equal(y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case store.Doc:
		return Equal(map[string]any(x), map[string]any(asDoc(b)))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func asDoc(v any) store.Doc {
	switch x := v.(type) {
	case store.Doc:
		return x
	case map[string]any:
		return x
	}
	return nil
}

func testRoundTrip(t *testing.T, s store.Store) {
	when := time.Date(2026, 11, 25, 8, 30, 0, 123456000, time.FixedZone("CST", 8*3600))
	in := store.Doc{
		"name":    "华东贸易 Ltd.",
		"qty":     5,
		"price":   dec("12.345678"),
		"neg":     dec("-0.000001"),
		"ratio":   0.1,
		"active":  true,
		"blocked": false,
		"note":    nil,
		"at":      when,
		"address": map[string]any{"city": "杭州", "zip": "310000"},
		"lines": []any{
			map[string]any{"item": "A", "qty": dec("1.5")},
			map[string]any{"item": "B", "qty": 2},
		},
		"tags":   []string{"vip", "north"},
		"prices": []decimal.Decimal{dec("1.5"), dec("-2")},
		"labels": map[string]string{"zh-CN": "订单", "en": "Order"},
	}
	got := mustInsert(t, s, "orders", in)
	if got.ID() == "" || got.Version() != 1 {
		t.Fatalf("insert returned id %q version %d, want a new id and version 1", got.ID(), got.Version())
	}
	read := mustGet(t, s, "orders", got.ID())
	want := store.Doc{
		store.IDField:      got.ID(),
		store.VersionField: int64(1),
		"name":             "华东贸易 Ltd.",
		"qty":              dec("5"),
		"price":            dec("12.345678"),
		"neg":              dec("-0.000001"),
		"ratio":            dec("0.1"),
		"active":           true,
		"blocked":          false,
		"note":             nil,
		"at":               "2026-11-25T00:30:00.123456Z",
		"address":          map[string]any{"city": "杭州", "zip": "310000"},
		"lines": []any{
			map[string]any{"item": "A", "qty": dec("1.5")},
			map[string]any{"item": "B", "qty": dec("2")},
		},
		"tags":   []any{"vip", "north"},
		"prices": []any{dec("1.5"), dec("-2")},
		"labels": map[string]any{"zh-CN": "订单", "en": "Order"},
	}
	if read.Version() != 1 || read.ID() != got.ID() {
		t.Fatalf("get: id %q version %v", read.ID(), read[store.VersionField])
	}
	for k, v := range want {
		if !Equal(v, read[k]) {
			t.Errorf("field %s: got %#v, want %#v", k, read[k], v)
		}
	}
	if len(read) != len(want) {
		t.Errorf("got %d fields, want %d: %v", len(read), len(want), read)
	}
	if _, ok := read["qty"].(decimal.Decimal); !ok {
		t.Errorf("numbers must read back as decimal.Decimal, got %T", read["qty"])
	}

	// A caller-chosen id is kept; ids from the store differ and follow time order.
	mine := mustInsert(t, s, "orders", store.Doc{store.IDField: "SO-0001"})
	if mine.ID() != "SO-0001" {
		t.Fatalf("caller id not kept: %q", mine.ID())
	}
	a := mustInsert(t, s, "orders", store.Doc{"n": 1}).ID()
	b := mustInsert(t, s, "orders", store.Doc{"n": 2}).ID()
	if a == b || a > b {
		t.Fatalf("generated ids %q, %q: want distinct and increasing", a, b)
	}
	_, err := s.Get(ctx, "orders", "nope")
	wantErr(t, err, store.ErrNotFound, "get of a missing id")
}

func testInvalidInput(t *testing.T, s store.Store) {
	cases := []struct {
		name string
		coll string
		doc  store.Doc
	}{
		{"collection name with a quote", `o"; DROP TABLE x; --`, store.Doc{"a": 1}},
		{"upper-case collection name", "Orders", store.Doc{"a": 1}},
		{"reserved top-level key", "orders", store.Doc{"_secret": 1}},
		{"key with a dot", "orders", store.Doc{"a": map[string]any{"b.c": 1}}},
		{"key starting with $", "orders", store.Doc{"a": map[string]any{"$gt": 1}}},
		{"too many fractional digits", "orders", store.Doc{"amount": dec("0.0000001")}},
		{"number too large", "orders", store.Doc{"amount": dec("10000000000000")}},
		{"unsupported type", "orders", store.Doc{"c": make(chan int)}},
		{"non-string id", "orders", store.Doc{store.IDField: 42}},
	}
	for _, c := range cases {
		_, err := s.Insert(ctx, c.coll, c.doc)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c.name, err)
		}
	}
	n, err := s.Count(ctx, "orders", nil)
	if err != nil || n != 0 {
		t.Fatalf("after refused inserts: count %d, %v; want 0", n, err)
	}
	if _, err := s.Find(ctx, "orders", store.Query{Sort: []store.SortKey{store.Asc(store.VersionField)}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("sort by _v: got %v, want ErrInvalid", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	for _, f := range []store.Filter{
		store.Eq("a'b", 1),
		store.Eq("a..b", 1),
		store.Gt("a", true),
		store.Gt("a", nil),
		store.In("a", nil),
		&store.Field{Path: "a", Op: "regex", Value: ".*"},
		store.Weighted(store.T("a", 1)).Gte(decimal.Zero),
		store.Eq(store.VersionField, 1),
		store.Exists("_secret", true),
	} {
		if _, err := s.Find(ctx, "orders", store.Query{Filter: f}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("filter %#v: got %v, want ErrInvalid", f, err)
		}
	}
}

func testMissingCollection(t *testing.T, s store.Store) {
	page, err := s.Find(ctx, "never_written", store.Query{Filter: store.Eq("a", 1), Sort: []store.SortKey{store.Asc("a")}})
	if err != nil || len(page.Docs) != 0 || page.Next != "" {
		t.Fatalf("find on a missing collection: %v, %v", page, err)
	}
	n, err := s.Count(ctx, "never_written", nil)
	if err != nil || n != 0 {
		t.Fatalf("count on a missing collection: %d, %v", n, err)
	}
	rows, err := s.Aggregate(ctx, "never_written", store.Aggregation{Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}})
	if err != nil || len(rows) != 0 {
		t.Fatalf("aggregate on a missing collection: %v, %v", rows, err)
	}
	_, err = s.Get(ctx, "never_written", "x")
	wantErr(t, err, store.ErrNotFound, "get on a missing collection")
	_, err = s.Replace(ctx, "never_written", store.Doc{store.IDField: "x", store.VersionField: int64(1)})
	wantErr(t, err, store.ErrNotFound, "replace on a missing collection")
	err = s.Delete(ctx, "never_written", "x", 1)
	wantErr(t, err, store.ErrNotFound, "delete on a missing collection")
	// The first write creates the collection.
	mustInsert(t, s, "created_on_demand", store.Doc{"a": 1})
	if n, _ := s.Count(ctx, "created_on_demand", nil); n != 1 {
		t.Fatalf("collection created on demand holds %d documents, want 1", n)
	}
}

func dupOf(t testing.TB, err error) *store.DuplicateError {
	t.Helper()
	var dup *store.DuplicateError
	if !errors.As(err, &dup) || !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("got %v, want a *store.DuplicateError", err)
	}
	return dup
}

func testDuplicates(t *testing.T, s store.Store) {
	err := s.EnsureIndexes(ctx, "invoices",
		store.Index{Name: "number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
		store.Index{Name: "party_ref", Keys: []store.SortKey{store.Asc("party"), store.Asc("ref")}, Unique: true},
		store.Index{Name: "by_date", Keys: []store.SortKey{store.Desc("date")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	first := mustInsert(t, s, "invoices", store.Doc{"number": "INV-1", "party": "c1", "ref": "r1"})
	_, err = s.Insert(ctx, "invoices", store.Doc{"number": "INV-1", "party": "c2", "ref": "r1"})
	dup := dupOf(t, err)
	if dup.Index != "number" || !slices.Equal(dup.Fields, []string{"number"}) || dup.Collection != "invoices" {
		t.Fatalf("duplicate names %+v, want index number (number) in invoices", dup)
	}
	_, err = s.Insert(ctx, "invoices", store.Doc{"number": "INV-2", "party": "c1", "ref": "r1"})
	dup = dupOf(t, err)
	if dup.Index != "party_ref" || !slices.Equal(dup.Fields, []string{"party", "ref"}) {
		t.Fatalf("duplicate names %+v, want index party_ref (party, ref)", dup)
	}
	_, err = s.Insert(ctx, "invoices", store.Doc{store.IDField: first.ID(), "number": "INV-3"})
	dup = dupOf(t, err)
	if !slices.Equal(dup.Fields, []string{store.IDField}) {
		t.Fatalf("duplicate id names %+v, want field _id", dup)
	}
	// Documents without the unique field are not constrained.
	mustInsert(t, s, "invoices", store.Doc{"party": "c9", "ref": "x1"})
	mustInsert(t, s, "invoices", store.Doc{"party": "c9", "ref": "x2"})
	// A replace that would take a held key fails and changes nothing.
	second := mustInsert(t, s, "invoices", store.Doc{"number": "INV-2", "party": "c2", "ref": "r2"})
	second["number"] = "INV-1"
	_, err = s.Replace(ctx, "invoices", second)
	dupOf(t, err)
	if got := mustGet(t, s, "invoices", second.ID()); got["number"] != "INV-2" || got.Version() != 1 {
		t.Fatalf("failed replace changed the document: %v", got)
	}
	if n, _ := s.Count(ctx, "invoices", nil); n != 4 {
		t.Fatalf("count %d, want 4: refused inserts must leave nothing", n)
	}
	// Freed keys can be taken again.
	if err := s.Delete(ctx, "invoices", first.ID(), 1); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, "invoices", store.Doc{"number": "INV-1", "party": "c1", "ref": "r1"})
}

func testUniqueOverExisting(t *testing.T, s store.Store) {
	mustInsert(t, s, "items", store.Doc{"code": "X"})
	mustInsert(t, s, "items", store.Doc{"code": "X"})
	err := s.EnsureIndexes(ctx, "items", store.Index{Name: "code", Keys: []store.SortKey{store.Asc("code")}, Unique: true})
	dupOf(t, err)
	// The refused index does not exist: a third duplicate is accepted.
	mustInsert(t, s, "items", store.Doc{"code": "X"})
}

func testEnsureIndexes(t *testing.T, s store.Store) {
	ix := []store.Index{
		{Name: "state_date", Keys: []store.SortKey{store.Asc("state"), store.Desc("date")}},
		{Name: "lines_item", Keys: []store.SortKey{store.Asc("lines.item")}},
		{Name: "number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
	}
	for i := 0; i < 3; i++ {
		if err := s.EnsureIndexes(ctx, "orders", ix...); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	changed := store.Index{Name: "number", Keys: []store.SortKey{store.Asc("number")}}
	wantErr(t, s.EnsureIndexes(ctx, "orders", changed), store.ErrInvalid, "same index name, other definition")
	bad := []store.Index{
		{Name: "Bad-Name", Keys: []store.SortKey{store.Asc("a")}},
		{Name: "nokeys"},
		{Name: "compound_nested", Keys: []store.SortKey{store.Asc("a"), store.Asc("lines.item")}},
		{Name: "path", Keys: []store.SortKey{store.Asc("a'")}},
	}
	for _, b := range bad {
		wantErr(t, s.EnsureIndexes(ctx, "orders", b), store.ErrInvalid, "index "+b.Name)
	}
	// Unique still enforced after the repeated declarations.
	mustInsert(t, s, "orders", store.Doc{"number": "SO-1"})
	_, err := s.Insert(ctx, "orders", store.Doc{"number": "SO-1"})
	dupOf(t, err)
}

func testReplace(t *testing.T, s store.Store) {
	d := mustInsert(t, s, "orders", store.Doc{"note": "a", "qty": 1})
	d["note"] = "b"
	d2, err := s.Replace(ctx, "orders", d)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Version() != 2 {
		t.Fatalf("version after replace %d, want 2", d2.Version())
	}
	stale := store.Doc{store.IDField: d.ID(), store.VersionField: int64(1), "note": "stale"}
	_, err = s.Replace(ctx, "orders", stale)
	wantErr(t, err, store.ErrConflict, "replace with a stale version")
	got := mustGet(t, s, "orders", d.ID())
	if got["note"] != "b" || got.Version() != 2 {
		t.Fatalf("stale replace changed the document: %v", got)
	}
	if _, ok := got["qty"]; !ok {
		t.Fatalf("replace dropped a field it was given: %v", got)
	}
	// Replace writes the whole document: fields left out are gone.
	_, err = s.Replace(ctx, "orders", store.Doc{store.IDField: d.ID(), store.VersionField: int64(2), "note": "c"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "orders", d.ID()); got["qty"] != nil || got["note"] != "c" || got.Version() != 3 {
		t.Fatalf("after full replace: %v", got)
	}
	_, err = s.Replace(ctx, "orders", store.Doc{store.IDField: "missing", store.VersionField: int64(1)})
	wantErr(t, err, store.ErrNotFound, "replace of a missing document")
	_, err = s.Replace(ctx, "orders", store.Doc{store.IDField: d.ID(), "note": "no version"})
	wantErr(t, err, store.ErrInvalid, "replace without a version")
}

func testReplaceRace(t *testing.T, s store.Store) {
	d := mustInsert(t, s, "counters", store.Doc{"by": "nobody"})
	for round := int64(1); round <= 3; round++ {
		var wins atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				_, err := s.Replace(ctx, "counters", store.Doc{store.IDField: d.ID(), store.VersionField: round, "by": fmt.Sprint(g)})
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("racing replace: %v", err)
				}
			}(g)
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d replaces of version %d succeeded, want exactly 1", round, wins.Load(), round)
		}
		if got := mustGet(t, s, "counters", d.ID()); got.Version() != round+1 {
			t.Fatalf("round %d: version %d, want %d", round, got.Version(), round+1)
		}
	}
}

func testDelete(t *testing.T, s store.Store) {
	d := mustInsert(t, s, "orders", store.Doc{"a": 1})
	wantErr(t, s.Delete(ctx, "orders", d.ID(), 2), store.ErrConflict, "delete with a wrong version")
	mustGet(t, s, "orders", d.ID())
	if err := s.Delete(ctx, "orders", d.ID(), 1); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, "orders", d.ID())
	wantErr(t, err, store.ErrNotFound, "get after delete")
	wantErr(t, s.Delete(ctx, "orders", d.ID(), 1), store.ErrNotFound, "second delete")
}

func available(gte string) store.Filter {
	return store.Weighted(store.T("on_hand", 1), store.T("reserved", -1)).Gte(dec(gte))
}

func testIncrement(t *testing.T, s store.Store) {
	bin := mustInsert(t, s, "bins", store.Doc{store.IDField: "A@W1", "item": "A", "on_hand": dec("10"), "reserved": dec("2.5")})
	got, err := s.Increment(ctx, "bins", store.Inc{ID: bin.ID(), Deltas: map[string]decimal.Decimal{"reserved": dec("7.5")}, If: available("7.5")})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got["reserved"], dec("10")) || got.Version() != 2 || got["item"] != "A" {
		t.Fatalf("after reserving 7.5: %v", got)
	}
	_, err = s.Increment(ctx, "bins", store.Inc{ID: bin.ID(), Deltas: map[string]decimal.Decimal{"reserved": dec("0.001")}, If: available("0.001")})
	wantErr(t, err, store.ErrCondition, "reserve beyond available")
	if cur := mustGet(t, s, "bins", bin.ID()); !Equal(cur["reserved"], dec("10")) || cur.Version() != 2 {
		t.Fatalf("refused increment changed the bin: %v", cur)
	}
	// Several fields at once, and the guard may combine conditions.
	got, err = s.Increment(ctx, "bins", store.Inc{
		ID:     bin.ID(),
		Deltas: map[string]decimal.Decimal{"on_hand": dec("-4"), "reserved": dec("-4"), "shipped": dec("4")},
		If:     store.And(store.Eq("item", "A"), store.Gte("reserved", 4)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got["on_hand"], dec("6")) || !Equal(got["reserved"], dec("6")) || !Equal(got["shipped"], dec("4")) {
		t.Fatalf("after shipping 4 from reserved: %v", got)
	}
	// An increment moves the version: a replace based on an older read conflicts.
	_, err = s.Replace(ctx, "bins", bin)
	wantErr(t, err, store.ErrConflict, "replace after an increment")

	// Missing document: not found without upsert.
	_, err = s.Increment(ctx, "bins", store.Inc{ID: "B@W1", Deltas: map[string]decimal.Decimal{"on_hand": dec("1")}})
	wantErr(t, err, store.ErrNotFound, "increment of a missing document")
	// Upsert whose guard fails on the new document creates nothing.
	_, err = s.Increment(ctx, "bins", store.Inc{ID: "B@W1", Upsert: true, SetOnInsert: store.Doc{"item": "B"},
		Deltas: map[string]decimal.Decimal{"reserved": dec("1")}, If: available("1")})
	wantErr(t, err, store.ErrCondition, "upsert reserve on an empty bin")
	_, err = s.Get(ctx, "bins", "B@W1")
	wantErr(t, err, store.ErrNotFound, "bin after a refused upsert")
	// A refused upsert into a collection that does not exist yet leaves no
	// trace, and the collection works normally afterwards.
	_, err = s.Increment(ctx, "fresh_bins", store.Inc{ID: "X", Upsert: true, Deltas: map[string]decimal.Decimal{"reserved": dec("1")}, If: available("1")})
	wantErr(t, err, store.ErrCondition, "refused upsert into a new collection")
	_, err = s.Get(ctx, "fresh_bins", "X")
	wantErr(t, err, store.ErrNotFound, "get after a refused upsert into a new collection")
	mustInsert(t, s, "fresh_bins", store.Doc{store.IDField: "X"})
	// Upsert that holds creates the document with SetOnInsert and the deltas.
	got, err = s.Increment(ctx, "bins", store.Inc{ID: "B@W1", Upsert: true, SetOnInsert: store.Doc{"item": "B", "warehouse": "W1"},
		Deltas: map[string]decimal.Decimal{"on_hand": dec("12.25")}, If: available("0")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != 1 || got["item"] != "B" || !Equal(got["on_hand"], dec("12.25")) {
		t.Fatalf("upserted bin: %v", got)
	}
	got, err = s.Increment(ctx, "bins", store.Inc{ID: "B@W1", Upsert: true, SetOnInsert: store.Doc{"item": "B", "warehouse": "W1"},
		Deltas: map[string]decimal.Decimal{"on_hand": dec("0.75")}})
	if err != nil || !Equal(got["on_hand"], dec("13")) || got.Version() != 2 {
		t.Fatalf("second upsert adds to the existing bin: %v, %v", got, err)
	}
	// Incrementing a text field is refused.
	_, err = s.Increment(ctx, "bins", store.Inc{ID: "B@W1", Deltas: map[string]decimal.Decimal{"item": dec("1")}})
	wantErr(t, err, store.ErrInvalid, "increment of a text field")
	_, err = s.Increment(ctx, "bins", store.Inc{ID: "B@W1", Deltas: map[string]decimal.Decimal{"_v": dec("1")}})
	wantErr(t, err, store.ErrInvalid, "increment of the version")
}

func testDecrementRace(t *testing.T, s store.Store) {
	const (
		goroutines = 32
		tries      = 5
		onHand     = 100
		reserved   = 20
	)
	bin := mustInsert(t, s, "bins", store.Doc{"on_hand": onHand, "reserved": reserved})
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < tries; i++ {
				_, err := s.Increment(ctx, "bins", store.Inc{ID: bin.ID(), Deltas: map[string]decimal.Decimal{"on_hand": dec("-1")}, If: available("1")})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrCondition):
					refused.Add(1)
				default:
					t.Errorf("guarded decrement: %v", err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != onHand-reserved || refused.Load() != goroutines*tries-(onHand-reserved) {
		t.Fatalf("%d decrements succeeded and %d were refused; want exactly %d and %d", ok.Load(), refused.Load(), onHand-reserved, goroutines*tries-(onHand-reserved))
	}
	got := mustGet(t, s, "bins", bin.ID())
	if !Equal(got["on_hand"], dec(fmt.Sprint(reserved))) {
		t.Fatalf("on_hand %v after the race, want %d (never below reserved)", got["on_hand"], reserved)
	}
	if got.Version() != 1+onHand-reserved {
		t.Fatalf("version %d, want %d: one per successful increment", got.Version(), 1+onHand-reserved)
	}
}

// filterDocs is the data set of the filter table: every operator is tested on
// top-level fields, nested objects and arrays of documents.
var filterDocs = []store.Doc{
	{store.IDField: "d1", "name": "Apple", "qty": 10, "price": dec("2.50"), "active": true, "city": map[string]any{"name": "Hangzhou", "zip": "310000"},
		"lines": []any{map[string]any{"item": "A", "qty": 1}, map[string]any{"item": "B", "qty": dec("2.5")}}},
	{store.IDField: "d2", "name": "Apricot", "qty": 0, "price": dec("-1"), "active": false, "city": map[string]any{"name": "Shanghai"},
		"lines": []any{map[string]any{"item": "C", "qty": 3}}},
	{store.IDField: "d3", "name": "banana", "qty": dec("10.000001"), "note": nil, "lines": []any{}},
	{store.IDField: "d4", "name": "Cherry", "qty": dec("-3"), "price": dec("0.1"), "active": true,
		"lines": []any{map[string]any{"item": "A", "qty": 7, "lots": []any{map[string]any{"code": "L1"}, map[string]any{"code": "L2"}}}}},
	{store.IDField: "d5", "qty": "10", "price": "cheap", "note": "x' OR '1'='1"},
}

func testFilters(t *testing.T, s store.Store) {
	// The same data in two collections: one with indexes on the filtered
	// paths (including a multikey index on lines.item), one without.
	if err := s.EnsureIndexes(ctx, "indexed",
		store.Index{Name: "name", Keys: []store.SortKey{store.Asc("name")}},
		store.Index{Name: "qty", Keys: []store.SortKey{store.Asc("qty")}},
		store.Index{Name: "item", Keys: []store.SortKey{store.Asc("lines.item")}},
		store.Index{Name: "city", Keys: []store.SortKey{store.Asc("city.name")}},
		store.Index{Name: "line_qty", Keys: []store.SortKey{store.Asc("lines.qty")}},
	); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"plain", "indexed"} {
		for _, d := range filterDocs {
			mustInsert(t, s, coll, d)
		}
	}
	cases := []struct {
		name string
		f    store.Filter
		want string
	}{
		{"eq string", store.Eq("name", "Apple"), "d1"},
		{"eq is case-sensitive", store.Eq("name", "apple"), ""},
		{"eq decimal matches an integer written as int", store.Eq("qty", 10), "d1"},
		{"eq decimal is exact", store.Eq("qty", dec("10.000001")), "d3"},
		{"eq number does not match a numeric string", store.Eq("qty", dec("10")), "d1"},
		{"eq string does not match a number", store.Eq("qty", "10"), "d5"},
		{"eq bool true", store.Eq("active", true), "d1 d4"},
		{"eq bool false", store.Eq("active", false), "d2"},
		{"eq nil matches missing and null", store.Eq("note", nil), "d1 d2 d3 d4"},
		{"ne nil", store.Ne("note", nil), "d5"},
		{"ne includes missing", store.Ne("active", true), "d2 d3 d5"},
		{"gt number", store.Gt("qty", 0), "d1 d3"},
		{"gte number", store.Gte("qty", 0), "d1 d2 d3"},
		{"lt number brackets types", store.Lt("qty", 100), "d1 d2 d3 d4"},
		{"lte negative", store.Lte("price", dec("-1")), "d2"},
		{"lt decimal", store.Lt("price", dec("0.11")), "d2 d4"},
		{"gt string", store.Gt("name", "Apricot"), "d3 d4"},
		{"lt string brackets types", store.Lt("price", "zzz"), "d5"},
		{"gte string is by bytes", store.Gte("name", "a"), "d3"},
		{"in strings", store.In("name", "Apple", "Cherry", "Durian"), "d1 d4"},
		{"in mixed kinds", store.In("qty", 0, "10", true), "d2 d5"},
		{"in bool", store.In("active", false), "d2"},
		{"nin", store.Nin("name", "Apple", "Cherry"), "d2 d3 d5"},
		{"in empty", store.In("name"), ""},
		{"exists", store.Exists("price", true), "d1 d2 d4 d5"},
		{"exists includes null", store.Exists("note", true), "d3 d5"},
		{"not exists", store.Exists("price", false), "d3"},
		{"prefix", store.Prefix("name", "Ap"), "d1 d2"},
		{"prefix is case-sensitive", store.Prefix("name", "ap"), ""},
		{"prefix with like wildcards is literal", store.Prefix("name", "A%"), ""},
		{"prefix empty matches strings", store.Prefix("qty", ""), "d5"},
		{"nested object eq", store.Eq("city.name", "Shanghai"), "d2"},
		{"nested object prefix", store.Prefix("city.zip", "310"), "d1"},
		{"nested exists", store.Exists("city.zip", true), "d1"},
		{"nested not exists", store.Exists("city.zip", false), "d2 d3 d4 d5"},
		{"array element eq", store.Eq("lines.item", "A"), "d1 d4"},
		{"array element in", store.In("lines.item", "B", "C"), "d1 d2"},
		{"array element ne means no element equal", store.Ne("lines.item", "A"), "d2 d3 d5"},
		{"array element nin", store.Nin("lines.item", "A", "C"), "d3 d5"},
		{"array element range", store.Gt("lines.qty", 2), "d1 d2 d4"},
		{"array element range exact decimal", store.Gte("lines.qty", dec("2.5")), "d1 d2 d4"},
		{"array element lte", store.Lte("lines.qty", 1), "d1"},
		{"array in array", store.Eq("lines.lots.code", "L2"), "d4"},
		{"array element exists", store.Exists("lines.item", true), "d1 d2 d4"},
		{"array element not exists", store.Exists("lines.item", false), "d3 d5"},
		{"array element prefix", store.Prefix("lines.item", "C"), "d2"},
		{"and", store.And(store.Gt("qty", 0), store.Eq("active", true)), "d1"},
		{"or", store.Or(store.Eq("name", "banana"), store.Lt("price", 0)), "d2 d3"},
		{"not", store.Not(store.Gt("qty", 0)), "d2 d4 d5"},
		{"not of and", store.Not(store.And(store.Exists("price", true), store.Eq("active", true))), "d2 d3 d5"},
		{"not of or", store.Not(store.Or(store.Eq("lines.item", "A"), store.Eq("name", "banana"))), "d2 d5"},
		{"double not", store.Not(store.Not(store.Eq("name", "Apple"))), "d1"},
		{"empty and matches all", store.And(), "d1 d2 d3 d4 d5"},
		{"empty or matches none", store.Or(), ""},
		{"id eq", store.Eq(store.IDField, "d3"), "d3"},
		{"id in", store.In(store.IDField, "d1", "d5", "zz"), "d1 d5"},
		{"time value compares as its stored string", store.Lt("name", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), ""},
	}
	for _, coll := range []string{"plain", "indexed"} {
		for _, c := range cases {
			checked, err := store.CheckFilter(c.f, false)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			// The Go reference evaluator must agree with the expectation too.
			var ref []string
			for _, d := range filterDocs {
				nd, _ := store.Normalize(d)
				if store.Match(nd, checked) {
					ref = append(ref, d.ID())
				}
			}
			if strings.Join(ref, " ") != c.want {
				t.Errorf("%s: store.Match gives %q, want %q", c.name, strings.Join(ref, " "), c.want)
			}
			page, err := s.Find(ctx, coll, store.Query{Filter: c.f, Sort: []store.SortKey{store.Asc(store.IDField)}})
			if err != nil {
				t.Errorf("%s/%s: %v", coll, c.name, err)
				continue
			}
			var got []string
			for _, d := range page.Docs {
				got = append(got, d.ID())
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("%s/%s: got %q, want %q", coll, c.name, strings.Join(got, " "), c.want)
			}
			n, err := s.Count(ctx, coll, c.f)
			if err != nil || int(n) != len(got) {
				t.Errorf("%s/%s: count %d (%v), find returned %d", coll, c.name, n, err, len(got))
			}
		}
	}
}

func testInjection(t *testing.T, s store.Store) {
	for _, d := range filterDocs {
		mustInsert(t, s, "parties", d)
	}
	hostile := []any{
		"x' OR '1'='1",
		"') OR 1=1 --",
		`{"$gt": ""}`,
		"$where",
		`"; db.dropDatabase(); "`,
	}
	for _, h := range hostile {
		page, err := s.Find(ctx, "parties", store.Query{Filter: store.Or(store.Eq("name", h), store.Prefix("name", fmt.Sprint(h)))})
		if err != nil {
			t.Fatalf("hostile value %q: %v", h, err)
		}
		if len(page.Docs) != 0 {
			t.Fatalf("hostile value %q matched %d documents", h, len(page.Docs))
		}
	}
	// The one document that holds such text is found by it, and only it.
	page, err := s.Find(ctx, "parties", store.Query{Filter: store.Eq("note", "x' OR '1'='1")})
	if err != nil || len(page.Docs) != 1 || page.Docs[0].ID() != "d5" {
		t.Fatalf("exact match of quoted text: %v, %v", page.Docs, err)
	}
	if n, _ := s.Count(ctx, "parties", nil); n != int64(len(filterDocs)) {
		t.Fatalf("collection damaged: %d documents", n)
	}
}

// paginate reads every page of q with page size limit and returns the documents.
func paginate(t testing.TB, s store.Store, coll string, q store.Query, limit int) []store.Doc {
	t.Helper()
	q.Limit = limit
	var all []store.Doc
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
		page, err := s.Find(ctx, coll, q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(page.Docs) > limit {
			t.Fatalf("page of %d documents, limit %d", len(page.Docs), limit)
		}
		all = append(all, page.Docs...)
		if page.Next == "" {
			return all
		}
		if len(page.Docs) != limit {
			t.Fatalf("short page (%d) with a next cursor", len(page.Docs))
		}
		q.After = page.Next
	}
}

func testPagination(t *testing.T, s store.Store) {
	n := 2000
	if testing.Short() {
		n = 400 // the race-detector run: same code paths, less data
	}
	if err := s.EnsureIndexes(ctx, "orders",
		store.Index{Name: "grp_amount", Keys: []store.SortKey{store.Asc("grp"), store.Desc("amount")}},
	); err != nil {
		t.Fatal(err)
	}
	docs := make([]store.Doc, n)
	for i := range docs {
		d := store.Doc{"seq": i, "amount": decimal.FromScaled(int64((i*7919)%97-40), 2), "kind": []string{"a", "b"}[i%2]}
		if i%13 != 0 { // some documents have no group: missing sorts first
			d["grp"] = fmt.Sprintf("g%02d", i%11)
		}
		if i%17 == 0 {
			d["grp"] = nil
		}
		docs[i] = d
	}
	if k, err := s.InsertMany(ctx, "orders", docs); err != nil || k != n {
		t.Fatalf("insert many: %d, %v", k, err)
	}
	type order struct {
		name  string
		sort  []store.SortKey
		f     store.Filter
		limit int
	}
	orders := []order{
		{"grp asc amount desc (ties)", []store.SortKey{store.Asc("grp"), store.Desc("amount")}, nil, 37},
		{"amount asc", []store.SortKey{store.Asc("amount")}, nil, 50},
		{"grp desc (nulls last)", []store.SortKey{store.Desc("grp")}, nil, 64},
		{"filtered, kind then grp desc", []store.SortKey{store.Asc("kind"), store.Desc("grp")}, store.Gte("amount", 0), 29},
		{"no sort", nil, nil, 100},
		{"page larger than result", []store.SortKey{store.Asc("seq")}, store.Lt("seq", 10), 50},
		// Disjunctions, as read rules make them (owner == me || transfer_to
		// == me); documents matching both arms are returned once.
		{"a condition and a disjunction, grp asc amount desc (ties)", []store.SortKey{store.Asc("grp"), store.Desc("amount")},
			store.And(store.Gte("amount", 0), store.Or(store.Eq("kind", "a"), store.Lt("seq", 300))), 23},
		{"a disjunction alone, grp desc (nulls last)", []store.SortKey{store.Desc("grp")},
			store.Or(store.Eq("grp", "g03"), store.Lt("seq", 100), store.Eq("grp", nil)), 17},
	}
	for _, o := range orders {
		got := paginate(t, s, "orders", store.Query{Filter: o.f, Sort: o.sort}, o.limit)
		// Expected set: computed with the reference evaluator.
		checked, _ := store.CheckFilter(o.f, false)
		want := 0
		for _, d := range docs {
			nd, _ := store.Normalize(d)
			if store.Match(nd, checked) {
				want++
			}
		}
		if len(got) != want {
			t.Fatalf("%s: %d documents over all pages, want %d", o.name, len(got), want)
		}
		seen := map[string]bool{}
		for i, d := range got {
			if seen[d.ID()] {
				t.Fatalf("%s: document %s returned twice", o.name, d.ID())
			}
			seen[d.ID()] = true
			if i > 0 && compareBy(got[i-1], d, o.sort) > 0 {
				t.Fatalf("%s: out of order at %d: %v then %v", o.name, i, got[i-1], d)
			}
		}
	}
}

// compareBy compares two documents by sort keys with nil (missing or null) first.
func compareBy(a, b store.Doc, keys []store.SortKey) int {
	for _, k := range keys {
		x, y := a[k.Path], b[k.Path]
		var c int
		switch {
		case x == nil && y == nil:
			c = 0
		case x == nil:
			c = -1
		case y == nil:
			c = 1
		default:
			c, _ = store.Compare(x, y)
		}
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func testCursorMisuse(t *testing.T, s store.Store) {
	for i := 0; i < 5; i++ {
		mustInsert(t, s, "orders", store.Doc{"n": i})
	}
	page, err := s.Find(ctx, "orders", store.Query{Sort: []store.SortKey{store.Asc("n")}, Limit: 2})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %v, %v", page, err)
	}
	_, err = s.Find(ctx, "orders", store.Query{Sort: []store.SortKey{store.Desc("n")}, Limit: 2, After: page.Next})
	wantErr(t, err, store.ErrInvalid, "cursor used with another sort")
	_, err = s.Find(ctx, "orders", store.Query{Sort: []store.SortKey{store.Asc("n")}, Limit: 2, After: "not-a-cursor"})
	wantErr(t, err, store.ErrInvalid, "garbage cursor")
	_, err = s.Find(ctx, "orders", store.Query{Limit: store.MaxLimit + 1})
	wantErr(t, err, store.ErrInvalid, "limit above the maximum")
}

func testProjectionCount(t *testing.T, s store.Store) {
	mustInsert(t, s, "items", store.Doc{"code": "A", "name": "Apple", "cost": dec("1.2"), "price": 2})
	page, err := s.Find(ctx, "items", store.Query{Fields: []string{"code", "price", "absent"}})
	if err != nil || len(page.Docs) != 1 {
		t.Fatalf("find: %v, %v", page, err)
	}
	d := page.Docs[0]
	if d["code"] != "A" || !Equal(d["price"], dec("2")) || d.ID() == "" || d.Version() != 1 {
		t.Fatalf("projected document lacks requested fields: %v", d)
	}
	if _, ok := d["cost"]; ok {
		t.Fatalf("projection leaked an unrequested field: %v", d)
	}
	if _, ok := d["absent"]; ok {
		t.Fatalf("projection invented a missing field: %v", d)
	}
	_, err = s.Find(ctx, "items", store.Query{Fields: []string{"lines.item"}})
	wantErr(t, err, store.ErrInvalid, "nested projection")
	for i := 0; i < 30; i++ {
		mustInsert(t, s, "items", store.Doc{"code": fmt.Sprint(i), "price": i})
	}
	if n, err := s.Count(ctx, "items", store.Gte("price", 10)); err != nil || n != 20 {
		t.Fatalf("count price >= 10: %d, %v; want 20", n, err)
	}
	if n, err := s.Count(ctx, "items", nil); err != nil || n != 31 {
		t.Fatalf("count all: %d, %v; want 31", n, err)
	}
}

func testDecimals(t *testing.T, s store.Store) {
	mustInsert(t, s, "amounts", store.Doc{store.IDField: "a", "v": 0.1})
	mustInsert(t, s, "amounts", store.Doc{store.IDField: "b", "v": dec("0.2")})
	mustInsert(t, s, "amounts", store.Doc{store.IDField: "c", "v": dec("-0.3")})
	mustInsert(t, s, "amounts", store.Doc{store.IDField: "d", "v": dec("9223372036854.775807")})
	mustInsert(t, s, "amounts", store.Doc{store.IDField: "e", "v": dec("-9223372036854.775807")})
	rows, err := s.Aggregate(ctx, "amounts", store.Aggregation{
		Match:        store.In(store.IDField, "a", "b"),
		Accumulators: []store.Accumulator{{Op: store.Sum, Path: "v", As: "total"}},
	})
	if err != nil || len(rows) != 1 {
		t.Fatalf("sum: %v, %v", rows, err)
	}
	if !Equal(rows[0]["total"], dec("0.3")) {
		t.Fatalf("0.1 + 0.2 = %v, want exactly 0.3", rows[0]["total"])
	}
	if n, _ := s.Count(ctx, "amounts", store.Eq("v", dec("0.3").Neg())); n != 1 {
		t.Fatalf("eq -0.3 found %d documents, want 1", n)
	}
	page, err := s.Find(ctx, "amounts", store.Query{Sort: []store.SortKey{store.Asc("v")}})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, d := range page.Docs {
		order = append(order, d.ID())
	}
	if strings.Join(order, "") != "ecabd" {
		t.Fatalf("decimal sort order %q, want ecabd", strings.Join(order, ""))
	}
	if n, _ := s.Count(ctx, "amounts", store.Gt("v", dec("9223372036854.775806"))); n != 1 {
		t.Fatalf("compare at the top of the range found %d, want 1", n)
	}
}

func testAggregate(t *testing.T, s store.Store) {
	rows := []store.Doc{
		{"customer": "c1", "region": "east", "total": dec("100.10"), "qty": 1, "name": "pear"},
		{"customer": "c1", "region": "east", "total": dec("0.20"), "qty": 2, "name": "apple"},
		{"customer": "c2", "region": "east", "total": dec("50"), "qty": 3},
		{"customer": "c2", "region": "west", "total": dec("-10.5"), "qty": 4, "name": "fig"},
		{"customer": "c3", "total": "n/a", "qty": 5},
		{"region": "west", "qty": 6},
		{"customer": "c1", "region": "east", "total": dec("1.000001"), "state": "cancelled"},
	}
	for _, r := range rows {
		mustInsert(t, s, "orders", r)
	}
	got, err := s.Aggregate(ctx, "orders", store.Aggregation{
		Match:   store.Ne("state", "cancelled"),
		GroupBy: []string{"customer"},
		Accumulators: []store.Accumulator{
			{Op: store.Count, As: "n"},
			{Op: store.Sum, Path: "total", As: "sum"},
			{Op: store.Min, Path: "total", As: "min"},
			{Op: store.Max, Path: "total", As: "max"},
			{Op: store.Avg, Path: "total", As: "avg"},
			{Op: store.Max, Path: "name", As: "last_name"},
		},
		Sort: []store.SortKey{store.Desc("sum")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Doc{
		{"customer": "c1", "n": int64(2), "sum": dec("100.3"), "min": dec("0.2"), "max": dec("100.1"), "avg": dec("50.15"), "last_name": "pear"},
		{"customer": "c2", "n": int64(2), "sum": dec("39.5"), "min": dec("-10.5"), "max": dec("50"), "avg": dec("19.75"), "last_name": "fig"},
		{"customer": nil, "n": int64(1), "sum": dec("0"), "min": nil, "max": nil, "avg": nil, "last_name": nil},
		{"customer": "c3", "n": int64(1), "sum": dec("0"), "min": "n/a", "max": "n/a", "avg": nil, "last_name": nil},
	}
	checkRows(t, "by customer, sum desc", got, want)

	got, err = s.Aggregate(ctx, "orders", store.Aggregation{
		GroupBy:      []string{"region", "customer"},
		Accumulators: []store.Accumulator{{Op: store.Sum, Path: "qty", As: "qty"}, {Op: store.Count, As: "n"}},
		Limit:        3,
	})
	if err != nil {
		t.Fatal(err)
	}
	want = []store.Doc{
		{"region": nil, "customer": "c3", "qty": dec("5"), "n": int64(1)},
		{"region": "east", "customer": "c1", "qty": dec("3"), "n": int64(3)},
		{"region": "east", "customer": "c2", "qty": dec("3"), "n": int64(1)},
	}
	checkRows(t, "by region and customer, limit 3", got, want)

	got, err = s.Aggregate(ctx, "orders", store.Aggregation{
		Match:        store.Eq("region", "west"),
		Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}, {Op: store.Avg, Path: "qty", As: "avg_qty"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "no group keys", got, []store.Doc{{"n": int64(2), "avg_qty": dec("5")}})

	got, err = s.Aggregate(ctx, "orders", store.Aggregation{
		Match:        store.Eq("region", "north"),
		Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}},
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("aggregate over nothing: %v, %v; want no rows", got, err)
	}
	_, err = s.Aggregate(ctx, "orders", store.Aggregation{Accumulators: []store.Accumulator{{Op: "median", Path: "qty", As: "m"}}})
	wantErr(t, err, store.ErrInvalid, "unknown accumulator")
	_, err = s.Aggregate(ctx, "orders", store.Aggregation{GroupBy: []string{"customer"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}, Sort: []store.SortKey{store.Asc("total")}})
	wantErr(t, err, store.ErrInvalid, "sort by a key that is not in the result")
}

func checkRows(t testing.TB, name string, got, want []store.Doc) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows %v, want %d %v", name, len(got), got, len(want), want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Errorf("%s: row %d is %v, want %v", name, i, got[i], want[i])
			continue
		}
		for k, v := range want[i] {
			if !Equal(v, got[i][k]) {
				t.Errorf("%s: row %d %s = %#v, want %#v", name, i, k, got[i][k], v)
			}
		}
	}
}

func testCentSum(t *testing.T, s store.Store) {
	n := 100000
	if testing.Short() {
		n = 10000 // the race-detector run: same code paths, less data
	}
	docs := make([]store.Doc, n)
	for i := range docs {
		docs[i] = store.Doc{"amount": dec("0.01"), "grp": []string{"a", "b", "c", "d"}[i%4]}
	}
	if k, err := s.InsertMany(ctx, "cents", docs); err != nil || k != n {
		t.Fatalf("insert: %d, %v", k, err)
	}
	rows, err := s.Aggregate(ctx, "cents", store.Aggregation{Accumulators: []store.Accumulator{{Op: store.Sum, Path: "amount", As: "total"}, {Op: store.Count, As: "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "sum of the cents", rows, []store.Doc{{"total": decimal.FromScaled(int64(n), 2), "n": int64(n)}})
	rows, err = s.Aggregate(ctx, "cents", store.Aggregation{GroupBy: []string{"grp"}, Accumulators: []store.Accumulator{{Op: store.Sum, Path: "amount", As: "total"}}})
	if err != nil {
		t.Fatal(err)
	}
	quarter := decimal.FromScaled(int64(n/4), 2)
	checkRows(t, "grouped sums of cents", rows, []store.Doc{
		{"grp": "a", "total": quarter}, {"grp": "b", "total": quarter}, {"grp": "c", "total": quarter}, {"grp": "d", "total": quarter},
	})
}

func testInsertMany(t *testing.T, s store.Store) {
	if err := s.EnsureIndexes(ctx, "items", store.Index{Name: "code", Keys: []store.SortKey{store.Asc("code")}, Unique: true}); err != nil {
		t.Fatal(err)
	}
	docs := []store.Doc{{"code": "a"}, {"code": "b"}, {"code": "a"}, {"code": "c"}}
	k, err := s.InsertMany(ctx, "items", docs)
	dupOf(t, err)
	if k != 2 {
		t.Fatalf("insert many stored %d before the duplicate, want 2", k)
	}
	page, _ := s.Find(ctx, "items", store.Query{Sort: []store.SortKey{store.Asc("code")}})
	var codes []string
	for _, d := range page.Docs {
		codes = append(codes, d["code"].(string))
	}
	sort.Strings(codes)
	if strings.Join(codes, ",") != "a,b" {
		t.Fatalf("stored %v, want a,b", codes)
	}
}
