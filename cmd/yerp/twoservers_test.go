package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
)

// Two "yerp serve" processes over one store (the SQLite file in WAL mode;
// the Mongo peer for the Mongo backend) behave as one server: a session
// started on one is valid on the other and ended there for both; a
// template version published on one is served by the other; an approval
// requested through one is decided through the other; receipts and
// deliveries through both share their number series and the stock, and
// "yerp verify" finds the books in order afterwards.

const (
	twinAdmin, twinAdminPassword     = "root", "two servers root password"
	twinManager, twinManagerPassword = "boss", "two servers boss password"
)

// stockRequest is the entity the published version adds: a request a
// warehouse keeper submits and a sales manager approves.
const stockRequest = `entity: stock_request
label: {zh-CN: 要货申请, en: Stock request}
number: "SR-{seq:4}"
fields:
  note: {type: text, required: true, label: {zh-CN: 说明, en: Note}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}}
  approved: {final: true, label: {zh-CN: 已批准, en: Approved}}
transitions:
  submit:
    from: draft
    to: approved
    roles: [warehouse]
    label: {zh-CN: 提交, en: Submit}
    approval:
      steps:
        - {name: manager, label: {zh-CN: 经理审批, en: Manager}, roles: [sales_manager]}
access:
  warehouse: {read: true, create: true, update: true}
  sales_manager: {read: true}
`

func TestTwoServers(t *testing.T) {
	bin := buildYerp(t)
	for _, backend := range []string{"sqlite", "mongo"} {
		t.Run(backend, func(t *testing.T) { twoServers(t, bin, backend) })
	}
}

