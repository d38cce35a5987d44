package mongo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/yerp/yerp/engine/store"
)

// claimsCollection holds the claims of version transitions. Its name cannot
// clash with a collection of the store, whose names start with a letter.
const claimsCollection = "_yerp_claims"

// claimLease is how long a claim protects a transition. A claim older than this
// is taken to be left behind by a crashed writer and may be broken.
var claimLease = 30 * time.Second

// claim serializes the guarded writes of one document version when the server
// does not apply a filtered update atomically (FerretDB v1 reads the document
// that matches {_id, _v} and then writes it back by _id, so two writers could
// both move version v to v+1). The claim is a document whose _id names the
// collection, the document and the version being replaced; inserting it is
// atomic because _id is unique, so at most one writer at a time moves a given
// version on. The writer that holds it writes with the usual {_id, _v} guard and
// releases the claim afterwards; a writer that read an older version still
// fails its guard, because the versions only grow.
//
// When the claim is held by another writer, claim waits until it is released
// or the document has moved past version: then it returns store.ErrConflict
// (or store.ErrNotFound when the document is gone) without writing anything.
// On a server with atomic updates it does nothing.
func (s *Store) claim(ctx context.Context, c *mongo.Collection, id string, version int64) (release func(), err error) {
	if !s.claims {
		return func() {}, nil
	}
	claims := s.db.Collection(claimsCollection)
	key := c.Name() + " " + strconv.FormatInt(version, 10) + " " + id
	filter := bson.D{{Key: store.IDField, Value: key}}
	wait := time.Millisecond
	for {
		now := time.Now().UnixMilli()
		_, err := claims.InsertOne(ctx, bson.D{{Key: store.IDField, Value: key}, {Key: "at", Value: now}})
		if err == nil {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				_, _ = claims.DeleteOne(rctx, filter)
			}, nil
		}
		if !isDuplicate(err) {
			return nil, fmt.Errorf("claim: %w", err)
		}
		var held struct {
			At int64 `bson:"at"`
		}
		switch err := claims.FindOne(ctx, filter).Decode(&held); {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue // released meanwhile
		case err != nil:
			return nil, fmt.Errorf("claim: %w", err)
		}
		if time.Since(time.UnixMilli(held.At)) > claimLease {
			// Left behind by a writer that died: break it.
			if _, err := claims.DeleteOne(ctx, bson.D{{Key: store.IDField, Value: key}, {Key: "at", Value: held.At}}); err != nil {
				return nil, fmt.Errorf("claim: %w", err)
			}
			continue
		}
		d, err := s.get(ctx, c, id)
		if err != nil {
			return nil, err
		}
		if d.Version() != version {
			return nil, fmt.Errorf("%w: stored version is %d, not %d", store.ErrConflict, d.Version(), version)
		}
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 32*time.Millisecond)
	}
}
