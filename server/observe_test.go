package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/metered"
	"github.com/yerp/yerp/engine/store/sqlite"
)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// logBuffer collects the server's log lines (JSON), safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log's request lines.
func (l *logBuffer) requests(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// observed is a server as cmd/yerp builds it: a measured store, a log into a
// buffer, metrics.
type observed struct {
	*harness
	log *logBuffer
}

func startObserved(t *testing.T, raw store.Store, public bool) *observed {
	t.Helper()
	m := NewMetrics()
	st := metered.New(raw, m)
	svc, err := packages.New(ctx, st, catalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sales", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.EnsureAdmin(ctx, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.NewUser{
		{Username: "alice", Name: "Alice", Roles: []string{"sales"}, Password: "alice-password-1"},
		{Username: "mia", Name: "Mia", Roles: []string{"sales_manager"}, Password: "mia-password-1"},
	} {
		if _, err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	logs := &logBuffer{}
	app := New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: Info{Version: "test", Store: "any"},
		Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m, MetricsPublic: public})
	h := &harness{t: t, st: raw, ids: map[string]string{}, base: serve(t, app)}
	admin := h.login("admin", "admin-password-1")
	for _, c := range []struct{ entity, key, body string }{
		{"customer", "C1", `{"code":"C1","name":"华东贸易","credit_limit":"100000"}`},
		{"item", "A", `{"code":"A100","name":"Widget","unit":"pcs","price":"12.50","cost":"8.10"}`},
	} {
		var rec map[string]any
		h.call(admin, "POST", "/api/v1/records/"+c.entity, c.body, nil, 201, &rec)
		h.ids[c.key] = rec["id"].(string)
	}
	return &observed{harness: h, log: logs}
}

