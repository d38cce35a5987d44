package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// The webhook outbox: a notify effect with a webhook stores its delivery in
// sys_outbox inside the transition's posting; DeliverWebhooks sends what is
// due. A delivery is pending (waiting for its next try), sending (claimed by
// one process until its lease ends), delivered, or failed (after
// maxAttempts tries; an admin may send it again with RetryWebhook).
// Delivery is at least once: a process that dies mid-send leaves the
// delivery sending, and once the lease is over it is pending again and sent
// again; the payload's "delivery" id (also the X-Yerp-Delivery header) lets
// the receiver drop the repeat.
const (
	outboxPending   = "pending"
	outboxSending   = "sending"
	outboxDelivered = "delivered"
	outboxFailed    = "failed"

	// maxAttempts is how often a webhook is tried before it is marked failed.
	maxAttempts = 8
	// sendLease is how long a process holds a delivery it is sending: well
	// beyond the time one POST may take (sendTimeout).
	sendLease   = 2 * time.Minute
	sendTimeout = 10 * time.Second
	// maxErrorLen bounds the last error kept per delivery, in bytes.
	maxErrorLen = 300
)

// DeliveryHeader carries a webhook's delivery id.
const DeliveryHeader = "X-Yerp-Delivery"

// retryDelay is the wait after the n-th failed try: 15 s, doubling, at most
// an hour (the tries of a delivery span about half an hour).
func retryDelay(n int64) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 9 {
		return time.Hour
	}
	return min(15*time.Second<<(n-1), time.Hour)
}

// outboxIndexes serve the due deliveries and the admin's lists.
var outboxIndexes = []store.Index{
	{Name: "status_next", Keys: []store.SortKey{store.Asc("status"), store.Asc("next_at")}},
	{Name: "status_last", Keys: []store.SortKey{store.Asc("status"), store.Desc("last_attempt_at")}},
}

// DeliverWebhooks sends the webhooks that are due. First, deliveries whose
// sender's lease ran out while sending (the process died) go back to
// pending. Then each due delivery is claimed with a version-guarded write
// (so two processes never send it at once), POSTed as JSON, and marked
// delivered on a 2xx answer; otherwise its error (the status, or the
// network error) and the time are kept and it is tried again after
// retryDelay, up to maxAttempts times, then marked failed. It returns how
// many were delivered; an error means the store failed (the deliveries not
// reached stay as they were).
func (e *Engine) DeliverWebhooks(ctx context.Context, client *http.Client) (delivered int, err error) {
	if err := e.ensureSysIndexes(ctx, outboxColl, outboxIndexes...); err != nil {
		return 0, fmt.Errorf("records: outbox: %w", err)
	}
	now := e.now().UTC()
	stamp := now.Format(template.DateTimeLayout)
	if err := e.releaseStuck(ctx, stamp); err != nil {
		return 0, err
	}
	page, err := e.st.Find(ctx, outboxColl, store.Query{Filter: store.And(store.Eq("status", outboxPending), store.Lte("next_at", stamp)),
		Sort: []store.SortKey{store.Asc("next_at")}, Limit: 50})
	if err != nil {
		return 0, fmt.Errorf("records: outbox: %w", err)
	}
	for _, d := range page.Docs {
		d["status"] = outboxSending
		d["lease_until"] = now.Add(sendLease).Format(template.DateTimeLayout)
		claimed, err := e.st.Replace(ctx, outboxColl, d)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue // another process has it
		}
		if err != nil {
			return delivered, fmt.Errorf("records: outbox: %w", err)
		}
		url, _ := claimed["url"].(string)
		payload, _ := claimed["payload"].(string)
		sendErr := post(ctx, client, url, payload, claimed.ID())
		n := int64Of(claimed["attempts"]) + 1
		claimed["attempts"] = n
		claimed["last_attempt_at"] = stamp
		delete(claimed, "lease_until")
		switch {
		case sendErr == nil:
			claimed["status"] = outboxDelivered
			delivered++
		case n >= maxAttempts:
			claimed["status"] = outboxFailed
			claimed["last_error"] = boundError(sendErr)
		default:
			claimed["status"] = outboxPending
			claimed["last_error"] = boundError(sendErr)
			claimed["next_at"] = now.Add(retryDelay(n)).Format(template.DateTimeLayout)
		}
		if _, err := e.st.Replace(ctx, outboxColl, claimed); err != nil {
			// Left sending: once its lease is over it is pending again.
			return delivered, fmt.Errorf("records: outbox: %w", err)
		}
	}
	return delivered, nil
}

