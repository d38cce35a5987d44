// Package mongo is the MongoDB backend of store.Store.
//
// Documents are stored as they are in the store's value model, except numbers:
// every decimal is kept as an int64 count of 10^-store.Scale units, so that the
// database compares, sorts and sums them exactly without Decimal128. The backend
// uses only single-document operations, queries, $group with $sum, and indexes,
// which MongoDB (including sharded clusters) and FerretDB v1 both support.
//
// Version-guarded writes (Replace, Delete, Increment) are compare-and-swap
// operations on _v. MongoDB applies an update's filter and change atomically;
// FerretDB v1 does not (it reads the matching document, then writes it back by
// _id), so when the server is FerretDB the store serializes the writes of one
// document version through claim documents, see claim.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/yerp/yerp/engine/store"
)

// Store is a store.Store on one MongoDB database. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database

	// claims is set when the server does not apply a filtered update atomically
	// (FerretDB); guarded writes then take a claim first.
	claims bool

	mu      sync.Mutex
	indexes map[string]map[string]store.Index // declared unique indexes by collection and name
}

var _ store.Store = (*Store)(nil)

// Batch implements store.Store. The test peer and stand-alone servers have no
// multi-document transactions, and the engine never depends on them: each
// write through w is applied at once, as the Store's own method would.
func (s *Store) Batch(ctx context.Context, fn func(w store.Writer) error) error {
	return fn(s)
}

// Timeouts the store uses unless the URI sets its own (serverSelectionTimeoutMS,
// connectTimeoutMS, timeoutMS). The driver's defaults (30 s to select a
// server, no limit on an operation) would hold a request for half a minute
// while the database is unreachable; with these it fails within seconds
// with store.ErrUnavailable and the server answers 503.
const (
	DefaultServerSelectionTimeout = 5 * time.Second
	DefaultConnectTimeout         = 5 * time.Second
	DefaultOperationTimeout       = 30 * time.Second
)

// Open connects to the MongoDB deployment at uri, checks that it answers, and
// returns a Store on database. The timeouts of the URI apply; those it does
// not set are the Default... ones above.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	opts := options.Client().ApplyURI(uri)
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(DefaultServerSelectionTimeout)
	}
	if opts.ConnectTimeout == nil {
		opts.SetConnectTimeout(DefaultConnectTimeout)
	}
	if opts.Timeout == nil {
		opts.SetTimeout(DefaultOperationTimeout)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	s, err := open(ctx, client, database)
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, client *mongo.Client, database string) (*Store, error) {
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		return nil, fmt.Errorf("mongo: ping: %w", err)
	}
	db := client.Database(database)
	var info bson.Raw
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return nil, fmt.Errorf("mongo: buildInfo: %w", err)
	}
	_, ferret := info.Lookup("ferretdbVersion").StringValueOK()
	return &Store{
		client:  client,
		db:      db,
		claims:  ferret,
		indexes: map[string]map[string]store.Index{},
	}, nil
}

// Ping checks that the primary answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer classified(&err)
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("mongo: ping: %w", err)
	}
	return nil
}

// Close disconnects from the deployment.
func (s *Store) Close() error {
	if err := s.client.Disconnect(context.Background()); err != nil {
		return fmt.Errorf("mongo: close: %w", err)
	}
	return nil
}

// collection validates a collection name and returns the collection.
func (s *Store) collection(name string) (*mongo.Collection, error) {
	if err := store.CheckCollection(name); err != nil {
		return nil, err
	}
	return s.db.Collection(name), nil
}

// Insert stores a new document; see store.Store.
func (s *Store) Insert(ctx context.Context, coll string, doc store.Doc) (_ store.Doc, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return nil, fmt.Errorf("mongo: insert: %w", err)
	}
	d, err := store.PrepareInsert(doc)
	if err != nil {
		return nil, fmt.Errorf("mongo: insert %s: %w", coll, err)
	}
	b, err := toBSON(d)
	if err != nil {
		return nil, fmt.Errorf("mongo: insert %s: %w", coll, err)
	}
	if _, err := c.InsertOne(ctx, b); err != nil {
		return nil, fmt.Errorf("mongo: insert %s: %w", coll, s.writeError(ctx, coll, d, true, err))
	}
	return roundTrip(d)
}

