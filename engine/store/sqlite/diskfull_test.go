package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// A full disk, as SQLite itself reports it (SQLITE_FULL, provoked with
// PRAGMA max_page_count on a store whose file has grown): every write fails
// with store.ErrFull and leaves nothing behind (a batch is rolled back
// whole, its counter included), reads go on, the file passes
// integrity_check, and once there is room again writes work.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	filler := strings.Repeat("x", 1500)
	for i := range 200 {
		if _, err := s.Insert(ctx, "items", store.Doc{store.IDField: fmt.Sprintf("i%03d", i), "code": fmt.Sprintf("C%03d", i), "note": filler}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EnsureIndexes(ctx, "items", store.Index{Name: "code", Keys: []store.SortKey{store.Asc("code")}, Unique: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Increment(ctx, "counters", store.Inc{ID: "items", Deltas: map[string]decimal.Decimal{"next": decimal.FromInt(200)}, Upsert: true}); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := s.writer.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages < 50 {
		t.Fatalf("the file has only %d pages; the test needs a grown file", pages)
	}
	limit, err := s.SetMaxPages(ctx, pages)
	if err != nil || limit != pages {
		t.Fatalf("max pages %d (%v), want %d", limit, err, pages)
	}

	// Fill what free pages remain until SQLite refuses.
	var full error
	stored := 200
	for i := 200; i < 400; i++ {
		_, err := s.Insert(ctx, "items", store.Doc{store.IDField: fmt.Sprintf("i%03d", i), "code": fmt.Sprintf("C%03d", i), "note": filler})
		if err != nil {
			full = err
			break
		}
		stored++
	}
	if !errors.Is(full, store.ErrFull) || errors.Is(full, store.ErrUnavailable) {
		t.Fatalf("insert into a full database: %v, want store.ErrFull", full)
	}
	if _, err := s.Get(ctx, "items", fmt.Sprintf("i%03d", stored)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused insert left its document: %v", err)
	}

	// A batch that takes a number and then cannot store its document gives
	// the number back.
	err = s.Batch(ctx, func(w store.Writer) error {
		if _, err := w.Increment(ctx, "counters", store.Inc{ID: "items", Deltas: map[string]decimal.Decimal{"next": decimal.FromInt(1)}}); err != nil {
			return err
		}
		big := strings.Repeat("y", 64<<10)
		_, err := w.Insert(ctx, "items", store.Doc{store.IDField: "batch", "code": "BATCH", "note": big})
		return err
	})
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("batch into a full database: %v, want store.ErrFull", err)
	}
	counter, err := s.Get(ctx, "counters", "items")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := counter["next"].(decimal.Decimal).Int64(); n != 200 || counter.Version() != 1 {
		t.Fatalf("the failed batch moved the counter: %v", counter)
	}
	if _, err := s.Get(ctx, "items", "batch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed batch left its document: %v", err)
	}

	// Reads go on.
	if n, err := s.Count(ctx, "items", nil); err != nil || n != int64(stored) {
		t.Fatalf("count while full: %d %v, want %d", n, err, stored)
	}
	page, err := s.Find(ctx, "items", store.Query{Filter: store.Eq("code", "C007"), Limit: 5})
	if err != nil || len(page.Docs) != 1 || page.Docs[0].ID() != "i007" {
		t.Fatalf("find while full: %v %v", page.Docs, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping while full: %v", err)
	}
	integrity(t, s)

	// Room again: writes work, and the number series goes on where it was.
	if _, err := s.SetMaxPages(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "items", store.Doc{store.IDField: "after", "code": "AFTER", "note": filler}); err != nil {
		t.Fatalf("insert after room is made: %v", err)
	}
	c, err := s.Increment(ctx, "counters", store.Inc{ID: "items", Deltas: map[string]decimal.Decimal{"next": decimal.FromInt(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c["next"].(decimal.Decimal).Int64(); n != 201 {
		t.Fatalf("next number after the full disk: %d, want 201", n)
	}
	integrity(t, s)
	t.Logf("fault scenarios: 1 (disk full: %d single inserts fit, then SQLITE_FULL)", stored-200)
}

// integrity runs PRAGMA integrity_check on the database.
func integrity(t *testing.T, s *Store) {
	t.Helper()
	var res string
	if err := s.reader.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q %v", res, err)
	}
}

// A database locked by another process beyond the busy timeout is
// store.ErrUnavailable (a 503, try again), not a failure of the caller's
// write; once the lock is gone writes work again.
func TestLockedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "yerp.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Insert(ctx, "items", store.Doc{store.IDField: "a"}); err != nil {
		t.Fatal(err)
	}
	// A short busy timeout on every writer connection, so the test does not
	// wait the store's 10 s.
	var conns []*sql.Conn
	for range 2 {
		c, err := s.writer.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 50"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	lock, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Insert(ctx, "items", store.Doc{store.IDField: "b"})
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrFull) {
		t.Fatalf("insert into a locked database: %v, want store.ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "items", "a"); err != nil {
		t.Fatalf("read while another process writes (WAL): %v", err)
	}
	if _, err := lock.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if _, err := s.Insert(ctx, "items", store.Doc{store.IDField: "b"}); err != nil {
		t.Fatalf("insert once the lock is gone: %v", err)
	}
	t.Log("fault scenarios: 1 (database locked beyond the busy timeout)")
}
