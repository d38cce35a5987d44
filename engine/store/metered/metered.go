// Package metered wraps a store.Store to measure it: the time of every call
// by operation, the calls that failed, and the postings of the records engine
// as their status documents are written. It changes nothing of what the
// wrapped store does or answers.
package metered

import (
	"context"
	"errors"
	"time"

	"github.com/yerp/yerp/engine/store"
)

// PostingsCollection holds the records engine's posting status documents
// (engine/records/posting.go): inserted "pending" when a posting starts,
// replaced "done" or "rolled_back" when it ends.
const PostingsCollection = "sys_postings"

// Recorder receives the measurements; server.Metrics is one. Its methods are
// called concurrently and must be quick.
type Recorder interface {
	// ObserveStore is called once per call with the operation's name
	// ("get", "find", "insert", ...) and whether it failed: an error other
	// than an expected answer (not found, version conflict, duplicate key,
	// unmet condition, cancelled by the caller).
	ObserveStore(op string, took time.Duration, failed bool)
	// ObservePosting is called with "started", "done" or "rolled_back".
	ObservePosting(status string)
}

// Store is a measured store.Store.
type Store struct {
	st  store.Store
	rec Recorder
}

var _ store.Store = (*Store)(nil)

// New returns st measured into rec.
func New(st store.Store, rec Recorder) *Store { return &Store{st: st, rec: rec} }

// Unwrap returns the measured store.
func (s *Store) Unwrap() store.Store { return s.st }

func (s *Store) done(op string, start time.Time, err error) {
	s.rec.ObserveStore(op, time.Since(start), failed(err))
}

// failed reports whether err is a fault rather than an answer.
func failed(err error) bool {
	if err == nil {
		return false
	}
	for _, expected := range []error{store.ErrNotFound, store.ErrConflict, store.ErrDuplicate, store.ErrCondition, context.Canceled} {
		if errors.Is(err, expected) {
			return false
		}
	}
	return true
}

// posting reports the posting step a successful write of doc in coll is.
func posting(rec Recorder, op, coll string, doc store.Doc) {
	if coll != PostingsCollection {
		return
	}
	switch status, _ := doc["status"].(string); {
	case op == "insert" && status == "pending":
		rec.ObservePosting("started")
	case op == "replace" && (status == "done" || status == "rolled_back"):
		rec.ObservePosting(status)
	}
}

// EnsureIndexes implements store.Store.
func (s *Store) EnsureIndexes(ctx context.Context, coll string, indexes ...store.Index) error {
	start := time.Now()
	err := s.st.EnsureIndexes(ctx, coll, indexes...)
	s.done("ensure_indexes", start, err)
	return err
}

// Insert implements store.Store.
func (s *Store) Insert(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	start := time.Now()
	out, err := s.st.Insert(ctx, coll, doc)
	s.done("insert", start, err)
	if err == nil {
		posting(s.rec, "insert", coll, doc)
	}
	return out, err
}

// InsertMany implements store.Store.
func (s *Store) InsertMany(ctx context.Context, coll string, docs []store.Doc) (int, error) {
	start := time.Now()
	n, err := s.st.InsertMany(ctx, coll, docs)
	s.done("insert_many", start, err)
	return n, err
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, coll, id string) (store.Doc, error) {
	start := time.Now()
	d, err := s.st.Get(ctx, coll, id)
	s.done("get", start, err)
	return d, err
}

// Find implements store.Store.
func (s *Store) Find(ctx context.Context, coll string, q store.Query) (store.Page, error) {
	start := time.Now()
	p, err := s.st.Find(ctx, coll, q)
	s.done("find", start, err)
	return p, err
}

// Count implements store.Store.
func (s *Store) Count(ctx context.Context, coll string, f store.Filter) (int64, error) {
	start := time.Now()
	n, err := s.st.Count(ctx, coll, f)
	s.done("count", start, err)
	return n, err
}

// Replace implements store.Store.
func (s *Store) Replace(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	start := time.Now()
	out, err := s.st.Replace(ctx, coll, doc)
	s.done("replace", start, err)
	if err == nil {
		posting(s.rec, "replace", coll, doc)
	}
	return out, err
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, coll, id string, version int64) error {
	start := time.Now()
	err := s.st.Delete(ctx, coll, id, version)
	s.done("delete", start, err)
	return err
}

// Increment implements store.Store.
func (s *Store) Increment(ctx context.Context, coll string, inc store.Inc) (store.Doc, error) {
	start := time.Now()
	d, err := s.st.Increment(ctx, coll, inc)
	s.done("increment", start, err)
	return d, err
}

// Batch implements store.Store; the batch is measured as one call, and the
// postings its writes start or end are seen once it commits.
func (s *Store) Batch(ctx context.Context, fn func(w store.Writer) error) error {
	start := time.Now()
	var seen []func()
	err := s.st.Batch(ctx, func(w store.Writer) error {
		seen = seen[:0] // a retried batch starts over
		return fn(writer{w: w, seen: &seen, rec: s.rec})
	})
	s.done("batch", start, err)
	if err == nil {
		for _, f := range seen {
			f()
		}
	}
	return err
}

// Aggregate implements store.Store.
func (s *Store) Aggregate(ctx context.Context, coll string, a store.Aggregation) ([]store.Doc, error) {
	start := time.Now()
	out, err := s.st.Aggregate(ctx, coll, a)
	s.done("aggregate", start, err)
	return out, err
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.st.Ping(ctx)
	s.done("ping", start, err)
	return err
}

// Close implements store.Store.
func (s *Store) Close() error { return s.st.Close() }

// writer notes the postings a batch writes, to report them if it commits.
type writer struct {
	w    store.Writer
	seen *[]func()
	rec  Recorder
}

func (w writer) note(op, coll string, doc store.Doc) {
	if coll == PostingsCollection {
		snapshot := store.Doc{"status": doc["status"]} // the caller may change doc later
		*w.seen = append(*w.seen, func() { posting(w.rec, op, coll, snapshot) })
	}
}

func (w writer) Insert(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	out, err := w.w.Insert(ctx, coll, doc)
	if err == nil {
		w.note("insert", coll, doc)
	}
	return out, err
}

func (w writer) Replace(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	out, err := w.w.Replace(ctx, coll, doc)
	if err == nil {
		w.note("replace", coll, doc)
	}
	return out, err
}

func (w writer) Increment(ctx context.Context, coll string, inc store.Inc) (store.Doc, error) {
	return w.w.Increment(ctx, coll, inc)
}
