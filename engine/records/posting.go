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
// effects create or change, the audit entries, the ledger moves) all or
// nothing without multi-document transactions: the intent, every write with
// the record as it was before, is stored first (sys_posting_steps); then a
// small status document (sys_postings) says the posting is pending and who
// holds it until when (its lease); then each write is applied idempotently,
// each written record carrying the posting's id in its "posting" field, so
// that a replay recognises what is done; then the status says done. A write
// that meets a record changed by someone else rolls back what was applied.
// Postings left pending by a crash are claimed (the lease, taken with a
// version-guarded write, so that two processes never run one posting at
// once) and finished, or rolled back, by Recover. A record whose posting is
// pending cannot be edited meanwhile (settled).
const (
	postingsColl     = "sys_postings"
	postingStepsColl = "sys_posting_steps"
	// leaseFor is how long the process that runs a posting holds it; after
	// that Recover may claim it.
	leaseFor = 30 * time.Second
)

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
	// hint, on a bump, is the balance document as the plan read it (nil: none
	// yet): the first attempt of a fresh run starts from it instead of reading.
	hint store.Doc
}

// post stores and applies the writes as one posting.
func (e *Engine) post(ctx context.Context, writes []write) error {
	doc, err := e.stage(ctx, writes)
	if err != nil {
		return err
	}
	if doc, err = e.awaitFence(ctx, doc); err != nil { // fence.go
		return err
	}
	return e.run(ctx, doc, writes, true)
}

// stage stores the writes as a pending posting held by this process, and
// returns its status document.
func (e *Engine) stage(ctx context.Context, writes []write) (store.Doc, error) {
	id := postingID(ctx) // under an idempotency key, the request's id (batch.go)
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
				return nil, err
			}
			break
		}
	}
	if _, err := e.st.Insert(ctx, postingStepsColl, store.Doc{store.IDField: id, "steps": steps}); err != nil {
		return nil, fmt.Errorf("records: posting: %w", err)
	}
	doc, err := e.st.Insert(ctx, postingsColl, store.Doc{store.IDField: id, "status": postingPending,
		"created_at": e.stamp(), "lease": e.leaseUntil()})
	if err != nil {
		return nil, fmt.Errorf("records: posting: %w", err)
	}
	return doc, nil
}

// leaseUntil is the end of a lease taken now.
func (e *Engine) leaseUntil() string {
	return e.now().Add(leaseFor).UTC().Format(template.DateTimeLayout)
}

// run applies a posting whose status document is doc, rolling it back on a
// conflict. fresh: this process stored it just now, so nothing of it can be
// applied yet and the checks for a replay are skipped.
func (e *Engine) run(ctx context.Context, doc store.Doc, writes []write, fresh bool) error {
	pid := doc.ID()
	states := map[string]string{}
	var alerts []int // bumps that took a bin below its minimum
	for i, w := range writes {
		var err error
		if w.Op == "bump" {
			var raised bool
			if raised, err = e.applyBump(ctx, pid, i, w, fresh, states); raised {
				alerts = append(alerts, i)
			}
		} else {
			err = e.apply(ctx, pid, w, fresh)
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
	for _, i := range alerts {
		e.lowStock(ctx, writes[i])
	}
	return nil
}

// apply performs one write unless it is done already (fresh: it cannot be).
func (e *Engine) apply(ctx context.Context, pid string, w write, fresh bool) error {
	doc := store.Doc{}
	for k, v := range w.Doc {
		doc[k] = v
	}
	doc[fPosting] = pid
	doc[store.IDField] = w.ID
	if fresh {
		var err error
		if w.Op == "insert" {
			_, err = e.st.Insert(ctx, w.Coll, doc)
		} else {
			doc[store.VersionField] = w.From
			_, err = e.st.Replace(ctx, w.Coll, doc)
		}
		if err != nil {
			return fmt.Errorf("records: posting %s: %w", pid, err)
		}
		return nil
	}
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
// at start-up and then periodically. A posting is claimed first: only once
// the lease of the process that stored it has run out, and by one process.
func (e *Engine) Recover(ctx context.Context, age time.Duration) (int, error) {
	n := 0
	now := e.now().UTC()
	cutoff := now.Add(-age).Format(template.DateTimeLayout)
	q := store.Query{Filter: store.And(store.Eq("status", postingPending), store.Lte("created_at", cutoff),
		store.Lte("lease", now.Format(template.DateTimeLayout))), Limit: 100}
	for {
		page, err := e.st.Find(ctx, postingsColl, q)
		if err != nil {
			return n, fmt.Errorf("records: recover: %w", err)
		}
		for _, d := range page.Docs {
			ok, err := e.recoverOne(ctx, d)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if page.Next == "" {
			return n, nil
		}
		q.After = page.Next
	}
}

// recoverOne claims the pending posting d and runs it; false when another
// process claimed it first.
func (e *Engine) recoverOne(ctx context.Context, d store.Doc) (bool, error) {
	if up, err := e.fenced(ctx); err != nil || up {
		return false, err // a backup is copying: after it (fence.go)
	}
	d["lease"] = e.leaseUntil()
	claimed, err := e.st.Replace(ctx, postingsColl, d)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("records: recover: %w", err)
	}
	steps, err := e.st.Get(ctx, postingStepsColl, d.ID())
	if errors.Is(err, store.ErrNotFound) {
		// The steps are stored before the status, so nothing of this posting
		// was applied: only a copy of a store taken between the two writes
		// holds one (fence.go).
		claimed["status"] = postingRolledBack
		if _, err := e.st.Replace(ctx, postingsColl, claimed); err != nil {
			return false, fmt.Errorf("records: recover posting %s: %w", d.ID(), err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("records: recover posting %s: %w", d.ID(), err)
	}
	var ve *ValidationError // a move refused at replay: rolled back too
	if err := e.run(ctx, claimed, writesOf(steps), false); err != nil && !errors.Is(err, store.ErrConflict) && !errors.As(err, &ve) {
		return true, err
	}
	return true, nil
}

// settled refuses to change rec while the posting that last wrote it is
// pending: it is finished first (by Recover, or here once its lease ran
// out), and the caller tries again on the record as it then is.
func (e *Engine) settled(ctx context.Context, rec Record) error {
	pid, _ := rec[fPosting].(string)
	if pid == "" {
		return nil
	}
	d, err := e.st.Get(ctx, postingsColl, pid)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("records: posting %s: %w", pid, err)
	}
	if d["status"] != postingPending {
		return nil
	}
	if lease, _ := d["lease"].(string); lease <= e.now().UTC().Format(template.DateTimeLayout) {
		if _, err := e.recoverOne(ctx, d); err != nil {
			return err
		}
	}
	return errUnsettled
}

// writesOf reads the writes of a stored posting (its steps document).
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

// PendingPostings counts the postings still pending and returns the end of
// the latest lease among them: until then the processes that began them may
// still be applying them (Recover leaves them alone).
func (e *Engine) PendingPostings(ctx context.Context) (int, time.Time, error) {
	var (
		n      int
		latest time.Time
	)
	q := store.Query{Filter: store.Eq("status", postingPending), Fields: []string{"lease"}, Limit: store.MaxLimit}
	for {
		page, err := e.st.Find(ctx, postingsColl, q)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("records: pending postings: %w", err)
		}
		for _, d := range page.Docs {
			n++
			s, _ := d["lease"].(string)
			if t, err := time.Parse(template.DateTimeLayout, s); err == nil && t.After(latest) {
				latest = t
			}
		}
		if page.Next == "" {
			return n, latest, nil
		}
		q.After = page.Next
	}
}
