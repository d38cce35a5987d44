package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	validator "github.com/pb33f/libopenapi-validator"

	"github.com/pb33f/libopenapi"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

var ctx = context.Background()

// A test package on top of core: orders owned by salespeople, and visit notes
// that link to orders.
var testPackage = map[string]string{
	"package.yaml": "package: sales\nversion: 1.0.0\nlabel: {zh-CN: 销售, en: Sales}\nrequires: {core: ^1.0}\n",
	"sales_order.yaml": `entity: sales_order
label: {zh-CN: 批发订货单, en: Sales order}
number: "SO-{seq:5}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true}
      qty: {type: quantity, required: true, min: 0.001}
      price: {type: money, default: "item.price"}
      amount: {type: money, compute: "qty * price"}
      cost: {type: money, default: "item.cost"}
  total: {type: money, compute: "sum(lines, .amount)", label: {zh-CN: 合计, en: Total}}
  note: {type: text, label: {zh-CN: 备注, en: Note}}
  contract: {type: attachment, max_size: 2000, accept: [application/pdf, image/*], label: {zh-CN: 合同, en: Contract}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [sales, sales_manager]}
  done: {final: true, label: {zh-CN: 完成, en: Done}}
transitions:
  finish: {from: draft, to: done, roles: [sales_manager], label: {zh-CN: 完成, en: Finish}}
  submit:
    from: draft
    to: done
    roles: [sales]
    label: {zh-CN: 提交, en: Submit}
    approval: {steps: [{name: manager, roles: [sales_manager]}]}
  transfer:
    from: draft
    roles: [sales]
    label: {zh-CN: 转交, en: Transfer}
    input:
      to_user: {type: user, required: true, label: {zh-CN: 转交给, en: To}}
      reason: {type: text, required: true, label: {zh-CN: 原因, en: Reason}}
    effects:
      - assign: {to: input.to_user, note: input.reason}
access:
  sales:
    read: "owner == user.id"
    create: true
    update: "owner == user.id"
    fields: {hide: [lines.cost]}
  sales_manager: {read: true, update: true}
`,
	"visit_note.yaml": `entity: visit_note
label: {zh-CN: 拜访记录, en: Visit note}
fields:
  order: {type: link, to: sales_order, label: {zh-CN: 订单, en: Order}}
  text: {type: text, required: true, label: {zh-CN: 内容, en: Text}}
access:
  sales: {read: "owner == user.id", create: true}
`,
}

type harness struct {
	t    *testing.T
	base string
	st   store.Store
	ids  map[string]string
}

func catalog(t testing.TB) fs.FS {
	cat := fstest.MapFS{}
	for name, text := range testPackage {
		cat["sales/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	err := fs.WalkDir(templates.FS, "core", func(p string, d fs.DirEntry, err error) error {
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
	return cat
}

func start(t *testing.T, st store.Store) *harness {
	t.Helper()
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
		{Username: "bob", Name: "Bob", Roles: []string{"sales"}, Password: "bob-password-1", Language: "en"},
		{Username: "mia", Name: "Mia", Roles: []string{"sales_manager"}, Password: "mia-password-1"},
	} {
		if _, err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	h := &harness{t: t, st: st, ids: map[string]string{},
		base: serve(t, New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: Info{Version: "test"}}))}
	admin := h.login("admin", "admin-password-1")
	for _, c := range []struct{ entity, key, body string }{
		{"customer", "C1", `{"code":"C1","name":"华东贸易","credit_limit":"100000"}`},
		{"item", "A", `{"code":"A100","name":"Widget","unit":"pcs","price":"12.50","cost":"8.10"}`},
	} {
		var rec map[string]any
		h.call(admin, "POST", "/api/v1/records/"+c.entity, c.body, nil, 201, &rec)
		h.ids[c.key] = rec["id"].(string)
	}
	return h
}

// client is a logged-in caller: a bearer token, or a cookie session with its CSRF token.
type client struct {
	token, csrf string
	jar         http.CookieJar
}

func (h *harness) login(user, password string) *client {
	h.t.Helper()
	var out struct{ Token, Csrf string }
	h.call(nil, "POST", "/api/v1/auth/login", `{"username":"`+user+`","password":"`+password+`"}`, nil, 200, &out)
	return &client{token: out.Token, csrf: out.Csrf}
}

