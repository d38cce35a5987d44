package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	drv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/storetest"
)

var ctx = context.Background()

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

// open starts FerretDB and returns a store on it, plus a raw driver handle on
// the same database for looking at what is stored.
func open(t *testing.T) (*mongo.Store, *drv.Database) {
	t.Helper()
	uri := mongotest.Start(t)
	name := strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	s, err := mongo.Open(ctx, uri, name)
	if err != nil {
		t.Fatal(err)
	}
	client, err := drv.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		client.Disconnect(ctx)
	})
	return s, client.Database(name)
}

func insert(t testing.TB, s store.Store, coll string, d store.Doc) store.Doc {
	t.Helper()
	out, err := s.Insert(ctx, coll, d)
	if err != nil {
		t.Fatalf("insert %v: %v", d, err)
	}
	return out
}

func TestOpenFailsWithoutServer(t *testing.T) {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := mongo.Open(c, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500", "x"); err == nil {
		t.Fatal("open succeeded without a server")
	}
}

func TestStorageFormat(t *testing.T) {
	s, db := open(t)
	if !s.UsesClaims() {
		t.Fatal("FerretDB not detected: guarded writes would not be serialized")
	}
	in := store.Doc{
		"_id":   "doc1",
		"qty":   5,
		"price": dec("0.000001"),
		"neg":   -2.5,
		"name":  "x",
		"ok":    true,
		"none":  nil,
		"when":  time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		"addr":  map[string]any{"city": "Berlin", "n": 3},
		"lines": []map[string]any{{"item": "a", "q": 1}, {"item": "b", "q": dec("1.5")}},
		"tags":  []string{"p", "q"},
	}
	got := insert(t, s, "items", in)
	raw, err := db.Collection("items").FindOne(ctx, bson.D{{Key: "_id", Value: "doc1"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	// Numbers are int64 counts of micro-units; _v is a plain int64.
	for path, want := range map[string]int64{"qty": 5_000_000, "price": 1, "neg": -2_500_000, "_v": 1} {
		rv := raw.Lookup(path)
		if rv.Type != bson.TypeInt64 || rv.Int64() != want {
			t.Errorf("stored %s = %s (%s), want int64 %d", path, rv, rv.Type, want)
		}
	}
	if rv := raw.Lookup("addr", "n"); rv.Type != bson.TypeInt64 || rv.Int64() != 3_000_000 {
		t.Errorf("nested number stored as %s", rv)
	}
	if rv := raw.Lookup("when"); rv.StringValue() != "2024-03-01T12:00:00.000000Z" {
		t.Errorf("time stored as %s", rv)
	}

	read, err := s.Get(ctx, "items", "doc1")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Doc{
		"_id": "doc1", "_v": int64(1), "qty": dec("5"), "price": dec("0.000001"), "neg": dec("-2.5"),
		"name": "x", "ok": true, "none": nil, "when": "2024-03-01T12:00:00.000000Z",
		"addr":  map[string]any{"city": "Berlin", "n": dec("3")},
		"lines": []any{map[string]any{"item": "a", "q": dec("1")}, map[string]any{"item": "b", "q": dec("1.5")}},
		"tags":  []any{"p", "q"},
	}
	if !storetest.Equal(read, want) {
		t.Errorf("read back\n%v\nwant\n%v", read, want)
	}
	if !storetest.Equal(got, read) {
		t.Errorf("insert returned %v, get %v", got, read)
	}
	if _, ok := read["_v"].(int64); !ok {
		t.Errorf("_v read as %T", read["_v"])
	}

	// Documents written by other clients with int32 and double numbers read as
	// the same micro-units.
	if _, err := db.Collection("items").InsertOne(ctx, bson.D{{Key: "_id", Value: "foreign"}, {Key: "_v", Value: int32(1)}, {Key: "a", Value: int32(2_500_000)}, {Key: "b", Value: 1_250_000.0}}); err != nil {
		t.Fatal(err)
	}
	f, err := s.Get(ctx, "items", "foreign")
	if err != nil {
		t.Fatal(err)
	}
	if !storetest.Equal(f, store.Doc{"_id": "foreign", "_v": int64(1), "a": dec("2.5"), "b": dec("1.25")}) {
		t.Errorf("foreign document read as %v", f)
	}

	if _, err := s.Get(ctx, "items", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	if _, err := s.Get(ctx, "Bad-Name", "x"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad collection name: %v", err)
	}
	if _, err := s.Insert(ctx, "items", store.Doc{"x": dec("0.0000001")}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("7 fractional digits: %v", err)
	}
}

// filterDocs are stored once and queried with every operator; the expected
// results come from the reference evaluator store.Match.
var filterDocs = []store.Doc{
	{"_id": "a", "name": "apple", "qty": 5, "price": dec("1.25"), "active": true, "addr": map[string]any{"city": "Berlin", "zip": "10115"}, "lines": []any{map[string]any{"item": "x", "n": 1}, map[string]any{"item": "y", "n": 2}}, "note": nil},
	{"_id": "b", "name": "banana", "qty": -3, "price": "n/a", "active": false, "addr": map[string]any{"city": "Paris"}, "lines": []any{map[string]any{"item": "y", "n": 3}}},
	{"_id": "c", "name": "Apple pie", "qty": dec("0.000001"), "lines": []any{}, "note": "x"},
	{"_id": "d", "name": "a.b*c(d)^$", "qty": 1000000, "active": nil},
	{"_id": "e", "name": "cherry", "qty": "5", "addr": map[string]any{"city": nil}},
	{"_id": "f"},
	{"_id": "g", "name": "apricot", "qty": 5, "price": dec("0.1"), "lines": []any{map[string]any{"item": "x"}, map[string]any{"n": "7"}}},
	{"_id": "h", "name": "", "qty": dec("-0.5"), "addr": "not a document"},
}

var filterCases = []store.Filter{
	store.Eq("qty", 5), store.Eq("qty", "5"), store.Eq("qty", 5.0), store.Eq("qty", dec("0.000001")),
	store.Ne("qty", 5), store.Ne("qty", "5"),
	store.Gt("qty", 0), store.Gte("qty", 5), store.Lt("qty", 1), store.Lte("qty", -3), store.Gt("qty", dec("-0.5")),
	store.Gt("name", "b"), store.Lt("name", "b"), store.Gte("name", ""), store.Lte("name", "apple"),
	store.Eq("name", nil), store.Ne("name", nil), store.Eq("note", nil), store.Ne("note", nil), store.Eq("active", nil),
	store.Eq("active", true), store.Eq("active", false), store.Ne("active", true),
	store.In("qty", 5, "5"), store.In("qty", -3, dec("0.000001")), store.Nin("qty", 5, -3), store.In("name"), store.Nin("name"),
	store.Exists("note", true), store.Exists("note", false), store.Exists("price", true),
	store.Exists("addr.city", true), store.Exists("addr.city", false), store.Exists("addr.zip", true),
	store.Eq("addr.city", "Berlin"), store.Ne("addr.city", "Berlin"), store.Gt("addr.city", "Berlin"), store.In("addr.city", "Paris", "Rome"),
	store.Eq("lines.item", "y"), store.Ne("lines.item", "x"), store.In("lines.item", "x"), store.Nin("lines.item", "x"),
	store.Gt("lines.n", 1), store.Lt("lines.n", 2), store.Gte("lines.n", 3), store.Exists("lines.n", true), store.Exists("lines.n", false),
	store.Eq("lines.n", "7"),
	store.Prefix("name", "ap"), store.Prefix("name", "A"), store.Prefix("name", "a.b*c(d)^"), store.Prefix("name", "a."),
	store.Prefix("name", ""), store.Prefix("lines.item", "x"), store.Prefix("qty", "5"),
	store.And(), store.Or(), store.Not(store.And()), store.Not(store.Or()),
	store.And(store.Gt("qty", 0), store.Prefix("name", "a")),
	store.Or(store.Eq("qty", 5), store.Eq("name", "banana")),
	store.Not(store.Or(store.Eq("qty", 5), store.Exists("name", false))),
	store.Not(store.Not(store.Eq("lines.item", "y"))),
	store.And(store.Or(store.Lt("qty", 0), store.Gt("price", dec("1"))), store.Not(store.Eq("active", false))),
	store.Eq("price", 0.1), store.Gt("price", dec("0.1")), store.Lt("price", "z"),
	store.Eq("when", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)),
}

func TestFilterOperators(t *testing.T) {
	s, _ := open(t)
	var stored []store.Doc
	for _, d := range filterDocs {
		stored = append(stored, insert(t, s, "things", d))
	}
	for _, f := range filterCases {
		checked, err := store.CheckFilter(f, false)
		if err != nil {
			t.Fatalf("%s: %v", describe(f), err)
		}
		var want []string
		for _, d := range stored {
			if store.Match(d, checked) {
				want = append(want, d.ID())
			}
		}
		page, err := s.Find(ctx, "things", store.Query{Filter: f, Limit: 100})
		if err != nil {
			t.Errorf("%s: %v", describe(f), err)
			continue
		}
		var got []string
		for _, d := range page.Docs {
			got = append(got, d.ID())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", describe(f), got, want)
		}
		n, err := s.Count(ctx, "things", f)
		if err != nil || n != int64(len(want)) {
			t.Errorf("count %s: %d, %v; want %d", describe(f), n, err, len(want))
		}
	}
	// Values are data, never operators.
	for _, v := range []any{"{\"$gt\": \"\"}", "$exists", ".*", "^a"} {
		if n, err := s.Count(ctx, "things", store.Eq("name", v)); err != nil || n != 0 {
			t.Errorf("eq %q: %d, %v", v, n, err)
		}
		if n, err := s.Count(ctx, "things", store.Prefix("name", v.(string))); err != nil || n != 0 {
			t.Errorf("prefix %q: %d, %v", v, n, err)
		}
	}
	if _, err := s.Count(ctx, "things", store.Weighted(store.T("qty", 1)).Gte(dec("1"))); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("linear filter in count: %v", err)
	}
	if _, err := s.Find(ctx, "things", store.Query{Filter: store.Gt("qty", nil)}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("gt nil: %v", err)
	}
}

func describe(f store.Filter) string {
	switch n := f.(type) {
	case *store.Field:
		return fmt.Sprintf("%s %s %v", n.Path, n.Op, n.Value)
	case *store.Logic:
		parts := make([]string, len(n.Args))
		for i, a := range n.Args {
			parts[i] = describe(a)
		}
		return fmt.Sprintf("%s(%s)", n.Op, strings.Join(parts, ", "))
	}
	return fmt.Sprintf("%T", f)
}

// rank and compareValues give the sort order of MongoDB over the value model:
// missing and null, then numbers, strings, booleans.
func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case decimal.Decimal:
		return 1
	case string:
		return 2
	}
	return 3
}