func twoServers(t *testing.T, bin, backend string) {
	uri, data := "", filepath.Join(t.TempDir(), "data")
	load := 2 * time.Second
	if backend == "mongo" {
		uri = mongotest.Start(t) + "yerp_two"
		load = 4 * time.Second // the FerretDB peer is much slower
	}
	fx := prepareStore(t, uri, data)
	withEngine(t, uri, data, func(_ store.Store, _ *packages.Service, users *auth.Service, _ *records.Engine) {
		for _, u := range []auth.NewUser{
			{Username: twinAdmin, Name: "管理员", Roles: []string{auth.AdminRole}, Password: twinAdminPassword},
			{Username: twinManager, Name: "钱经理", Roles: []string{"sales_manager"}, Password: twinManagerPassword},
		} {
			if _, err := users.CreateUser(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
	})
	args := storeArgs(uri, data)
	srvA, srvB := startServer(t, bin, args), startServer(t, bin, args)
	a := &client{http: &http.Client{}, base: srvA.base}
	b := &client{http: &http.Client{}, base: srvB.base}
	login := func(c *client, user, password string) (token, csrf string) {
		t.Helper()
		var out struct{ Token, CSRF string }
		if status, err := c.call("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": password}, &out); err != nil || status != http.StatusOK {
			t.Fatalf("login %s on %s: %d, %v", user, c.base, status, err)
		}
		return out.Token, out.CSRF
	}
	as := func(c *client, token string) *client { return &client{http: c.http, base: c.base, token: token} }

	// Sessions: started on A, valid on B; ended on B, refused on A.
	first, _ := login(a, keeperName, keeperPassword)
	if status, err := as(b, first).call("GET", "/api/v1/auth/me", "", nil, nil); err != nil || status != http.StatusOK {
		t.Fatalf("a session of A on B: %d, %v", status, err)
	}
	if status, err := as(b, first).call("POST", "/api/v1/auth/logout", "", nil, nil); err != nil || status != http.StatusNoContent {
		t.Fatalf("logout on B: %d, %v", status, err)
	}
	if status, err := as(a, first).call("GET", "/api/v1/auth/me", "", nil, nil); err != nil || status != http.StatusUnauthorized {
		t.Fatalf("a session ended on B is still valid on A: %d, %v", status, err)
	}

	// Template versions: the admin signs in on B and publishes on A, with
	// B's session cookie and its CSRF token; B serves the new entity.
	adminToken, adminCSRF := login(b, twinAdmin, twinAdminPassword)
	publishedAt := publishTwin(t, srvA.base, adminToken, adminCSRF)
	keeper := as(b, "")
	keeper.token, _ = login(b, keeperName, keeperPassword)
	for {
		status, err := keeper.call("GET", "/api/v1/meta/entities/stock_request", "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK {
			break
		}
		if status != http.StatusNotFound {
			t.Fatalf("meta of the published entity on B: %d", status)
		}
		if time.Since(publishedAt) > time.Minute {
			t.Fatalf("B does not serve the version published on A after a minute:\n%s", srvB.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("two servers (%s): the version published on A was served by B %v later", backend, time.Since(publishedAt).Round(time.Millisecond))
	if !strings.Contains(srvB.out.String(), "templates changed by another process") {
		t.Errorf("B did not log the refresh:\n%s", srvB.out.String())
	}

	// Approvals: requested through A on a record created through B,
	// decided through B, seen through A.
	var req struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	if status, err := keeper.call("POST", "/api/v1/records/stock_request", "", map[string]any{"note": "补货 IT-1"}, &req); err != nil || status != http.StatusCreated {
		t.Fatalf("create a stock request on B: %d, %v", status, err)
	}
	var taken struct{ Approval string }
	if status, err := as(a, keeper.token).call("POST", "/api/v1/records/stock_request/"+req.ID+"/transitions/submit", fmt.Sprintf(`"%d"`, req.Version), nil, &taken); err != nil || status != http.StatusAccepted || taken.Approval == "" {
		t.Fatalf("submit on A: %d, %v, approval %q", status, err, taken.Approval)
	}
	boss, _ := login(b, twinManager, twinManagerPassword)
	var inbox struct {
		Approvals []struct{ ID string }
	}
	if status, err := as(b, boss).call("GET", "/api/v1/inbox", "", nil, &inbox); err != nil || status != http.StatusOK {
		t.Fatalf("inbox on B: %d, %v", status, err)
	}
	if len(inbox.Approvals) != 1 || inbox.Approvals[0].ID != taken.Approval {
		t.Fatalf("B's inbox for the manager: %+v, want approval %s", inbox.Approvals, taken.Approval)
	}
	if status, err := as(b, boss).call("POST", "/api/v1/approvals/"+taken.Approval+"/approve", "", map[string]string{"comment": "同意"}, nil); err != nil || status != http.StatusOK {
		t.Fatalf("approve on B: %d, %v", status, err)
	}
	var after struct{ State string }
	if status, err := as(a, keeper.token).call("GET", "/api/v1/records/stock_request/"+req.ID, "", nil, &after); err != nil || status != http.StatusOK || after.State != "approved" {
		t.Fatalf("the request on A after B's approval: %d, %v, state %q", status, err, after.State)
	}

	// Load through both: receipts and deliveries, each server with its own
	// clients, over the same items.
	var stop atomic.Bool
	var stats loadStats
	retry := &unanswered{ids: map[string][]string{}}
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for i, srv := range []*client{a, b} {
		c := as(srv, keeper.token)
		c.http = &http.Client{Transport: &http.Transport{}}
		for w := range 4 {
			entity, transition, maxQty := "goods_receipt", "receive", 8
			if w%2 == 1 {
				entity, transition, maxQty = "delivery", "ship", 12
			}
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(10*i+w)))
			wg.Go(func() { worker(t, c, fx, wrng, entity, transition, maxQty, &stop, &stats, retry) })
		}
	}
	time.Sleep(load)
	stop.Store(true)
	wg.Wait()
	if stats.taken.Load() == 0 || stats.created.Load() == 0 {
		t.Fatalf("no load went through: %d created, %d taken", stats.created.Load(), stats.taken.Load())
	}
	srvA.stop(t)
	srvB.stop(t)

	cmd := exec.Command(bin, append([]string{"verify"}, args...)...)
	out, err := cmd.Output()
	if err != nil || string(out) != verifyOK+"\n" {
		t.Errorf("yerp verify after the load through two servers: %v\n%s", err, out)
	}
	// Number series: every record has its own number, none skipped.
	withEngine(t, uri, data, func(st store.Store, _ *packages.Service, _ *auth.Service, _ *records.Engine) {
		for entity, prefix := range map[string]string{"goods_receipt": "GR-", "delivery": "DN-", "stock_request": "SR-"} {
			docs := findAll(t, st, entity, nil)
			var numbers []string
			for _, d := range docs {
				n, _ := d["number"].(string)
				numbers = append(numbers, n)
			}
			sort.Strings(numbers)
			for i, n := range numbers {
				width := len(n) - len(prefix)
				if want := fmt.Sprintf("%s%0*d", prefix, width, i+1); n != want {
					t.Errorf("%s numbers: #%d is %q, want %q (all: %v)", entity, i+1, n, want, numbers)
					break
				}
			}
		}
		checkRecords(t, st, fx)
	})
	t.Logf("two servers (%s): clients created %d records and took %d transitions through both; %d refused for stock, %d conflicts",
		backend, stats.created.Load(), stats.taken.Load(), stats.refused.Load(), stats.conflicts.Load())
}

// publishTwin publishes version 1.0.1 of the crash package, which adds
// stock_request, through the admin pages of the server at base, with a
// cookie session; it returns when the publish was answered.
func publishTwin(t *testing.T, base, token, csrf string) time.Time {
	t.Helper()
	files := map[string]string{}
	dir := filepath.Join("testdata", "crash")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	files["package.yaml"] = strings.Replace(files["package.yaml"], "version: 1.0.0", "version: 1.0.1", 1)
	files["stock_request.yaml"] = stockRequest
	js, _ := json.Marshal(files)
	form := url.Values{"_csrf": {csrf}, "files": {string(js)}, "note": {"stock requests"}}
	req, err := http.NewRequest("POST", base+"/admin/packages/crash/publish", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "yerp_session", Value: token})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "published=1.0.1") {
		t.Fatalf("publish on A: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return time.Now()
}
