package server

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// attack is one hostile request: it must get a clean 4xx (never a 5xx, a
// hang or a dropped connection) and write nothing.
type attack struct {
	name         string
	method, path string
	body         []byte
	hdr          map[string]string
	as           *client // nil: anonymous
	want         int     // the status; 0: any 4xx
	code         string  // a field problem code the answer must hold; "" checks none
	// declared, when set, sends only the headers with this Content-Length
	// (and no body) on a raw connection.
	declared int
	// mayDrop accepts a connection the server closed instead of answering:
	// fasthttp refuses headers larger than its read buffer (431) and closes
	// with data unread, so the client may see the reset before the answer.
	mayDrop bool
}

// bookkeeping are the collections that a refused request may legitimately
// write: session refreshes, rate-limit counters and the sign-in audit log.
// They are checked where it matters (the login cases).
var bookkeeping = []string{auth.SessionsCollection, auth.AttemptsCollection, auth.AuditCollection}

// sysCollections are the engine's own collections (besides one per entity).
var sysCollections = []string{
	"sys_audit", "sys_approvals", "sys_approval_locks", "sys_notifications", "sys_outbox", "sys_postings", "sys_posting_steps",
	"sys_series", "sys_files", "sys_file_chunks", "sys_stock_bins", "sys_stock_ledger", "sys_party_balances", "sys_party_ledger",
	"sys_idempotency", "sys_tracking_links", "sys_tracking_keys", "sys_imports", "sys_packages", "sys_package_versions",
	auth.UsersCollection, auth.TokensCollection,
}

// storeState is, per collection, how many documents it holds and the sum of
// their versions: a refused request must change neither.
type storeState map[string][2]int64

