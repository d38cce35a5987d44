package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/yerp/yerp/engine/store"
)

// Insert implements store.Store.
func (s *Store) Insert(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	d, err := store.PrepareInsert(doc)
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
		return s.insertTx(ctx, tx, coll, ci, d, false)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// InsertMany implements store.Store: documents are written in batches of one
// transaction each; a failing document ends the call after the ones before it
// are committed.
func (s *Store) InsertMany(ctx context.Context, coll string, docs []store.Doc) (int, error) {
	prepared := make([]store.Doc, 0, len(docs))
	var prepErr error
	for _, doc := range docs {
		d, err := store.PrepareInsert(doc)
		if err != nil {
			prepErr = err
			break
		}
		prepared = append(prepared, d)
	}
	const batch = 1000
	done := 0
	for done < len(prepared) {
		end := min(done+batch, len(prepared))
		n := 0
		var docErr error
		err := s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
			for _, d := range prepared[done:end] {
				if err := s.insertTx(ctx, tx, coll, ci, d, true); err != nil {
					docErr = err
					break // commit the ones before the failing document
				}
				n++
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += n
		if docErr != nil {
			return done, docErr
		}
	}
	return done, prepErr
}

// insertTx inserts one prepared document inside tx. With partial set (the
// batches of InsertMany) it runs under a savepoint, so that a failing document
// leaves the ones before it in the transaction; a single write needs none,
// since its whole transaction is rolled back.
func (s *Store) insertTx(ctx context.Context, tx *sql.Tx, coll string, ci *collInfo, d store.Doc, partial bool) error {
	data, err := encode(d)
	if err != nil {
		return err
	}
	if len(ci.side) == 0 {
		// The INSERT is the document's only statement, and a statement that
		// fails undoes itself without ending the transaction (SQLite aborts
		// the statement): no savepoint, and no rid to return.
		if _, err := s.txExec(ctx, tx, `INSERT INTO `+table(coll)+`(id, v, doc) VALUES (?, ?, jsonb(?))`, d.ID(), d.Version(), string(data)); err != nil {
			return wrapWrite("insert into", coll, ci, err)
		}
		return nil
	}
	fail := func(err error) error { return err }
	if partial {
		if _, err := s.txExec(ctx, tx, `SAVEPOINT ins`); err != nil {
			return fmt.Errorf("sqlite: insert into %s: %w", coll, err)
		}
		fail = func(err error) error {
			_, _ = tx.ExecContext(ctx, `ROLLBACK TO ins; RELEASE ins`)
			return err
		}
	}
	var rid int64
	err = s.txQueryRow(ctx, tx, `INSERT INTO `+table(coll)+`(id, v, doc) VALUES (?, ?, jsonb(?)) RETURNING rid`, d.ID(), d.Version(), string(data)).Scan(&rid)
	if err != nil {
		return fail(wrapWrite("insert into", coll, ci, err))
	}
	if err := s.writeSide(ctx, tx, coll, ci, rid, d, false); err != nil {
		return fail(err)
	}
	if partial {
		if _, err := s.txExec(ctx, tx, `RELEASE ins`); err != nil {
			return fmt.Errorf("sqlite: insert into %s: %w", coll, err)
		}
	}
	return nil
}

func wrapWrite(what, coll string, ci *collInfo, err error) error {
	err = uniqueViolation(coll, ci, err)
	var dup *store.DuplicateError
	if errors.As(err, &dup) {
		return err
	}
	return fmt.Errorf("sqlite: %s %s: %w", what, coll, err)
}

// writeSide maintains the side tables of nested-path indexes for one document.
func (s *Store) writeSide(ctx context.Context, tx *sql.Tx, coll string, ci *collInfo, rid int64, d store.Doc, replace bool) error {
	for path, side := range ci.side {
		if replace {
			if _, err := s.txExec(ctx, tx, `DELETE FROM `+side+` WHERE rid = ?`, rid); err != nil {
				return fmt.Errorf("sqlite: index %s: %w", side, err)
			}
		}
		if d == nil {
			continue
		}
		vals, _ := store.Lookup(d, path)
		seen := map[any]bool{}
		for _, v := range vals {
			switch v.(type) {
			case nil, map[string]any, []any:
				continue
			}
			sv := sideValue(v)
			key := fmt.Sprintf("%T:%v", sv, sv)
			if seen[key] {
				continue // a document may repeat a value in its own array
			}
			seen[key] = true
			if _, err := s.txExec(ctx, tx, `INSERT INTO `+side+`(v, rid) VALUES (?, ?)`, sv, rid); err != nil {
				return wrapWrite("index", coll, ci, err)
			}
		}
	}
	return nil
}

// Replace implements store.Store.
func (s *Store) Replace(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	d, id, version, err := store.PrepareReplace(doc)
	if err != nil {
		return nil, err
	}
	data, err := encode(d)
	if err != nil {
		return nil, err
	}
	if ci, err := s.lookup(ctx, coll); err != nil {
		return nil, err
	} else if ci == nil {
		return nil, fmt.Errorf("sqlite: replace %s/%s: %w", coll, id, store.ErrNotFound)
	}
	err = s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
		return s.replaceTx(ctx, tx, coll, ci, d, data, id, version)
	})
	if err != nil {
		return nil, err
	}
	d[store.VersionField] = version + 1
	return d, nil
}

