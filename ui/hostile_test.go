package ui_test

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/ui"
)

// hostileSite is the whole app (API and UI) over a store with the catalog
// installed, served on loopback, with the app kept for its route table.
type hostileSite struct {
	base  string
	app   *fiber.App
	st    *sqlite.Store
	eng   *records.Engine
	users *auth.Service
	model func() *template.Model
	admin records.User
}

func startHostile(t *testing.T) *hostileSite {
	t.Helper()
	st, svc, users := catalogStore(t)
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	deps := server.Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: server.Info{Version: "test", Store: "sqlite"}}
	app := server.New(deps)
	if err := ui.Mount(app, deps); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return &hostileSite{base: "http://" + ln.Addr().String(), app: app, st: st, eng: eng, users: users, model: svc.Model,
		admin: records.User{ID: "test", Name: "test", Roles: []string{records.AdminRole}}}
}

// bookkeepingColls may change on a refused request: session refreshes,
// login counters and the sign-in audit.
var bookkeepingColls = []string{auth.SessionsCollection, auth.AttemptsCollection, auth.AuditCollection}

// state is, per collection of the SQLite file, its document count and the
// sum of its versions.
func (s *hostileSite) state(t *testing.T) map[string][2]int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+s.st.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM _yerp_collections`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string][2]int64{}
	for _, n := range names {
		if slices.Contains(bookkeepingColls, n) {
			continue
		}
		var docs, versions int64
		if err := db.QueryRow(`SELECT count(*), coalesce(sum(v), 0) FROM "c_`+n+`"`).Scan(&docs, &versions); err != nil {
			t.Fatal(err)
		}
		out[n] = [2]int64{docs, versions}
	}
	return out
}

func changed(before, after map[string][2]int64) []string {
	var out []string
	for k, a := range after {
		if before[k] != a {
			out = append(out, fmt.Sprintf("%s %v -> %v", k, before[k], a))
		}
	}
	return out
}

// XSS payloads, each at most 30 characters (the shortest max_length of a
// free text field filled below).
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	`'><svg/onload=alert(1)>`,
	`</textarea><script>x()</script>`[:30],
}

// xssFill gives every free text field of entity a payload that fits it.
func xssFill(ent *template.Entity, values map[string]any) []string {
	var used []string
	i := 0
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil || (f.Type.V != "text" && f.Type.V != "longtext") || f.Pattern.V != "" || f.Compute.IsSet() {
			continue
		}
		if _, set := values[fe.Key.V]; set {
			continue
		}
		for tries := 0; tries < len(xssPayloads); tries++ {
			p := xssPayloads[(i+tries)%len(xssPayloads)]
			if f.MaxLength == nil || len([]rune(p)) <= *f.MaxLength {
				values[fe.Key.V] = p
				used = append(used, p)
				break
			}
		}
		i++
	}
	return used
}

var jsURL = regexp.MustCompile(`(?i)(href|src|action|formaction|data)\s*=\s*["']?\s*javascript:`)

// escapedEverywhere checks that no payload appears raw in page and that
// the page shows at least one of them, escaped (so the values were
// rendered at all).
func escapedEverywhere(t *testing.T, what, page string, payloads []string) {
	t.Helper()
	shown := false
	for _, p := range payloads {
		if strings.ContainsAny(p, `<>"'`) && strings.Contains(page, p) {
			t.Errorf("%s shows %q unescaped", what, p)
		}
		if strings.Contains(page, html.EscapeString(p)) || strings.Contains(page, strings.ReplaceAll(html.EscapeString(p), "&#34;", "&quot;")) {
			shown = true
		}
	}
	for _, raw := range []string{"<script>alert", "<img src=x", "<svg/onload", "<script>x()"} {
		if strings.Contains(page, raw) {
			t.Errorf("%s holds the markup %q", what, raw)
		}
	}
	if m := jsURL.FindString(page); m != "" {
		t.Errorf("%s has a javascript: URL: %s", what, m)
	}
	if !shown {
		t.Errorf("%s shows none of the stored payloads, escaped or not", what)
	}
}

