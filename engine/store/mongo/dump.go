package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

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
		d, err := store.Normalize(doc)
		if err != nil {
			return fmt.Errorf("mongo: load into %s: %w", coll, err)
		}
		if id, _ := d[store.IDField].(string); id == "" {
			return fmt.Errorf("%w: load into %s: document %d has no _id", store.ErrInvalid, coll, i)
		}
		if v, ok := d[store.VersionField].(int64); !ok || v < 1 {
			return fmt.Errorf("%w: load into %s: document %s has no version", store.ErrInvalid, coll, d.ID())
		}
		b, err := toBSON(d)
		if err != nil {
			return fmt.Errorf("mongo: load into %s: %w", coll, err)
		}
		prepared[i], batch[i] = d, b
	}
	if len(batch) == 0 {
		return nil
	}
	if _, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true)); err != nil {
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			if n := bwe.WriteErrors[0].Index; n >= 0 && n < len(prepared) {
				err = s.writeError(ctx, coll, prepared[n], true, err)
			}
		}
		return fmt.Errorf("mongo: load into %s: %w", coll, err)
	}
	return nil
}