// raw sends a request with the given headers and returns the answer whole.
func (o *observed) raw(method, path, body string, hdr map[string]string) (int, http.Header, string) {
	o.t.Helper()
	req, err := http.NewRequest(method, o.base+path, strings.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		o.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

func bearer(c *client) map[string]string {
	return map[string]string{"Authorization": "Bearer " + c.token}
}

// scrape returns /metrics as the admin sees it, checked for the format.
func (o *observed) scrape(c *client) string {
	o.t.Helper()
	status, hdr, body := o.raw("GET", "/metrics", "", bearer(c))
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		o.t.Fatalf("/metrics: %d %s: %s", status, hdr.Get("Content-Type"), body)
	}
	checkExposition(o.t, body)
	return body
}

// sampleRE is one sample line: name, optional labels, value.
var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$`)

// checkExposition checks the text format: every sample belongs to the family
// whose HELP and TYPE came just before it, families appear once, values are
// numbers, and a histogram's buckets are cumulative up to +Inf == _count.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	families := map[string]string{}
	var family, kind string
	var lastBucket float64
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name := strings.Fields(line)[2]
			if _, seen := families[name]; seen {
				t.Fatalf("line %d: family %s appears twice", i+1, name)
			}
			families[name], family = "", name
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || f[2] != family {
				t.Fatalf("line %d: TYPE without its HELP: %q", i+1, line)
			}
			kind = f[3]
			families[family] = kind
		default:
			m := sampleRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a sample: %q", i+1, line)
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("line %d: value %q: %v", i+1, m[3], err)
			}
			name := m[1]
			if kind == "histogram" {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if base != family {
					t.Fatalf("line %d: %s in family %s", i+1, name, family)
				}
				switch {
				case strings.HasSuffix(name, "_bucket"):
					if v < lastBucket {
						t.Fatalf("line %d: buckets not cumulative: %q", i+1, line)
					}
					lastBucket = v
				case strings.HasSuffix(name, "_count"):
					if v != lastBucket {
						t.Fatalf("line %d: count %v, +Inf bucket %v", i+1, v, lastBucket)
					}
					lastBucket = 0
				}
			} else if name != family {
				t.Fatalf("line %d: sample %s in family %s", i+1, name, family)
			}
		}
	}
}

// value returns the sample with exactly these labels (in their order), or
// -1 when there is none.
func value(text, name, labels string) float64 {
	prefix := name
	if labels != "" {
		prefix += "{" + labels + "}"
	}
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

func TestRequestIDsAndLogs(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		o := startObserved(t, st, false)

		// A valid incoming id is kept, answered and logged.
		status, hdr, _ := o.raw("GET", "/healthz", "", map[string]string{"X-Request-ID": "trace-42.a:b_c"})
		if status != 200 || hdr.Get("X-Request-ID") != "trace-42.a:b_c" {
			t.Fatalf("healthz: %d, id %q", status, hdr.Get("X-Request-ID"))
		}
		// An id with other characters, or too long, is replaced.
		for _, bad := range []string{"evil id\"=1", strings.Repeat("x", 129), "<script>"} {
			_, hdr, _ := o.raw("GET", "/healthz", "", map[string]string{"X-Request-ID": bad})
			if got := hdr.Get("X-Request-ID"); got == bad || !validRequestID(got) {
				t.Fatalf("incoming id %q answered as %q", bad, got)
			}
		}
		// Two requests without an id get different ones.
		_, h1, _ := o.raw("GET", "/healthz", "", nil)
		_, h2, _ := o.raw("GET", "/healthz", "", nil)
		if h1.Get("X-Request-ID") == "" || h1.Get("X-Request-ID") == h2.Get("X-Request-ID") {
			t.Fatalf("generated ids %q and %q", h1.Get("X-Request-ID"), h2.Get("X-Request-ID"))
		}

		// A problem answer names its request.
		status, hdr, body := o.raw("GET", "/api/v1/records/customer?filter=secret", "", map[string]string{"X-Request-ID": "anon-list"})
		var p Problem
		if err := json.Unmarshal([]byte(body), &p); err != nil || status != 401 || p.RequestID != "anon-list" || hdr.Get("X-Request-ID") != "anon-list" {
			t.Fatalf("401 problem: %d %s (%v)", status, body, err)
		}

		// Logins, a failed one and a good one: no password, token or cookie is logged.
		status, _, _ = o.raw("POST", "/api/v1/auth/login", `{"username":"alice","password":"wrong-Pa55word-xyz"}`, map[string]string{"Content-Type": "application/json"})
		if status != 401 {
			t.Fatalf("wrong password: %d", status)
		}
		status, _, body = o.raw("POST", "/api/v1/auth/login", `{"username":"alice","password":"alice-password-1"}`, map[string]string{"Content-Type": "application/json", "X-Request-ID": "alice-login"})
		var login struct{ Token, Csrf string }
		if err := json.Unmarshal([]byte(body), &login); err != nil || status != 200 || login.Token == "" {
			t.Fatalf("login: %d %s", status, body)
		}
		alice := &client{token: login.Token}
		if status, _, _ := o.raw("GET", "/api/v1/auth/me", "", map[string]string{"Authorization": "Bearer " + login.Token, "X-Request-ID": "alice-me"}); status != 200 {
			t.Fatalf("me: %d", status)
		}
		if status, _, _ := o.raw("GET", "/api/v1/auth/me", "", map[string]string{"Cookie": sessionCookie + "=" + login.Token, "X-Request-ID": "alice-cookie"}); status != 200 {
			t.Fatalf("me with the cookie: %d", status)
		}
		var me struct{ User struct{ ID string } }
		o.call(alice, "GET", "/api/v1/auth/me", "", nil, 200, &me)

		logText := o.log.String()
		for _, secret := range []string{"wrong-Pa55word-xyz", "alice-password-1", "admin-password-1", login.Token, login.Csrf, "filter=secret"} {
			if strings.Contains(logText, secret) {
				t.Fatalf("the log holds %q:\n%s", secret, logText)
			}
		}

		byID := map[string]map[string]any{}
		for _, line := range o.log.requests(t) {
			for _, k := range []string{"request_id", "method", "route", "status", "duration_ms", "bytes", "ip"} {
				if _, ok := line[k]; !ok {
					t.Fatalf("log line without %s: %v", k, line)
				}
			}
			byID[line["request_id"].(string)] = line
		}
		want := []struct {
			id, method, route string
			status            float64
			user              string
		}{
			{"trace-42.a:b_c", "GET", "/healthz", 200, ""},
			{"anon-list", "GET", "/api/v1", 401, ""},
			{"alice-login", "POST", "/api/v1/auth/login", 200, ""},
			{"alice-me", "GET", "/api/v1/auth/me", 200, me.User.ID},
			{"alice-cookie", "GET", "/api/v1/auth/me", 200, me.User.ID},
		}
		for _, w := range want {
			line := byID[w.id]
			if line == nil {
				t.Fatalf("no log line for %s in\n%s", w.id, logText)
			}
			user, _ := line["user"].(string)
			if line["method"] != w.method || line["route"] != w.route || line["status"] != w.status || user != w.user || line["ip"] != "127.0.0.1" {
				t.Errorf("log line of %s: %v; want %s %s %v user %q", w.id, line, w.method, w.route, w.status, w.user)
			}
		}
		if byID["alice-me"]["bytes"].(float64) < float64(len(`{"user":{}}`)) {
			t.Errorf("bytes of a JSON answer: %v", byID["alice-me"])
		}
	})
}

func TestMetricsAndPprofNeedAnAdmin(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		o := startObserved(t, st, false)
		admin, alice, mia := o.login("admin", "admin-password-1"), o.login("alice", "alice-password-1"), o.login("mia", "mia-password-1")

		for _, path := range []string{"/metrics", "/debug/pprof/cmdline", "/debug/pprof/"} {
			for _, c := range []struct {
				name string
				hdr  map[string]string
				want int
			}{
				{"anonymous", nil, 401},
				{"a wrong token", map[string]string{"Authorization": "Bearer yerp_not-a-token"}, 401},
				{"a salesperson", bearer(alice), 403},
				{"a manager's session cookie", map[string]string{"Cookie": sessionCookie + "=" + mia.token}, 403},
				{"the admin's token", bearer(admin), 200},
				{"the admin's session cookie", map[string]string{"Cookie": sessionCookie + "=" + admin.token}, 200},
			} {
				status, _, body := o.raw("GET", path, "", c.hdr)
				if status != c.want {
					t.Errorf("%s for %s: %d, want %d: %.200s", path, c.name, status, c.want, body)
				}
				if path == "/debug/pprof/cmdline" && status == 200 && !strings.Contains(body, os.Args[0]) {
					t.Errorf("pprof cmdline: %q", body)
				}
				if path == "/metrics" && status != 200 && strings.Contains(body, "yerp_http_requests_total") {
					t.Errorf("metrics shown to %s", c.name)
				}
			}
		}
		// An admin's API token (what Prometheus is given) works too.
		var tok struct{ Token string }
		o.call(admin, "POST", "/api/v1/auth/tokens", `{"name":"prometheus"}`, nil, 201, &tok)
		if status, _, _ := o.raw("GET", "/metrics", "", map[string]string{"Authorization": "Bearer " + tok.Token}); status != 200 {
			t.Fatalf("/metrics with an admin's API token: %d", status)
		}
	})
}

func TestMetrics(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		o := startObserved(t, st, false)
		admin, alice, mia := o.login("admin", "admin-password-1"), o.login("alice", "alice-password-1"), o.login("mia", "mia-password-1")

		// An approval waits; an order is handed to mia (one posting: the
		// record and the notification).
		newOrder := func() string {
			var rec map[string]any
			o.call(alice, "POST", "/api/v1/records/sales_order", `{"customer":"`+o.ids["C1"]+`","lines":[{"item":"`+o.ids["A"]+`","qty":"1"}]}`, nil, 201, &rec)
			return rec["id"].(string)
		}
		o.call(alice, "POST", "/api/v1/records/sales_order/"+newOrder()+"/transitions/submit", "", map[string]string{"If-Match": `"1"`}, 202, nil)
		before := o.scrape(admin)
		var miaID struct{ User struct{ ID string } }
		o.call(mia, "GET", "/api/v1/auth/me", "", nil, 200, &miaID)
		o.call(alice, "POST", "/api/v1/records/sales_order/"+newOrder()+"/transitions/transfer",
			`{"input":{"to_user":"`+miaID.User.ID+`","reason":"休假"}}`, map[string]string{"If-Match": `"1"`}, 200, nil)

		list := `method="GET",route="/api/v1/records/:entity",status="2xx"`
		n0 := max(0, value(before, "yerp_http_requests_total", list))
		for range 3 {
			o.call(alice, "GET", "/api/v1/records/customer", "", nil, 200, nil)
		}
		o.raw("GET", "/no/such/path?token=abc", "", nil)
		after := o.scrape(admin)

		if n := value(after, "yerp_http_requests_total", list); n != n0+3 {
			t.Errorf("list requests: %v before, %v after three more", n0, n)
		}
		if n := value(after, "yerp_http_request_duration_seconds_count", list); n != n0+3 {
			t.Errorf("list latency count: %v", n)
		}
		if value(after, "yerp_http_request_duration_seconds_sum", list) <= 0 {
			t.Errorf("list latency sum: %v", value(after, "yerp_http_request_duration_seconds_sum", list))
		}
		if n := value(after, "yerp_http_requests_total", `method="GET",route="unmatched",status="4xx"`); n != 1 {
			t.Errorf("unmatched requests: %v", n)
		}
		if strings.Contains(after, "/no/such/path") || strings.Contains(after, "token=abc") || strings.Contains(after, o.ids["C1"]) {
			t.Errorf("raw paths in the metrics")
		}
		for _, op := range []string{"get", "find", "insert", "replace"} {
			if n := value(after, "yerp_store_operation_duration_seconds_count", `operation="`+op+`"`); n <= 0 {
				t.Errorf("store %s latency count: %v", op, n)
			}
		}
		if n := value(after, "yerp_store_operation_errors_total", `operation="get"`); n != 0 {
			t.Errorf("store get errors: %v", n)
		}
		started, done := value(after, "yerp_postings_started_total", ""), value(after, "yerp_postings_done_total", "")
		if done-value(before, "yerp_postings_done_total", "") != 1 || started-value(before, "yerp_postings_started_total", "") != 1 {
			t.Errorf("postings: started %v -> %v, done %v -> %v; want one more each", value(before, "yerp_postings_started_total", ""), started, value(before, "yerp_postings_done_total", ""), done)
		}
		if n := value(after, "yerp_postings_rolled_back_total", ""); n != 0 {
			t.Errorf("postings rolled back: %v", n)
		}
		if n := value(after, "yerp_approvals_pending", ""); n != 1 {
			t.Errorf("approvals pending: %v", n)
		}
		if n := value(after, "yerp_outbox_pending", ""); n != 0 {
			t.Errorf("outbox: %v", n)
		}
		if n := value(after, "yerp_build_info", `version="test",store="any"`); n != 1 {
			t.Errorf("build info: %v", n)
		}
	})
}

// Every metric docs/operations.md names is exposed, and every exposed
// family is documented.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`((?:yerp|go|process)_[a-z_]+)[`{]").FindAllStringSubmatch(string(doc), -1) {
		named[m[1]] = true
	}
	if len(named) < 10 {
		t.Fatalf("docs/operations.md names %d metrics", len(named))
	}
	backends(t, func(t *testing.T, st store.Store) {
		o := startObserved(t, st, true)
		status, _, text := o.raw("GET", "/metrics", "", nil) // --metrics-public
		if status != 200 {
			t.Fatalf("public /metrics: %d", status)
		}
		checkExposition(t, text)
		exposed := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(text, -1) {
			exposed[m[1]] = true
		}
		for name := range named {
			if !exposed[name] {
				t.Errorf("docs/operations.md names %s; /metrics has no such family", name)
			}
		}
		for name := range exposed {
			if !named[name] {
				t.Errorf("/metrics exposes %s; docs/operations.md does not describe it", name)
			}
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	st := openSQLite(t)
	o := startObserved(t, st, false)
	alice := o.login("alice", "alice-password-1")
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
	}{
		{"liveness", "GET", "/healthz", nil, 200},
		{"an API answer", "GET", "/api/v1/auth/me", bearer(alice), 200},
		{"an API error", "GET", "/api/v1/records/no_such_entity", bearer(alice), 404},
		{"not signed in", "GET", "/api/v1/auth/me", nil, 401},
		{"no route", "GET", "/nothing/here", nil, 404},
		{"a refused metrics scrape", "GET", "/metrics", bearer(alice), 403},
	} {
		status, hdr, body := o.raw(c.method, c.path, "", c.hdr)
		if status != c.status {
			t.Fatalf("%s: %d, want %d: %s", c.name, status, c.status, body)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "same-origin",
		} {
			if got := hdr.Get(k); got != want {
				t.Errorf("%s: %s is %q, want %q", c.name, k, got, want)
			}
		}
		if hdr.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", c.name)
		}
		if hdr.Get("X-Request-ID") == "" {
			t.Errorf("%s: no X-Request-ID", c.name)
		}
	}
}

// A print layout keeps its own policy, which lets the UI frame it.
func TestSecurityHeadersKeepAPagesPolicy(t *testing.T) {
	for _, c := range []struct{ csp, want, frame string }{
		{"default-src 'self'; script-src 'self'", "default-src 'self'; script-src 'self'; frame-ancestors 'none'", "DENY"},
		{"default-src 'none'; frame-ancestors 'self'", "default-src 'none'; frame-ancestors 'self'", "SAMEORIGIN"},
	} {
		app := New(Deps{Store: openSQLite(t)})
		app.Get("/page", func(ctx fiber.Ctx) error {
			ctx.Set("Content-Security-Policy", c.csp)
			return ctx.SendString("<p>page</p>")
		})
		base := serve(t, app)
		resp, err := http.Get(base + "/page")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Security-Policy"); got != c.want {
			t.Errorf("policy %q became %q, want %q", c.csp, got, c.want)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != c.frame {
			t.Errorf("policy %q: X-Frame-Options %q, want %q", c.csp, got, c.frame)
		}
	}
}
