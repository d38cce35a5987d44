package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/yerp/yerp/engine/store"
)

var _ store.Dumper = (*Store)(nil)

// Collections implements store.Dumper.
func (s *Store) Collections(ctx context.Context) (_ []string, err error) {
	defer classified(&err)
	if err := s.refreshCatalog(ctx, s.reader); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.colls)), nil
}

// Indexes implements store.Dumper.
func (s *Store) Indexes(ctx context.Context, coll string) (_ []store.Index, err error) {
	defer classified(&err)
	ci, err := s.lookup(ctx, coll)
	if err != nil || ci == nil {
		return nil, err
	}
	out := slices.Collect(maps.Values(ci.indexes))
	slices.SortFunc(out, func(a, b store.Index) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Load implements store.Dumper: the documents are one transaction.
func (s *Store) Load(ctx context.Context, coll string, docs []store.Doc) (err error) {
	defer classified(&err)
	prepared := make([]store.Doc, len(docs))
	for i, doc := range docs {
		d, err := store.PrepareLoad(doc)
		if err != nil {
			return fmt.Errorf("sqlite: load into %s: document %d: %w", coll, i, err)
		}
		prepared[i] = d
	}
	return s.write(ctx, coll, func(tx *sql.Tx, ci *collInfo) error {
		for _, d := range prepared {
			if err := s.insertTx(ctx, tx, coll, ci, d, false); err != nil {
				return err
			}
		}
		return nil
	})
}
