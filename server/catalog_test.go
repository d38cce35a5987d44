package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/templates"
)

// catalogHarness is a server with the whole built-in catalog installed, as
// `yerp serve --demo` installs it, and the staff of the two processes below.
type catalogHarness struct {
	*harness
	admin, sam, sue, mia, ken, fei, gao *client
	userIDs                             map[string]string // username → id
}

func startCatalog(t *testing.T, st store.Store) *catalogHarness {
	t.Helper()
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := svc.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Installed == "" && svc.Model().Packages[e.Name] == nil {
			if _, err := svc.Install(ctx, e.Name, packages.Options{By: "test"}); err != nil {
				t.Fatalf("install %s: %v", e.Name, err)
			}
		}
	}
	for _, name := range []string{"core", "sales", "crm"} {
		if svc.Model().Packages[name] == nil {
			t.Fatalf("package %s is not installed", name)
		}
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.EnsureAdmin(ctx, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	ch := &catalogHarness{userIDs: map[string]string{}}
	for _, u := range []auth.NewUser{
		{Username: "sam", Name: "Sam", Roles: []string{"sales"}, Password: "sam-password-1"},
		{Username: "sue", Name: "Sue", Roles: []string{"sales"}, Password: "sue-password-1"},
		{Username: "mia", Name: "Mia", Roles: []string{"sales_manager"}, Password: "mia-password-1"},
		{Username: "ken", Name: "Ken", Roles: []string{"warehouse"}, Password: "ken-password-1"},
		{Username: "fei", Name: "Fei", Roles: []string{"field_staff"}, Password: "fei-password-1"},
		{Username: "gao", Name: "Gao", Roles: []string{"field_staff"}, Password: "gao-password-1"},
	} {
		created, err := users.CreateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		ch.userIDs[u.Username] = created.ID
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	ch.harness = &harness{t: t, st: st, ids: map[string]string{},
		base: serve(t, New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: Info{Version: "test"}}))}
	ch.admin = ch.login("admin", "admin-password-1")
	ch.sam, ch.sue, ch.mia = ch.login("sam", "sam-password-1"), ch.login("sue", "sue-password-1"), ch.login("mia", "mia-password-1")
	ch.ken, ch.fei, ch.gao = ch.login("ken", "ken-password-1"), ch.login("fei", "fei-password-1"), ch.login("gao", "gao-password-1")
	return ch
}

// create posts values as c and keeps the new record's id under key.
func (ch *catalogHarness) create(c *client, entity, key, values string) map[string]any {
	ch.t.Helper()
	var rec map[string]any
	ch.call(c, "POST", "/api/v1/records/"+entity, values, nil, 201, &rec)
	ch.ids[key] = rec["id"].(string)
	return rec
}

// get reads a record as c.
func (ch *catalogHarness) get(c *client, entity, id string) map[string]any {
	ch.t.Helper()
	var rec map[string]any
	ch.call(c, "GET", "/api/v1/records/"+entity+"/"+id, "", nil, 200, &rec)
	return rec
}

// take takes a transition as c on the record's current version and returns
// the record after it; want is the expected status.
func (ch *catalogHarness) take(c *client, entity, id, name, input string, want int) map[string]any {
	ch.t.Helper()
	rec := ch.get(c, entity, id)
	body := ""
	if input != "" {
		body = `{"input":` + input + `}`
	}
	var out struct {
		Record   map[string]any
		Warnings []map[string]string
	}
	ch.call(c, "POST", "/api/v1/records/"+entity+"/"+id+"/transitions/"+name, body,
		map[string]string{"If-Match": fmt.Sprintf(`"%v"`, rec["version"])}, want, &out)
	if want == 200 && len(out.Warnings) != 0 {
		ch.t.Fatalf("%s of %s: warnings %v", name, entity, out.Warnings)
	}
	return out.Record
}

