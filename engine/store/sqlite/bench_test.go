package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// The benchmarks measure the store floor that every engine operation stands on.
// Figures and the command that produced them are in docs/performance.md.
//
// Large data sets are built once and kept in the temporary directory
// (yerp-bench/orders-N.db), so repeated runs (-count) measure, not load.

const benchOwners = 199 // prime to the five states, so every owner has orders in each

// benchOrder is a wholesale order as the engine will store it: header fields,
// three lines, money as decimals.
func benchOrder(i int) store.Doc {
	lines := make([]any, 3)
	for j := range lines {
		lines[j] = map[string]any{
			"item":   fmt.Sprintf("ITEM-%05d", (i*7+j*13)%20000),
			"qty":    decimal.FromInt(int64(1 + (i+j)%9)),
			"price":  decimal.FromScaled(int64(1999+(i*31+j)%5000), 2),
			"amount": decimal.FromScaled(int64((1+(i+j)%9)*(1999+(i*31+j)%5000)), 2),
		}
	}
	return store.Doc{
		"number":   fmt.Sprintf("SO-%08d", i),
		"owner":    fmt.Sprintf("user%03d", i%benchOwners),
		"state":    []string{"draft", "confirmed", "allocated", "shipped", "completed"}[i%5],
		"customer": fmt.Sprintf("CUST-%05d", (i*17)%5000),
		"date":     fmt.Sprintf("2026-%02d-%02dT%02d:%02d:00Z", 1+i%12, 1+i%28, i%24, i%60),
		"total":    decimal.FromScaled(int64(10000+(i*97)%900000), 2),
		"lines":    lines,
	}
}

var benchIndexes = []store.Index{
	{Name: "number", Keys: []store.SortKey{store.Asc("number")}, Unique: true},
	{Name: "owner_state_date", Keys: []store.SortKey{store.Asc("owner"), store.Asc("state"), store.Desc("date")}},
}

var benchMu sync.Mutex

// benchStore opens (building on first use) a store holding n benchmark orders.
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	dir := filepath.Join(os.TempDir(), "yerp-bench")
	path := filepath.Join(dir, "orders-"+strconv.Itoa(n)+".db")
	done := path + ".done"
	if _, err := os.Stat(done); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + suffix)
		}
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.EnsureIndexes(ctx, "orders", benchIndexes...); err != nil {
			b.Fatal(err)
		}
		const batch = 5000
		docs := make([]store.Doc, 0, batch)
		for i := 0; i < n; i++ {
			docs = append(docs, benchOrder(i))
			if len(docs) == batch || i == n-1 {
				if _, err := s.InsertMany(ctx, "orders", docs); err != nil {
					b.Fatal(err)
				}
				docs = docs[:0]
			}
		}
		if _, err := s.writer.ExecContext(ctx, "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			b.Fatal(err)
		}
		s.Close()
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkInsert: one order (3 lines, unique number) per operation.
func BenchmarkInsert(b *testing.B) {
	s := openTemp(b)
	if err := s.EnsureIndexes(ctx, "orders", benchIndexes...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Insert(ctx, "orders", benchOrder(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetByID reads random orders by id out of 100,000.
func BenchmarkGetByID(b *testing.B) {
	s := benchStore(b, 100000)
	page, err := s.Find(ctx, "orders", store.Query{Limit: 1000, Fields: []string{}})
	if err != nil || len(page.Docs) != 1000 {
		b.Fatalf("ids: %v", err)
	}
	ids := make([]string, len(page.Docs))
	for i, d := range page.Docs {
		ids[i] = d.ID()
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, "orders", ids[(i*7919)%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuardedIncrement reserves one unit at a time on one bin, guarded by
// on_hand - reserved >= 1 (the oversell check), releasing when it runs dry.
func BenchmarkGuardedIncrement(b *testing.B) {
	s := openTemp(b)
	if _, err := s.Insert(ctx, "bins", store.Doc{store.IDField: "ITEM-1@WH1", "on_hand": 1000000000, "reserved": 0}); err != nil {
		b.Fatal(err)
	}
	one := decimal.FromInt(1)
	guard := store.Weighted(store.T("on_hand", 1), store.T("reserved", -1)).Gte(one)
	b.ResetTimer()
	for b.Loop() {
		_, err := s.Increment(ctx, "bins", store.Inc{ID: "ITEM-1@WH1", Deltas: map[string]decimal.Decimal{"reserved": one}, If: guard})
		if err != nil && !errors.Is(err, store.ErrCondition) {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindPage is a list page: one salesperson's confirmed orders, newest
// first, 50 per page; "first" is page 1, "deep" continues from the cursor of
// page 10.
func BenchmarkFindPage(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			s := benchStore(b, n)
			q := store.Query{
				Filter: store.And(store.Eq("owner", "user042"), store.Eq("state", "shipped")),
				Sort:   []store.SortKey{store.Desc("date")},
				Limit:  50,
			}
			total, err := s.Count(ctx, "orders", q.Filter)
			if err != nil {
				b.Fatal(err)
			}
			deep := q
			for p := 0; p < min(10, int(total)/50-1); p++ {
				page, err := s.Find(ctx, "orders", deep)
				if err != nil || page.Next == "" {
					b.Fatalf("page %d: %v", p, err)
				}
				deep.After = page.Next
			}
			for _, c := range []struct {
				name string
				q    store.Query
			}{{"first", q}, {"deep", deep}} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						page, err := s.Find(ctx, "orders", c.q)
						if err != nil || len(page.Docs) != 50 {
							b.Fatalf("page: %d docs, %v", len(page.Docs), err)
						}
					}
				})
			}
		})
	}
}
