package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// The records engine's collections of approvals and of their record locks.
const (
	approvalsColl = "sys_approvals"
	approvalLocks = "sys_approval_locks"
)

// inboxSet is the inbox scenario's data set: a sales manager with n
// approvals waiting.
type inboxSet struct {
	manager benchUser
	n       int
}

// buildInbox has a salesperson confirm a few orders on credit beyond the
// customer's credit limit through the API (each opens a credit approval for
// the sales managers), then copies those orders, their approvals and their
// record locks with InsertMany, shaped exactly as the engine wrote them
// (own ids, numbers, requesters' snapshots and times), up to n approvals.
func (b *benchSite) buildInbox(ctx context.Context, n int) (*inboxSet, error) {
	start := time.Now()
	c, err := b.eng.Create(ctx, benchAdmin, "customer", map[string]any{"code": "C-CREDIT", "name": "赊销超额客户", "credit_limit": "1", "default_warehouse": b.warehouse, "address": "杭州市延安路 9 号"})
	if err != nil {
		return nil, err
	}
	mgr, mtok, err := b.userWith(ctx, "manager", []string{"sales_manager"})
	if err != nil {
		return nil, err
	}
	_, stok, err := b.seller(ctx, "requester")
	if err != nil {
		return nil, err
	}
	const real = 3
	var orders, approvals []store.Doc
	for range min(real, n) {
		body := b.order("inbox")
		body["customer"], body["payment_method"] = c.ID(), "credit"
		var rec map[string]any
		if err := b.call("POST", "/api/v1/records/sales_order", stok, "", body, http.StatusCreated, &rec); err != nil {
			return nil, err
		}
		var out struct {
			Approval string `json:"approval"`
		}
		if err := b.call("POST", "/api/v1/records/sales_order/"+fmt.Sprint(rec["id"])+"/transitions/confirm", stok, fmt.Sprint(rec["version"]), map[string]any{}, http.StatusAccepted, &out); err != nil {
			return nil, err
		}
		o, err := b.st.Get(ctx, "sales_order", fmt.Sprint(rec["id"]))
		if err != nil {
			return nil, err
		}
		a, err := b.st.Get(ctx, approvalsColl, out.Approval)
		if err != nil {
			return nil, fmt.Errorf("the approval the confirmation opened: %w", err)
		}
		orders, approvals = append(orders, o), append(approvals, a)
	}
	at := time.Now().Add(-time.Duration(n) * time.Minute)
	var os, as, ls []store.Doc
	flush := func() error {
		for _, w := range []struct {
			coll string
			docs []store.Doc
		}{{"sales_order", os}, {approvalsColl, as}, {approvalLocks, ls}} {
			if _, err := b.st.InsertMany(ctx, w.coll, w.docs); err != nil {
				return err
			}
		}
		os, as, ls = os[:0], as[:0], ls[:0]
		return nil
	}
	for i := real; i < n; i++ {
		o, a := maps.Clone(orders[i%real]), maps.Clone(approvals[i%real])
		oid, aid := uuid.NewString(), store.NewID()
		stamp := at.Add(time.Duration(i) * time.Minute).UTC().Format(template.DateTimeLayout)
		o[store.IDField], o["number"], o["created_at"], o["updated_at"] = oid, fmt.Sprintf("SO-I%07d", i), stamp, stamp
		snap := maps.Clone(a["snapshot"].(map[string]any))
		snap[store.IDField], snap["number"], snap["created_at"], snap["updated_at"] = oid, o["number"], stamp, stamp
		a[store.IDField], a["record"], a["snapshot"], a["created_at"] = aid, oid, snap, stamp
		os, as = append(os, o), append(as, a)
		ls = append(ls, store.Doc{store.IDField: "sales_order:" + oid, "approval": aid})
		if len(os) == 2000 || i == n-1 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	benchLog("inbox: %d pending approvals built in %s", n, time.Since(start).Round(time.Millisecond))
	return &inboxSet{manager: benchUser{mgr, mtok}, n: n}, nil
}

// inbox has a sales manager with n approvals waiting open their inbox
// (GET /api/v1/inbox, its first page), one request at a time; the floor is
// the store's Find of that page of open approvals waiting for the manager or
// their role, oldest first (one more, as the engine reads, to know whether
// more wait).
func (b *benchSite) inbox(ctx context.Context, n int, d time.Duration) ([]benchResult, error) {
	if b.inboxSet == nil {
		set, err := b.buildInbox(ctx, n)
		if err != nil {
			return nil, err
		}
		b.inboxSet = set
	}
	who := b.inboxSet.manager
	endpoint := b.base + "/api/v1/inbox"
	var box struct {
		Approvals []struct {
			ID, Entity, Transition, Status string
		} `json:"approvals"`
		More bool `json:"more_approvals"`
	}
	if err := b.request("GET", endpoint, who.token, nil, http.StatusOK, &box); err != nil {
		return nil, err
	}
	want := inboxPage(n)
	if len(box.Approvals) != want || box.More != (n > want) {
		return nil, fmt.Errorf("the manager's inbox holds %d approvals (more: %v), want %d of %d", len(box.Approvals), box.More, want, n)
	}
	for _, a := range box.Approvals {
		if a.Entity != "sales_order" || a.Transition != "confirm" || a.Status != "open" {
			return nil, fmt.Errorf("the inbox holds %+v", a)
		}
	}
	lat, errs, took, ferr := runLoad(ctx, 1, d, func(int64) error {
		return b.request("GET", endpoint, who.token, nil, http.StatusOK, nil)
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d inbox requests failed, the first: %w", errs, ferr)
	}
	res := summarize(fmt.Sprintf("inbox (HTTP, %d pending)", n), 1, lat, errs, took)
	to := []any{"user:" + who.u.ID}
	for _, r := range who.u.Roles {
		to = append(to, "role:"+r)
	}
	q := store.Query{Filter: store.And(store.Eq("status", "open"), store.In("pending_for.to", to...)),
		Sort: []store.SortKey{store.Asc("created_at")}, Limit: want + 1}
	lat, errs, took, ferr = runLoad(ctx, 1, d, func(int64) error {
		p, err := b.st.Find(ctx, approvalsColl, q)
		if err == nil && len(p.Docs) != min(n, want+1) {
			err = errors.New("the raw inbox page is short")
		}
		return err
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d raw finds failed, the first: %w", errs, ferr)
	}
	raw := summarize(fmt.Sprintf("inbox (raw find, %d pending)", n), 1, lat, errs, took)
	if raw.PerSecond > 0 && res.PerSecond > 0 {
		res.Floor, res.Ratio = raw.Name, raw.PerSecond/res.PerSecond
	}
	res.Note = fmt.Sprintf("the first page: %d approvals of %d, oldest first, and more_approvals", want, n)
	return []benchResult{res, raw}, nil
}

// inboxPage is how many of n waiting approvals GET /api/v1/inbox answers
// (its first page: 50, the default limit).
func inboxPage(n int) int { return min(n, 50) }