func compareValues(a, b any) int {
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	c, _ := store.Compare(a, b)
	return c
}

func sortedCopy(docs []store.Doc, keys []store.SortKey) []store.Doc {
	out := slices.Clone(docs)
	all := store.SortWithID(keys)
	sort.SliceStable(out, func(i, j int) bool {
		for _, k := range all {
			a, _ := store.Lookup(out[i], k.Path)
			b, _ := store.Lookup(out[j], k.Path)
			var x, y any
			if len(a) > 0 {
				x = a[0]
			}
			if len(b) > 0 {
				y = b[0]
			}
			c := compareValues(x, y)
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	return out
}

func TestCursorPaginationWithTiesNullsAndMixedTypes(t *testing.T) {
	s, _ := open(t)
	var docs []store.Doc
	for i := range 60 {
		d := store.Doc{"_id": fmt.Sprintf("id%03d", (i*37)%60), "n": i % 4, "name": fmt.Sprintf("n%d", i)}
		switch i % 7 {
		case 0: // k missing
		case 1:
			d["k"] = nil
		case 2:
			d["k"] = i % 3
		case 3:
			d["k"] = dec("-1.5")
		case 4:
			d["k"] = fmt.Sprintf("s%d", i%2)
		case 5:
			d["k"] = i%2 == 0
		case 6:
			d["sub"] = map[string]any{"x": i % 5}
			d["k"] = dec("2")
		}
		docs = append(docs, insert(t, s, "rows", d))
	}
	sorts := [][]store.SortKey{
		nil,
		{store.Asc("k")},
		{store.Desc("k")},
		{store.Asc("k"), store.Desc("n")},
		{store.Desc("n"), store.Asc("k")},
		{store.Desc("k"), store.Desc("n")},
		{store.Asc("sub.x"), store.Asc("n")},
		{store.Desc("_id")},
		{store.Asc("n"), store.Asc("_id"), store.Desc("k")},
	}
	filters := []store.Filter{nil, store.Gte("n", 2)}
	for _, keys := range sorts {
		for _, f := range filters {
			checked, _ := store.CheckFilter(f, false)
			var matching []store.Doc
			for _, d := range docs {
				if store.Match(d, checked) {
					matching = append(matching, d)
				}
			}
			want := sortedCopy(matching, keys)
			for _, limit := range []int{1, 4, 7, len(want), 100} {
				name := fmt.Sprintf("sort %v filter %s limit %d", keys, describeOrNil(f), limit)
				got := paginate(t, s, name, store.Query{Filter: f, Sort: keys, Limit: limit})
				if len(got) != len(want) {
					t.Fatalf("%s: %d documents, want %d", name, len(got), len(want))
				}
				for i := range got {
					if got[i].ID() != want[i].ID() {
						t.Fatalf("%s: position %d is %v, want %v", name, i, got[i], want[i])
					}
				}
			}
		}
	}

	// A projection still pages by keys it does not return.
	q := store.Query{Sort: []store.SortKey{store.Desc("k"), store.Asc("sub.x")}, Fields: []string{"name"}}
	got := paginate(t, s, "projection", q)
	want := sortedCopy(docs, q.Sort)
	for i, d := range got {
		if d.ID() != want[i].ID() {
			t.Fatalf("projection: position %d is %v, want %v", i, d.ID(), want[i].ID())
		}
		for k := range d {
			if k != "_id" && k != "_v" && k != "name" {
				t.Fatalf("projection returned %s: %v", k, d)
			}
		}
		if d["_v"] != int64(1) || d["name"] != want[i]["name"] {
			t.Fatalf("projection lost fields: %v", d)
		}
	}

	// Cursor misuse.
	page, err := s.Find(ctx, "rows", store.Query{Sort: []store.SortKey{store.Asc("k")}, Limit: 5})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %v, %q", err, page.Next)
	}
	if _, err := s.Find(ctx, "rows", store.Query{Sort: []store.SortKey{store.Desc("k")}, After: page.Next}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("cursor of another sort: %v", err)
	}
	if _, err := s.Find(ctx, "rows", store.Query{After: "garbage!"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("garbage cursor: %v", err)
	}
	// Sorting by a document cannot build a cursor.
	if _, err := s.Find(ctx, "rows", store.Query{Sort: []store.SortKey{store.Desc("sub")}, Limit: 2}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("page sorted by a document: %v", err)
	}
}

func describeOrNil(f store.Filter) string {
	if f == nil {
		return "none"
	}
	return describe(f)
}

func paginate(t *testing.T, s store.Store, name string, q store.Query) []store.Doc {
	t.Helper()
	var all []store.Doc
	for pages := 0; pages < 1000; pages++ {
		page, err := s.Find(ctx, "rows", q)
		if err != nil {
			t.Fatalf("%s: page %d: %v", name, pages, err)
		}
		limit := q.Limit
		if limit == 0 {
			limit = store.DefaultLimit
		}
		if len(page.Docs) > limit || page.Next != "" && len(page.Docs) != limit {
			t.Fatalf("%s: page of %d with next %q", name, len(page.Docs), page.Next)
		}
		all = append(all, page.Docs...)
		if page.Next == "" {
			return all
		}
		q.After = page.Next
	}
	t.Fatalf("%s: pagination does not end", name)
	return nil
}

func TestGuardedDecrement32Goroutines(t *testing.T) {
	s, _ := open(t)
	insert(t, s, "stock", store.Doc{"_id": "sku", "on_hand": 20, "reserved": 0})
	const workers = 32
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Increment(ctx, "stock", store.Inc{
				ID:     "sku",
				Deltas: map[string]decimal.Decimal{"reserved": dec("1")},
				If:     store.Weighted(store.T("on_hand", 1), store.T("reserved", -1)).Gte(dec("1")),
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrCondition):
				refused++
			default:
				t.Errorf("increment: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 20 || refused != workers-20 {
		t.Fatalf("%d succeeded and %d were refused, want 20 and %d", ok, refused, workers-20)
	}
	d, err := s.Get(ctx, "stock", "sku")
	if err != nil {
		t.Fatal(err)
	}
	if !storetest.Equal(d["reserved"], dec("20")) || !storetest.Equal(d["on_hand"], dec("20")) || d.Version() != 21 {
		t.Fatalf("after the race: %v", d)
	}

	// Plain decrements with a field guard never go below zero either.
	insert(t, s, "stock", store.Doc{"_id": "sku2", "qty": dec("10.5")})
	var okCount sync.Map
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Increment(ctx, "stock", store.Inc{ID: "sku2", Deltas: map[string]decimal.Decimal{"qty": dec("-1.5")}, If: store.Gte("qty", dec("1.5"))})
			if err == nil {
				okCount.Store(i, true)
			} else if !errors.Is(err, store.ErrCondition) {
				t.Errorf("decrement: %v", err)
			}
		}()
	}
	wg.Wait()
	n := 0
	okCount.Range(func(_, _ any) bool { n++; return true })
	d, _ = s.Get(ctx, "stock", "sku2")
	if n != 7 || !storetest.Equal(d["qty"], dec("0")) {
		t.Fatalf("%d decrements of 1.5 from 10.5 succeeded, qty %v", n, d["qty"])
	}
}

func TestUpsertIncrement32Goroutines(t *testing.T) {
	s, _ := open(t)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Increment(ctx, "counters", store.Inc{
				ID: "c1", Upsert: true,
				Deltas:      map[string]decimal.Decimal{"n": dec("1")},
				SetOnInsert: store.Doc{"kind": "counter"},
			})
			if err != nil {
				t.Errorf("upsert increment: %v", err)
			}
		}()
	}
	wg.Wait()
	d, err := s.Get(ctx, "counters", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !storetest.Equal(d["n"], dec("32")) || d["kind"] != "counter" || d.Version() != 32 {
		t.Fatalf("counter after 32 upserts: %v", d)
	}
}

func TestIncrementCases(t *testing.T) {
	s, _ := open(t)
	one := map[string]decimal.Decimal{"n": dec("1")}
	if _, err := s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: one}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing without upsert: %v", err)
	}
	_, err := s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: one, Upsert: true, If: store.Gt("n", 0)})
	if !errors.Is(err, store.ErrCondition) {
		t.Errorf("upsert with a guard false on the base: %v", err)
	}
	if n, _ := s.Count(ctx, "c", nil); n != 0 {
		t.Errorf("refused upsert created a document")
	}
	d, err := s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: map[string]decimal.Decimal{"n": dec("2.25"), "m": dec("-1")}, Upsert: true, If: store.Eq("n", 0), SetOnInsert: store.Doc{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Doc{"_id": "x", "_v": int64(1), "n": dec("2.25"), "m": dec("-1"), "k": "v"}
	if !storetest.Equal(d, want) {
		t.Fatalf("upserted %v, want %v", d, want)
	}
	if g, _ := s.Get(ctx, "c", "x"); !storetest.Equal(g, d) {
		t.Fatalf("get %v, increment returned %v", g, d)
	}
	d, err = s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: map[string]decimal.Decimal{"n": dec("0.75"), "fresh": dec("3")}})
	if err != nil || !storetest.Equal(d, store.Doc{"_id": "x", "_v": int64(2), "n": dec("3"), "m": dec("-1"), "k": "v", "fresh": dec("3")}) {
		t.Fatalf("increment: %v, %v", d, err)
	}
	if _, err := s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: one, If: store.Eq("k", "other")}); !errors.Is(err, store.ErrCondition) {
		t.Errorf("false guard: %v", err)
	}
	if _, err := s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: map[string]decimal.Decimal{"k": dec("1")}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("increment of a string: %v", err)
	}
	if _, err := s.Increment(ctx, "c", store.Inc{ID: "x", Deltas: map[string]decimal.Decimal{"n": store.MaxAbs}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("increment out of range: %v", err)
	}
	if g, _ := s.Get(ctx, "c", "x"); g.Version() != 2 {
		t.Errorf("failed increments changed the document: %v", g)
	}
}

