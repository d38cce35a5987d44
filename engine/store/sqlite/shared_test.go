package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// Two Stores opened on one file stand for two yerp serve processes: each
// sees the collections and indexes the other creates, and their writes,
// including read-then-write ones, wait for each other instead of failing.

func openPair(t *testing.T) (a, b *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "yerp.db")
	var err error
	if a, err = Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func TestSharedFileSeesTheOtherCatalog(t *testing.T) {
	ctx := context.Background()
	a, b := openPair(t)

	// A collection created by a after b opened the file.
	if _, err := a.Insert(ctx, "orders", store.Doc{store.IDField: "o1", "lines": []any{map[string]any{"item": "I1"}}}); err != nil {
		t.Fatal(err)
	}
	if d, err := b.Get(ctx, "orders", "o1"); err != nil || d.ID() != "o1" {
		t.Fatalf("b reads a's new collection: %v, %v", d, err)
	}
	if n, err := b.Count(ctx, "orders", nil); err != nil || n != 1 {
		t.Fatalf("b counts a's new collection: %d, %v", n, err)
	}

	// A multikey index created by a: b's inserts must fill its side table,
	// or a's queries through it would miss b's documents.
	if err := a.EnsureIndexes(ctx, "orders", store.Index{Name: "item", Keys: []store.SortKey{store.Asc("lines.item")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Insert(ctx, "orders", store.Doc{store.IDField: "o2", "lines": []any{map[string]any{"item": "I2"}}}); err != nil {
		t.Fatal(err)
	}
	page, err := a.Find(ctx, "orders", store.Query{Filter: store.Eq("lines.item", "I2"), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Docs) != 1 || page.Docs[0].ID() != "o2" {
		t.Fatalf("a finds b's document through the side table: %v", page.Docs)
	}
	plan, err := a.Explain(ctx, "orders", store.Query{Filter: store.Eq("lines.item", "I2"), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a's plan: %s", plan)
	// b knows the index too once it wrote: its own query uses it.
	page, err = b.Find(ctx, "orders", store.Query{Filter: store.Eq("lines.item", "I1"), Limit: 10})
	if err != nil || len(page.Docs) != 1 || page.Docs[0].ID() != "o1" {
		t.Fatalf("b finds a's document: %v, %v", page.Docs, err)
	}
	if b.info("orders") == nil || b.info("orders").side["lines.item"] == "" {
		t.Fatal("b does not know the index a created")
	}
}

func TestSharedFileWritersWait(t *testing.T) {
	ctx := context.Background()
	a, b := openPair(t)
	const workers, each = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for i := range 2 * workers {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			for j := range each {
				// A guarded upsert reads the counter before it writes it.
				_, err := st.Increment(ctx, "counters", store.Inc{ID: "c", Upsert: true,
					Deltas: map[string]decimal.Decimal{"n": decimal.FromInt(1)}})
				if err == nil {
					// A replace reads the version it must match.
					_, err = st.Insert(ctx, "log", store.Doc{store.IDField: fmt.Sprintf("w%d-%d", i, j)})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a write between two stores on one file failed: %v", err)
	}
	d, err := b.Get(ctx, "counters", "c")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := decimalOf(d["n"]).Int64(); n != 2*workers*each {
		t.Fatalf("counter = %v, want %d", d["n"], 2*workers*each)
	}
	if n, err := a.Count(ctx, "log", nil); err != nil || n != 2*workers*each {
		t.Fatalf("log has %d documents (%v), want %d", n, err, 2*workers*each)
	}
}

// decimalOf reads a stored number.
func decimalOf(v any) decimal.Decimal {
	switch x := v.(type) {
	case decimal.Decimal:
		return x
	case int64:
		return decimal.FromInt(x)
	}
	return decimal.Zero
}
