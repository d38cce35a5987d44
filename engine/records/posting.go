package records

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// A posting makes the writes of one transition (the record, the records its
// effects create or change, the audit entries) all or nothing without
// multi-document transactions: the intent, every write with the record as it
// was before, is stored first; then each write is applied idempotently, each
// written record carrying the posting's id in its "posting" field, so that a
// replay recognises what is done; then the posting is marked done. A write that
// meets a record changed by someone else rolls back what was applied. Postings
// left pending by a crash are finished, or rolled back, by Recover.
const postingsColl = "sys_postings"

// Posting statuses.
const (
	postingPending    = "pending"
	postingDone       = "done"
	postingRolledBack = "rolled_back"
)

// fPosting is the system field of a record that names the posting that last
// wrote it.
const fPosting = "posting"

// write is one step of a posting: insert a new record, replace a record
// that must still be at version from, or bump a balance (ledger.go).
type write struct {
	Op     string // "insert" or "replace"
	Coll   string
	ID     string
	From   int64          // replace: the version it must be at
	Doc    map[string]any // the record to write (without _id, _v)
	Before map[string]any // replace: the record before, to roll back
	// numberOf, set on the insert of a record whose entity has a numbering
	// series, has the number taken only once every effect is planned, so that
	// a refused transition leaves no gap in the series.
	numberOf *template.Entity
}

// post stores and applies the writes as one posting.
func (e *Engine) post(ctx context.Context, writes []write) error {
	id := store.NewID()
	steps := make([]any, len(writes))
	for i, w := range writes {
		m := map[string]any{"op": w.Op, "coll": w.Coll, "id": w.ID, "from": w.From, "doc": w.Doc}
		if w.Before != nil {
			m["before"] = w.Before
		}
		steps[i] = m
	}
	for _, w := range writes {
		if w.Op == "bump" {
			if err := e.ensureLedgerIndexes(ctx); err != nil {
				return err
			}
			break
		}
	}
	doc, err := e.st.Insert(ctx, postingsColl, store.Doc{store.IDField: id, "status": postingPending, "steps": steps, "created_at": e.stamp()})
	if err != nil {
		return fmt.Errorf("records: posting: %w", err)
	}
	return e.run(ctx, doc)
}

// run applies a stored posting, rolling it back on a conflict.
func (e *Engine) run(ctx context.Context, doc store.Doc) error {
	pid := doc.ID()
	writes := writesOf(doc)
	for i, w := range writes {
		var err error
		if w.Op == "bump" {
			err = e.applyBump(ctx, pid, i, w)
		} else {
			err = e.apply(ctx, pid, w)
		}
		if err != nil {
			if rerr := e.rollback(ctx, pid, writes[:i+1]); rerr != nil {
				return errors.Join(err, rerr)
			}
			doc["status"] = postingRolledBack
			_, _ = e.st.Replace(ctx, postingsColl, doc)
			return err
		}
	}
	doc["status"] = postingDone
	if _, err := e.st.Replace(ctx, postingsColl, doc); err != nil {
		return fmt.Errorf("records: posting %s: %w", pid, err)
	}
	e.settle(ctx, pid, writes)
	return nil
}

// apply performs one write unless it is done already.
func (e *Engine) apply(ctx context.Context, pid string, w write) error {
	doc := store.Doc{}
	for k, v := range w.Doc {
		doc[k] = v
	}
	doc[fPosting] = pid
	doc[store.IDField] = w.ID
	cur, err := e.st.Get(ctx, w.Coll, w.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) && w.Op == "insert":
		if _, err := e.st.Insert(ctx, w.Coll, doc); err != nil {
			return fmt.Errorf("records: posting %s: %w", pid, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("records: posting %s: %w", pid, err)
	case cur[fPosting] == pid:
		return nil // applied before
	case w.Op == "insert":
		return fmt.Errorf("records: posting %s: %s %s exists: %w", pid, w.Coll, w.ID, store.ErrConflict)
	case cur.Version() != w.From:
		return fmt.Errorf("records: posting %s: %s %s changed: %w", pid, w.Coll, w.ID, store.ErrConflict)
	}
	doc[store.VersionField] = w.From
	if _, err := e.st.Replace(ctx, w.Coll, doc); err != nil {
		return fmt.Errorf("records: posting %s: %w", pid, err)
	}
	return nil
}

// rollback undoes the writes of a posting that were applied, last first.
func (e *Engine) rollback(ctx context.Context, pid string, writes []write) error {
	for i := len(writes) - 1; i >= 0; i-- {
		w := writes[i]
		if w.Op == "bump" {
			if err := e.rollbackBump(ctx, pid, i, w); err != nil {
				return fmt.Errorf("records: roll back posting %s: %w", pid, err)
			}
			continue
		}
		cur, err := e.st.Get(ctx, w.Coll, w.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("records: roll back posting %s: %w", pid, err)
		}
		if cur[fPosting] != pid {
			continue // not applied
		}
		if w.Op == "insert" {
			err = e.st.Delete(ctx, w.Coll, w.ID, cur.Version())
		} else {
			back := store.Doc{}
			for k, v := range w.Before {
				back[k] = v
			}
			back[store.IDField], back[store.VersionField] = w.ID, cur.Version()
			_, err = e.st.Replace(ctx, w.Coll, back)
		}
		if err != nil {
			return fmt.Errorf("records: roll back posting %s: %w", pid, err)
		}
	}
	return nil
}

// Recover finishes the postings a crash left pending for longer than age (or
// rolls them back when a record they touch changed since). The server calls it
// at start-up and then periodically; the age keeps it away from postings that
// another process is applying right now (they take milliseconds).
func (e *Engine) Recover(ctx context.Context, age time.Duration) (int, error) {
	n := 0
	cutoff := e.now().Add(-age).UTC().Format(template.DateTimeLayout)
	for {
		page, err := e.st.Find(ctx, postingsColl, store.Query{Filter: store.And(store.Eq("status", postingPending), store.Lte("created_at", cutoff)), Limit: 100})
		if err != nil {
			return n, fmt.Errorf("records: recover: %w", err)
		}
		if len(page.Docs) == 0 {
			return n, e.sweepPending(ctx)
		}
		for _, d := range page.Docs {
			var ve *ValidationError // a move refused at replay: rolled back too
			if err := e.run(ctx, d); err != nil && !errors.Is(err, store.ErrConflict) && !errors.As(err, &ve) {
				return n, err
			}
			n++
		}
	}
}

func writesOf(doc store.Doc) []write {
	steps, _ := doc["steps"].([]any)
	out := make([]write, len(steps))
	for i, s := range steps {
		m, _ := s.(map[string]any)
		w := write{}
		w.Op, _ = m["op"].(string)
		w.Coll, _ = m["coll"].(string)
		w.ID, _ = m["id"].(string)
		if v, ok := toDecimal(m["from"]); ok {
			w.From, _ = v.Int64()
		}
		w.Doc, _ = m["doc"].(map[string]any)
		w.Before, _ = m["before"].(map[string]any)
		out[i] = w
	}
	return out
}