func TestVersionConflicts(t *testing.T) {
	s, _ := open(t)
	d := insert(t, s, "docs", store.Doc{"_id": "a", "v": 1})
	d["v"] = 2
	r, err := s.Replace(ctx, "docs", d)
	if err != nil || r.Version() != 2 || !storetest.Equal(r["v"], dec("2")) {
		t.Fatalf("replace: %v, %v", r, err)
	}
	d["v"] = 3 // still _v 1
	if _, err := s.Replace(ctx, "docs", d); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale replace: %v", err)
	}
	if err := s.Delete(ctx, "docs", "a", 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale delete: %v", err)
	}
	if _, err := s.Replace(ctx, "docs", store.Doc{"_id": "zz", "_v": int64(1)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replace missing: %v", err)
	}
	if g, _ := s.Get(ctx, "docs", "a"); !storetest.Equal(g["v"], dec("2")) || g.Version() != 2 {
		t.Errorf("failed writes changed the document: %v", g)
	}
	if err := s.Delete(ctx, "docs", "a", 2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := s.Delete(ctx, "docs", "a", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}

	// 32 writers replacing the same version: exactly one wins.
	base := insert(t, s, "docs", store.Doc{"_id": "race", "w": -1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd := store.Doc{"_id": "race", "_v": base.Version(), "w": i}
			_, err := s.Replace(ctx, "docs", nd)
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("replace race: %v", err)
			}
		}()
	}
	wg.Wait()
	if g, _ := s.Get(ctx, "docs", "race"); wins != 1 || g.Version() != 2 {
		t.Fatalf("%d replaces of one version won; stored %v", wins, g)
	}
}

