package ui_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/templates"
)

// hookTarget is a webhook receiver on a fixed loopback address that can be
// down (nothing listens: connection refused), failing (503) or up (200).
type hookTarget struct {
	t    *testing.T
	addr string
	srv  *httptest.Server

	mu     sync.Mutex
	status int                // the answer while it listens
	got    []string           // delivery ids of the requests answered 200
	hold   chan struct{}      // when set, requests wait for it to close
	seen   chan *http.Request // when set, told of each request
}

// newHookTarget picks an address and leaves it down.
func newHookTarget(t *testing.T) *hookTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hookTarget{t: t, addr: ln.Addr().String(), status: http.StatusOK}
	ln.Close()
	t.Cleanup(h.down)
	return h
}

func (h *hookTarget) url() string { return "http://" + h.addr + "/hook" }

// up starts listening, answering status.
func (h *hookTarget) up(status int) {
	h.t.Helper()
	h.mu.Lock()
	h.status = status
	h.mu.Unlock()
	if h.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("hook target: listen on %s: %v", h.addr, err)
	}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		h.mu.Lock()
		status, hold, seen := h.status, h.hold, h.seen
		h.mu.Unlock()
		if seen != nil {
			seen <- r
		}
		if hold != nil {
			<-hold
		}
		if status != http.StatusOK {
			http.Error(w, "target is busy", status)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, r.Header.Get(records.DeliveryHeader))
		h.mu.Unlock()
	}))
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.Start()
}

func (h *hookTarget) down() {
	if h.srv != nil {
		h.srv.Close()
		h.srv = nil
	}
}

func (h *hookTarget) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// hookPackage is a package with tickets whose close and escalate
// transitions call webhooks at closeURL and escalateURL.
func hookPackage(closeURL, escalateURL string) map[string]string {
	return map[string]string{
		"package.yaml": "package: hooks\nversion: 1.0.0\nlabel: {zh-CN: 工单, en: Tickets}\nrequires: {core: ^1.0}\n",
		"ticket.yaml": `entity: ticket
label: {zh-CN: 工单, en: Ticket}
fields:
  title: {type: text, required: true, label: {zh-CN: 标题, en: Title}}
states:
  open: {initial: true, label: {zh-CN: 处理中, en: Open}}
  closed: {final: true, label: {zh-CN: 已关闭, en: Closed}}
transitions:
  close:
    from: open
    to: closed
    roles: [sales]
    label: {zh-CN: 关闭, en: Close}
    effects:
      - notify: {to_users: "owner", message: {zh-CN: 工单已关闭, en: Ticket closed}, webhook: "` + closeURL + `"}
  escalate:
    from: open
    roles: [sales]
    label: {zh-CN: 升级, en: Escalate}
    effects:
      - notify: {to_users: "owner", message: {zh-CN: 工单已升级, en: Ticket escalated}, webhook: "` + escalateURL + `"}
access:
  sales: {read: true, create: true}
`,
	}
}

var (
	outboxRowRE = func(id string) *regexp.Regexp {
		return regexp.MustCompile(`(?s)<tr id="wh-` + id + `">(.*?)</tr>`)
	}
	cellRE = func(class string) *regexp.Regexp {
		return regexp.MustCompile(`class="[^"]*` + class + `[^"]*">([^<]*)<`)
	}
)

// outboxCells returns the status, tries and last error of delivery id on
// the admin page, and the section it is in.
func outboxCells(t *testing.T, page, id string) (section, status, attempts, lastErr string) {
	t.Helper()
	m := outboxRowRE(id).FindStringSubmatchIndex(page)
	if m == nil {
		t.Fatalf("delivery %s is not on the outbox page", id)
	}
	row := page[m[2]:m[3]]
	before := page[:m[0]]
	section = before[strings.LastIndex(before, `<section class="card" id="outbox-`)+len(`<section class="card" id="outbox-`):]
	section = section[:strings.IndexByte(section, '"')]
	get := func(class string) string {
		if c := cellRE(class).FindStringSubmatch(row); c != nil {
			return strings.TrimSpace(c[1])
		}
		return ""
	}
	return section, get("wh-status"), get("wh-attempts"), get("wh-error")
}

