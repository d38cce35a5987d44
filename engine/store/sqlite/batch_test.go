package sqlite

import (
	"errors"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// TestBatchIsOneTransaction: on SQLite a batch commits together or not at
// all, including a collection it created, and a failed write rolls the batch
// back even when fn ignores the error.
func TestBatchIsOneTransaction(t *testing.T) {
	s := openTemp(t)
	if err := s.EnsureIndexes(ctx, "orders", store.Index{Name: "number", Keys: []store.SortKey{{Path: "number"}}, Unique: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ctx, "orders", store.Doc{"number": "SO-1"}); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	err := s.Batch(ctx, func(w store.Writer) error {
		if _, err := w.Increment(ctx, "series", store.Inc{ID: "so", Upsert: true, Deltas: map[string]decimal.Decimal{"last": decimal.FromInt(1)}}); err != nil {
			return err
		}
		if _, err := w.Insert(ctx, "orders", store.Doc{"number": "SO-2"}); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("batch: %v, want fn's error", err)
	}
	err = s.Batch(ctx, func(w store.Writer) error {
		if _, err := w.Insert(ctx, "audit", store.Doc{"n": 1}); err != nil {
			return err
		}
		_, _ = w.Insert(ctx, "orders", store.Doc{"number": "SO-1"}) // duplicate, ignored by fn
		_, err := w.Insert(ctx, "orders", store.Doc{"number": "SO-3"})
		if err == nil {
			t.Error("a write after a failed one went through")
		}
		return nil
	})
	var dup *store.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("batch with an ignored duplicate: %v, want the *DuplicateError", err)
	}
	for coll, want := range map[string]int64{"orders": 1, "series": 0, "audit": 0} {
		if n, err := s.Count(ctx, coll, nil); err != nil || n != want {
			t.Errorf("%s after the rolled-back batches: %d, %v; want %d", coll, n, err, want)
		}
	}
	if s.info("series") != nil || s.info("audit") != nil {
		t.Error("a collection created by a rolled-back batch is known to readers")
	}
	// The store still writes after the rollbacks, and a later batch creates
	// the collections for good.
	if err := s.Batch(ctx, func(w store.Writer) error {
		_, err := w.Insert(ctx, "audit", store.Doc{"n": 2})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, "audit", nil); err != nil || n != 1 {
		t.Errorf("audit after a committed batch: %d, %v; want 1", n, err)
	}
}
