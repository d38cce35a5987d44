package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/yerp/yerp/engine/store"
)

// Increment adds deltas to numeric fields of one document if its guard holds;
// see store.Store.
//
// It is a compare-and-swap loop: read the document, evaluate the guard in Go
// (store.Match, which also covers Linear conditions), then apply $inc with the
// filter {_id, _v: version read}. If another writer got there first the update
// matches nothing and the loop reads again. A missing document is created by an
// insert, which fails on _id if another writer created it first.
func (s *Store) Increment(ctx context.Context, coll string, inc store.Inc) (_ store.Doc, err error) {
	defer classified(&err)
	c, err := s.collection(coll)
	if err != nil {
		return nil, fmt.Errorf("mongo: increment: %w", err)
	}
	inc, err = store.CheckInc(inc)
	if err != nil {
		return nil, fmt.Errorf("mongo: increment %s: %w", coll, err)
	}
	update := bson.D{}
	for _, p := range slices.Sorted(maps.Keys(inc.Deltas)) {
		n, err := store.ScaledOf(inc.Deltas[p])
		if err != nil {
			return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
		}
		update = append(update, bson.E{Key: p, Value: n})
	}
	update = append(update, bson.E{Key: store.VersionField, Value: int64(1)})
	update = bson.D{{Key: "$inc", Value: update}}

	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
			}
		}
		doc, err := s.get(ctx, c, inc.ID)
		if errors.Is(err, store.ErrNotFound) {
			if !inc.Upsert {
				return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, store.ErrNotFound)
			}
			created, retry, err := s.upsert(ctx, c, inc)
			if retry {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
			}
			return created, nil
		}
		if err != nil {
			return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
		}
		if !store.Match(doc, inc.If) {
			return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, store.ErrCondition)
		}
		next, err := store.ApplyDeltas(doc, inc.Deltas)
		if err != nil {
			return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
		}
		version := doc.Version()
		next[store.VersionField] = version + 1

		release, err := s.claim(ctx, c, inc.ID, version)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue // moved on meanwhile: read again
		}
		if err != nil {
			return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
		}
		res, err := c.UpdateOne(ctx, bson.D{{Key: store.IDField, Value: inc.ID}, {Key: store.VersionField, Value: version}}, update)
		release()
		if err != nil {
			return nil, fmt.Errorf("mongo: increment %s %q: %w", coll, inc.ID, err)
		}
		if res.MatchedCount == 1 {
			return roundTrip(next)
		}
	}
}

// upsert creates the document of an upserting increment if its guard holds on
// store.UpsertBase. retry is true when another writer created the document
// first.
func (s *Store) upsert(ctx context.Context, c *mongo.Collection, inc store.Inc) (created store.Doc, retry bool, err error) {
	base := store.UpsertBase(inc)
	if !store.Match(base, inc.If) {
		return nil, false, store.ErrCondition
	}
	doc, err := store.ApplyDeltas(base, inc.Deltas)
	if err != nil {
		return nil, false, err
	}
	doc[store.VersionField] = int64(1)
	b, err := toBSON(doc)
	if err != nil {
		return nil, false, err
	}
	if _, err := c.InsertOne(ctx, b); err != nil {
		err = s.writeError(ctx, c.Name(), doc, true, err)
		var dup *store.DuplicateError
		if errors.As(err, &dup) && dup.Index == idIndex {
			return nil, true, nil
		}
		return nil, false, err
	}
	created, err = roundTrip(doc)
	return created, false, err
}

// backoff waits a little, longer after more attempts, before a retry.
func backoff(ctx context.Context, attempt int) error {
	wait := time.Duration(min(attempt, 16)) * time.Millisecond
	t := time.NewTimer(rand.N(wait) + time.Millisecond/2)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