// anonymous sends a request with no cookie, no token and no redirects
// followed, as a customer's browser opening a link.
func (ch *catalogHarness) anonymous(method, path, body string, hdr map[string]string) (int, http.Header, string) {
	ch.t.Helper()
	req, err := http.NewRequest(method, ch.base+path, strings.NewReader(body))
	if err != nil {
		ch.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		ch.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

// sameAmount reports whether a money value of a record equals want.
func sameAmount(v any, want string) bool {
	got, err := decimal.Parse(fmt.Sprint(v))
	return err == nil && got.Equal(decimal.MustParse(want))
}

// The catalog's wholesale order (sales/sales_order.yaml, tracking with
// feedback): entered, confirmed, allocated, scanned, packed and shipped by
// the warehouse; the salesperson shares a tracking link; the customer sees
// the order's state, logistics and items, never its prices, cost, margin or
// the customer's credit and phone; the customer's feedback reaches the
// order's history and the salesperson; a revoked link is gone.
func TestCatalogSalesOrderTracking(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ch := startCatalog(t, st)
		ch.create(ch.admin, "warehouse", "WH1", `{"code":"WH1","name":"杭州主仓"}`)
		ch.create(ch.admin, "customer", "C1", `{"code":"C-0001","name":"华东百货","contact_person":"王经理","phone":"0571-88886666",
			"address":"杭州市上城区解放路 100 号","default_warehouse":"`+ch.ids["WH1"]+`","credit_limit":"50000"}`)
		ch.create(ch.admin, "item", "A100", `{"code":"A100","name":"矿泉水","unit":"carton","barcode":"6901234567892","price":"36.75","cost":"21.35"}`)
		ch.create(ch.ken, "opening_stock", "OS", `{"warehouse":"`+ch.ids["WH1"]+`","lines":[{"item":"`+ch.ids["A100"]+`","qty":"100"}]}`)
		if rec := ch.take(ch.ken, "opening_stock", ch.ids["OS"], "post", "", 200); rec["state"] != "posted" {
			t.Fatalf("opening stock: %v", rec)
		}

		// Entry by the salesperson: warehouse, address and phone from the
		// customer, the price from the item.
		so := ch.create(ch.sam, "sales_order", "SO", `{"customer":"`+ch.ids["C1"]+`","lines":[{"item":"`+ch.ids["A100"]+`","qty":"12"}]}`)
		id := ch.ids["SO"]
		if so["number"] != "SO-000001" || so["state"] != "draft" || so["warehouse"] != ch.ids["WH1"] || so["phone"] != "0571-88886666" ||
			!sameAmount(so["total"], "441") || so["margin"] != nil {
			t.Fatalf("entered order: %v", so)
		}
		// The manager sees what the customer must not: the values are there.
		if m := ch.get(ch.mia, "sales_order", id); !sameAmount(m["margin"], "184.80") {
			t.Fatalf("margin for the manager: %v", m["margin"])
		}
		if rec := ch.take(ch.sam, "sales_order", id, "confirm", "", 200); rec["state"] != "confirmed" {
			t.Fatalf("confirm (within the credit limit, in stock): %v", rec)
		}
		rec := ch.take(ch.mia, "sales_order", id, "allocate", "", 200)
		dn, _ := rec["delivery_note"].(string)
		if rec["state"] != "allocated" || dn == "" {
			t.Fatalf("allocate: %v", rec)
		}

		// The warehouse scans and counts every line, packs and ships.
		note := ch.get(ch.ken, "delivery_note", dn)
		lines := note["lines"].([]any)
		if note["state"] != "picking" || note["sales_order"] != id || len(lines) != 1 {
			t.Fatalf("delivery note: %v", note)
		}
		row := lines[0].(map[string]any)["_row"]
		ch.call(ch.ken, "PATCH", "/api/v1/records/delivery_note/"+dn, `{"lines":[{"_row":`+mustJSON(row)+`,"scanned":"6901234567892","packed_qty":"12"}]}`,
			map[string]string{"If-Match": fmt.Sprintf(`"%v"`, note["version"])}, 200, nil)
		if rec := ch.take(ch.ken, "delivery_note", dn, "pack", "", 200); rec["state"] != "packed" {
			t.Fatalf("pack: %v", rec)
		}
		ch.take(ch.ken, "delivery_note", dn, "ship", `{"carrier":"顺丰速运","tracking_no":"SF1234567890","ship_date":"2026-03-02"}`, 200)
		so = ch.get(ch.sam, "sales_order", id)
		if so["state"] != "shipped" || so["carrier"] != "顺丰速运" || so["tracking_no"] != "SF1234567890" || so["ship_date"] != "2026-03-02" {
			t.Fatalf("the order after shipping: %v", so)
		}

		// The salesperson shares a link; another salesperson cannot.
		links := "/api/v1/records/sales_order/" + id + "/tracking-links"
		ch.call(ch.sue, "POST", links, "", nil, 404, nil)
		var created struct{ ID, URL string }
		ch.call(ch.sam, "POST", links, `{"expires_in_days": 30}`, nil, 201, &created)
		u, err := url.Parse(created.URL)
		if err != nil || !strings.HasPrefix(u.Path, "/t/") || created.ID == "" {
			t.Fatalf("created link %+v", created)
		}
		token := strings.TrimPrefix(u.Path, "/t/")

		// The page, without any credentials: number, state, logistics, the
		// item and quantity; no price, amount, total, cost, margin, credit
		// limit, phone or contact. (The token is taken out of the body before
		// looking for numbers, so that its random text cannot match.)
		status, _, body := ch.anonymous("GET", u.Path, "", nil)
		if status != 200 {
			t.Fatalf("page: %d\n%s", status, body)
		}
		body = strings.ReplaceAll(body, token, "")
		contains(t, "the tracking page", body,
			[]string{"批发订货单 SO-000001", `<span class="state">已发货</span>`, "顺丰速运", "SF1234567890", "2026-03-02", "A100 矿泉水", `<td class="n">12</td>`},
			[]string{"36.75", "441.00", "21.35", "184.80", "184.8", "50,000", "50000", "0571-88886666", "王经理", "解放路", "华东百货"})
		status, _, body = ch.anonymous("GET", u.Path+"?lang=en", "", nil)
		if status != 200 {
			t.Fatalf("English page: %d", status)
		}
		contains(t, "the English page", strings.ReplaceAll(body, token, ""),
			[]string{"Sales order SO-000001", `<span class="state">Shipped</span>`, "Tracking number", "SF1234567890"}, []string{"36.75", "441.00", "Margin", "Price"})

		// The customer's feedback: in the order's history with the link, and
		// in the salesperson's notifications (not in the warehouse's).
		status, hdr, _ := ch.anonymous("POST", u.Path+"/feedback", url.Values{"text": {"请在周五前送到仓库后门"}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if status != 303 || !strings.Contains(hdr.Get("Location"), "sent=1") {
			t.Fatalf("feedback: %d %v", status, hdr)
		}
		var hist struct{ Entries []records.Entry }
		ch.call(ch.sam, "GET", "/api/v1/records/sales_order/"+id+"/history", "", nil, 200, &hist)
		n := 0
		for _, e := range hist.Entries {
			if e.Action == "feedback" {
				n++
				if e.Note != "请在周五前送到仓库后门" || e.Link != created.ID {
					t.Fatalf("feedback entry %+v", e)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d feedback entries in %+v", n, hist.Entries)
		}
		feedbackFor := func(c *client) []records.Notification {
			var notes struct{ Notifications []records.Notification }
			ch.call(c, "GET", "/api/v1/notifications", "", nil, 200, &notes)
			var out []records.Notification
			for _, n := range notes.Notifications {
				if n.Kind == "feedback" {
					out = append(out, n)
				}
			}
			return out
		}
		if fb := feedbackFor(ch.sam); len(fb) != 1 || fb[0].Entity != "sales_order" || fb[0].Record != id ||
			!strings.Contains(fb[0].Message["zh-CN"], "SO-000001") || !strings.Contains(fb[0].Message["zh-CN"], "请在周五前送到仓库后门") {
			t.Fatalf("sam's feedback notifications %+v", fb)
		}
		if fb := feedbackFor(ch.ken); len(fb) != 0 {
			t.Fatalf("the warehouse got the feedback: %+v", fb)
		}

		// Revoked by the salesperson: the page and the form are gone.
		ch.call(ch.sam, "DELETE", links+"/"+created.ID, "", nil, 204, nil)
		status, _, body = ch.anonymous("GET", u.Path, "", nil)
		if status != 410 || strings.Contains(body, "SF1234567890") || strings.Contains(body, "SO-000001") {
			t.Fatalf("revoked link: %d\n%s", status, body)
		}
		ch.call(nil, "POST", u.Path+"/feedback", `{"text":"还在吗？"}`, nil, 410, nil)
	})
}

// Field staff sync a customer check of the catalog's audit (crm) from a
// phone in one batch: the corrections and their submission, by reference.
// The batch is sent again after a lost answer: same results, replayed,
// nothing written twice. The manager's approval updates the customer master.
// A field staff member never sees a colleague's check.
func TestCatalogCustomerAuditSync(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ch := startCatalog(t, st)
		ch.create(ch.admin, "customer", "C2", `{"code":"C-0002","name":"滨江便利店","contact_person":"李娜","phone":"0571-88886666",
			"address":"浙江省杭州市滨江区江南大道588号","barcode":"6901234500022"}`)
		ch.create(ch.admin, "customer", "C3", `{"code":"C-0003","name":"拱墅区副食品店","contact_person":"陈芳","phone":"13857154321","barcode":"6901234500033"}`)
		ch.create(ch.mia, "customer_audit", "CA", `{"name":"2026年第二季度华东区客户盘点","start_date":"2026-04-01","end_date":"2026-06-30"}`)
		if rec := ch.take(ch.mia, "customer_audit", ch.ids["CA"], "start", "", 200); rec["state"] != "active" {
			t.Fatalf("start: %v", rec)
		}
		ch.create(ch.mia, "customer_audit_visit", "V1", `{"campaign":"`+ch.ids["CA"]+`","customer":"`+ch.ids["C2"]+`"}`)
		ch.create(ch.mia, "customer_audit_visit", "V2", `{"campaign":"`+ch.ids["CA"]+`","customer":"`+ch.ids["C3"]+`"}`)
		visit := ch.take(ch.mia, "customer_audit_visit", ch.ids["V1"], "assign", `{"field_staff":"`+ch.userIDs["fei"]+`"}`, 200)
		if visit["owner"] != ch.userIDs["fei"] || visit["state"] != "in_progress" {
			t.Fatalf("assign to fei: %v", visit)
		}
		if rec := ch.take(ch.mia, "customer_audit_visit", ch.ids["V2"], "assign", `{"field_staff":"`+ch.userIDs["gao"]+`"}`, 200); rec["owner"] != ch.userIDs["gao"] {
			t.Fatalf("assign to gao: %v", rec)
		}

		// Each sees only their own check.
		ch.call(ch.fei, "GET", "/api/v1/records/customer_audit_visit/"+ch.ids["V2"], "", nil, 404, nil)
		ch.call(ch.gao, "GET", "/api/v1/records/customer_audit_visit/"+ch.ids["V1"], "", nil, 404, nil)
		var page struct{ Records []map[string]any }
		ch.call(ch.fei, "GET", "/api/v1/records/customer_audit_visit", "", nil, 200, &page)
		if len(page.Records) != 1 || page.Records[0]["id"] != ch.ids["V1"] {
			t.Fatalf("fei's checks: %v", page.Records)
		}

		// One batch from fei's phone: the corrections found by scanning the
		// customer's barcode, then their submission referring to the update.
		phone := &syncHarness{harness: ch.harness}
		read := fmt.Sprint(visit["version"])
		body := `{"operations":[
			{"key":"fei-phone:` + ch.ids["V1"] + `:edit","op":"update","entity":"customer_audit_visit","id":"` + ch.ids["V1"] + `","version":` + read + `,
			 "values":{"found_by":"barcode","scanned_barcode":"6901234500022","new_phone":"13588889999","new_contact_person":"赵磊"}},
			{"key":"fei-phone:` + ch.ids["V1"] + `:submit","op":"transition","entity":"customer_audit_visit","ref":"fei-phone:` + ch.ids["V1"] + `:edit","transition":"submit_changes"}
		]}`
		status, _, first, err := phone.post(ch.fei, "/api/v1/batch", body, nil)
		if err != nil || status != 200 {
			t.Fatalf("batch: %d %v %s", status, err, first)
		}
		var ans batchAnswer
		if err := json.Unmarshal(first, &ans); err != nil {
			t.Fatal(err)
		}
		if r := ans.Results; len(r) != 2 || r[0].Status != 200 || r[1].Status != 200 || r[0].Replayed || r[1].Replayed {
			t.Fatalf("batch results: %s", first)
		}
		edited, submitted := ans.Results[0].Record, ans.Results[1].Record
		if edited["new_phone"] != "13588889999" || edited["has_changes"] != true || edited["state"] != "in_progress" ||
			submitted["id"] != ch.ids["V1"] || submitted["state"] != "completed" || submitted["result"] != "changed" {
			t.Fatalf("the batch's records: %v\n%v", edited, submitted)
		}
		final := fmt.Sprint(submitted["version"])
		if fmt.Sprint(edited["version"]) == read || final == fmt.Sprint(edited["version"]) {
			t.Fatalf("versions: read %s, edited %v, submitted %s", read, edited["version"], final)
		}
		requests := func() []map[string]any {
			var page struct{ Records []map[string]any }
			ch.call(ch.mia, "GET", "/api/v1/records/customer_change_request?filter="+url.QueryEscape("visit == '"+ch.ids["V1"]+"'"), "", nil, 200, &page)
			return page.Records
		}
		if reqs := requests(); len(reqs) != 1 {
			t.Fatalf("%d change requests after the batch", len(reqs))
		}

		// The answer was lost: the phone sends the same batch again.
		status, _, again, err := phone.post(ch.fei, "/api/v1/batch", body, nil)
		if err != nil || status != 200 {
			t.Fatalf("replay: %d %v %s", status, err, again)
		}
		if a, b := withoutReplayed(t, first), withoutReplayed(t, again); a != b {
			t.Fatalf("the replay answers differently:\n%s\n%s", a, b)
		}
		if err := json.Unmarshal(again, &ans); err != nil {
			t.Fatal(err)
		}
		if !ans.Results[0].Replayed || !ans.Results[1].Replayed {
			t.Fatalf("not marked replayed: %s", again)
		}
		reqs := requests()
		if n, err := st.Count(ctx, "customer_change_request", nil); err != nil || n != 1 || len(reqs) != 1 {
			t.Fatalf("change requests after the replay: %d in the store (%v), %d listed", n, err, len(reqs))
		}
		if v := ch.get(ch.fei, "customer_audit_visit", ch.ids["V1"]); fmt.Sprint(v["version"]) != final || v["state"] != "completed" {
			t.Fatalf("the visit moved on the replay: version %v, want %s", v["version"], final)
		}
		// Nor can fei write to gao's check through a batch.
		var other batchAnswer
		ch.call(ch.fei, "POST", "/api/v1/batch", `{"operations":[{"key":"fei-phone:other","op":"update","entity":"customer_audit_visit","id":"`+
			ch.ids["V2"]+`","version":2,"values":{"new_phone":"13500000000"}}]}`, nil, 200, &other)
		if other.Results[0].Status != 404 {
			t.Fatalf("fei updating gao's check: %+v", other.Results[0])
		}

		// The master is unchanged until the manager approves the request.
		if c := ch.get(ch.mia, "customer", ch.ids["C2"]); c["phone"] != "0571-88886666" || c["contact_person"] != "李娜" {
			t.Fatalf("customer before approval: %v", c)
		}
		cr := reqs[0]
		if cr["state"] != "submitted" || cr["customer"] != ch.ids["C2"] || cr["old_phone"] != "0571-88886666" || cr["new_phone"] != "13588889999" ||
			cr["new_contact_person"] != "赵磊" || cr["owner"] != ch.userIDs["fei"] {
			t.Fatalf("change request: %v", cr)
		}
		if rec := ch.take(ch.mia, "customer_change_request", cr["id"].(string), "approve", `{"note":"已电话核实"}`, 200); rec["state"] != "approved" {
			t.Fatalf("approve: %v", rec)
		}
		c := ch.get(ch.mia, "customer", ch.ids["C2"])
		if c["phone"] != "13588889999" || c["contact_person"] != "赵磊" || c["address"] != "浙江省杭州市滨江区江南大道588号" || c["name"] != "滨江便利店" {
			t.Fatalf("customer after approval: %v", c)
		}
	})
}