// call sends a request and checks the status; out, if given, receives the JSON body.
func (h *harness) call(c *client, method, path, body string, hdr map[string]string, want int, out any) http.Header {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
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
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			h.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.Header
}

func backends(t *testing.T, run func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		run(t, st)
	})
	t.Run("mongo", func(t *testing.T) { run(t, mongotest.Open(t)) })
}

func TestRecordsAPI(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		h := start(t, st)
		alice, bob, mia := h.login("alice", "alice-password-1"), h.login("bob", "bob-password-1"), h.login("mia", "mia-password-1")
		order := `{"customer":"` + h.ids["C1"] + `","lines":[{"item":"` + h.ids["A"] + `","qty":"3"}]}`

		// Create: computed exactly, numbered, owned; hidden cost not shown to sales.
		var rec map[string]any
		hdr := h.call(alice, "POST", "/api/v1/records/sales_order", order, nil, 201, &rec)
		id := rec["id"].(string)
		if rec["total"] != json.Number("37.5") && rec["total"] != "37.5" {
			t.Fatalf("total %v", rec["total"])
		}
		if hdr.Get("ETag") != `"1"` || rec["number"] != "SO-00001" {
			t.Fatalf("etag %q number %v", hdr.Get("ETag"), rec["number"])
		}
		if strings.Contains(mustJSON(rec), "cost") {
			t.Fatalf("sales sees cost: %v", rec)
		}
		h.call(bob, "POST", "/api/v1/records/sales_order", order, nil, 201, nil)

		// List with a filter and sort, and the count on request.
		var page struct {
			Records []map[string]any
			Total   json.Number
		}
		h.call(alice, "GET", "/api/v1/records/sales_order?filter=total%20%3E%2010&sort=-number&count=true", "", nil, 200, &page)
		if len(page.Records) != 1 || page.Total != "1" || page.Records[0]["id"] != id {
			t.Fatalf("alice's list: %+v", page)
		}
		h.call(mia, "GET", "/api/v1/records/sales_order?count=true", "", nil, 200, &page)
		if page.Total != "2" {
			t.Fatalf("manager's count %v", page.Total)
		}

		// Bob cannot reach Alice's order: get, history, filter tricks, links.
		h.call(bob, "GET", "/api/v1/records/sales_order/"+id, "", nil, 404, nil)
		h.call(bob, "GET", "/api/v1/records/sales_order/"+id+"/history", "", nil, 404, nil)
		for _, f := range []string{"id%20%3D%3D%20%27" + id + "%27", "owner%20!%3D%20%27x%27", "true%20%7C%7C%20true"} {
			h.call(bob, "GET", "/api/v1/records/sales_order?count=true&filter="+f, "", nil, 200, &page)
			for _, r := range page.Records {
				if r["id"] == id {
					t.Fatalf("filter %s shows alice's order to bob", f)
				}
			}
		}
		var prob Problem
		h.call(bob, "POST", "/api/v1/records/visit_note", `{"order":"`+id+`","text":"hi"}`, nil, 422, &prob)
		if len(prob.Errors) != 1 || prob.Errors[0].Code != "link_not_found" || prob.Errors[0].Message != "links to a record that does not exist" {
			t.Fatalf("link to another's order: %+v", prob)
		}

		// Update needs If-Match; a stale version is a 409; history shows both.
		h.call(alice, "PATCH", "/api/v1/records/sales_order/"+id, `{"note":"急"}`, nil, 428, nil)
		h.call(alice, "PATCH", "/api/v1/records/sales_order/"+id, `{"note":"急"}`, map[string]string{"If-Match": `"1"`}, 200, &rec)
		h.call(alice, "PATCH", "/api/v1/records/sales_order/"+id, `{"note":"late"}`, map[string]string{"If-Match": `"1"`}, 409, nil)
		var hist struct{ Entries []records.Entry }
		h.call(alice, "GET", "/api/v1/records/sales_order/"+id+"/history", "", nil, 200, &hist)
		if len(hist.Entries) != 2 || hist.Entries[1].Changes[0].Path != "note" {
			t.Fatalf("history %+v", hist)
		}

		// Five mistakes, five errors, in the caller's language.
		prob = Problem{}
		h.call(alice, "POST", "/api/v1/records/sales_order", `{"customer":"nope","note":"a\nb","lines":[{"qty":"x"},{"item":"`+h.ids["A"]+`","qty":"1.23456"}]}`,
			map[string]string{"Accept-Language": "zh-CN"}, 422, &prob)
		var got []string
		for _, e := range prob.Errors {
			got = append(got, e.Field+":"+e.Code)
		}
		sort.Strings(got)
		if want := "customer:link_not_found lines[0].item:required lines[0].qty:not_a_number lines[1].qty:scale note:single_line"; strings.Join(got, " ") != want {
			t.Fatalf("errors %v, want %s", got, want)
		}
		for _, e := range prob.Errors {
			if e.Message == "" || e.Message == e.Code {
				t.Fatalf("untranslated error %+v", e)
			}
		}

		// Operator injection: refused with 400, nothing written.
		before := count(t, st)
		for _, b := range []string{`{"$where":"1"}`, `{"note.x":"1"}`, `{"lines":[{"$gt":""}]}`} {
			h.call(alice, "POST", "/api/v1/records/sales_order", b, nil, 400, nil)
		}
		h.call(alice, "GET", "/api/v1/records/sales_order?filter=%7B%22%24where%22%3A1%7D", "", nil, 400, nil)
		if count(t, st) != before {
			t.Fatal("a refused request wrote something")
		}

		// The OpenAPI document is valid OpenAPI 3.1 and hides cost from sales.
		resp, err := http.NewRequest("GET", h.base+"/api/v1/openapi.json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Header.Set("Authorization", "Bearer "+alice.token)
		r, err := http.DefaultClient.Do(resp)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := io.ReadAll(r.Body)
		r.Body.Close()
		doc, err := libopenapi.NewDocument(spec)
		if err != nil {
			t.Fatal(err)
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			t.Fatalf("validator: %v", errs)
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			for _, e := range verrs {
				t.Errorf("openapi: %s: %s", e.Message, e.Reason)
			}
			t.FailNow()
		}
		if !strings.Contains(string(spec), `"openapi":"3.1.0"`) || strings.Contains(string(spec), `"cost"`) {
			t.Fatalf("spec version or hidden field: %.300s", spec)
		}
	})
}

