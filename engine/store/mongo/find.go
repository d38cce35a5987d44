package mongo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/yerp/yerp/engine/store"
)

// Find returns one page of matching documents in a total order, with keyset
// pagination; see store.Store.
func (s *Store) Find(ctx context.Context, coll string, q store.Query) (_ store.Page, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return store.Page{}, fmt.Errorf("mongo: find: %w", err)
	}
	q, err = store.CheckQuery(q)
	if err != nil {
		return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
	}
	filter, err := translate(q.Filter)
	if err != nil {
		return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
	}
	keys := store.SortWithID(q.Sort)
	if q.After != "" {
		cur, err := store.DecodeCursor(q.Sort, q.After)
		if err != nil {
			return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
		}
		vals := make([]any, len(keys))
		for i := range keys {
			if i < len(q.Sort) {
				vals[i] = cur.Values[i]
			} else {
				vals[i] = cur.ID
			}
		}
		filter = and(filter, continuation(keys, vals))
	}

	sortDoc := make(bson.D, len(keys))
	for i, k := range keys {
		dir := 1
		if k.Desc {
			dir = -1
		}
		sortDoc[i] = bson.E{Key: k.Path, Value: dir}
	}
	opts := options.Find().SetSort(sortDoc).SetLimit(int64(q.Limit) + 1)
	var keep map[string]bool // top-level fields returned, nil for all
	if q.Fields != nil {
		keep = map[string]bool{store.IDField: true, store.VersionField: true}
		proj := bson.D{}
		include := func(f string) {
			if !slices.ContainsFunc(proj, func(e bson.E) bool { return e.Key == f }) {
				proj = append(proj, bson.E{Key: f, Value: 1})
			}
		}
		include(store.IDField)
		include(store.VersionField)
		for _, f := range q.Fields {
			keep[f] = true
			include(f)
		}
		for _, k := range q.Sort {
			include(strings.SplitN(k.Path, ".", 2)[0])
		}
		opts.SetProjection(proj)
	}

	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
	}
	defer cur.Close(ctx)
	var page store.Page
	var last bson.Raw
	more := false
	for cur.Next(ctx) {
		if len(page.Docs) == q.Limit {
			more = true
			break
		}
		d, err := fromRaw(cur.Current)
		if err != nil {
			return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
		}
		for k := range d {
			if keep != nil && !keep[k] {
				delete(d, k)
			}
		}
		page.Docs = append(page.Docs, d)
		last = slices.Clone(cur.Current)
	}
	if err := cur.Err(); err != nil {
		return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
	}
	if more {
		next, err := nextCursor(q.Sort, last)
		if err != nil {
			return store.Page{}, fmt.Errorf("mongo: find %s: %w", coll, err)
		}
		page.Next = next
	}
	return page, nil
}

// nextCursor encodes the position after the stored document last.
func nextCursor(sort []store.SortKey, last bson.Raw) (string, error) {
	c := store.Cursor{Values: make([]any, len(sort))}
	c.ID, _ = last.Lookup(store.IDField).StringValueOK()
	for i, k := range sort {
		rv, err := last.LookupErr(strings.Split(k.Path, ".")...)
		if err != nil {
			continue // missing: nil
		}
		v, ok := cursorValue(rv)
		if !ok {
			return "", fmt.Errorf("%w: sort key %s holds a %s, which cannot be paged through", store.ErrInvalid, k.Path, rv.Type)
		}
		c.Values[i] = v
	}
	return store.EncodeCursor(sort, c)
}

// Count returns how many documents match f; see store.Store.
func (s *Store) Count(ctx context.Context, coll string, f store.Filter) (_ int64, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return 0, fmt.Errorf("mongo: count: %w", err)
	}
	f, err = store.CheckFilter(f, false)
	if err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", coll, err)
	}
	filter, err := translate(f)
	if err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", coll, err)
	}
	n, err := c.CountDocuments(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("mongo: count %s: %w", coll, err)
	}
	return n, nil
}
