package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/yerp/yerp/engine/store"
)

// idIndex is the name MongoDB gives the index on _id.
const idIndex = "_id_"

// EnsureIndexes creates the indexes that do not exist yet; see store.Store.
func (s *Store) EnsureIndexes(ctx context.Context, coll string, indexes ...store.Index) (err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return fmt.Errorf("mongo: ensure indexes: %w", err)
	}
	if err := store.CheckIndexes(indexes); err != nil {
		return fmt.Errorf("mongo: ensure indexes on %s: %w", coll, err)
	}
	existing, err := s.listIndexes(ctx, c)
	if err != nil {
		return fmt.Errorf("mongo: ensure indexes on %s: %w", coll, err)
	}
	var create []store.Index
	for _, ix := range indexes {
		if ex, ok := existing[ix.Name]; ok {
			if !sameIndex(ex, ix) {
				return fmt.Errorf("mongo: ensure indexes on %s: %w: index %s exists with other keys or uniqueness (drop it in a migration)", coll, store.ErrInvalid, ix.Name)
			}
			continue
		}
		for _, ex := range existing {
			if slices.Equal(ex.Keys, ix.Keys) {
				return fmt.Errorf("mongo: ensure indexes on %s: %w: index %s has the keys of existing index %s", coll, store.ErrInvalid, ix.Name, ex.Name)
			}
		}
		create = append(create, ix)
	}
	if len(create) > 0 {
		models := make([]mongo.IndexModel, len(create))
		for i, ix := range create {
			keys := make(bson.D, len(ix.Keys))
			for j, k := range ix.Keys {
				dir := 1
				if k.Desc {
					dir = -1
				}
				keys[j] = bson.E{Key: k.Path, Value: dir}
			}
			o := options.Index().SetName(ix.Name)
			if ix.Unique {
				// Sparse, so that documents without the key are not
				// constrained, as in SQLite (MongoDB would otherwise index
				// them all as null). FerretDB accepts and ignores the option;
				// its SQLite indexes never constrain a missing key.
				o.SetUnique(true).SetSparse(true)
			}
			models[i] = mongo.IndexModel{Keys: keys, Options: o}
		}
		if _, err := c.Indexes().CreateMany(ctx, models); err != nil {
			if isDuplicate(err) {
				return fmt.Errorf("mongo: ensure indexes on %s: %w", coll, s.failedIndex(ctx, c, create, err))
			}
			var se mongo.ServerError
			if errors.As(err, &se) && (se.HasErrorCode(85) || se.HasErrorCode(86)) { // IndexOptionsConflict, IndexKeySpecsConflict
				return fmt.Errorf("mongo: ensure indexes on %s: %w: %v", coll, store.ErrInvalid, err)
			}
			return fmt.Errorf("mongo: ensure indexes on %s: %w", coll, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.indexes[coll]
	if m == nil {
		m = map[string]store.Index{}
		s.indexes[coll] = m
	}
	for _, ix := range indexes {
		m[ix.Name] = ix
	}
	return nil
}

func sameIndex(a, b store.Index) bool {
	return a.Unique == b.Unique && slices.Equal(a.Keys, b.Keys)
}

// listIndexes returns the indexes of c by name, without the _id index. A
// collection that does not exist has none.
func (s *Store) listIndexes(ctx context.Context, c *mongo.Collection) (map[string]store.Index, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		var se mongo.ServerError
		if errors.As(err, &se) && se.HasErrorCode(26) { // NamespaceNotFound
			return map[string]store.Index{}, nil
		}
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	defer cur.Close(ctx)
	out := map[string]store.Index{}
	for cur.Next(ctx) {
		name, _ := cur.Current.Lookup("name").StringValueOK()
		if name == "" || name == idIndex {
			continue
		}
		ix := store.Index{Name: name}
		ix.Unique, _ = cur.Current.Lookup("unique").BooleanOK()
		keys, ok := cur.Current.Lookup("key").DocumentOK()
		if !ok {
			continue
		}
		elems, err := keys.Elements()
		if err != nil {
			return nil, fmt.Errorf("list indexes: %w", err)
		}
		for _, e := range elems {
			dir, _ := e.Value().AsFloat64OK()
			ix.Keys = append(ix.Keys, store.SortKey{Path: e.Key(), Desc: dir < 0})
		}
		out[name] = ix
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	return out, nil
}

// uniqueIndexes returns the unique indexes of c: from the cache of indexes
// declared or seen before, or, with refresh, from the database.
func (s *Store) uniqueIndexes(ctx context.Context, c *mongo.Collection, refresh bool) (map[string]store.Index, error) {
	if refresh {
		listed, err := s.listIndexes(ctx, c)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.indexes[c.Name()] = listed
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]store.Index{}
	for n, ix := range s.indexes[c.Name()] {
		if ix.Unique {
			out[n] = ix
		}
	}
	return out, nil
}

// isDuplicate reports a unique-key violation, as MongoDB (code 11000) or
// FerretDB reports it (FerretDB passes SQLite's own message on for updates and
// index builds).
func isDuplicate(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "E11000") || strings.Contains(msg, "UNIQUE constraint failed")
}

var (
	mongoIndexRE  = regexp.MustCompile(`index: (\S+) dup key`)
	sqliteIndexRE = regexp.MustCompile(`UNIQUE constraint failed: index '([^']+)'`)
)

// indexFromMessage returns the index a duplicate-key message names, among
// the names given; "" when it names none of them.
func indexFromMessage(msg string, names []string) string {
	if m := mongoIndexRE.FindStringSubmatch(msg); m != nil {
		if m[1] == idIndex || slices.Contains(names, m[1]) {
			return m[1]
		}
	}
	if m := sqliteIndexRE.FindStringSubmatch(msg); m != nil {
		best := ""
		for _, n := range names {
			if strings.HasSuffix(m[1], "_"+n) && len(n) > len(best) {
				best = n
			}
		}
		return best
	}
	return ""
}

// writeError maps a failed write of doc to a *store.DuplicateError when it is
// a unique-key violation, and returns other errors unchanged. inserting says
// whether the write was an insert (which may also collide on _id).
func (s *Store) writeError(ctx context.Context, coll string, doc store.Doc, inserting bool, err error) error {
	if !isDuplicate(err) {
		return err
	}
	c := s.db.Collection(coll)
	dup := &store.DuplicateError{Collection: coll}
	uniq, _ := s.uniqueIndexes(ctx, c, false)
	names := slices.Sorted(maps.Keys(uniq))
	name := indexFromMessage(err.Error(), names)
	if name == "" {
		if listed, lerr := s.uniqueIndexes(ctx, c, true); lerr == nil {
			uniq, names = listed, slices.Sorted(maps.Keys(listed))
			name = indexFromMessage(err.Error(), names)
		}
	}
	if name == "" && inserting {
		if _, gerr := s.get(ctx, c, doc.ID()); gerr == nil {
			name = idIndex
		}
	}
	if name == "" {
		name = s.probeIndexes(ctx, c, doc, uniq, names)
	}
	if name == "" && len(names) == 1 && !inserting {
		name = names[0]
	}
	switch ix, ok := uniq[name]; {
	case name == idIndex:
		dup.Index, dup.Fields = idIndex, []string{store.IDField}
	case ok:
		dup.Index = name
		for _, k := range ix.Keys {
			dup.Fields = append(dup.Fields, k.Path)
		}
	}
	return dup
}

// probeIndexes finds the unique index on which another document holds the key
// of doc.
func (s *Store) probeIndexes(ctx context.Context, c *mongo.Collection, doc store.Doc, uniq map[string]store.Index, names []string) string {
	for _, n := range names {
		conds := []bson.D{{{Key: store.IDField, Value: bson.D{{Key: "$ne", Value: doc.ID()}}}}}
		for _, k := range uniq[n].Keys {
			cond, ok := keyCondition(doc, k.Path)
			if !ok {
				conds = nil
				break
			}
			conds = append(conds, cond)
		}
		if conds == nil {
			continue
		}
		cnt, err := c.CountDocuments(ctx, and(conds...), options.Count().SetLimit(1))
		if err == nil && cnt > 0 {
			return n
		}
	}
	return ""
}

// keyCondition matches documents holding one of doc's values at path. ok is
// false when doc has no value there: the server then either counted it as
// null (MongoDB, whose message names the index) or let it pass (FerretDB,
// whose SQLite indexes treat NULLs as distinct), so it cannot be the key
// that collided when probing.
func keyCondition(doc store.Doc, path string) (cond bson.D, ok bool) {
	vals, _ := store.Lookup(doc, path)
	a := bson.A{}
	for _, v := range vals {
		if v == nil {
			continue
		}
		if b, err := valueToBSON(v); err == nil {
			a = append(a, b)
		}
	}
	if len(a) == 0 {
		return nil, false
	}
	return bson.D{{Key: path, Value: bson.D{{Key: "$in", Value: a}}}}, true
}

// failedIndex builds the *store.DuplicateError of an index build that found
// duplicate keys among the documents already stored.
func (s *Store) failedIndex(ctx context.Context, c *mongo.Collection, create []store.Index, err error) error {
	var unique []store.Index
	names := []string{}
	for _, ix := range create {
		if ix.Unique {
			unique = append(unique, ix)
			names = append(names, ix.Name)
		}
	}
	pick := func(ix store.Index) error {
		dup := &store.DuplicateError{Collection: c.Name(), Index: ix.Name}
		for _, k := range ix.Keys {
			dup.Fields = append(dup.Fields, k.Path)
		}
		return dup
	}
	if n := indexFromMessage(err.Error(), names); n != "" {
		return pick(unique[slices.Index(names, n)])
	}
	for _, ix := range unique {
		if dupKeys(ctx, c, ix) {
			return pick(ix)
		}
	}
	if len(unique) > 0 {
		return pick(unique[0])
	}
	return &store.DuplicateError{Collection: c.Name()}
}

// dupKeys reports whether two stored documents share the keys of ix.
func dupKeys(ctx context.Context, c *mongo.Collection, ix store.Index) bool {
	id := bson.D{}
	for i, k := range ix.Keys {
		id = append(id, bson.E{Key: fmt.Sprintf("k%d", i), Value: "$" + k.Path})
	}
	cur, err := c.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: id}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		{{Key: "$match", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 1}}}}}},
		{{Key: "$limit", Value: 1}},
	})
	if err != nil {
		return false
	}
	defer cur.Close(ctx)
	return cur.Next(ctx)
}
