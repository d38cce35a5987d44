package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/yerp/yerp/engine/store"
)

// Batch implements store.Store: fn's writes are one transaction on the
// writer connection, so they cost one commit.
func (s *Store) Batch(ctx context.Context, fn func(w store.Writer) error) (err error) {
	defer classified(&err)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	b := &batch{s: s, tx: tx, colls: map[string]*collInfo{}}
	err = fn(b)
	if err == nil {
		err = b.err // a failed statement may have left part of its write
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	s.mu.Lock()
	for coll, ci := range b.created {
		if s.colls[coll] == nil {
			s.colls[coll] = ci
		}
	}
	s.mu.Unlock()
	return nil
}

// batch is the store.Writer of one Batch.
type batch struct {
	s       *Store
	tx      *sql.Tx
	colls   map[string]*collInfo
	created map[string]*collInfo
	err     error // the first failed write: the batch is rolled back
}

// coll returns the collection's info, creating it inside the batch's
// transaction if needed (published to readers after the commit).
func (b *batch) coll(ctx context.Context, coll string) (*collInfo, error) {
	if ci := b.colls[coll]; ci != nil {
		return ci, nil
	}
	ci, created, err := b.s.ensureCollection(ctx, b.tx, coll)
	if err != nil {
		return nil, err
	}
	b.colls[coll] = ci
	if created {
		if b.created == nil {
			b.created = map[string]*collInfo{}
		}
		b.created[coll] = ci
	}
	return ci, nil
}

// run runs one write unless an earlier one failed, and remembers its failure.
func (b *batch) run(ctx context.Context, coll string, write func(ci *collInfo) error) error {
	if b.err != nil {
		return fmt.Errorf("sqlite: batch: an earlier write failed: %w", b.err)
	}
	ci, err := b.coll(ctx, coll)
	if err == nil {
		err = write(ci)
	}
	return b.fail(err)
}

// fail remembers the batch's first failed write; it returns err.
func (b *batch) fail(err error) error {
	if err != nil && b.err == nil {
		b.err = err
	}
	return err
}

func (b *batch) Insert(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	d, err := store.PrepareInsert(doc)
	if err != nil {
		return nil, b.fail(err)
	}
	err = b.run(ctx, coll, func(ci *collInfo) error { return b.s.insertTx(ctx, b.tx, coll, ci, d, false) })
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (b *batch) Replace(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	var data []byte
	d, id, version, err := store.PrepareReplace(doc)
	if err == nil {
		data, err = encode(d)
	}
	if err != nil {
		return nil, b.fail(err)
	}
	err = b.run(ctx, coll, func(ci *collInfo) error { return b.s.replaceTx(ctx, b.tx, coll, ci, d, data, id, version) })
	if err != nil {
		return nil, err
	}
	d[store.VersionField] = version + 1
	return d, nil
}

func (b *batch) Increment(ctx context.Context, coll string, inc store.Inc) (store.Doc, error) {
	inc, err := store.CheckInc(inc)
	if err != nil {
		return nil, b.fail(err)
	}
	var out store.Doc
	err = b.run(ctx, coll, func(ci *collInfo) error {
		var err error
		out, err = b.s.incrementTx(ctx, b.tx, coll, ci, inc)
		return err
	})
	return out, err
}