func TestCookieSessionNeedsCSRF(t *testing.T) {
	backends(t, testCookieSession)
}

func testCookieSession(t *testing.T, st store.Store) {
	h := start(t, st)
	jar, _ := cookiejar.New(nil)
	browser := &client{jar: jar}
	var out struct{ Csrf string }
	h.call(browser, "POST", "/api/v1/auth/login", `{"username":"alice","password":"alice-password-1"}`, nil, 200, &out)
	var rec map[string]any
	h.call(browser, "GET", "/api/v1/auth/me", "", nil, 200, nil)
	order := `{"customer":"` + h.ids["C1"] + `","lines":[{"item":"` + h.ids["A"] + `","qty":"1"}]}`
	h.call(browser, "POST", "/api/v1/records/sales_order", order, nil, 403, nil)
	h.call(browser, "POST", "/api/v1/records/sales_order", order, map[string]string{"X-CSRF-Token": out.Csrf}, 201, &rec)
	h.call(browser, "POST", "/api/v1/auth/logout", "", map[string]string{"X-CSRF-Token": out.Csrf}, 204, nil)
	h.call(browser, "GET", "/api/v1/auth/me", "", nil, 401, nil)
	h.call(nil, "POST", "/api/v1/auth/login", `{"username":"alice","password":"wrong-password"}`, nil, 401, nil)

	// Changing the password: the current one is checked, the policy applies,
	// and sessions begun before the change end.
	bob := h.login("bob", "bob-password-1")
	var prob Problem
	h.call(bob, "POST", "/api/v1/auth/password", `{"current":"nope","new":"bob-password-2"}`, nil, 422, &prob)
	if prob.Errors[0].Field != "current" || prob.Errors[0].Message != "is not the current password" {
		t.Fatalf("wrong current password: %+v", prob)
	}
	prob = Problem{}
	h.call(bob, "POST", "/api/v1/auth/password", `{"current":"bob-password-1","new":"short"}`, nil, 422, &prob)
	if prob.Errors[0].Code != "weak_password" {
		t.Fatalf("weak password: %+v", prob)
	}
	h.call(bob, "POST", "/api/v1/auth/password", `{"current":"bob-password-1","new":"bob-password-2"}`, nil, 204, nil)
	h.call(bob, "GET", "/api/v1/auth/me", "", nil, 401, nil)
	h.login("bob", "bob-password-2")
}