// InsertMany stores documents in order, stopping at the first failure; see
// store.Store.
func (s *Store) InsertMany(ctx context.Context, coll string, docs []store.Doc) (_ int, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return 0, fmt.Errorf("mongo: insert many: %w", err)
	}
	prepared := make([]store.Doc, 0, len(docs))
	batch := make([]any, 0, len(docs))
	var invalid error
	for i, doc := range docs {
		d, err := store.PrepareInsert(doc)
		if err == nil {
			var b bson.D
			if b, err = toBSON(d); err == nil {
				prepared = append(prepared, d)
				batch = append(batch, b)
				continue
			}
		}
		invalid = fmt.Errorf("mongo: insert many %s: document %d: %w", coll, i, err)
		break
	}
	if len(batch) > 0 {
		if n, err := s.insertOrdered(ctx, c, coll, prepared, batch); err != nil {
			return n, fmt.Errorf("mongo: insert many %s: document %d: %w", coll, n, err)
		}
	}
	if invalid != nil {
		return len(batch), invalid
	}
	return len(batch), nil
}

// insertOrdered stores batch, the BSON of the documents prepared, with one
// ordered InsertMany. On a failure it returns how many were stored before it,
// with the failing document's error as writeError words it.
func (s *Store) insertOrdered(ctx context.Context, c *mongo.Collection, coll string, prepared []store.Doc, batch []any) (int, error) {
	_, err := c.InsertMany(ctx, batch, options.InsertMany().SetOrdered(true))
	if err == nil {
		return len(batch), nil
	}
	n := 0
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
		n = bwe.WriteErrors[0].Index
		if n >= 0 && n < len(prepared) {
			err = s.writeError(ctx, coll, prepared[n], true, err)
		}
	}
	return n, err
}

// Get returns the document with the given id; see store.Store.
func (s *Store) Get(ctx context.Context, coll, id string) (_ store.Doc, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return nil, fmt.Errorf("mongo: get: %w", err)
	}
	d, err := s.get(ctx, c, id)
	if err != nil {
		return nil, fmt.Errorf("mongo: get %s %q: %w", coll, id, err)
	}
	return d, nil
}

// get reads one document; a missing one is store.ErrNotFound.
func (s *Store) get(ctx context.Context, c *mongo.Collection, id string) (store.Doc, error) {
	raw, err := c.FindOne(ctx, bson.D{{Key: store.IDField, Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return fromRaw(raw)
}

// missedWrite tells why a version-guarded write of id at version matched
// nothing: store.ErrNotFound or store.ErrConflict.
func (s *Store) missedWrite(ctx context.Context, c *mongo.Collection, id string, version int64) error {
	d, err := s.get(ctx, c, id)
	if err != nil {
		return err
	}
	if d.Version() != version {
		return fmt.Errorf("%w: stored version is %d, not %d", store.ErrConflict, d.Version(), version)
	}
	// The version is the expected one again: only possible if the document
	// was deleted and recreated in between. Report a conflict; the caller
	// reads again.
	return fmt.Errorf("%w: the document changed during the write", store.ErrConflict)
}

// Replace overwrites a document if its stored version is doc[_v]; see
// store.Store.
func (s *Store) Replace(ctx context.Context, coll string, doc store.Doc) (_ store.Doc, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return nil, fmt.Errorf("mongo: replace: %w", err)
	}
	d, id, version, err := store.PrepareReplace(doc)
	if err != nil {
		return nil, fmt.Errorf("mongo: replace %s: %w", coll, err)
	}
	d[store.VersionField] = version + 1
	b, err := toBSON(d)
	if err != nil {
		return nil, fmt.Errorf("mongo: replace %s %q: %w", coll, id, err)
	}
	release, err := s.claim(ctx, c, id, version)
	if err != nil {
		return nil, fmt.Errorf("mongo: replace %s %q: %w", coll, id, err)
	}
	defer release()
	res, err := c.ReplaceOne(ctx, bson.D{{Key: store.IDField, Value: id}, {Key: store.VersionField, Value: version}}, b)
	if err != nil {
		return nil, fmt.Errorf("mongo: replace %s %q: %w", coll, id, s.writeError(ctx, coll, d, false, err))
	}
	if res.MatchedCount == 0 {
		return nil, fmt.Errorf("mongo: replace %s %q: %w", coll, id, s.missedWrite(ctx, c, id, version))
	}
	return roundTrip(d)
}

// Delete removes a document if its stored version is version; see store.Store.
func (s *Store) Delete(ctx context.Context, coll, id string, version int64) (err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return fmt.Errorf("mongo: delete: %w", err)
	}
	release, err := s.claim(ctx, c, id, version)
	if err != nil {
		return fmt.Errorf("mongo: delete %s %q: %w", coll, id, err)
	}
	defer release()
	res, err := c.DeleteOne(ctx, bson.D{{Key: store.IDField, Value: id}, {Key: store.VersionField, Value: version}})
	if err != nil {
		return fmt.Errorf("mongo: delete %s %q: %w", coll, id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: delete %s %q: %w", coll, id, s.missedWrite(ctx, c, id, version))
	}
	return nil
}
