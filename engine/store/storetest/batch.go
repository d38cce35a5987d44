package storetest

import (
	"errors"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// testBatch checks what both backends promise of Batch: each write through
// the Writer behaves as the Store's method of the same name, the writes are
// stored when fn returns nil, and a failed write is reported by Batch.
func testBatch(t *testing.T, s store.Store) {
	if err := s.EnsureIndexes(ctx, "bt_orders", store.Index{Name: "number", Keys: []store.SortKey{{Path: "number"}}, Unique: true}); err != nil {
		t.Fatal(err)
	}
	old := mustInsert(t, s, "bt_orders", store.Doc{"number": "SO-0", "note": "old"})
	var order, entry, series, replaced store.Doc
	err := s.Batch(ctx, func(w store.Writer) error {
		var err error
		if series, err = w.Increment(ctx, "bt_series", store.Inc{ID: "so", Upsert: true, Deltas: map[string]decimal.Decimal{"last": dec("1")}}); err != nil {
			return err
		}
		if order, err = w.Insert(ctx, "bt_orders", store.Doc{"number": "SO-1", "qty": 3}); err != nil {
			return err
		}
		if entry, err = w.Insert(ctx, "bt_audit", store.Doc{"record": order.ID(), "version": order.Version()}); err != nil {
			return err
		}
		old["note"] = "changed"
		replaced, err = w.Replace(ctx, "bt_orders", old)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(series["last"], dec("1")) || series.Version() != 1 || order.ID() == "" || order.Version() != 1 || replaced.Version() != 2 {
		t.Fatalf("batch results: series %v, order %v, replaced %v", series, order, replaced)
	}
	if got := mustGet(t, s, "bt_orders", order.ID()); !Equal(got["qty"], dec("3")) {
		t.Errorf("order as stored: %v", got)
	}
	if got := mustGet(t, s, "bt_audit", entry.ID()); got["record"] != order.ID() {
		t.Errorf("audit entry as stored: %v", got)
	}
	if got := mustGet(t, s, "bt_orders", old.ID()); got["note"] != "changed" || got.Version() != 2 {
		t.Errorf("replaced order as stored: %v", got)
	}
	if got := mustGet(t, s, "bt_series", "so"); !Equal(got["last"], dec("1")) {
		t.Errorf("series as stored: %v", got)
	}

	// A failing write is reported by Batch, and writes nothing itself.
	err = s.Batch(ctx, func(w store.Writer) error {
		_, err := w.Insert(ctx, "bt_orders", store.Doc{"number": "SO-1", "qty": 9})
		return err
	})
	var dup *store.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("duplicate number in a batch: %v, want a *DuplicateError", err)
	}
	stale := mustGet(t, s, "bt_orders", old.ID())
	stale[store.VersionField] = int64(1)
	err = s.Batch(ctx, func(w store.Writer) error {
		_, err := w.Replace(ctx, "bt_orders", stale)
		return err
	})
	wantErr(t, err, store.ErrConflict, "stale replace in a batch")
	if n, err := s.Count(ctx, "bt_orders", nil); err != nil || n != 2 {
		t.Errorf("orders after the failed batches: %d, %v; want 2", n, err)
	}
}