func TestClaims(t *testing.T) {
	s, db := open(t)
	d := insert(t, s, "docs", store.Doc{"_id": "a", "v": 1})
	claims := db.Collection(mongo.ClaimsCollection)

	// A claim left behind by a crashed writer is broken after the lease.
	defer mongo.SetClaimLease(200 * time.Millisecond)()
	if _, err := claims.InsertOne(ctx, bson.D{{Key: "_id", Value: "docs 1 a"}, {Key: "at", Value: time.Now().Add(-time.Hour).UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	d["v"] = 2
	d, err := s.Replace(ctx, "docs", d)
	if err != nil {
		t.Fatalf("replace past a stale claim: %v", err)
	}
	if d.Version() != 2 {
		t.Fatalf("version after replace past a stale claim: %d, want 2", d.Version())
	}

	// A live claim makes writers of that version wait for its release.
	if _, err := claims.InsertOne(ctx, bson.D{{Key: "_id", Value: "docs 2 a"}, {Key: "at", Value: time.Now().Add(time.Hour).UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Increment(ctx, "docs", store.Inc{ID: "a", Deltas: map[string]decimal.Decimal{"v": dec("1")}})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("increment did not wait for the claim: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: "docs 2 a"}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("increment after release: %v", err)
	}
	if g, _ := s.Get(ctx, "docs", "a"); !storetest.Equal(g["v"], dec("3")) || g.Version() != 3 {
		t.Fatalf("after increment: %v", g)
	}
	if n, _ := claims.CountDocuments(ctx, bson.D{}); n != 0 {
		t.Errorf("%d claims left after the writes", n)
	}
}

func dupOf(t *testing.T, err error) *store.DuplicateError {
	t.Helper()
	var dup *store.DuplicateError
	if !errors.As(err, &dup) || !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("want a duplicate error, got %v", err)
	}
	return dup
}

func TestDuplicates(t *testing.T) {
	s, _ := open(t)
	idx := []store.Index{
		{Name: "by_number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
		{Name: "by_pair", Keys: []store.SortKey{store.Asc("a"), store.Desc("b")}, Unique: true},
		{Name: "by_city", Keys: []store.SortKey{store.Asc("addr.city")}, Unique: true},
		{Name: "by_name", Keys: []store.SortKey{store.Asc("name")}},
	}
	if err := s.EnsureIndexes(ctx, "inv", idx...); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx, "inv", idx...); err != nil {
		t.Fatalf("ensure twice: %v", err)
	}
	// Documents without any of the unique keys are not constrained.
	insert(t, s, "inv", store.Doc{"x": 1})
	insert(t, s, "inv", store.Doc{"x": 2})
	// The others hold every unique key (a compound MongoDB index constrains a
	// document holding only some of its keys).
	seq := 0
	doc := func(d store.Doc) store.Doc {
		seq++
		for k, v := range map[string]any{"number": fmt.Sprintf("Z%d", seq), "a": seq, "b": "z", "addr": map[string]any{"city": fmt.Sprintf("c%d", seq)}} {
			if _, ok := d[k]; !ok {
				d[k] = v
			}
		}
		return d
	}
	first := insert(t, s, "inv", doc(store.Doc{"_id": "i1", "number": "N1", "a": 1, "b": "x", "addr": map[string]any{"city": "Rome"}, "name": "same", "tag": "t"}))
	second := insert(t, s, "inv", doc(store.Doc{"_id": "i2", "number": "N2", "a": 1, "b": "y", "name": "same", "tag": "t"}))

	check := func(what string, err error, index string, fields ...string) {
		t.Helper()
		dup := dupOf(t, err)
		if dup.Collection != "inv" || dup.Index != index || !slices.Equal(dup.Fields, fields) {
			t.Errorf("%s: %+v, want index %s fields %v", what, dup, index, fields)
		}
	}
	_, err := s.Insert(ctx, "inv", doc(store.Doc{"_id": "i1", "number": "N9"}))
	check("same _id", err, "_id_", "_id")
	_, err = s.Insert(ctx, "inv", doc(store.Doc{"number": "N1"}))
	check("same number", err, "by_number", "number")
	_, err = s.Insert(ctx, "inv", doc(store.Doc{"number": "N3", "a": 1, "b": "x"}))
	check("same pair", err, "by_pair", "a", "b")
	_, err = s.Insert(ctx, "inv", doc(store.Doc{"number": "N4", "addr": map[string]any{"city": "Rome"}}))
	check("same nested key", err, "by_city", "addr.city")

	second["number"] = "N1"
	_, err = s.Replace(ctx, "inv", second)
	check("replace onto a held key", err, "by_number", "number")
	if g, _ := s.Get(ctx, "inv", "i2"); g["number"] != "N2" || g.Version() != 1 {
		t.Errorf("failed replace wrote: %v", g)
	}
	// Replacing a document with its own keys is no duplicate.
	first["name"] = "renamed"
	if _, err := s.Replace(ctx, "inv", first); err != nil {
		t.Errorf("replace keeping own keys: %v", err)
	}

	// InsertMany stops at the first failure and counts what it stored.
	n, err := s.InsertMany(ctx, "inv", []store.Doc{doc(store.Doc{"number": "M1"}), doc(store.Doc{"number": "M2"}), doc(store.Doc{"number": "N2"}), doc(store.Doc{"number": "M3"})})
	if n != 2 {
		t.Errorf("insert many stored %d before the duplicate, want 2", n)
	}
	check("insert many", err, "by_number", "number")
	if c, _ := s.Count(ctx, "inv", store.Prefix("number", "M")); c != 2 {
		t.Errorf("%d M documents stored, want 2", c)
	}
	n, err = s.InsertMany(ctx, "inv", []store.Doc{doc(store.Doc{"number": "P1"}), doc(store.Doc{"number": "P2", "_bad": 1}), doc(store.Doc{"number": "P3"})})
	if n != 1 || !errors.Is(err, store.ErrInvalid) {
		t.Errorf("insert many with an invalid document: %d, %v", n, err)
	}

	// Index declarations.
	if err := s.EnsureIndexes(ctx, "inv", store.Index{Name: "by_number", Keys: []store.SortKey{store.Asc("number")}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("same name, not unique: %v", err)
	}
	if err := s.EnsureIndexes(ctx, "inv", store.Index{Name: "by_number", Keys: []store.SortKey{store.Desc("number")}, Unique: true}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("same name, other direction: %v", err)
	}
	err = s.EnsureIndexes(ctx, "inv", store.Index{Name: "uniq_tag", Keys: []store.SortKey{store.Asc("tag")}, Unique: true})
	check("unique over existing duplicates", err, "uniq_tag", "tag")
	if _, err := s.Insert(ctx, "inv", doc(store.Doc{"number": "Q1", "tag": "t"})); err != nil {
		t.Errorf("the failed unique index was created: %v", err)
	}
	if err := s.EnsureIndexes(ctx, "inv", store.Index{Name: "by_name_too", Keys: []store.SortKey{store.Asc("name")}, Unique: true}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("second index with the keys of another: %v", err)
	}
	if err := s.EnsureIndexes(ctx, "other", store.Index{Name: "x", Keys: []store.SortKey{store.Asc("x")}, Unique: true}); err != nil {
		t.Errorf("indexes on a new collection: %v", err)
	}
}

// groupRef computes an aggregation with the reference Grouper.
func groupRef(docs []store.Doc, a store.Aggregation) []store.Doc {
	checked, _ := store.CheckAggregation(a)
	g := store.NewGrouper(checked)
	for _, d := range docs {
		if store.Match(d, checked.Match) {
			g.Add(d)
		}
	}
	return g.Rows()
}

func TestAggregate(t *testing.T) {
	s, _ := open(t)
	raw := []store.Doc{
		{"cat": "a", "qty": 1, "price": dec("0.10"), "sub": map[string]any{"k": "x"}, "lines": []any{map[string]any{"n": 1}, map[string]any{"n": dec("2.5")}}},
		{"cat": "a", "qty": dec("2.5"), "price": "free", "sub": map[string]any{"k": nil}},
		{"cat": "a", "qty": "many", "sub": map[string]any{}},
		{"cat": "b", "qty": -4, "price": dec("0.20"), "lines": []any{map[string]any{"n": "x"}}},
		{"cat": "b", "price": dec("0.30"), "sub": map[string]any{"k": "x"}},
		{"cat": nil, "qty": 7},
		{"qty": 8, "sub": map[string]any{"k": "y"}},
		{"cat": "c", "qty": "s"},
		{"cat": 5, "qty": 1},
	}
	var docs []store.Doc
	for _, d := range raw {
		docs = append(docs, insert(t, s, "sales", d))
	}
	aggs := []store.Aggregation{
		{GroupBy: []string{"cat"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}, {Op: store.Sum, Path: "qty", As: "total"}, {Op: store.Avg, Path: "qty", As: "avg"}, {Op: store.Avg, Path: "price", As: "avg_price"}, {Op: store.Sum, Path: "qty", As: "total2"}}},
		{GroupBy: []string{"cat", "sub.k"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}, {Op: store.Sum, Path: "qty", As: "total"}}},
		{GroupBy: []string{"sub.k"}, Accumulators: []store.Accumulator{{Op: store.Avg, Path: "qty", As: "avg"}}},
		{Accumulators: []store.Accumulator{{Op: store.Sum, Path: "price", As: "p"}, {Op: store.Count, As: "n"}}},
		{Match: store.Eq("cat", "nobody"), Accumulators: []store.Accumulator{{Op: store.Sum, Path: "price", As: "p"}}},
		{GroupBy: []string{"cat"}, Accumulators: []store.Accumulator{{Op: store.Min, Path: "qty", As: "lo"}, {Op: store.Max, Path: "qty", As: "hi"}, {Op: store.Avg, Path: "price", As: "avg"}}},
		{GroupBy: []string{"cat"}, Accumulators: []store.Accumulator{{Op: store.Sum, Path: "lines.n", As: "lines"}, {Op: store.Avg, Path: "lines.n", As: "avg"}}},
		{Match: store.Ne("cat", "a"), GroupBy: []string{"cat"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}, {Op: store.Sum, Path: "qty", As: "total"}}, Sort: []store.SortKey{store.Desc("total")}, Limit: 3},
		{GroupBy: []string{"cat"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}, Sort: []store.SortKey{store.Desc("n"), store.Desc("cat")}, Limit: 2},
		{GroupBy: []string{"missing"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}, {Op: store.Max, Path: "price", As: "hi"}}},
	}
	for i, a := range aggs {
		got, err := s.Aggregate(ctx, "sales", a)
		if err != nil {
			t.Fatalf("aggregation %d: %v", i, err)
		}
		want := groupRef(docs, a)
		if len(got) != len(want) {
			t.Fatalf("aggregation %d: %d rows %v, want %v", i, len(got), got, want)
		}
		for j := range got {
			if !storetest.Equal(got[j], want[j]) {
				t.Errorf("aggregation %d row %d: %v, want %v", i, j, got[j], want[j])
			}
		}
	}
	// Null and missing group keys are one group, on the server path too.
	rows, err := s.Aggregate(ctx, "sales", store.Aggregation{Match: store.Eq("cat", "a"), GroupBy: []string{"cat", "sub.k"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []store.Doc{{"cat": "a", "sub.k": nil, "n": int64(2)}, {"cat": "a", "sub.k": "x", "n": int64(1)}}
	if !storetest.Equal(rowsAsAny(rows), rowsAsAny(wantRows)) {
		t.Errorf("null and missing keys: %v", rows)
	}
	if _, err := s.Aggregate(ctx, "sales", store.Aggregation{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("aggregation without accumulators: %v", err)
	}
	if rows, err := s.Aggregate(ctx, "nothing_here", store.Aggregation{Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}}); err != nil || len(rows) != 0 {
		t.Errorf("aggregate a missing collection: %v, %v", rows, err)
	}
}

func rowsAsAny(rows []store.Doc) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = map[string]any(r)
	}
	return out
}

func TestAggregateLargeSums(t *testing.T) {
	s, _ := open(t)
	// Sums beyond the int64 range of micro-units come back from the server as
	// doubles; the store then sums exactly in Go.
	big := dec("9000000000000")
	var docs []store.Doc
	for range 3 {
		docs = append(docs, store.Doc{"amount": big, "g": "x"})
	}
	for range 1000 {
		docs = append(docs, store.Doc{"amount": dec("0.01"), "g": "y"})
	}
	if n, err := s.InsertMany(ctx, "big", docs); err != nil || n != len(docs) {
		t.Fatalf("insert: %d, %v", n, err)
	}
	rows, err := s.Aggregate(ctx, "big", store.Aggregation{GroupBy: []string{"g"}, Accumulators: []store.Accumulator{{Op: store.Sum, Path: "amount", As: "total"}, {Op: store.Avg, Path: "amount", As: "avg"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Doc{
		{"g": "x", "total": dec("27000000000000"), "avg": big},
		{"g": "y", "total": dec("10"), "avg": dec("0.01")},
	}
	if !storetest.Equal(rowsAsAny(rows), rowsAsAny(want)) {
		t.Fatalf("large sums: %v", rows)
	}
}