// snapshot reads the state of every collection: the installed entities',
// the engine's, and on SQLite every collection the file holds (so that a
// collection created by an attack is seen too).
func snapshot(t *testing.T, st store.Store) storeState {
	t.Helper()
	svc, err := packages.New(ctx, st, catalog(t))
	if err != nil {
		t.Fatal(err)
	}
	colls := slices.Clone(sysCollections)
	for name := range svc.Model().Entities {
		colls = append(colls, name)
	}
	if s, ok := st.(*sqlite.Store); ok {
		db, err := sql.Open("sqlite", "file:"+s.Path()+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(`SELECT name FROM _yerp_collections`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			colls = append(colls, name)
		}
		rows.Close()
		db.Close()
	}
	out := storeState{}
	for _, coll := range colls {
		if slices.Contains(bookkeeping, coll) {
			continue
		}
		var n, versions int64
		q := store.Query{Limit: 1000}
		for {
			page, err := st.Find(ctx, coll, q)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatalf("snapshot %s: %v", coll, err)
			}
			for _, d := range page.Docs {
				n++
				versions += d.Version()
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		out[coll] = [2]int64{n, versions}
	}
	return out
}

// diff lists what changed between two snapshots.
func (s storeState) diff(after storeState) []string {
	var out []string
	for coll, a := range after {
		if b := s[coll]; a != b {
			out = append(out, fmt.Sprintf("%s: %d docs (version sum %d) -> %d docs (version sum %d)", coll, b[0], b[1], a[0], a[1]))
		}
	}
	slices.Sort(out)
	return out
}

// sendRaw sends a request and returns the answer, without judging it.
func (h *harness) sendRaw(c *client, method, path string, body []byte, hdr map[string]string) (int, []byte, http.Header) {
	h.t.Helper()
	status, data, header, err := h.trySend(c, method, path, body, hdr)
	if err != nil {
		h.t.Fatalf("%s %.80s: %v", method, path, err)
	}
	return status, data, header
}

// declareOnly sends the headers of a.method a.path with Content-Length
// a.declared, and no body, and reads the answer.
func (h *harness) declareOnly(a attack) (int, []byte) {
	h.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: yerp\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", a.method, a.path, a.declared)
	if a.as != nil {
		head += "Authorization: Bearer " + a.as.token + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("%s %s with Content-Length %d: %v", a.method, a.path, a.declared, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// trySend sends a request and returns the answer or the transport error.
func (h *harness) trySend(c *client, method, path string, body []byte, hdr map[string]string) (int, []byte, http.Header, error) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "en")
	if c != nil && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := http.DefaultClient
	if c != nil && c.jar != nil {
		hc = &http.Client{Jar: c.jar}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header, nil
}

// run sends each attack and checks the answer and that nothing was
// written; it returns how many ran.
func (h *harness) run(t *testing.T, st store.Store, attacks []attack) int {
	t.Helper()
	for _, a := range attacks {
		before := snapshot(t, st)
		var status int
		var data []byte
		switch {
		case a.declared > 0:
			status, data = h.declareOnly(a)
		case a.mayDrop:
			var err error
			if status, data, _, err = h.trySend(a.as, a.method, a.path, a.body, a.hdr); err != nil {
				status, data = http.StatusRequestHeaderFieldsTooLarge, []byte("connection closed by the server: "+err.Error())
			}
		default:
			status, data, _ = h.sendRaw(a.as, a.method, a.path, a.body, a.hdr)
		}
		show := string(data)
		if len(show) > 300 {
			show = show[:300] + "..."
		}
		switch {
		case status < 400 || status >= 500:
			t.Errorf("%s: status %d, want a 4xx: %s", a.name, status, show)
		case a.want != 0 && status != a.want:
			t.Errorf("%s: status %d, want %d: %s", a.name, status, a.want, show)
		case a.code != "" && !strings.Contains(string(data), `"code":"`+a.code+`"`):
			t.Errorf("%s: no %q problem in %s", a.name, a.code, show)
		}
		if d := before.diff(snapshot(t, st)); len(d) > 0 {
			t.Errorf("%s: a refused request wrote: %v", a.name, d)
		}
	}
	// Still serving.
	h.call(nil, "GET", "/healthz", "", nil, 200, nil)
	return len(attacks)
}

// nested is a JSON value nested depth levels deep in lists.
func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// q escapes a filter for a query string.
func q(s string) string { return url.QueryEscape(s) }

// The attack corpus against the REST API, on both backends: operator
// injection in bodies and filters, prototype-style keys, huge and deeply
// nested bodies, 10 MB strings, invalid UTF-8, filter bombs, path
// traversal in print, file and entity names. Each gets a clean 4xx and
// writes nothing.
func TestHostileInput(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		h := start(t, st)
		alice, mia := h.login("alice", "alice-password-1"), h.login("mia", "mia-password-1")
		order := `{"customer":"` + h.ids["C1"] + `","lines":[{"item":"` + h.ids["A"] + `","qty":"3"}]}`
		var rec, taken map[string]any
		h.call(alice, "POST", "/api/v1/records/sales_order", order, nil, 201, &rec)
		id := rec["id"].(string)
		h.call(alice, "POST", "/api/v1/records/sales_order", order, nil, 201, &rec)
		submitted := rec["id"].(string)
		h.call(alice, "POST", "/api/v1/records/sales_order/"+submitted+"/transitions/submit", "", map[string]string{"If-Match": `"1"`}, 202, &taken)
		approval, _ := taken["approval"].(string)
		if approval == "" {
			t.Fatalf("submit: no approval in %v", taken)
		}
		// The snapshot sees a write: a legitimate create changes it.
		before := snapshot(t, st)
		h.call(alice, "POST", "/api/v1/records/visit_note", `{"text":"control"}`, nil, 201, nil)
		if d := before.diff(snapshot(t, st)); len(d) == 0 {
			t.Fatal("the snapshot does not see a create")
		}
		ifMatch := map[string]string{"If-Match": `"1"`}
		orders := "/api/v1/records/sales_order"
		one := orders + "/" + id
		post := func(name, body string, want int, code string) attack {
			return attack{name: name, method: "POST", path: orders, body: []byte(body), as: alice, want: want, code: code}
		}
		patch := func(name, body string, want int, code string) attack {
			return attack{name: name, method: "PATCH", path: one, body: []byte(body), hdr: ifMatch, as: alice, want: want, code: code}
		}
		filter := func(name, f string) attack {
			return attack{name: name, method: "GET", path: orders + "?filter=" + q(f), as: alice}
		}
		tenMB := strings.Repeat("x", 10<<20)
		attacks := []attack{
			// Operator injection and path keys in bodies: refused outright.
			post("an operator as a field value", `{"note":{"$gt":""}}`, 400, "invalid_key"),
			post("$where at the top", `{"$where":"1"}`, 400, "invalid_key"),
			post("$ne on a link", `{"customer":{"$ne":null}}`, 400, "invalid_key"),
			post("a dotted key", `{"note.x":"1"}`, 400, "invalid_key"),
			post("an operator in a row", `{"lines":[{"$gt":""}]}`, 400, "invalid_key"),
			post("$in inside a row's link", `{"lines":[{"item":{"$in":["a"]}}]}`, 400, "invalid_key"),
			post("an empty key", `{"":"x"}`, 400, "invalid_key"),
			post("$set through create", `{"$set":{"owner":"x"}}`, 400, "invalid_key"),
			patch("$set through update", `{"$set":{"owner":"x"}}`, 400, "invalid_key"),
			patch("an operator as an updated value", `{"note":{"$set":{"owner":"x"}}}`, 400, "invalid_key"),
			patch("$unset through update", `{"$unset":{"note":""}}`, 400, "invalid_key"),
			{name: "an operator in a transition's input", method: "POST", path: one + "/transitions/transfer", body: []byte(`{"input":{"to_user":{"$ne":""},"reason":"x"}}`), hdr: ifMatch, as: alice, want: 400, code: "invalid_key"},
			{name: "an operator in a batch", method: "POST", path: "/api/v1/batch", body: []byte(`{"operations":[{"op":"create","entity":"sales_order","values":{"note":{"$gt":""}}}]}`), as: alice, want: 400, code: "invalid_key"},
			// Prototype-style and system keys: not fields.
			post("__proto__", `{"__proto__":{"isAdmin":true}}`, 422, "unknown_field"),
			post("constructor.prototype", `{"constructor":{"prototype":{"isAdmin":true}}}`, 422, "unknown_field"),
			post("prototype", `{"prototype":"x"}`, 422, "unknown_field"),
			post("__proto__ in a row", `{"customer":"`+h.ids["C1"]+`","lines":[{"__proto__":{"qty":"1"}}]}`, 422, "unknown_field"),
			patch("__proto__ in an update", `{"__proto__":{"state":"done"}}`, 422, "unknown_field"),
			post("the store's _id", `{"_id":"evil"}`, 0, ""),
			post("the owner", `{"owner":"someone-else"}`, 422, "readonly"),
			post("the state", `{"state":"done"}`, 0, ""),
			post("the version", `{"version":99}`, 422, "readonly"),
			post("a NUL in a key", `{"note\u0000":"x"}`, 422, "unknown_field"),
			// Operator injection in filters and sorts.
			filter("a JSON filter", `{"$where":1}`),
			filter("an operator as a filter value", `note == {"$gt": ""}`),
			filter("a $ field", `$where == 1`),
			filter("a prototype field", `__proto__ == 1`),
			filter("constructor after a true part", `owner != 'x' || constructor.prototype == 1`),
			filter("SQL in a string", `note == "x' OR 1=1 --"`+` && $gt == 1`),
			filter("a function call", `len(note) > 0`),
			{name: "a $ sort", method: "GET", path: orders + "?sort=" + q("$where"), as: alice},
			{name: "a prototype sort", method: "GET", path: orders + "?sort=__proto__", as: alice},
			{name: "a forged cursor", method: "GET", path: orders + "?cursor=" + q(`' OR 1=1 --`), as: alice},
			// Filter bombs: bounded by length, depth and comparisons.
			// Parentheses are not nesting to the translator (1,000 pairs read
			// as total > 1, a harmless filter); 2,000 pairs are too long.
			filter("2,000 nested parentheses", strings.Repeat("(", 2000)+"total > 1"+strings.Repeat(")", 2000)),
			filter("700 nots", strings.Repeat("not ", 700)+"total > 1"),
			filter("250 comparisons", strings.Repeat("total > 1 || ", 249)+"total > 1"),
			filter("a 3,500-character number", "total > "+strings.Repeat("9", 3500)),
			filter("an exponent bomb", "total > 1e999999999"),
			{name: "a 20,000-character filter", method: "GET", path: orders + "?filter=" + strings.Repeat("total%3E1%7C%7C", 1500) + "true", as: alice},
			{name: "a filter with invalid UTF-8", method: "GET", path: orders + "?filter=note%20%3D%3D%20%27%FF%FE%27", as: alice, want: 400},
			{name: "a filter with a NUL", method: "GET", path: orders + "?filter=note%00%20%3D%3D%20%27a%27", as: alice, want: 400},
			// Size: over the body limit, 10 MB strings, row and number bombs.
			// The server refuses a body over the limit from its declared
			// length, before reading it; the body is not sent here, because
			// the server then closes a connection with unread data and the
			// reset could race the answer.
			{name: "a body over the limit", method: "POST", path: orders, declared: records.DefaultMaxFile + (2 << 20), as: alice, want: 413},
			post("10 MB in a text field", `{"customer":"`+h.ids["C1"]+`","note":"`+tenMB+`"}`, 422, "max_length"),
			patch("10 MB in an updated text field", `{"note":"`+tenMB+`"}`, 422, "max_length"),
			post("a 100 kB key", `{"`+strings.Repeat("k", 100<<10)+`":1}`, 422, "unknown_field"),
			post("10,001 rows", `{"customer":"`+h.ids["C1"]+`","lines":[`+strings.Repeat(`{},`, 10000)+`{}]}`, 422, "max_rows"),
			post("a huge exponent", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":1e999999999}]}`, 422, ""),
			post("a huge exponent in a string", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":"1e999999999"}]}`, 422, ""),
			post("100,000 digits", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":"`+strings.Repeat("9", 100000)+`"}]}`, 422, ""),
			{name: "a 10 MB approval comment", method: "POST", path: "/api/v1/approvals/" + approval + "/reject", body: []byte(`{"comment":"` + tenMB + `"}`), as: mia, want: 422, code: "max_length"},
			{name: "a 10 MB token name", method: "POST", path: "/api/v1/auth/tokens", body: []byte(`{"name":"` + tenMB + `","days":1}`), as: alice, want: 400},
			{name: "a 10 MB username", method: "POST", path: "/api/v1/auth/login", body: []byte(`{"username":"` + tenMB + `","password":"x"}`), want: 401},
			{name: "a 10 MB password", method: "POST", path: "/api/v1/auth/login", body: []byte(`{"username":"alice","password":"` + tenMB + `"}`), want: 401},
			{name: "a 1 MB bearer token", method: "GET", path: "/api/v1/auth/me", hdr: map[string]string{"Authorization": "Bearer " + strings.Repeat("y", 1<<20)}, mayDrop: true},
			// Nesting.
			post("100,000 nested lists", `{"note":`+nested(100000)+`}`, 400, "invalid_json"),
			post("9,000 nested lists (under encoding/json's own limit)", `{"note":`+nested(9000)+`}`, 400, "invalid_json"),
			post("5,000 nested objects", strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000), 400, "invalid_json"),
			post("100,000 nested lists in a batch", `{"operations":`+nested(100000)+`}`, 400, "invalid_json"),
			// Not one JSON object.
			post("a second object after the first", `{"note":"x"} {"$where":"1"}`, 400, "invalid_json"),
			post("a list", `[{"note":"x"}]`, 400, "invalid_json"),
			post("null", `null`, 400, "invalid_json"),
			// Invalid UTF-8: refused, not stored as U+FFFD.
			post("invalid UTF-8 in a value", "{\"customer\":\""+h.ids["C1"]+"\",\"note\":\"\xff\xfe\"}", 400, "invalid_json"),
			post("invalid UTF-8 in a key", "{\"\xff\":1}", 400, "invalid_json"),
			post("an overlong encoding of /", "{\"note\":\"\xc0\xaf\"}", 400, "invalid_json"),
			post("a UTF-16 surrogate encoded in UTF-8", "{\"note\":\"\xed\xa0\x80\"}", 400, "invalid_json"),
			{name: "invalid UTF-8 in a login", method: "POST", path: "/api/v1/auth/login", body: []byte("{\"username\":\"alice\xff\",\"password\":\"x\"}"), want: 400},
			{name: "invalid UTF-8 in a comment", method: "POST", path: "/api/v1/approvals/" + approval + "/reject", body: []byte("{\"comment\":\"\xff\"}"), as: mia, want: 400},
			// Path traversal in print, file and entity names.
			{name: "a print named ../../etc/passwd", method: "GET", path: one + "/prints/..%2F..%2Fetc%2Fpasswd", as: alice, want: 404},
			{name: "a print named %2e%2e%2f", method: "GET", path: one + "/prints/%2e%2e%2f%2e%2e%2fetc%2fpasswd", as: alice, want: 404},
			{name: "a print name with a NUL", method: "GET", path: one + "/prints/sales_order%00.html", as: alice, want: 404},
			{name: "a print name with a backslash", method: "GET", path: one + "/prints/..%5C..%5Cwindows%5Cwin.ini", as: alice, want: 404},
			{name: "a file field named ../../etc/passwd", method: "GET", path: one + "/files/..%2F..%2Fetc%2Fpasswd", as: alice},
			{name: "an entity named ../sys_users", method: "GET", path: "/api/v1/records/..%2Fsys_users", as: alice},
			{name: "an entity named sys_users", method: "GET", path: "/api/v1/records/sys_users", as: alice, want: 404},
			{name: "an id with a NUL", method: "GET", path: orders + "/" + id + "%00", as: alice, want: 404},
			{name: "an upload named ../../etc/passwd", method: "POST", path: "/api/v1/files/sales_order/contract?name=" + q("../../etc/passwd"), body: png, as: alice, want: 422, code: "file_name"},
			{name: "an upload named %2e%2e%2f (decoded once)", method: "POST", path: "/api/v1/files/sales_order/contract?name=%2e%2e%2f%2e%2e%2fetc%2fpasswd", body: png, as: alice, want: 422, code: "file_name"},
			{name: "an upload named with a NUL", method: "POST", path: "/api/v1/files/sales_order/contract?name=x.pdf%00.png", body: png, as: alice, want: 422, code: "file_name"},
			{name: "an upload named ..\\..\\win.ini", method: "POST", path: "/api/v1/files/sales_order/contract?name=" + q(`..\..\win.ini`), body: png, as: alice, want: 422, code: "file_name"},
			{name: "an upload named ..", method: "POST", path: "/api/v1/files/sales_order/contract?name=..", body: png, as: alice, want: 422, code: "file_name"},
			{name: "an upload to a field named ../x", method: "POST", path: "/api/v1/files/sales_order/..%2Fcontract?name=a.png", body: png, as: alice},
			// Tokens and cookies that are not ours.
			{name: "a forged bearer token", method: "GET", path: "/api/v1/auth/me", hdr: map[string]string{"Authorization": "Bearer yerp_" + strings.Repeat("A", 43)}, want: 401},
			{name: "a session cookie with a path", method: "GET", path: "/api/v1/auth/me", hdr: map[string]string{"Cookie": "yerp_session=../../etc/passwd"}, want: 401},
		}
		n := h.run(t, st, attacks)

		// Nothing an attack sent was stored anywhere, by any path.
		var list struct{ Records []map[string]any }
		h.call(mia, "GET", orders+"?limit=100", "", nil, 200, &list)
		for _, r := range list.Records {
			if note, _ := r["note"].(string); note != "" {
				t.Errorf("order %v has a note %.40q after the attacks", r["id"], note)
			}
		}
		t.Logf("%d hostile API requests refused cleanly, nothing written", n)
		if n < 80 {
			t.Fatalf("only %d attack cases ran", n)
		}
	})
}

// Guessing passwords over HTTP: after the limit (10 failures per username
// per window) the API answers 429 with Retry-After, even to the right
// password, and every attempt lands in the audit log with the username and
// the IP, never the password. Nothing else is written.
func TestBruteForceLogin(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/yerp.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := start(t, st)
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := users.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, st)
	const guess = "guess-password-"
	n := 0
	for i := 0; i < auth.DefaultUserLimit; i++ {
		status, data, _ := h.sendRaw(nil, "POST", "/api/v1/auth/login", []byte(fmt.Sprintf(`{"username":"Alice","password":"%s%d"}`, guess, i)), nil)
		n++
		if status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s, want 401", i, status, data)
		}
	}
	for _, pw := range []string{guess + "x", "alice-password-1"} {
		status, data, hdr := h.sendRaw(nil, "POST", "/api/v1/auth/login", []byte(`{"username":"alice","password":"`+pw+`"}`), nil)
		n++
		if status != http.StatusTooManyRequests {
			t.Fatalf("over the limit: %d %s, want 429", status, data)
		}
		var secs int
		if _, err := fmt.Sscan(hdr.Get("Retry-After"), &secs); err != nil || secs < 1 || secs > int(auth.DefaultLimitWindow.Seconds())+1 {
			t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
		}
	}
	if d := before.diff(snapshot(t, st)); len(d) > 0 {
		t.Fatalf("guessing wrote %v", d)
	}
	log, err := users.AuditLog(ctx, alice.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	failed, limited := 0, 0
	for _, e := range log {
		switch e.Action {
		case auth.AuditLoginFailed:
			failed++
		case auth.AuditLoginLimited:
			limited++
		default:
			continue
		}
		if e.Username != "alice" || e.IP != "127.0.0.1" || e.At.IsZero() {
			t.Errorf("audit entry %+v: want username alice, IP 127.0.0.1 and a time", e)
		}
		if strings.Contains(fmt.Sprint(e), guess) {
			t.Errorf("the audit log holds a password: %+v", e)
		}
	}
	// Refusals are logged once per full counter and window, not once per
	// request: a flood of refused guesses is not a flood of writes.
	if failed != auth.DefaultUserLimit || limited != 1 {
		t.Fatalf("audit: %d failures and %d refusals, want %d and 1: %+v", failed, limited, auth.DefaultUserLimit, log)
	}
	t.Logf("%d brute-force login attempts: %d refused as wrong, 2 rate-limited (429), all audited", n, failed)
}

// Session fixation: a session token the client picked is never accepted,
// login issues a fresh one (not the one the client sent), and logout ends
// the session on the server, so the old token is refused even if a copy
// of the cookie survives.
func TestSessionFixation(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/yerp.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := start(t, st)
	chosen := strings.Repeat("A", 43) // the length of a real session token
	cookie := func(token string) map[string]string { return map[string]string{"Cookie": sessionCookie + "=" + token} }
	if status, data, _ := h.sendRaw(nil, "GET", "/api/v1/auth/me", nil, cookie(chosen)); status != http.StatusUnauthorized {
		t.Fatalf("a chosen token: %d %s", status, data)
	}
	status, data, hdr := h.sendRaw(nil, "POST", "/api/v1/auth/login", []byte(`{"username":"alice","password":"alice-password-1"}`), cookie(chosen))
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, data)
	}
	var issued string
	httpOnly := false
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == sessionCookie {
			issued, httpOnly = c.Value, c.HttpOnly
		}
	}
	if issued == "" || issued == chosen || !httpOnly {
		t.Fatalf("login kept the chosen token or set none: %q", issued)
	}
	if status, _, _ := h.sendRaw(nil, "GET", "/api/v1/auth/me", nil, cookie(chosen)); status != http.StatusUnauthorized {
		t.Fatalf("the chosen token after login: %d", status)
	}
	var me struct{ Csrf string }
	h.call(&client{}, "GET", "/api/v1/auth/me", "", cookie(issued), 200, &me)
	// Logout without the CSRF token is refused and ends nothing.
	if status, _, _ := h.sendRaw(nil, "POST", "/api/v1/auth/logout", nil, cookie(issued)); status != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", status)
	}
	h.call(&client{}, "GET", "/api/v1/auth/me", "", cookie(issued), 200, nil)
	hdrs := cookie(issued)
	hdrs["X-CSRF-Token"] = me.Csrf
	if status, data, _ := h.sendRaw(nil, "POST", "/api/v1/auth/logout", nil, hdrs); status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", status, data)
	}
	if status, _, _ := h.sendRaw(nil, "GET", "/api/v1/auth/me", nil, cookie(issued)); status != http.StatusUnauthorized {
		t.Fatalf("the token after logout: %d, want 401", status)
	}
	t.Log("4 session-fixation cases held: chosen token refused before and after login, logout without CSRF refused, token dead after logout")
}

