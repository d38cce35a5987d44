package mongo

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/yerp/yerp/engine/store"
)

// classify marks the errors of a deployment that cannot be reached (a
// network error, no server selectable in time, a timeout) as
// store.ErrUnavailable; other errors are returned as they are.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var sse topology.ServerSelectionError
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.As(err, &sse) || errors.Is(err, topology.ErrTopologyClosed) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// classified is classify for a deferred call on a named error result.
func classified(err *error) { *err = classify(*err) }