// releaseStuck puts the deliveries whose sender's lease ended before stamp
// back to pending, due now, counting the interrupted try.
func (e *Engine) releaseStuck(ctx context.Context, stamp string) error {
	page, err := e.st.Find(ctx, outboxColl, store.Query{Filter: store.And(store.Eq("status", outboxSending), store.Lte("lease_until", stamp)), Limit: 100})
	if err != nil {
		return fmt.Errorf("records: outbox: %w", err)
	}
	for _, d := range page.Docs {
		n := int64Of(d["attempts"]) + 1
		d["attempts"] = n
		d["status"] = outboxPending
		if n >= maxAttempts {
			d["status"] = outboxFailed
		}
		d["next_at"] = stamp
		d["last_error"] = "interrupted while sending (the sending process stopped)"
		delete(d, "lease_until")
		if _, err := e.st.Replace(ctx, outboxColl, d); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("records: outbox: %w", err)
		}
	}
	return nil
}

// post sends one webhook; nil means the target answered 2xx.
func post(ctx context.Context, client *http.Client, url, payload, id string) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(payload)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(DeliveryHeader, id)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorLen))
	msg := "HTTP " + resp.Status
	if b := strings.Join(strings.Fields(string(body)), " "); b != "" {
		msg += ": " + b
	}
	return errors.New(msg)
}

// boundError is err's text as valid UTF-8 of at most maxErrorLen bytes.
func boundError(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// int64Of reads a stored count (a decimal.Decimal, or an int64 written in
// this process).
func int64Of(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case decimal.Decimal:
		n, _ := x.Int64()
		return n
	}
	return 0
}

// OutboxEntry is one webhook delivery as an admin sees it. Times are in
// template.DateTimeLayout (UTC); empty when not yet.
type OutboxEntry struct {
	ID            string `json:"id"`
	URL           string `json:"url"`
	Entity        string `json:"entity"`
	Record        string `json:"record"`
	Status        string `json:"status"` // pending, sending, delivered, failed
	Attempts      int64  `json:"attempts"`
	NextAt        string `json:"next_at"`
	LastAttemptAt string `json:"last_attempt_at"`
	LastError     string `json:"last_error"`
	CreatedAt     string `json:"created_at"`
}

// Outbox lists webhook deliveries for an admin (ErrForbidden for anyone
// else): status "pending" (with those being sent), soonest due first;
// "failed" or "delivered", last tried first. At most limit (50 when 0).
func (e *Engine) Outbox(ctx context.Context, u User, status string, limit int) ([]OutboxEntry, error) {
	if !u.IsAdmin() {
		return nil, forbidden("read", "outbox")
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var q store.Query
	switch status {
	case outboxPending:
		q = store.Query{Filter: store.In("status", outboxPending, outboxSending), Sort: []store.SortKey{store.Asc("next_at")}}
	case outboxFailed, outboxDelivered:
		q = store.Query{Filter: store.Eq("status", status), Sort: []store.SortKey{store.Desc("last_attempt_at")}}
	default:
		return nil, fmt.Errorf("records: outbox: %w: status %q (pending, failed or delivered)", store.ErrInvalid, status)
	}
	q.Limit = limit
	if err := e.ensureSysIndexes(ctx, outboxColl, outboxIndexes...); err != nil {
		return nil, fmt.Errorf("records: outbox: %w", err)
	}
	page, err := e.st.Find(ctx, outboxColl, q)
	if err != nil {
		return nil, fmt.Errorf("records: outbox: %w", err)
	}
	out := make([]OutboxEntry, 0, len(page.Docs))
	for _, d := range page.Docs {
		o := OutboxEntry{ID: d.ID(), Attempts: int64Of(d["attempts"])}
		for k, p := range map[string]*string{"url": &o.URL, "entity": &o.Entity, "record": &o.Record, "status": &o.Status,
			"next_at": &o.NextAt, "last_attempt_at": &o.LastAttemptAt, "last_error": &o.LastError, "created_at": &o.CreatedAt} {
			*p, _ = d[k].(string)
		}
		if o.Status != outboxPending && o.Status != outboxSending {
			o.NextAt = ""
		}
		out = append(out, o)
	}
	return out, nil
}

// RetryWebhook sends a failed delivery again: it is pending, due now, with
// its tries counted from zero (its last error is kept until the next try).
// Admins only (ErrForbidden); ErrNotFound for an unknown id; ErrConflict
// when the delivery is not failed (or changed meanwhile).
func (e *Engine) RetryWebhook(ctx context.Context, u User, id string) error {
	if !u.IsAdmin() {
		return forbidden("retry", "outbox")
	}
	d, err := e.st.Get(ctx, outboxColl, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: webhook delivery %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("records: outbox: %w", err)
	}
	if d["status"] != outboxFailed {
		return fmt.Errorf("records: webhook delivery %s is %v, not failed: %w", id, d["status"], ErrConflict)
	}
	d["status"] = outboxPending
	d["attempts"] = 0
	d["next_at"] = e.stamp()
	if _, err := e.st.Replace(ctx, outboxColl, d); err != nil {
		return fmt.Errorf("records: outbox: %w", err)
	}
	return nil
}
