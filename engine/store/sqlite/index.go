package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/yerp/yerp/engine/store"
)

// EnsureIndexes implements store.Store. Indexes on top-level paths become SQLite
// expression indexes on json_extract(doc, '$.path'); an index on a nested path
// becomes a side table (value, rid) filled with every value the path reaches, so
// that a search for one array element is an index lookup.
func (s *Store) EnsureIndexes(ctx context.Context, coll string, indexes ...store.Index) error {
	if err := store.CheckIndexes(indexes); err != nil {
		return err
	}
	var added []store.Index
	err := s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
		for _, ix := range indexes {
			if have, ok := ci.indexes[ix.Name]; ok {
				if !reflect.DeepEqual(have, ix) {
					return fmt.Errorf("%w: index %s.%s exists with another definition", store.ErrInvalid, coll, ix.Name)
				}
				continue
			}
			// A concurrent caller may have created it after ci was read: the
			// catalog table, read in this write transaction, is the truth.
			var spec string
			switch err := tx.QueryRowContext(ctx, `SELECT spec FROM _yerp_indexes WHERE coll = ? AND name = ?`, coll, ix.Name).Scan(&spec); {
			case err == nil:
				var have store.Index
				if err := json.Unmarshal([]byte(spec), &have); err != nil || !reflect.DeepEqual(have, ix) {
					return fmt.Errorf("%w: index %s.%s exists with another definition", store.ErrInvalid, coll, ix.Name)
				}
				added = append(added, ix)
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("sqlite: read index %s.%s: %w", coll, ix.Name, err)
			}
			if err := s.createIndex(ctx, tx, coll, ci, ix); err != nil {
				return err
			}
			def, _ := json.Marshal(ix)
			if _, err := tx.ExecContext(ctx, `INSERT INTO _yerp_indexes(coll, name, spec) VALUES (?, ?, ?)`, coll, ix.Name, string(def)); err != nil {
				return fmt.Errorf("sqlite: record index %s.%s: %w", coll, ix.Name, err)
			}
			added = append(added, ix)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Readers hold the catalog entry without a lock: publish a new one.
	s.mu.Lock()
	next := newCollInfo()
	if ci := s.colls[coll]; ci != nil { // nil if a catalog reload raced the commit
		for _, ix := range ci.indexes {
			next.add(coll, ix)
		}
	}
	for _, ix := range added {
		next.add(coll, ix)
	}
	s.colls[coll] = next
	s.mu.Unlock()
	return nil
}

func (s *Store) createIndex(ctx context.Context, tx *sql.Tx, coll string, ci *collInfo, ix store.Index) error {
	dup := func(err error) error {
		probe := newCollInfo()
		probe.add(coll, ix)
		for k, v := range ci.indexes {
			probe.indexes[k] = v
		}
		return wrapWrite("create index on", coll, probe, err)
	}
	if len(ix.Keys) == 1 && store.IsNested(ix.Keys[0].Path) {
		side := sideTable(coll, ix.Name)
		ddl := `CREATE TABLE ` + side + ` (v NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (v, rid)) WITHOUT ROWID;
			CREATE INDEX ` + strings.TrimSuffix(side, `"`) + `$rid" ON ` + side + `(rid);`
		if ix.Unique {
			ddl += `CREATE UNIQUE INDEX ` + strings.TrimSuffix(side, `"`) + `$u" ON ` + side + `(v);`
		}
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("sqlite: create index %s.%s: %w", coll, ix.Name, err)
		}
		// Fill it from the documents already stored.
		probe := &collInfo{indexes: map[string]store.Index{ix.Name: ix}, side: map[string]string{ix.Keys[0].Path: side}}
		rows, err := tx.QueryContext(ctx, `SELECT rid, id, v, doc FROM `+table(coll))
		if err != nil {
			return fmt.Errorf("sqlite: create index %s.%s: %w", coll, ix.Name, err)
		}
		type row struct {
			rid int64
			d   store.Doc
		}
		var all []row
		for rows.Next() {
			var (
				rid, v   int64
				id, data string
			)
			if err := rows.Scan(&rid, &id, &v, &data); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: create index %s.%s: %w", coll, ix.Name, err)
			}
			d, err := decode(id, v, []byte(data))
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, row{rid, d})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: create index %s.%s: %w", coll, ix.Name, err)
		}
		for _, r := range all {
			if err := s.writeSide(ctx, tx, coll, probe, r.rid, r.d, false); err != nil {
				return dup(err)
			}
		}
		return nil
	}
	cols := make([]string, len(ix.Keys))
	for i, k := range ix.Keys {
		cols[i] = jsonExpr(k.Path)
		if k.Desc {
			cols[i] += " DESC"
		}
	}
	ddl := "CREATE "
	if ix.Unique {
		ddl += "UNIQUE "
	}
	ddl += "INDEX " + sqlIndex(coll, ix.Name) + " ON " + table(coll) + " (" + strings.Join(cols, ", ") + ")"
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return dup(err)
	}
	return nil
}