// XSS payloads stored in every free text field of a customer, of the
// company settings and of a sales order are shown escaped on the record
// page, the edit form, the list, the link type-ahead and the print.
func TestXSSPayloadsAreEscaped(t *testing.T) {
	ctx := context.Background()
	s := startHostile(t)
	m := s.model()
	company := map[string]any{}
	used := xssFill(m.Entities["company"], company)
	if _, err := s.eng.Create(ctx, s.admin, "company", company); err != nil {
		t.Fatal(err)
	}
	wh, err := s.eng.Create(ctx, s.admin, "warehouse", map[string]any{"code": "WH1", "name": xssPayloads[0]})
	if err != nil {
		t.Fatal(err)
	}
	item, err := s.eng.Create(ctx, s.admin, "item", map[string]any{"code": "IT-1", "name": xssPayloads[1], "unit": "pcs", "price": "10", "cost": "1"})
	if err != nil {
		t.Fatal(err)
	}
	cust := map[string]any{"code": "C-0001", "phone": "13800000001", "email": "a@example.com"}
	used = append(used, xssFill(m.Entities["customer"], cust)...)
	c, err := s.eng.Create(ctx, s.admin, "customer", cust)
	if err != nil {
		t.Fatal(err)
	}
	pm, _ := m.Entities["sales_order"].Decl.Fields.Get("payment_method")
	order := map[string]any{"customer": c.ID(), "warehouse": wh.ID(), "payment_method": pm.Options[0].V,
		"lines": []any{map[string]any{"item": item.ID(), "qty": "1"}}}
	used = append(used, xssFill(m.Entities["sales_order"], order)...)
	so, err := s.eng.Create(ctx, s.admin, "sales_order", order)
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 10 {
		t.Fatalf("only %d text fields hold a payload", len(used))
	}

	w := newWeb(t, s.base)
	w.signIn("admin", adminPassword)
	pages := []string{
		"/r/customer/" + c.ID(), "/r/customer/" + c.ID() + "/edit", "/r/customer", "/r/customer?q=" + url.QueryEscape(xssPayloads[0]),
		"/r/sales_order/" + so.ID(), "/r/sales_order/" + so.ID() + "/edit", "/r/sales_order",
		"/r/warehouse/" + wh.ID(), "/r/item", "/ui/lookup/sales_order/customer?q=",
	}
	for name := range m.Entities["sales_order"].Layouts {
		pages = append(pages, "/api/v1/records/sales_order/"+so.ID()+"/prints/"+name)
	}
	n := 0
	for _, p := range pages {
		status, body, hdr := w.do("GET", p, nil)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d", p, status)
			continue
		}
		n++
		if strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			for _, raw := range []string{"<", ">"} { // Go's JSON encoder escapes them as \u003c, \u003e
				if strings.Contains(body, raw) {
					t.Errorf("%s: JSON holds a raw %q", p, raw)
				}
			}
			continue
		}
		escapedEverywhere(t, p, body, used)
	}
	t.Logf("%d payloads in text fields, checked on %d pages", len(used), n)
}

// routeValues are the path parameters of the CSRF probes.
func routeValues(id string) map[string]string {
	return map[string]string{"entity": "customer", "id": id, "name": "x", "field": "name", "decision": "approve", "package": "core", "token": "x", "lang": "en"}
}

// fill puts values into a route's :params and *.
func fill(path string, values map[string]string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, ":"):
			name := strings.TrimRight(strings.TrimPrefix(p, ":"), "?+*")
			v, ok := values[name]
			if !ok {
				v = "x"
			}
			parts[i] = url.PathEscape(v)
		case p == "*" || p == "+":
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

// csrfExempt are the unsafe routes that are not reached with a session:
// signing in (no session yet) and the public tracking page's feedback form
// (its capability is the token in the URL; it reads no cookie).
var csrfExempt = map[string]bool{
	"POST /login":             true,
	"POST /api/v1/auth/login": true,
	"POST /t/:token/feedback": true,
}

