package mongo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/yerp/yerp/engine/store"
)

var _ store.Dumper = (*Store)(nil)

// Collections implements store.Dumper: the database's collections of the
// store, without MongoDB's own (system.*) and this backend's (the claims).
func (s *Store) Collections(ctx context.Context) (_ []string, err error) {
	defer classified(&err)
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("mongo: list collections: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return store.CheckCollection(n) != nil })
	slices.Sort(names)
	return names, nil
}

// Indexes implements store.Dumper.
func (s *Store) Indexes(ctx context.Context, coll string) (_ []store.Index, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return nil, fmt.Errorf("mongo: indexes: %w", err)
	}
	m, err := s.listIndexes(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("mongo: indexes of %s: %w", coll, err)
	}
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b store.Index) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Load implements store.Dumper: one ordered InsertMany.
func (s *Store) Load(ctx context.Context, coll string, docs []store.Doc) (err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return fmt.Errorf("mongo: load: %w", err)
	}
	prepared := make([]store.Doc, len(docs))
	batch := make([]any, len(docs))
	for i, doc := range docs {
		d, err := store.PrepareLoad(doc)
		if err == nil {
			batch[i], err = toBSON(d)
		}
		if err != nil {
			return fmt.Errorf("mongo: load into %s: document %d: %w", coll, i, err)
		}
		prepared[i] = d
	}
	if len(batch) == 0 {
		return nil
	}
	if _, err := s.insertOrdered(ctx, c, coll, prepared, batch); err != nil {
		return fmt.Errorf("mongo: load into %s: %w", coll, err)
	}
	return nil
}
