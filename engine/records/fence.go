package records

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// The backup fence.
//
// A backup of a store that cannot read all its collections at one instant
// (MongoDB: yerp backup copies it collection by collection while servers
// keep writing) must not hold a posting half applied: the stock bins copied
// before a shipment's moves and its ledger lines copied after them would not
// agree. The backup raises a fence (one document in the store, with a lease
// it renews). A posting checks the fence once its intent is stored: while
// the fence stands it parks (marks itself parked, applies nothing, keeps its
// lease) and goes on once the fence is lowered. The backup, before copying,
// waits until every pending posting is parked or done (Settle). A copy then
// holds each posting either whole or not applied at all, still pending,
// which Recover finishes after a restore. Postings Recover would claim wait
// for the fence too. Other writes are single documents, and the numbering
// series is copied last (never behind a number in use).

// FenceCollection holds the fence; a backup does not copy it.
const FenceCollection = "sys_fence"

const (
	fenceID   = "backup"
	fencePoll = 50 * time.Millisecond
)

// Fence is a raised backup fence.
type Fence struct {
	st    store.Store
	doc   store.Doc
	lease time.Duration
}

// RaiseFence raises the backup fence for holder (who is backing up, for the
// message another backup gets) until lease from now; Renew extends it. A
// fence whose lease ran out (its backup died) is taken over.
func RaiseFence(ctx context.Context, st store.Store, holder string, lease time.Duration) (*Fence, error) {
	doc := store.Doc{store.IDField: fenceID, "holder": holder, "until": fenceUntil(lease)}
	saved, err := st.Insert(ctx, FenceCollection, doc)
	if errors.Is(err, store.ErrDuplicate) {
		var cur store.Doc
		if cur, err = st.Get(ctx, FenceCollection, fenceID); err != nil {
			return nil, fmt.Errorf("records: fence: %w", err)
		}
		if until, _ := cur["until"].(string); until > nowStamp() {
			return nil, fmt.Errorf("records: another backup (%v) is running until %s: %w", cur["holder"], until, store.ErrConflict)
		}
		doc[store.VersionField] = cur.Version()
		saved, err = st.Replace(ctx, FenceCollection, doc)
	}
	if err != nil {
		return nil, fmt.Errorf("records: fence: %w", err)
	}
	return &Fence{st: st, doc: saved, lease: lease}, nil
}

// Renew extends the fence's lease from now.
func (f *Fence) Renew(ctx context.Context) error {
	f.doc["until"] = fenceUntil(f.lease)
	saved, err := f.st.Replace(ctx, FenceCollection, f.doc)
	if err != nil {
		return fmt.Errorf("records: renew the fence: %w", err)
	}
	f.doc = saved
	return nil
}

// Lower removes the fence: parked postings go on.
func (f *Fence) Lower(ctx context.Context) error {
	err := f.st.Delete(ctx, FenceCollection, fenceID, f.doc.Version())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("records: lower the fence: %w", err)
	}
	return nil
}

// Settle waits until no posting is being applied: every pending posting is
// parked, or its lease ran out (its process died; Recover finishes it, in
// the copy as in the store). It renews the fence meanwhile.
func (f *Fence) Settle(ctx context.Context) (waited int, err error) {
	renewed := time.Now()
	for {
		running := 0
		q := store.Query{Filter: store.And(store.Eq("status", postingPending), store.Gt("lease", nowStamp())), Limit: store.MaxLimit}
		for {
			page, err := f.st.Find(ctx, postingsColl, q)
			if err != nil {
				return waited, fmt.Errorf("records: settle postings: %w", err)
			}
			for _, d := range page.Docs {
				if d["parked"] != true {
					running++
				}
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		if running == 0 {
			return waited, nil
		}
		waited = max(waited, running)
		if time.Since(renewed) > f.lease/3 {
			if err := f.Renew(ctx); err != nil {
				return waited, err
			}
			renewed = time.Now()
		}
		if err := sleep(ctx, fencePoll); err != nil {
			return waited, err
		}
	}
}

// fenced reports whether a backup's fence stands.
func (e *Engine) fenced(ctx context.Context) (bool, error) {
	d, err := e.st.Get(ctx, FenceCollection, fenceID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("records: fence: %w", err)
	}
	until, _ := d["until"].(string)
	return until > nowStamp(), nil
}

// awaitFence is called with the status document of a posting just staged:
// while a fence stands, the posting parks, keeping its lease, and it returns
// the status document to run with once the fence is lowered. If ctx ends
// first, the posting stays pending, for Recover.
func (e *Engine) awaitFence(ctx context.Context, doc store.Doc) (store.Doc, error) {
	up, err := e.fenced(ctx)
	if err != nil || !up {
		return doc, err
	}
	renewed := time.Time{}
	for up {
		if time.Since(renewed) > leaseFor/3 {
			doc["parked"], doc["lease"] = true, e.leaseUntil()
			if doc, err = e.st.Replace(ctx, postingsColl, doc); err != nil {
				return nil, fmt.Errorf("records: park posting: %w", err)
			}
			renewed = time.Now()
		}
		if err := sleep(ctx, fencePoll); err != nil {
			return nil, err
		}
		if up, err = e.fenced(ctx); err != nil {
			return nil, err
		}
	}
	delete(doc, "parked")
	doc["lease"] = e.leaseUntil()
	if doc, err = e.st.Replace(ctx, postingsColl, doc); err != nil {
		return nil, fmt.Errorf("records: resume posting: %w", err)
	}
	return doc, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// The fence's times are wall-clock times (the backup and the servers are
// different processes), in the layout of the postings' leases.
func nowStamp() string { return time.Now().UTC().Format(template.DateTimeLayout) }

func fenceUntil(lease time.Duration) string {
	return time.Now().Add(lease).UTC().Format(template.DateTimeLayout)
}