// Every unsafe route of the app, API and UI, enumerated from the router,
// reached with a valid session cookie but without the CSRF token (or with
// a wrong one) is refused 403 and changes nothing.
func TestCSRFOnEveryUnsafeRoute(t *testing.T) {
	ctx := context.Background()
	s := startHostile(t)
	c, err := s.eng.Create(ctx, s.admin, "customer", map[string]any{"code": "C-0001", "name": "before"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWeb(t, s.base)
	w.signIn("admin", adminPassword)
	before := s.state(t)
	values := routeValues(c.ID())
	probes := 0
	seen := map[string]bool{}
	for _, r := range s.app.GetRoutes(true) {
		switch r.Method {
		case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
		default:
			continue
		}
		key := r.Method + " " + r.Path
		if seen[key] || csrfExempt[key] {
			continue
		}
		seen[key] = true
		path := fill(r.Path, values)
		for _, token := range []string{"", "wrong-token"} {
			var body io.Reader
			req, err := http.NewRequest(r.Method, s.base+path, body)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(r.Path, "/api/") {
				req.Body = io.NopCloser(strings.NewReader(`{"name":"after"}`))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("X-CSRF-Token", token)
				}
				req.Header.Set("If-Match", `"1"`)
			} else {
				form := url.Values{"name": {"after"}, "code": {"C-0002"}}
				if token != "" {
					form.Set("_csrf", token)
				}
				req.Body = io.NopCloser(strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := w.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			probes++
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s (%s) with token %q: %d, want 403: %.200s", key, path, token, resp.StatusCode, data)
			}
		}
	}
	if d := changed(before, s.state(t)); len(d) > 0 {
		t.Fatalf("CSRF probes wrote: %v", d)
	}
	if got, err := s.eng.Get(ctx, s.admin, "customer", c.ID()); err != nil || got["name"] != "before" {
		t.Fatalf("the customer after the probes: %v %v", got, err)
	}
	// The session still works: the probes ended nothing.
	if status, _, _ := w.do("GET", "/", nil); status != http.StatusOK {
		t.Fatalf("home after the probes: %d", status)
	}
	t.Logf("%d unsafe routes, %d CSRF probes refused with 403, nothing written", len(seen), probes)
	if len(seen) < 30 {
		t.Fatalf("only %d unsafe routes found", len(seen))
	}
}

// sessionCookie returns the session cookie w holds.
func (w *web) sessionCookie() string {
	u, _ := url.Parse(w.base)
	for _, c := range w.c.Jar.Cookies(u) {
		if c.Name == server.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// Session fixation through the UI: a token the client chose is not taken,
// signing in issues a new one, signing out ends it on the server.
// Brute force through the UI: 429 with Retry-After after the limit, every
// attempt in the users page's audit log with the IP. Open redirects after
// sign-in and path traversal in static files are refused.
func TestUISessionsAndLogins(t *testing.T) {
	s := startHostile(t)
	if _, err := s.users.CreateUser(context.Background(), auth.NewUser{Username: "sales1", Name: "张伟", Roles: []string{"sales"}, Password: salesPassword}); err != nil {
		t.Fatal(err)
	}
	before := s.state(t)
	cases := 0
	u, _ := url.Parse(s.base)

	// Fixation.
	w := newWeb(t, s.base)
	chosen := strings.Repeat("B", 43)
	w.c.Jar.SetCookies(u, []*http.Cookie{{Name: server.SessionCookie, Value: chosen, Path: "/"}})
	if status, _, hdr := w.do("GET", "/", nil); status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login") {
		t.Fatalf("a chosen token reached home: %d %s", status, hdr.Get("Location"))
	}
	w.signIn("sales1", salesPassword)
	issued := w.sessionCookie()
	if issued == "" || issued == chosen {
		t.Fatalf("sign-in kept the chosen token: %q", issued)
	}
	status, page, _ := w.do("GET", "/", nil)
	if status != http.StatusOK {
		t.Fatalf("home: %d", status)
	}
	csrf := csrfRE.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token on the home page")
	}
	if status, _, _ := w.do("POST", "/logout", url.Values{"_csrf": {csrf[1]}}); status != http.StatusSeeOther {
		t.Fatalf("logout: %d", status)
	}
	old := newWeb(t, s.base) // a copy of the cookie that survived
	old.c.Jar.SetCookies(u, []*http.Cookie{{Name: server.SessionCookie, Value: issued, Path: "/"}})
	if status, _, _ := old.do("GET", "/", nil); status != http.StatusSeeOther {
		t.Fatalf("the session after logout: %d, want a redirect to sign in", status)
	}
	cases += 3

	// Open redirects after sign-in.
	for _, next := range []string{"https://evil.example/", "//evil.example/", `/\evil.example/`, "javascript:alert(1)"} {
		x := newWeb(t, s.base)
		status, _, hdr := x.do("POST", "/login", url.Values{"username": {"sales1"}, "password": {salesPassword}, "next": {next}})
		if status != http.StatusSeeOther || hdr.Get("Location") != "/" {
			t.Errorf("next=%s: %d to %q, want / ", next, status, hdr.Get("Location"))
		}
		cases++
	}

	// Static files: no way out of the embedded folder.
	for _, p := range []string{"/ui/static/..%2f..%2fui.go", "/ui/static/%2e%2e/%2e%2e/go.mod", "/ui/static/..%5c..%5cui.go", "/ui/static/app.js%00.html"} {
		if status, body, _ := w.do("GET", p, nil); status != http.StatusNotFound || strings.Contains(body, "package ui") {
			t.Errorf("GET %s: %d", p, status)
		}
		cases++
	}

	// Brute force.
	g := newWeb(t, s.base)
	for i := 0; i < auth.DefaultUserLimit; i++ {
		status, _, _ := g.do("POST", "/login", url.Values{"username": {"sales1"}, "password": {fmt.Sprintf("guess-%d", i)}})
		if status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, status)
		}
		cases++
	}
	status, _, hdr := g.do("POST", "/login", url.Values{"username": {"sales1"}, "password": {salesPassword}})
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d, Retry-After %q", status, hdr.Get("Retry-After"))
	}
	cases++
	if d := changed(before, s.state(t)); len(d) > 0 {
		t.Fatalf("the attempts wrote %v", d)
	}
	a := newWeb(t, s.base)
	a.signIn("admin", adminPassword)
	_, users, _ := a.do("GET", "/admin/users", nil)
	for _, want := range []string{"登录失败", "登录被拒绝", "退出登录", "127.0.0.1"} {
		if !strings.Contains(users, want) {
			t.Errorf("the users page's audit log lacks %q", want)
		}
	}
	if strings.Contains(users, "guess-") {
		t.Error("the users page shows a guessed password")
	}
	t.Logf("%d session, redirect, static-path and brute-force cases held", cases)
}
