package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
)

// TestCopyBetweenBackends copies a SQLite store into MongoDB and back into
// another SQLite store: every document arrives with its id, version and
// values, every index with its keys and uniqueness (a duplicate is refused
// after the copy), the numbering series comes last, and a collection to
// skip is left out.
func TestCopyBetweenBackends(t *testing.T) {
	ctx := context.Background()
	src := openSQLite(t).(store.Dumper)
	mid := mongotest.Open(t).(store.Dumper)
	dst := openSQLite(t).(store.Dumper)

	if err := src.EnsureIndexes(ctx, "orders",
		store.Index{Name: "number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
		store.Index{Name: "item", Keys: []store.SortKey{store.Asc("lines.item")}}); err != nil {
		t.Fatal(err)
	}
	const orders = 1234 // more than one page
	withI3 := 0
	for i := range orders {
		if i%7 == 3 {
			withI3++
		}
		d, err := src.Insert(ctx, "orders", store.Doc{"number": fmt.Sprintf("SO-%05d", i+1), "total": decimal.MustParse("10.25"),
			"lines": []any{map[string]any{"item": fmt.Sprintf("I%d", i%7), "qty": int64(i % 5)}}})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // some documents at version 2
			d["note"] = "changed"
			if _, err := src.Replace(ctx, "orders", d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := src.Increment(ctx, "sys_series", store.Inc{ID: "orders", Upsert: true, Deltas: map[string]decimal.Decimal{"n": decimal.FromInt(orders)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Insert(ctx, "sys_fence", store.Doc{store.IDField: "backup"}); err != nil {
		t.Fatal(err)
	}

	var order []string
	progress := func(coll string, _ int64) { order = append(order, coll) }
	for _, hop := range []struct {
		name     string
		from, to store.Dumper
	}{{"sqlite to mongo", src, mid}, {"mongo to sqlite", mid, dst}} {
		order = nil
		stats, err := store.Copy(ctx, hop.to, hop.from, []string{"sys_series"}, []string{"sys_fence"}, progress)
		if err != nil {
			t.Fatalf("%s: %v", hop.name, err)
		}
		if stats.Documents != orders+1 || order[len(order)-1] != "sys_series" {
			t.Fatalf("%s: copied %+v in the order %v", hop.name, stats, order)
		}
	}
	for _, coll := range []string{"orders", "sys_series"} {
		want, got := all(t, src, coll), all(t, dst, coll)
		if len(want) != len(got) {
			t.Fatalf("%s: %d documents copied, %d in the source", coll, len(got), len(want))
		}
		for id, d := range want {
			if !reflect.DeepEqual(d, got[id]) {
				t.Fatalf("%s/%s copied as %v, source %v", coll, id, got[id], d)
			}
		}
	}
	if n, err := dst.Count(ctx, "sys_fence", nil); err != nil || n != 0 {
		t.Fatalf("the skipped collection was copied: %d, %v", n, err)
	}
	want, _ := src.Indexes(ctx, "orders")
	got, err := dst.Indexes(ctx, "orders")
	if err != nil || !reflect.DeepEqual(want, got) {
		t.Fatalf("indexes copied: %v (%v), source %v", got, err, want)
	}
	if _, err := dst.Insert(ctx, "orders", store.Doc{"number": "SO-00001"}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("the unique index was not copied: %v", err)
	}
	page, err := dst.Find(ctx, "orders", store.Query{Filter: store.Eq("lines.item", "I3"), Limit: store.MaxLimit})
	if err != nil || len(page.Docs) != withI3 {
		t.Fatalf("the multikey index finds %d orders (%v), want %d", len(page.Docs), err, withI3)
	}
	// A copy into a store that holds the documents already is refused.
	if _, err := store.Copy(ctx, dst, src, nil, []string{"sys_fence"}, nil); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("a copy over existing documents: %v", err)
	}
}

func all(t *testing.T, st store.Store, coll string) map[string]store.Doc {
	t.Helper()
	out := map[string]store.Doc{}
	q := store.Query{Limit: store.MaxLimit}
	for {
		page, err := st.Find(context.Background(), coll, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Docs {
			out[d.ID()] = d
		}
		if page.Next == "" {
			return out
		}
		q.After = page.Next
	}
}