func count(t *testing.T, st store.Store) int64 {
	n, err := st.Count(ctx, "sales_order", nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// A PNG file: the signature and an IHDR chunk are enough for sniffing.
var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 100)...)

func TestAttachments(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		h := start(t, st)
		alice, bob := h.login("alice", "alice-password-1"), h.login("bob", "bob-password-1")
		upload := func(c *client, name string, data []byte, want int) map[string]any {
			req, _ := http.NewRequest("POST", h.base+"/api/v1/files/sales_order/contract?name="+name, bytes.NewReader(data))
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Accept-Language", "en")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != want {
				t.Fatalf("upload %s: %d %v, want %d", name, resp.StatusCode, out, want)
			}
			return out
		}
		info := upload(alice, "scan.png", png, 201)
		if info["content_type"] != "image/png" || info["size"] != float64(len(png)) {
			t.Fatalf("upload: %v", info)
		}
		// The type is sniffed from the bytes, not from the name.
		p := upload(alice, "contract.pdf", []byte("MZ\x90\x00 this is not a pdf"), 422)
		if !strings.Contains(mustJSON(p), "file_type") {
			t.Fatalf("wrong type: %v", p)
		}
		p = upload(alice, "big.png", append(png, make([]byte, 3000)...), 422)
		if !strings.Contains(mustJSON(p), "file_too_large") || !strings.Contains(mustJSON(p), "must be at most 2000 bytes") {
			t.Fatalf("too large: %v", p)
		}
		bobs := upload(bob, "bob.png", png, 201)

		order := `{"customer":"` + h.ids["C1"] + `","lines":[{"item":"` + h.ids["A"] + `","qty":"1"}],"contract":"%s"}`
		var prob Problem
		h.call(alice, "POST", "/api/v1/records/sales_order", strings.Replace(order, "%s", bobs["id"].(string), 1), nil, 422, &prob)
		if prob.Errors[0].Code != "file_not_found" {
			t.Fatalf("someone else's file: %+v", prob)
		}
		var rec map[string]any
		h.call(alice, "POST", "/api/v1/records/sales_order", strings.Replace(order, "%s", info["id"].(string), 1), nil, 201, &rec)

		get := func(c *client, want int) []byte {
			req, _ := http.NewRequest("GET", h.base+"/api/v1/records/sales_order/"+rec["id"].(string)+"/files/contract", nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != want {
				t.Fatalf("download: %d, want %d", resp.StatusCode, want)
			}
			if want == 200 && (resp.Header.Get("Content-Type") != "image/png" || !strings.Contains(resp.Header.Get("Content-Disposition"), "scan.png")) {
				t.Fatalf("download headers: %v", resp.Header)
			}
			return data
		}
		if !bytes.Equal(get(alice, 200), png) {
			t.Fatal("downloaded bytes differ")
		}
		get(bob, 404)
	})
}

func TestMetaInTheCallersLanguage(t *testing.T) {
	backends(t, testMeta)
}

