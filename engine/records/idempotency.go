package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// A batch is a list of writes sent at once, e.g. by a phone that worked
// offline and syncs when it has a connection again. Every operation carries
// an idempotency key chosen by the client; the same key of the same user,
// sent again (a retry after a lost response, a replay of the whole batch),
// returns the result of the first attempt and never applies twice.
//
// How a key holds across crashes without multi-document transactions:
//
//  1. The key is reserved first: one document in sys_idempotency whose id is
//     derived from (user, key), inserted with status pending, a lease, the
//     hash of the operation, and two ids drawn now: the request id and, for
//     a create, the id the new record will get. Inserting an existing id
//     fails, so one attempt holds the key at a time; the others wait for its
//     result (or claim it once its lease ran out: the holder died).
//  2. The operation runs with the request in its context: a create inserts
//     the record under the reserved id (a second run meets a duplicate id);
//     an update or a transition stamps the request id in the record's
//     posting field, and a transition with effects uses it as its posting's
//     id. So whoever claims a key left pending can tell whether the first
//     attempt wrote: the record with the reserved id exists, the record
//     carries the request id, or the posting exists (and is then finished
//     or rolled back like any pending posting).
//  3. The result (the record, or the error) is stored in the key's document,
//     status done, by a write guarded by the version read when reserving or
//     claiming, so only the current holder completes it.
//
// Errors that say nothing about the operation (the store failed, the
// request was cancelled, a posting of someone else is still running on the
// record) are not stored: the key is released and a retry runs it again.
// Keys are kept for KeyRetention; after that the same key is a new request.
const (
	keysColl = "sys_idempotency"

	// KeyRetention is how long a key's result is kept: a replay within it
	// returns the stored result; afterwards the key is free again.
	KeyRetention = 7 * 24 * time.Hour

	// keyWait is how long an attempt waits for another attempt holding the
	// same key before it gives up with ErrInProgress.
	keyWait = 10 * time.Second
)

// Key statuses.
const (
	keyPending = "pending"
	keyDone    = "done"
)

// keyID is the id of the key document of (user, key).
func keyID(user, key string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + key))
	return "k" + hex.EncodeToString(sum[:20])
}

// request is what a keyed operation's writes carry in their context.
type request struct {
	id       string // stamped as the record's posting; the id of its posting
	recordID string // the id of the record a create inserts
	idUsed   atomic.Bool
	pidUsed  atomic.Bool
}

type requestCtxKey struct{}

func withRequest(ctx context.Context, r *request) context.Context {
	return context.WithValue(ctx, requestCtxKey{}, r)
}

func requestOf(ctx context.Context) *request {
	r, _ := ctx.Value(requestCtxKey{}).(*request)
	return r
}

// reservedID is the id a create under a key gives its record (once), or "".
func reservedID(ctx context.Context) string {
	if r := requestOf(ctx); r != nil && r.recordID != "" && r.idUsed.CompareAndSwap(false, true) {
		return r.recordID
	}
	return ""
}

// postingID is the id of a new posting: the request's under a key (once).
func postingID(ctx context.Context) string {
	if r := requestOf(ctx); r != nil && r.pidUsed.CompareAndSwap(false, true) {
		return r.id
	}
	return store.NewID()
}

// stampRequest marks a record written outside a posting: with the request id
// under a key, so that a replay sees the write was done; else with nothing
// (its earlier posting is settled, this write is not part of it).
func stampRequest(ctx context.Context, rec Record) {
	if r := requestOf(ctx); r != nil {
		rec[fPosting] = r.id
		return
	}
	delete(rec, fPosting)
}

// reservation is a key held by this attempt.
type reservation struct {
	doc     store.Doc // the key document as written by this attempt (for the guarded completion)
	req     *request
	claimed bool // taken over from an attempt that did not finish: it may have written
}

// once runs one operation under its key.
func (e *Engine) once(ctx context.Context, u User, op Op, id string, version int64) Result {
	res := Result{Key: op.Key, Op: op.Op}
	if err := op.check(id, version); err != nil {
		res.Err = err
		return res
	}
	if _, _, err := e.entity(op.Entity); err != nil {
		res.Err = err
		return res
	}
	rv, stored, err := e.reserve(ctx, u, op)
	if err != nil {
		res.Err = err
		return res
	}
	if stored != nil {
		return *stored
	}
	res = e.execute(ctx, u, rv, op, id, version)
	if transient(res.Err) {
		e.release(ctx, rv)
		return res
	}
	stored, err = e.complete(ctx, rv, res)
	if err != nil {
		// The result is not kept: a retry takes the key over at once and
		// finds what was written.
		e.release(ctx, rv)
		return res
	}
	if stored != nil {
		return *stored
	}
	return res
}