// replaceTx overwrites document id at version with d (encoded as data)
// inside tx.
func (s *Store) replaceTx(ctx context.Context, tx *sql.Tx, coll string, ci *collInfo, d store.Doc, data []byte, id string, version int64) error {
	var rid int64
	err := s.txQueryRow(ctx, tx, `UPDATE `+table(coll)+` SET v = v + 1, doc = jsonb(?) WHERE id = ? AND v = ? RETURNING rid`, string(data), id, version).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return s.missOrConflict(ctx, tx, coll, id)
	}
	if err != nil {
		return wrapWrite("replace in", coll, ci, err)
	}
	return s.writeSide(ctx, tx, coll, ci, rid, d, true)
}

// missOrConflict tells why a version-guarded write matched no row.
func (s *Store) missOrConflict(ctx context.Context, tx *sql.Tx, coll, id string) error {
	var v int64
	err := s.txQueryRow(ctx, tx, `SELECT v FROM `+table(coll)+` WHERE id = ?`, id).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s/%s: %w", coll, id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: %s/%s: %w", coll, id, err)
	}
	return fmt.Errorf("sqlite: %s/%s is at version %d: %w", coll, id, v, store.ErrConflict)
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, coll, id string, version int64) error {
	if ci, err := s.lookup(ctx, coll); err != nil {
		return err
	} else if ci == nil {
		return fmt.Errorf("sqlite: delete %s/%s: %w", coll, id, store.ErrNotFound)
	}
	return s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
		var rid int64
		err := s.txQueryRow(ctx, tx, `DELETE FROM `+table(coll)+` WHERE id = ? AND v = ? RETURNING rid`, id, version).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return s.missOrConflict(ctx, tx, coll, id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: delete %s/%s: %w", coll, id, err)
		}
		return s.writeSide(ctx, tx, coll, ci, rid, nil, true)
	})
}

// Increment implements store.Store. The guard is evaluated and the deltas applied
// inside one write transaction; since all writes are serialized on the writer
// connection, no other write can come between the check and the change.
func (s *Store) Increment(ctx context.Context, coll string, inc store.Inc) (store.Doc, error) {
	inc, err := store.CheckInc(inc)
	if err != nil {
		return nil, err
	}
	var out store.Doc
	err = s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
		var err error
		out, err = s.incrementTx(ctx, tx, coll, ci, inc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// incrementTx applies a checked increment inside tx.
func (s *Store) incrementTx(ctx context.Context, tx *sql.Tx, coll string, ci *collInfo, inc store.Inc) (store.Doc, error) {
	var (
		rid  int64
		v    int64
		data string
	)
	err := s.txQueryRow(ctx, tx, `SELECT rid, v, doc FROM `+table(coll)+` WHERE id = ?`, inc.ID).Scan(&rid, &v, &data)
	if errors.Is(err, sql.ErrNoRows) {
		if !inc.Upsert {
			return nil, fmt.Errorf("sqlite: increment %s/%s: %w", coll, inc.ID, store.ErrNotFound)
		}
		base := store.UpsertBase(inc)
		if !store.Match(base, inc.If) {
			return nil, fmt.Errorf("sqlite: increment %s/%s (new): %w", coll, inc.ID, store.ErrCondition)
		}
		d, err := store.ApplyDeltas(base, inc.Deltas)
		if err != nil {
			return nil, err
		}
		d[store.VersionField] = int64(1)
		if err := s.insertTx(ctx, tx, coll, ci, d, false); err != nil {
			return nil, err
		}
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: increment %s/%s: %w", coll, inc.ID, err)
	}
	cur, err := decode(inc.ID, v, []byte(data))
	if err != nil {
		return nil, err
	}
	if !store.Match(cur, inc.If) {
		return nil, fmt.Errorf("sqlite: increment %s/%s: %w", coll, inc.ID, store.ErrCondition)
	}
	d, err := store.ApplyDeltas(cur, inc.Deltas)
	if err != nil {
		return nil, err
	}
	enc, err := encode(d)
	if err != nil {
		return nil, err
	}
	if _, err := s.txExec(ctx, tx, `UPDATE `+table(coll)+` SET v = v + 1, doc = jsonb(?) WHERE rid = ?`, string(enc), rid); err != nil {
		return nil, wrapWrite("increment in", coll, ci, err)
	}
	d[store.VersionField] = v + 1
	return d, nil
}