func testMeta(t *testing.T, st store.Store) {
	h := start(t, st)
	alice := h.login("alice", "alice-password-1")
	var list struct{ Entities []map[string]any }
	h.call(alice, "GET", "/api/v1/meta/entities", "", map[string]string{"Accept-Language": "en"}, 200, &list)
	names := map[string]string{}
	for _, e := range list.Entities {
		names[e["name"].(string)] = e["label"].(string)
	}
	if names["sales_order"] != "Sales order" || names["customer"] != "Customer" {
		t.Fatalf("entities for sales: %v", names)
	}
	if _, ok := names["company"]; !ok {
		t.Fatalf("company settings are readable by every role: %v", names)
	}
	var meta map[string]any
	h.call(alice, "GET", "/api/v1/meta/entities/sales_order", "", map[string]string{"Accept-Language": "zh-CN"}, 200, &meta)
	if meta["label"] != "批发订货单" || meta["schema"] == nil {
		t.Fatalf("meta: %v", meta)
	}
	text := mustJSON(meta)
	if strings.Contains(text, `"cost"`) {
		t.Fatalf("meta shows a hidden column to sales: %s", text)
	}
	if !strings.Contains(text, `"name":"lines"`) || !strings.Contains(text, `"label":"草稿"`) {
		t.Fatalf("meta lacks the table or the states: %s", text)
	}
	h.call(alice, "GET", "/api/v1/meta/entities/nope", "", nil, 404, nil)
}

func TestTransitionsAPI(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		h := start(t, st)
		alice, mia := h.login("alice", "alice-password-1"), h.login("mia", "mia-password-1")
		var rec map[string]any
		h.call(alice, "POST", "/api/v1/records/sales_order", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":"1"}]}`, nil, 201, &rec)
		id := rec["id"].(string)
		var opts struct{ Transitions []records.Option }
		h.call(alice, "GET", "/api/v1/records/sales_order/"+id+"/transitions", "", nil, 200, &opts)
		byName := func() map[string]records.Option {
			m := map[string]records.Option{}
			for _, o := range opts.Transitions {
				m[o.Name] = o
			}
			return m
		}
		o := byName()
		if len(o) != 3 || o["finish"].Allowed || o["finish"].Reason != "role" ||
			!o["submit"].Allowed || !o["submit"].NeedsApproval || !o["transfer"].Allowed || o["transfer"].NeedsApproval {
			t.Fatalf("alice's options: %+v", opts)
		}
		// The transition is refused for sales, through the API as in the engine.
		h.call(alice, "POST", "/api/v1/records/sales_order/"+id+"/transitions/finish", "", map[string]string{"If-Match": `"1"`}, 403, nil)
		h.call(mia, "POST", "/api/v1/records/sales_order/"+id+"/transitions/finish", "", nil, 428, nil)
		var out struct{ Record map[string]any }
		h.call(mia, "POST", "/api/v1/records/sales_order/"+id+"/transitions/finish", "", map[string]string{"If-Match": `"1"`}, 200, &out)
		if out.Record["state"] != "done" {
			t.Fatalf("after finish: %v", out.Record)
		}
		h.call(mia, "POST", "/api/v1/records/sales_order/"+id+"/transitions/finish", "", map[string]string{"If-Match": `"2"`}, 409, nil)
		h.call(alice, "PATCH", "/api/v1/records/sales_order/"+id, `{"state":"draft"}`, map[string]string{"If-Match": `"2"`}, 403, nil)

		// Once a request is open, its transition waits for it.
		h.call(alice, "POST", "/api/v1/records/sales_order", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":"1"}]}`, nil, 201, &rec)
		id = rec["id"].(string)
		h.call(alice, "POST", "/api/v1/records/sales_order/"+id+"/transitions/submit", "", map[string]string{"If-Match": `"1"`}, 202, nil)
		h.call(alice, "GET", "/api/v1/records/sales_order/"+id+"/transitions", "", nil, 200, &opts)
		if o := byName()["submit"]; o.Allowed || o.Reason != "approval_pending" {
			t.Fatalf("submit while its request is open: %+v", o)
		}
	})
}

// Every error code the engine and the server produce has a message in both
// languages.
func TestEveryCodeHasMessages(t *testing.T) {
	codes := []string{"required", "unknown_field", "readonly", "not_a_number", "scale", "min", "max", "out_of_range",
		"not_a_bool", "not_a_date", "not_a_datetime", "not_an_option", "not_a_list", "not_an_object", "not_text",
		"single_line", "min_length", "max_length", "pattern", "not_an_email", "not_a_phone", "min_rows", "max_rows",
		"link_not_found", "link_filtered", "row_locked", "unique", "use_transition", "invalid_filter", "invalid", "invalid_json", "invalid_key",
		"file_too_large", "file_type", "file_not_found", "not_an_attachment", "check", "receiver_cannot_read",
		"unknown_user", "assign_to_nobody", "wrong_password", "weak_password"}
	for _, c := range codes {
		pair, ok := messages[c]
		if !ok || pair[0] == "" || pair[1] == "" {
			t.Errorf("code %s has no message in both languages", c)
		}
	}
}