// reserve takes the key of op for this attempt, or returns the result stored
// for it. It waits while another attempt holds the key, up to keyWait.
func (e *Engine) reserve(ctx context.Context, u User, op Op) (*reservation, *Result, error) {
	if err := e.ensureSysIndexes(ctx, keysColl, store.Index{Name: "expires_at", Keys: []store.SortKey{store.Asc("expires_at")}}); err != nil {
		return nil, nil, fmt.Errorf("records: idempotency keys: %w", err)
	}
	kid, hash := keyID(u.ID, op.Key), op.hash()
	fresh := func() store.Doc {
		now := e.now().UTC()
		d := store.Doc{store.IDField: kid, "user": u.ID, "key": op.Key, "hash": hash, "op": op.Op, "entity": op.Entity,
			"status": keyPending, "lease": e.leaseUntil(), "request": store.NewID(),
			"created_at": now.Format(template.DateTimeLayout), "expires_at": now.Add(KeyRetention).Format(template.DateTimeLayout)}
		if op.Op == OpCreate {
			d["record"] = store.NewID()
		}
		return d
	}
	deadline := time.Now().Add(keyWait)
	pause := 10 * time.Millisecond
	for {
		d, err := e.st.Insert(ctx, keysColl, fresh())
		if err == nil {
			return holding(d, false), nil, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, nil, fmt.Errorf("records: reserve key: %w", err)
		}
		cur, err := e.st.Get(ctx, keysColl, kid)
		if errors.Is(err, store.ErrNotFound) {
			continue // purged meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("records: reserve key: %w", err)
		}
		now := e.now().UTC().Format(template.DateTimeLayout)
		if exp, _ := cur["expires_at"].(string); exp <= now {
			// Past its retention: the key is a new request.
			next := fresh()
			next[store.VersionField] = cur.Version()
			d, err := e.st.Replace(ctx, keysColl, next)
			if err == nil {
				return holding(d, false), nil, nil
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, nil, fmt.Errorf("records: reserve key: %w", err)
		}
		if cur["hash"] != hash {
			return nil, nil, &ValidationError{Errors: []FieldError{{Path: "key", Code: "key_reused", Params: map[string]any{"key": op.Key}}}}
		}
		if cur["status"] == keyDone {
			r, err := storedResult(op, cur)
			if err != nil {
				return nil, nil, err
			}
			return nil, &r, nil
		}
		if lease, _ := cur["lease"].(string); lease <= now {
			// The attempt that held it stopped (or is too slow): take over.
			cur["lease"] = e.leaseUntil()
			d, err := e.st.Replace(ctx, keysColl, cur)
			if err == nil {
				return holding(d, true), nil, nil
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, nil, fmt.Errorf("records: reserve key: %w", err)
		}
		if time.Now().After(deadline) {
			return nil, nil, ErrInProgress
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func holding(d store.Doc, claimed bool) *reservation {
	req := &request{}
	req.id, _ = d["request"].(string)
	req.recordID, _ = d["record"].(string)
	return &reservation{doc: d, req: req, claimed: claimed}
}

// execute runs the operation under the reservation. A claimed reservation
// first checks whether the attempt before wrote already; any failure checks
// it too, since an attempt that lost the key may have written meanwhile.
func (e *Engine) execute(ctx context.Context, u User, rv *reservation, op Op, id string, version int64) Result {
	res := Result{Key: op.Key, Op: op.Op}
	if rv.claimed {
		if done, err := e.applied(ctx, u, rv, op, id); err != nil || done != nil {
			if err != nil {
				res.Err = err
				return res
			}
			return *done
		}
	}
	rctx := withRequest(ctx, rv.req)
	switch op.Op {
	case OpCreate:
		res.Record, res.Err = e.Create(rctx, u, op.Entity, op.Values)
	case OpUpdate:
		res.Record, res.Err = e.Update(rctx, u, op.Entity, id, version, op.Values)
	case OpTransition:
		var t Taken
		t, res.Err = e.Transition(rctx, u, op.Entity, id, op.Transition, version, op.Input)
		res.Record, res.Warnings, res.Approval = t.Record, t.Warnings, t.Approval
		if res.Err != nil {
			res.Record = nil
		}
	}
	if res.Err != nil && !errors.Is(res.Err, ErrForbidden) {
		// Written by an attempt that lost the key to this one meanwhile?
		if done, err := e.applied(ctx, u, rv, op, id); err == nil && done != nil && done.Err == nil {
			return *done
		}
	}
	return res
}

// applied tells whether the request of rv was written (by an earlier attempt
// that held the key): then it returns the result as it stands now. A posting
// of the request still pending is finished first (or rolled back, which
// makes the result a conflict).
func (e *Engine) applied(ctx context.Context, u User, rv *reservation, op Op, id string) (*Result, error) {
	res := &Result{Key: op.Key, Op: op.Op}
	rid := rv.req.id
	switch op.Op {
	case OpCreate:
		d, err := e.st.Get(ctx, op.Entity, rv.req.recordID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
		if err := e.auditCreated(ctx, u, op.Entity, fromDoc(d)); err != nil {
			return nil, err
		}
		res.Record, res.Err = e.Get(ctx, u, op.Entity, d.ID())
		return res, nil
	case OpTransition:
		p, err := e.st.Get(ctx, postingsColl, rid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("records: %w", err)
		}
		if err == nil {
			if p["status"] == postingPending {
				if lease, _ := p["lease"].(string); lease > e.now().UTC().Format(template.DateTimeLayout) {
					return nil, ErrInProgress
				}
				if _, err := e.recoverOne(ctx, p); err != nil {
					return nil, err
				}
				if p, err = e.st.Get(ctx, postingsColl, rid); err != nil {
					return nil, fmt.Errorf("records: %w", err)
				}
			}
			switch p["status"] {
			case postingDone:
				res.Record, res.Err = e.Get(ctx, u, op.Entity, id)
			case postingRolledBack:
				res.Err = fmt.Errorf("%w: %s %s changed meanwhile", ErrConflict, op.Entity, id)
			default:
				return nil, ErrInProgress
			}
			return res, nil
		}
	}
	d, err := e.st.Get(ctx, op.Entity, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	if d[fPosting] != rid {
		return nil, nil
	}
	res.Record, res.Err = e.Get(ctx, u, op.Entity, id)
	return res, nil
}

// auditCreated writes the creation entry of rec if the attempt that created
// it stopped before writing it.
func (e *Engine) auditCreated(ctx context.Context, u User, entity string, rec Record) error {
	n, err := e.st.Count(ctx, auditColl, store.And(store.Eq("record", rec.ID()), store.Eq("action", "create")))
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	if n > 0 {
		return nil
	}
	_, ent, err := e.entity(entity)
	if err != nil {
		return err
	}
	return e.audit(ctx, u, ent, "create", nil, rec)
}

// transient errors say nothing about the operation: its key is not completed
// with them, and a retry runs it again.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errUnsettled) || errors.Is(err, ErrInProgress) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return errorKind(err) == ""
}

// errUnsettled is a record whose posting (someone else's) is still pending.
var errUnsettled = fmt.Errorf("%w: a posting is still being applied to this record; try again", ErrConflict)

// Kinds of stored errors, and the errors they come back as.
var errorKinds = []struct {
	kind string
	err  error
}{
	{"not_found", ErrNotFound},
	{"forbidden", ErrForbidden},
	{"not_available", ErrNotAvailable},
	{"needs_approval", ErrNeedsApproval},
	{"approval_pending", ErrApprovalPending},
	{"conflict", ErrConflict},
	{"invalid", store.ErrInvalid},
}

func errorKind(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return "validation"
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return ""
}

// release gives the key up after a transient failure: its lease ends now, so
// a retry takes it over at once (and checks what this attempt wrote).
func (e *Engine) release(ctx context.Context, rv *reservation) {
	d := store.Doc{}
	for k, v := range rv.doc {
		d[k] = v
	}
	d["lease"] = e.now().UTC().Format(template.DateTimeLayout)
	_, _ = e.st.Replace(context.WithoutCancel(ctx), keysColl, d) // lost: the lease runs out by itself
}

// keptResult is the JSON of a result kept with its key.
type keptResult struct {
	Record   json.RawMessage     `json:"record,omitempty"`
	Warnings []map[string]string `json:"warnings,omitempty"`
	Approval string              `json:"approval,omitempty"`
	Error    *storedError        `json:"error,omitempty"`
}

type storedError struct {
	Kind    string       `json:"kind"`
	Message string       `json:"message"`
	Errors  []FieldError `json:"errors,omitempty"`
}

// complete stores the result with the key. When another attempt took the key
// over meanwhile and completed it first, its stored result is returned.
func (e *Engine) complete(ctx context.Context, rv *reservation, res Result) (*Result, error) {
	s := keptResult{Warnings: res.Warnings, Approval: res.Approval}
	if res.Err != nil {
		se := &storedError{Kind: errorKind(res.Err), Message: res.Err.Error()}
		var ve *ValidationError
		if errors.As(res.Err, &ve) {
			se.Errors = ve.Errors
		}
		s.Error = se
	} else {
		b, err := json.Marshal(res.Record)
		if err != nil {
			return nil, fmt.Errorf("records: store the result of key %s: %w", res.Key, err)
		}
		s.Record = b
	}
	text, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("records: store the result of key %s: %w", res.Key, err)
	}
	d := store.Doc{}
	for k, v := range rv.doc {
		d[k] = v
	}
	d["status"], d["result"], d["done_at"] = keyDone, string(text), e.stamp()
	ctx = context.WithoutCancel(ctx) // the writes are done: keep their result
	if _, err := e.st.Replace(ctx, keysColl, d); err == nil {
		return nil, nil
	} else if !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("records: store the result of key %s: %w", res.Key, err)
	}
	cur, err := e.st.Get(ctx, keysColl, rv.doc.ID())
	if err != nil || cur["status"] != keyDone {
		return nil, nil // the attempt that took over finds what this one wrote
	}
	r, err := storedResult(Op{Key: res.Key, Op: res.Op}, cur)
	if err != nil {
		return nil, err
	}
	r.Replayed = false
	return &r, nil
}

// storedResult decodes the result kept with a key.
func storedResult(op Op, d store.Doc) (Result, error) {
	res := Result{Key: op.Key, Op: op.Op, Replayed: true}
	text, _ := d["result"].(string)
	var s keptResult
	if err := decodeJSON([]byte(text), &s); err != nil {
		return res, fmt.Errorf("records: the result of key %s: %w", op.Key, err)
	}
	res.Warnings, res.Approval = s.Warnings, s.Approval
	if s.Error != nil {
		res.Err = replayedError(s.Error)
		return res, nil
	}
	if len(s.Record) > 0 {
		if err := decodeJSON(s.Record, &res.Record); err != nil {
			return res, fmt.Errorf("records: the result of key %s: %w", op.Key, err)
		}
		if n, ok := res.Record[fVersion].(json.Number); ok {
			res.Record[fVersion], _ = n.Int64()
		}
	}
	return res, nil
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(v)
}

// replayedError is a stored error as it comes back: the same text, and the
// same sentinel for errors.Is.
func replayedError(se *storedError) error {
	if se.Kind == "validation" {
		ve := &ValidationError{Errors: se.Errors}
		for _, fe := range ve.Errors {
			if m, ok := fe.Params["message"].(map[string]any); ok {
				texts := map[string]string{}
				for k, v := range m {
					texts[k], _ = v.(string)
				}
				fe.Params["message"] = texts
			}
		}
		return ve
	}
	for _, k := range errorKinds {
		if k.kind == se.Kind {
			return &kindError{msg: se.Message, kind: k.err}
		}
	}
	return errors.New(se.Message)
}

type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// PurgeKeys removes the keys past their retention (KeyRetention); the
// server calls it periodically. It returns how many it removed.
func (e *Engine) PurgeKeys(ctx context.Context) (int, error) {
	now := e.now().UTC().Format(template.DateTimeLayout)
	q := store.Query{Filter: store.Lte("expires_at", now), Fields: []string{"expires_at"}, Limit: 500}
	n := 0
	for {
		page, err := e.st.Find(ctx, keysColl, q)
		if err != nil {
			return n, fmt.Errorf("records: purge keys: %w", err)
		}
		for _, d := range page.Docs {
			err := e.st.Delete(ctx, keysColl, d.ID(), d.Version())
			if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
				return n, fmt.Errorf("records: purge keys: %w", err)
			}
			if err == nil {
				n++
			}
		}
		if page.Next == "" {
			return n, nil
		}
		q.After = page.Next
	}
}