// A webhook target that is down: the delivery is tried again with growing
// pauses (the engine's clock is moved, nothing sleeps), each error kept
// and shown on the admin outbox page; once the target is up it is
// delivered exactly once. A delivery whose sender stopped mid-send is sent
// again after its lease, so nothing is lost. One that never gets through
// is marked failed, and an admin sends it again from the page (POST with
// the CSRF token); nobody else may see the page.
func TestWebhookTargetDown(t *testing.T) {
	ctx := context.Background()
	closeHook, escalateHook := newHookTarget(t), newHookTarget(t)

	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := fstest.MapFS{}
	for name, text := range hookPackage(closeHook.url(), escalateHook.url()) {
		cat["hooks/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	err = fs.WalkDir(templates.FS, "core", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(templates.FS, p)
		cat[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "hooks", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.EnsureAdmin(ctx, adminPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := users.CreateUser(ctx, auth.NewUser{Username: "sue", Name: "Sue", Roles: []string{"sales"}, Password: "sue-password-1"}); err != nil {
		t.Fatal(err)
	}
	var skew atomic.Int64 // how far the engine's clock is ahead
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	eng := records.New(st, svc.Model, records.Options{Now: now, Users: users, ModelAt: svc.ModelAt})
	base := serveUI(t, server.Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: server.Info{Version: "test", Store: "sqlite"}})
	admin := records.User{ID: "admin", Name: "admin", Roles: []string{records.AdminRole}}
	sue := records.User{ID: "sue", Name: "Sue", Roles: []string{"sales"}}
	client := &http.Client{}
	deliver := func() int {
		t.Helper()
		n, err := eng.DeliverWebhooks(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	entry := func(status, id string) records.OutboxEntry {
		t.Helper()
		list, err := eng.Outbox(ctx, admin, status, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			if o.ID == id {
				return o
			}
		}
		t.Fatalf("delivery %s is not %s: %+v", id, status, list)
		return records.OutboxEntry{}
	}
	parse := func(s string) time.Time {
		at, err := time.Parse("2006-01-02T15:04:05.000000000Z07:00", s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	scenarios := 0

	// Close a ticket: its webhook waits in the outbox.
	ticket, err := eng.Create(ctx, sue, "ticket", map[string]any{"title": "打印机卡纸"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Transition(ctx, sue, "ticket", ticket.ID(), "close", ticket.Version(), nil); err != nil {
		t.Fatal(err)
	}
	pending, err := eng.Outbox(ctx, admin, "pending", 10)
	if err != nil || len(pending) != 1 || pending[0].Entity != "ticket" || pending[0].Record != ticket.ID() || pending[0].URL != closeHook.url() {
		t.Fatalf("outbox after close: %+v %v", pending, err)
	}
	id := pending[0].ID

	// Down (connection refused), then failing (503): each try fails, keeps
	// its error, and the pause before the next one grows.
	var pauses []time.Duration
	var lastErrs []string
	for try := 1; try <= 4; try++ {
		if try == 3 {
			closeHook.up(http.StatusServiceUnavailable)
		}
		if n := deliver(); n != 0 {
			t.Fatalf("try %d delivered to a target that is down", try)
		}
		o := entry("pending", id)
		if o.Attempts != int64(try) || o.LastError == "" || o.LastAttemptAt == "" {
			t.Fatalf("after try %d: %+v", try, o)
		}
		pauses = append(pauses, parse(o.NextAt).Sub(parse(o.LastAttemptAt)))
		lastErrs = append(lastErrs, o.LastError)
		// Not tried again before its time.
		if n := deliver(); n != 0 || entry("pending", id).Attempts != int64(try) {
			t.Fatalf("try %d was repeated before its pause ended", try)
		}
		skew.Store(int64(time.Until(parse(o.NextAt))) + int64(time.Second))
	}
	for i := 1; i < len(pauses); i++ {
		if pauses[i] <= pauses[i-1] {
			t.Fatalf("the pauses between tries do not grow: %v", pauses)
		}
	}
	if !strings.Contains(lastErrs[0], "connection refused") || !strings.Contains(lastErrs[3], "503") || !strings.Contains(lastErrs[3], "target is busy") {
		t.Fatalf("last errors: %q", lastErrs)
	}
	if got := closeHook.received(); len(got) != 0 {
		t.Fatalf("a failing target counted as delivered: %v", got)
	}

	// The admin sees it on the outbox page, waiting, with its tries and
	// last error; in English too; others get 403.
	w := newWeb(t, base)
	w.signIn("admin", adminPassword)
	status, page, _ := w.do("GET", "/admin/outbox", nil)
	if status != http.StatusOK {
		t.Fatalf("outbox page: %d", status)
	}
	section, state, attempts, lastErr := outboxCells(t, page, id)
	if section != "pending" || state != "等待重试" || attempts != "4" || !strings.Contains(lastErr, "503") {
		t.Fatalf("outbox page row: %s %q %q %q", section, state, attempts, lastErr)
	}
	if !strings.Contains(page, `href="/admin/outbox" id="nav-admin-outbox"`) || !strings.Contains(page, "<h1>Webhook 发送队列</h1>") {
		t.Fatal("the outbox page lacks its title or its link in the admin menu")
	}
	if status, _, _ := w.do("GET", "/lang/en?back=/admin/outbox", nil); status != http.StatusSeeOther {
		t.Fatalf("switch to English: %d", status)
	}
	_, page, _ = w.do("GET", "/admin/outbox", nil)
	if _, state, _, _ := outboxCells(t, page, id); state != "Waiting" || !strings.Contains(page, "<h1>Webhook outbox</h1>") || !strings.Contains(page, "Last error") {
		t.Fatalf("the outbox page in English: state %q", state)
	}
	other := newWeb(t, base)
	other.signIn("sue", "sue-password-1")
	if status, _, _ := other.do("GET", "/admin/outbox", nil); status != http.StatusForbidden {
		t.Fatalf("the outbox page for a non-admin: %d, want 403", status)
	}
	if _, err := eng.Outbox(ctx, sue, "pending", 10); !errors.Is(err, records.ErrForbidden) {
		t.Fatalf("the engine's outbox for a non-admin: %v", err)
	}

	// Up: delivered exactly once, with its delivery id.
	closeHook.up(http.StatusOK)
	if n := deliver(); n != 1 {
		t.Fatalf("delivered %d once the target is up", n)
	}
	skew.Add(int64(48 * time.Hour))
	if n := deliver(); n != 0 {
		t.Fatalf("delivered again: %d", n)
	}
	if got := closeHook.received(); len(got) != 1 || got[0] != id {
		t.Fatalf("the target received %v, want [%s] once", got, id)
	}
	if o := entry("delivered", id); o.Attempts != 5 {
		t.Fatalf("delivered after %d tries, want 5", o.Attempts)
	}
	_, page, _ = w.do("GET", "/admin/outbox", nil)
	if section, state, attempts, _ := outboxCells(t, page, id); section != "delivered" || state != "Delivered" || attempts != "5" {
		t.Fatalf("delivered row on the page: %s %q %q", section, state, attempts)
	}
	scenarios++

	// The sender stops mid-send (its context ends while the target holds
	// the request, so the result is never written): the delivery stays
	// sending until its lease ends, then is sent again.
	t2, err := eng.Create(ctx, sue, "ticket", map[string]any{"title": "网络中断"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Transition(ctx, sue, "ticket", t2.ID(), "close", t2.Version(), nil); err != nil {
		t.Fatal(err)
	}
	hold, seen := make(chan struct{}), make(chan *http.Request, 1)
	closeHook.mu.Lock()
	closeHook.hold, closeHook.seen = hold, seen
	closeHook.mu.Unlock()
	dying, stopSender := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := eng.DeliverWebhooks(dying, client)
		done <- err
	}()
	r := <-seen
	stuck := r.Header.Get(records.DeliveryHeader)
	stopSender()
	if err := <-done; err == nil {
		t.Fatal("the stopped sender wrote its result")
	}
	close(hold)
	closeHook.mu.Lock()
	closeHook.hold, closeHook.seen = nil, nil
	closeHook.mu.Unlock()
	if o := entry("pending", stuck); o.Status != "sending" {
		t.Fatalf("the interrupted delivery: %+v", o)
	}
	skew.Add(int64(time.Minute)) // within the lease: nobody else sends it
	if n := deliver(); n != 0 {
		t.Fatalf("a delivery was sent again within its lease: %d", n)
	}
	skew.Add(int64(2 * time.Minute))
	if n := deliver(); n != 1 {
		t.Fatalf("the interrupted delivery was not sent again after its lease: %d", n)
	}
	if o := entry("delivered", stuck); o.Attempts != 2 {
		t.Fatalf("the interrupted delivery: %+v", o)
	}
	// The held request may have been taken by the target too: at least
	// once, and every copy carries the same delivery id to drop repeats by.
	if got := closeHook.received(); len(got) < 2 || len(got) > 3 || got[0] != id || got[len(got)-1] != stuck || got[1] != stuck {
		t.Fatalf("the target received %v", got)
	}
	scenarios++

	// A target that stays down: failed after every try; the admin sends it
	// again from the page.
	t3, err := eng.Create(ctx, sue, "ticket", map[string]any{"title": "需要升级"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Transition(ctx, sue, "ticket", t3.ID(), "escalate", t3.Version(), nil); err != nil {
		t.Fatal(err)
	}
	var failedID string
	for range 20 {
		deliver()
		skew.Add(int64(2 * time.Hour))
		list, err := eng.Outbox(ctx, admin, "failed", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 {
			failedID = list[0].ID
			break
		}
	}
	if failedID == "" {
		t.Fatal("a webhook to a target that stays down never failed")
	}
	if o := entry("failed", failedID); o.URL != escalateHook.url() || o.Attempts != 8 || !strings.Contains(o.LastError, "connection refused") {
		t.Fatalf("failed delivery: %+v", o)
	}
	if err := eng.RetryWebhook(ctx, sue, failedID); !errors.Is(err, records.ErrForbidden) {
		t.Fatalf("retry by a non-admin: %v", err)
	}
	if err := eng.RetryWebhook(ctx, admin, id); !errors.Is(err, records.ErrConflict) {
		t.Fatalf("retry of a delivered webhook: %v", err)
	}
	_, page, _ = w.do("GET", "/admin/outbox", nil)
	if section, state, attempts, lastErr := outboxCells(t, page, failedID); section != "failed" || state != "Failed" || attempts != "8" || !strings.Contains(lastErr, "connection refused") {
		t.Fatalf("failed row on the page: %s %q %q %q", section, state, attempts, lastErr)
	}
	if !strings.Contains(page, `action="/admin/outbox/`+failedID+`/retry"`) {
		t.Fatal("no send-again button for the failed delivery")
	}
	if status, _, _ := w.do("POST", "/admin/outbox/"+failedID+"/retry", url.Values{"_csrf": {"wrong"}}); status != http.StatusForbidden {
		t.Fatalf("retry without the CSRF token: %d, want 403", status)
	}
	csrf := csrfRE.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token on the outbox page")
	}
	status, _, hdr := w.do("POST", "/admin/outbox/"+failedID+"/retry", url.Values{"_csrf": {csrf[1]}})
	if status != http.StatusSeeOther || hdr.Get("Location") != "/admin/outbox?msg=adm_outbox_retried" {
		t.Fatalf("retry: %d %s", status, hdr.Get("Location"))
	}
	if o := entry("pending", failedID); o.Attempts != 0 || o.Status != "pending" {
		t.Fatalf("after the retry: %+v", o)
	}
	escalateHook.up(http.StatusOK)
	if n := deliver(); n != 1 {
		t.Fatalf("the retried delivery: %d delivered", n)
	}
	if got := escalateHook.received(); len(got) != 1 || got[0] != failedID {
		t.Fatalf("the escalate target received %v", got)
	}
	scenarios++
	t.Logf("fault scenarios: %d (webhook target down then up; sender stopped mid-send; target down for good, then sent again by an admin)", scenarios)
}