func TestApprovalsAPI(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		h := start(t, st)
		alice, mia := h.login("alice", "alice-password-1"), h.login("mia", "mia-password-1")
		var rec map[string]any
		h.call(alice, "POST", "/api/v1/records/sales_order", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":"1"}]}`, nil, 201, &rec)
		id := rec["id"].(string)
		var sub struct {
			Approval string
			Record   map[string]any
		}
		h.call(alice, "POST", "/api/v1/records/sales_order/"+id+"/transitions/submit", "", map[string]string{"If-Match": `"1"`}, 202, &sub)
		if sub.Approval == "" || sub.Record["state"] != "draft" {
			t.Fatalf("submit: %+v", sub)
		}
		var inbox struct {
			Approvals     []records.Approval
			MoreApprovals bool `json:"more_approvals"`
		}
		h.call(mia, "GET", "/api/v1/inbox", "", nil, 200, &inbox)
		if len(inbox.Approvals) != 1 || inbox.Approvals[0].ID != sub.Approval || inbox.MoreApprovals {
			t.Fatalf("mia's inbox: %+v", inbox)
		}
		h.call(mia, "GET", "/api/v1/inbox?limit=many", "", nil, 400, nil)
		h.call(alice, "POST", "/api/v1/approvals/"+sub.Approval+"/approve", "", nil, 403, nil)
		var ap records.Approval
		h.call(mia, "POST", "/api/v1/approvals/"+sub.Approval+"/approve", `{"comment":"ok"}`, nil, 200, &ap)
		if ap.Status != records.ApprovalApproved {
			t.Fatalf("approval: %+v", ap)
		}
		h.call(mia, "GET", "/api/v1/records/sales_order/"+id, "", nil, 200, &rec)
		if rec["state"] != "done" {
			t.Fatalf("after approval: %v", rec["state"])
		}
		h.call(mia, "POST", "/api/v1/approvals/"+sub.Approval+"/approve", "", nil, 409, nil)

		// Notifications: none for alice yet; marking a missing one is a 404.
		var notes struct {
			Notifications []records.Notification
			Unread        json.Number
		}
		h.call(alice, "GET", "/api/v1/notifications", "", nil, 200, &notes)
		if notes.Unread != "0" {
			t.Fatalf("alice's notifications: %+v", notes)
		}
		h.call(alice, "POST", "/api/v1/notifications/nope/read", "", nil, 404, nil)

		// A transfer: bob's inbox holds the record and the unread notice.
		bob := h.login("bob", "bob-password-1")
		var bobID struct{ User struct{ ID string } }
		h.call(bob, "GET", "/api/v1/auth/me", "", nil, 200, &bobID)
		h.call(alice, "POST", "/api/v1/records/sales_order", `{"customer":"`+h.ids["C1"]+`","lines":[{"item":"`+h.ids["A"]+`","qty":"1"}]}`, nil, 201, &rec)
		h.call(alice, "POST", "/api/v1/records/sales_order/"+rec["id"].(string)+"/transitions/transfer",
			`{"input":{"to_user":"`+bobID.User.ID+`","reason":"休假"}}`, map[string]string{"If-Match": `"1"`}, 200, nil)
		var box struct {
			Approvals     []records.Approval
			Assigned      []records.Assignment
			Notifications []records.Notification
			Unread        json.Number
		}
		h.call(bob, "GET", "/api/v1/inbox", "", nil, 200, &box)
		if len(box.Approvals) != 0 || len(box.Assigned) != 1 || box.Assigned[0].Record["id"] != rec["id"] ||
			len(box.Notifications) != 1 || box.Notifications[0].Kind != "assigned" || box.Unread != "1" {
			t.Fatalf("bob's inbox: %+v", box)
		}
		h.call(alice, "GET", "/api/v1/inbox", "", nil, 200, &box)
		if len(box.Assigned) != 0 {
			t.Fatalf("alice's inbox lists what she handed over: %+v", box.Assigned)
		}
	})
}
