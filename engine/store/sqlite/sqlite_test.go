package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

var ctx = context.Background()

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "data", "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestQueryPlansUseIndexes proves with EXPLAIN QUERY PLAN that filters and sorts
// are pushed into SQL and served by the declared indexes.
func TestQueryPlansUseIndexes(t *testing.T) {
	s := openTemp(t)
	err := s.EnsureIndexes(ctx, "orders",
		store.Index{Name: "owner_date", Keys: []store.SortKey{store.Asc("owner"), store.Desc("date")}},
		store.Index{Name: "number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
		store.Index{Name: "item", Keys: []store.SortKey{store.Asc("lines.item")}},
		store.Index{Name: "state_date", Keys: []store.SortKey{store.Asc("state"), store.Desc("date")}},
		store.Index{Name: "transfer", Keys: []store.SortKey{store.Asc("transfer_to")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		_, err := s.Insert(ctx, "orders", store.Doc{"owner": fmt.Sprintf("u%d", i%7), "date": fmt.Sprintf("2026-01-%02d", i%28+1), "number": fmt.Sprintf("SO-%04d", i),
			"state": []string{"draft", "confirmed", "shipped", "done", "cancelled"}[i%5], "transfer_to": map[bool]any{true: fmt.Sprintf("u%d", i%7+i%3), false: nil}[i%20 == 0],
			"lines": []any{map[string]any{"item": fmt.Sprintf("I%d", i%13)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.writer.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		q        store.Query
		want     string // a fragment the plan must contain
		wantNone string // a fragment it must not contain
	}{
		{"filter and sort on a compound index, no sorting step",
			store.Query{Filter: store.Eq("owner", "u3"), Sort: []store.SortKey{store.Desc("date")}},
			`USING INDEX ix_orders$owner_date`, "TEMP B-TREE"},
		{"keyset page continues inside the index",
			store.Query{Filter: store.Eq("owner", "u3"), Sort: []store.SortKey{store.Desc("date")}, After: mustCursor(t, []store.SortKey{store.Desc("date")}, store.Cursor{Values: []any{"2026-01-10"}, ID: "50"})},
			`USING INDEX ix_orders$owner_date`, "TEMP B-TREE"},
		{"unique key lookup",
			store.Query{Filter: store.Eq("number", "SO-0042")},
			`USING INDEX ix_orders$number (<expr>=?)`, "SCAN c_orders"},
		{"prefix search is an index range",
			store.Query{Filter: store.Prefix("number", "SO-004"), Sort: []store.SortKey{store.Asc("number")}},
			`USING INDEX ix_orders$number (<expr>>? AND <expr><?)`, "SCAN c_orders"},
		{"a read rule's disjunction: each arm walks its own index",
			store.Query{Filter: store.And(store.Eq("state", "draft"), store.Or(store.Eq("owner", "u3"), store.Eq("transfer_to", "u3"))), Sort: []store.SortKey{store.Desc("date")}, Limit: 50},
			`USING INDEX ix_orders$transfer`, `USING INDEX ix_orders$state_date`},
		{"the same disjunction as a user's roles give it: nested in one-term nodes",
			store.Query{Filter: store.And(store.Or(store.Or(store.Eq("owner", "u3"), store.Eq("transfer_to", "u3"))), store.Eq("state", "draft")), Sort: []store.SortKey{store.Desc("date")}, Limit: 50},
			`USING INDEX ix_orders$transfer`, `USING INDEX ix_orders$state_date`},
		{"array element through the multikey side table",
			store.Query{Filter: store.Eq("lines.item", "I5")},
			`mk_orders$item`, "json_tree"},
	}
	for _, c := range cases {
		q := c.q
		if q.After != "" {
			// Every keyset branch of the continuation page is an index range.
			cur, err := store.DecodeCursor(q.Sort, q.After)
			if err != nil {
				t.Fatal(err)
			}
			q, _ = store.CheckQuery(q)
			for i, cond := range branches(q.Sort, cur.Values, 50) {
				text, args := findSQL("orders", s.info("orders"), q, cond, 51)
				plan, err := s.explain(ctx, text, args)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(plan, c.want) || strings.Contains(plan, c.wantNone) {
					t.Errorf("%s, branch %d: plan\n%s\nwant %q and no %q", c.name, i, plan, c.want, c.wantNone)
				}
			}
			continue
		}
		plan, err := s.Explain(ctx, "orders", q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, c.want) || (c.wantNone != "" && strings.Contains(plan, c.wantNone)) {
			t.Errorf("%s: plan\n%s\nwant %q and no %q", c.name, plan, c.want, c.wantNone)
		}
	}
}

// TestReopenKeepsIndexes checks that the catalog (collections, indexes, side
// tables) is read back from the file.
func TestReopenKeepsIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yerp.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx, "items",
		store.Index{Name: "code", Keys: []store.SortKey{store.Asc("code")}, Unique: true},
		store.Index{Name: "barcode", Keys: []store.SortKey{store.Asc("barcodes.code")}, Unique: true},
	); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "items", store.Doc{"code": "A", "barcodes": []any{map[string]any{"code": "690001"}, map[string]any{"code": "690002"}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Insert(ctx, "items", store.Doc{"code": "B", "barcodes": []any{map[string]any{"code": "690002"}}})
	var dup *store.DuplicateError
	if !errors.As(err, &dup) || dup.Index != "barcode" {
		t.Fatalf("barcode held by another item after reopen: got %v, want a duplicate on index barcode", err)
	}
	// One item may list the same barcode twice in its own table.
	if _, err := s.Insert(ctx, "items", store.Doc{"code": "C", "barcodes": []any{map[string]any{"code": "7"}, map[string]any{"code": "7"}}}); err != nil {
		t.Fatal(err)
	}
	page, err := s.Find(ctx, "items", store.Query{Filter: store.Eq("barcodes.code", "690002")})
	if err != nil || len(page.Docs) != 1 || page.Docs[0]["code"] != "A" {
		t.Fatalf("find by barcode after reopen: %v, %v", page.Docs, err)
	}
	// Replace and delete keep the side table in step.
	d := page.Docs[0]
	d["barcodes"] = []any{map[string]any{"code": "690003"}}
	if _, err := s.Replace(ctx, "items", d); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]int{"690002": 0, "690003": 1} {
		page, err = s.Find(ctx, "items", store.Query{Filter: store.Eq("barcodes.code", code)})
		if err != nil || len(page.Docs) != want {
			t.Fatalf("barcode %s after replace: %d documents, %v; want %d", code, len(page.Docs), err, want)
		}
	}
	if err := s.Delete(ctx, "items", d.ID(), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "items", store.Doc{"code": "D", "barcodes": []any{map[string]any{"code": "690003"}}}); err != nil {
		t.Fatalf("barcode freed by delete: %v", err)
	}
}

// TestMixedLoadNeverLocked runs readers and writers together: WAL readers and the
// single writer connection must never report "database is locked".
func TestMixedLoadNeverLocked(t *testing.T) {
	s := openTemp(t)
	bin, err := s.Insert(ctx, "bins", store.Doc{"on_hand": 1000000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var err error
				switch (g + i) % 4 {
				case 0:
					_, err = s.Insert(ctx, "moves", store.Doc{"g": g, "i": i})
				case 1:
					_, err = s.Increment(ctx, "bins", store.Inc{ID: bin.ID(), Deltas: map[string]decimal.Decimal{"on_hand": decimal.FromInt(-1)}})
				case 2:
					_, err = s.Find(ctx, "moves", store.Query{Filter: store.Eq("g", g), Sort: []store.SortKey{store.Desc("i")}})
				case 3:
					_, err = s.Aggregate(ctx, "moves", store.Aggregation{GroupBy: []string{"g"}, Accumulators: []store.Accumulator{{Op: store.Count, As: "n"}}})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("under mixed load: %v", err)
	}
	got, err := s.Get(ctx, "bins", bin.ID())
	if err != nil {
		t.Fatal(err)
	}
	if want := decimal.FromInt(1000000 - 200); !got["on_hand"].(decimal.Decimal).Equal(want) {
		t.Fatalf("on_hand %v, want %v", got["on_hand"], want)
	}
}

func mustCursor(t testing.TB, sort []store.SortKey, c store.Cursor) string {
	t.Helper()
	text, err := store.EncodeCursor(sort, c)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// Callers that declare the same indexes at once (the first requests after a
// start) all succeed. The one that comes second may hold the catalog as it was
// before the first published its indexes: it must not create them again.
func TestConcurrentEnsureIndexes(t *testing.T) {
	s := openTemp(t)
	ixs := []store.Index{
		{Name: "number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
		{Name: "item", Keys: []store.SortKey{store.Asc("lines.item")}},
		{Name: "owner_state", Keys: []store.SortKey{store.Asc("owner"), store.Desc("state")}},
	}
	if err := s.EnsureIndexes(ctx, "orders", ixs...); err != nil {
		t.Fatal(err)
	}
	// The window between the first caller's commit and its catalog update.
	s.mu.Lock()
	s.colls["orders"] = newCollInfo()
	s.mu.Unlock()
	if err := s.EnsureIndexes(ctx, "orders", ixs...); err != nil {
		t.Fatalf("declaring the indexes again on a stale catalog: %v", err)
	}
	if got := len(s.info("orders").indexes); got != len(ixs) {
		t.Fatalf("catalog has %d indexes, want %d", got, len(ixs))
	}
	// And truly at once.
	for round := 0; round < 20; round++ {
		coll := fmt.Sprintf("orders%d", round)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.EnsureIndexes(ctx, coll, ixs...)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// Optimize gathers the planner's statistics for the indexes of a collection
// that had none.
func TestOptimizeGathersStatistics(t *testing.T) {
	s := openTemp(t)
	err := s.EnsureIndexes(ctx, "orders",
		store.Index{Name: "state_date", Keys: []store.SortKey{store.Asc("state"), store.Desc("date")}},
		store.Index{Name: "owner_date", Keys: []store.SortKey{store.Asc("owner"), store.Desc("date")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	var docs []store.Doc
	for i := 0; i < 3000; i++ {
		docs = append(docs, store.Doc{"owner": fmt.Sprintf("u%03d", i%200), "state": []string{"draft", "confirmed", "shipped"}[i%3], "date": fmt.Sprintf("2026-%02d-%02d", 1+i/300, 1+i%28)})
	}
	if _, err := s.InsertMany(ctx, "orders", docs); err != nil {
		t.Fatal(err)
	}
	stats := func() map[string]string {
		out := map[string]string{}
		rows, err := s.writer.QueryContext(ctx, "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'c_orders'")
		if err != nil {
			return out // no statistics table yet
		}
		defer rows.Close()
		for rows.Next() {
			var idx, stat string
			if err := rows.Scan(&idx, &stat); err != nil {
				t.Fatal(err)
			}
			out[idx] = stat
		}
		return out
	}
	if got := stats(); len(got) != 0 {
		t.Fatalf("statistics before Optimize: %v", got)
	}
	if err := s.Optimize(ctx); err != nil {
		t.Fatal(err)
	}
	// "3000 15": 3,000 rows, about 15 per owner.
	got := stats()
	if got["ix_orders$owner_date"] == "" || !strings.HasPrefix(got["ix_orders$owner_date"], "3000 15") || got["ix_orders$state_date"] == "" {
		t.Fatalf("statistics after Optimize: %v", got)
	}
}