// zipBomb is an XLSX file of a few megabytes whose sheet unpacks to
// unpacked bytes.
func zipBomb(t *testing.T, unpacked int) []byte {
	t.Helper()
	wb := excelize.NewFile()
	if err := wb.SetSheetRow("Sheet1", "A1", &[]any{"code", "name"}); err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if err := wb.Write(&good); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(good.Bytes()), int64(good.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestCompression) })
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "xl/worksheets/sheet1.xml" {
			chunk := bytes.Repeat([]byte(" "), 1<<20)
			for n := 0; n < unpacked; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// An XLSX zip bomb (a few MB that unpack to 300 MB) is refused from its
// declared size, before anything is unpacked, and imports nothing.
func TestXLSXZipBomb(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/yerp.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := start(t, st)
	admin := h.login("admin", "admin-password-1")
	bomb := zipBomb(t, 300<<20)
	if len(bomb) > records.DefaultMaxFile {
		t.Fatalf("the bomb is %d bytes, over the upload limit", len(bomb))
	}
	before := snapshot(t, st)
	status, data, _ := h.sendRaw(admin, "POST", "/api/v1/import/customer?format=xlsx&wait=true&name=bomb.xlsx", bomb, nil)
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(data), "size") {
		t.Fatalf("zip bomb: %d %s, want 422 naming the size limit", status, data)
	}
	// The failed job is logged in sys_imports; nothing else is written.
	after := snapshot(t, st)
	delete(before, "sys_imports")
	delete(after, "sys_imports")
	if d := before.diff(after); len(d) > 0 {
		t.Fatalf("the bomb wrote %v", d)
	}
	t.Logf("a %d-byte XLSX that unpacks to 300 MB: refused with %d", len(bomb), status)
}
