package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/records"
)

// web is a browser without a browser: a cookie jar and no redirects
// followed, for the checks that need no JavaScript.
type web struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWeb(t *testing.T, base string) *web {
	jar, _ := cookiejar.New(nil)
	return &web{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *web) do(method, path string, form url.Values) (int, string, http.Header) {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (co *company) customers(t *testing.T) int {
	t.Helper()
	page, err := co.eng.List(context.Background(), co.admin, "customer", records.ListQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Records)
}

// The pages work without JavaScript: signing in, the CSRF token on every
// POST, field errors in the user's language, no redirect off the site.
func TestPagesWithoutJavaScript(t *testing.T) {
	co := startCompany(t)
	w := newWeb(t, co.base)

	status, _, hdr := w.do("GET", "/r/customer", nil)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/login?next=%2Fr%2Fcustomer" {
		t.Fatalf("signed out: %d to %q, want 303 to the login page", status, hdr.Get("Location"))
	}
	status, page, _ := w.do("POST", "/login", url.Values{"username": {"sales1"}, "password": {"wrong-password"}, "next": {"/"}})
	if status != http.StatusUnauthorized || !strings.Contains(page, "用户名或密码错误") {
		t.Fatalf("wrong password: %d", status)
	}
	status, _, hdr = w.do("POST", "/login", url.Values{"username": {"sales1"}, "password": {salesPassword}, "next": {"//elsewhere.example/"}})
	if status != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("login: %d to %q, want 303 to / (never off the site)", status, hdr.Get("Location"))
	}

	_, page, _ = w.do("GET", "/r/customer/new", nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the form carries no CSRF token")
	}
	before := co.customers(t)
	values := url.Values{"code": {"c 1"}, "name": {"温州恒泰超市"}, "email": {"not-an-address"}, "credit_limit": {"99999"}}

	// Without the token: refused, nothing saved.
	status, _, _ = w.do("POST", "/r/customer/new", values)
	if status != http.StatusForbidden || co.customers(t) != before {
		t.Fatalf("POST without CSRF token: %d, %d customers (was %d)", status, co.customers(t), before)
	}

	// With it: each problem at its field, in Chinese; nothing saved.
	values.Set("_csrf", m[1])
	status, page, _ = w.do("POST", "/r/customer/new", values)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("bad values: %d, want 422", status)
	}
	for id, want := range map[string]string{"f-code-err": "格式不正确", "f-email-err": "不是有效的邮箱"} {
		if !regexp.MustCompile(`id="` + id + `">` + regexp.QuoteMeta(want)).MatchString(page) {
			t.Errorf("no %q at %s", want, id)
		}
	}
	if !strings.Contains(page, `value="温州恒泰超市"`) {
		t.Error("the name typed is not kept in the form")
	}
	if co.customers(t) != before {
		t.Fatal("a refused form saved a customer")
	}
	// Fixed, it saves and shows the record.
	values.Set("code", "C-0099")
	values.Set("email", "wz@example.com")
	status, _, hdr = w.do("POST", "/r/customer/new", values)
	if status != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/r/customer/") {
		t.Fatalf("good values: %d to %q", status, hdr.Get("Location"))
	}
	_, page, _ = w.do("GET", hdr.Get("Location"), nil)
	if !strings.Contains(page, "C-0099 温州恒泰超市") || !strings.Contains(page, "wz@example.com") {
		t.Fatal("the new customer's page does not show its title and email")
	}
	// The credit limit is read-only for sales: the form offers no input for
	// it, and what was posted anyway was not taken.
	if strings.Contains(page, "99,999") {
		t.Fatal("a read-only field was saved from a posted value")
	}

	// English, by the switch; back only to a page of this site.
	status, _, hdr = w.do("GET", "/lang/en?back=//elsewhere.example/", nil)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("language switch: %d to %q", status, hdr.Get("Location"))
	}
	_, page, _ = w.do("GET", "/r/customer", nil)
	if !strings.Contains(page, "<h1>Customer</h1>") || !strings.Contains(page, "Credit limit") {
		t.Fatal("the customer list is not in English after the switch")
	}
}

// signIn signs w in as user.
func (w *web) signIn(user, password string) {
	w.t.Helper()
	status, _, _ := w.do("POST", "/login", url.Values{"username": {user}, "password": {password}, "next": {"/"}})
	if status != http.StatusSeeOther {
		w.t.Fatalf("login as %s: %d", user, status)
	}
}

var (
	codeCellRE = regexp.MustCompile(`<td data-label="客户编码"><a href="/r/customer/[^"]+">([^<]+)</a>`)
	nextRE     = regexp.MustCompile(`href="([^"]+)" rel="next"`)
	prevRE     = regexp.MustCompile(`href="([^"]+)" rel="prev"`)
	sortCodeRE = regexp.MustCompile(`<a href="([^"]+)">客户编码`)
)

// link returns the URL of the first match of re in page, unescaped.
func link(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link %s on the page", re)
	}
	return html.UnescapeString(m[1])
}

// A list pages with cursors (next, and back to the first page), and a
// header sorts it.
func TestListPagesAndSorts(t *testing.T) {
	co := startCompany(t)
	for i := range 60 {
		if _, err := co.eng.Create(context.Background(), co.admin, "customer", map[string]any{
			"code": fmt.Sprintf("C-%04d", 1000+i), "name": fmt.Sprintf("客户%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	w := newWeb(t, co.base)
	w.signIn("sales1", salesPassword)
	codes := func(page string) []string {
		var out []string
		for _, m := range codeCellRE.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	_, page, _ := w.do("GET", "/r/customer", nil)
	first := codes(page)
	if len(first) != 50 || first[0] != "C-0001" || first[49] != "C-1048" {
		t.Fatalf("first page: %d rows, %v … %v", len(first), first[:1], first[len(first)-1:])
	}
	if prevRE.MatchString(page) {
		t.Fatal("the first page offers a previous page")
	}
	_, page, _ = w.do("GET", link(t, nextRE, page), nil)
	second := codes(page)
	if len(second) != 11 || second[0] != "C-1049" || second[10] != "C-1059" {
		t.Fatalf("second page: %v", second)
	}
	if nextRE.MatchString(page) {
		t.Fatal("the last page offers a next page")
	}
	_, page, _ = w.do("GET", link(t, prevRE, page), nil)
	if again := codes(page); len(again) != 50 || again[0] != "C-0001" {
		t.Fatalf("back on the first page: %d rows from %v", len(again), again[:1])
	}
	// The list is sorted by code (the template's sort): its header sorts
	// the other way.
	_, page, _ = w.do("GET", link(t, sortCodeRE, page), nil)
	if desc := codes(page); len(desc) != 50 || desc[0] != "C-1059" || desc[1] != "C-1058" {
		t.Fatalf("sorted by code descending: %v", desc[:2])
	}
	if !strings.Contains(page, `aria-sort="descending"`) {
		t.Fatal("the sorted header is not marked")
	}
	// A filter narrows the list, and the export link carries it.
	_, page, _ = w.do("GET", "/r/customer?q=%E5%AE%A2%E6%88%B75", nil)
	if got := codes(page); len(got) != 11 || got[0] != "C-1005" {
		t.Fatalf("name starting 客户5: %v", got)
	}
	if !strings.Contains(html.UnescapeString(page), "/api/v1/export/customer?filter="+url.QueryEscape(`(code startsWith "客户5" || name startsWith "客户5")`)) {
		t.Fatal("the export link does not carry the filter")
	}
	csvLink := regexp.MustCompile(`href="(/api/v1/export/customer[^"]+format=csv[^"]*)"`)
	status, csv, _ := w.do("GET", link(t, csvLink, page), nil)
	if lines := strings.Count(strings.TrimSpace(csv), "\n"); status != http.StatusOK || lines != 11 || !strings.Contains(csv, "C-1005") {
		t.Fatalf("the export of the filtered list: %d, %d records", status, lines)
	}
}

// A link field with more records than its select holds gets a search box
// that asks the server, which answers with the records the field may choose.
func TestLinkLookup(t *testing.T) {
	co := startCompany(t)
	for i := range 210 {
		values := map[string]any{"code": fmt.Sprintf("C-%04d", 2000+i), "name": fmt.Sprintf("客户%d", i)}
		if i == 7 {
			values["active"] = false // the order's customer field offers active customers only
		}
		if _, err := co.eng.Create(context.Background(), co.admin, "customer", values); err != nil {
			t.Fatal(err)
		}
	}
	w := newWeb(t, co.base)
	w.signIn("sales1", salesPassword)
	_, page, _ := w.do("GET", "/r/sales_order/new", nil)
	if !strings.Contains(page, `data-lookup="/ui/lookup/sales_order/customer"`) {
		t.Fatal("the customer select of 211 customers has no server search")
	}
	if strings.Contains(page, `data-lookup="/ui/lookup/sales_order/warehouse"`) {
		t.Fatal("the warehouse select, with all its options, has a server search")
	}
	var out struct {
		Options []struct{ ID, Title string }
		More    bool
	}
	status, body, _ := w.do("GET", "/ui/lookup/sales_order/customer?q=C-200", nil)
	if err := json.Unmarshal([]byte(body), &out); status != http.StatusOK || err != nil {
		t.Fatalf("lookup: %d %v", status, err)
	}
	var titles []string
	for _, o := range out.Options {
		titles = append(titles, o.Title)
	}
	if len(titles) != 9 || titles[0] != "C-2000 客户0" || slices.Contains(titles, "C-2007 客户7") || out.More {
		t.Fatalf("customers starting C-200, active only: %v (more %v)", titles, out.More)
	}
	if status, _, _ := w.do("GET", "/ui/lookup/sales_order/address?q=a", nil); status != http.StatusNotFound {
		t.Fatalf("lookup on a text field: %d, want 404", status)
	}
	if status, _, _ := w.do("GET", "/ui/lookup/sales_order/lines.item?q=TEA", nil); status != http.StatusOK {
		t.Fatalf("lookup on a table's link column: %d", status)
	}
}

// Every installed entity has its pages, generated from its template: the
// list, the new form, and the page and edit form of its records, in both
// languages.
func TestEveryEntityHasItsPages(t *testing.T) {
	co := startCompany(t)
	w := newWeb(t, co.base)
	w.signIn("admin", adminPassword)
	_, home, _ := w.do("GET", "/", nil)
	entities := regexp.MustCompile(`<li><a href="/r/([a-z_]+)">`).FindAllStringSubmatch(home, -1)
	if len(entities) < 25 {
		t.Fatalf("the menu lists %d entities, want every entity of the catalog", len(entities))
	}
	recordsSeen := 0
	for _, lang := range []string{"zh-CN", "en"} {
		w.do("GET", "/lang/"+lang, nil)
		for _, m := range entities {
			e := m[1]
			status, page, _ := w.do("GET", "/r/"+e, nil)
			if status != http.StatusOK || !strings.Contains(page, `<table class="list">`) {
				t.Errorf("%s list (%s): %d", e, lang, status)
				continue
			}
			if status, _, _ := w.do("GET", "/r/"+e+"/new", nil); status != http.StatusOK {
				t.Errorf("%s new form (%s): %d", e, lang, status)
			}
			for _, r := range regexp.MustCompile(`<td data-label="[^"]*"><a href="(/r/`+e+`/[^"]+)">`).FindAllStringSubmatch(page, 3) {
				recordsSeen++
				if status, page, _ := w.do("GET", r[1], nil); status != http.StatusOK || !strings.Contains(page, `class="timeline"`) {
					t.Errorf("%s (%s): %d", r[1], lang, status)
				}
				if status, _, _ := w.do("GET", r[1]+"/edit", nil); status != http.StatusOK {
					t.Errorf("%s/edit (%s): %d", r[1], lang, status)
				}
			}
		}
	}
	if recordsSeen < 10 {
		t.Fatalf("only %d record pages opened", recordsSeen)
	}
}

// A transition with input: a missing reason is shown at its input in the
// open dialog and nothing changes; with it, the order is cancelled.
func TestTransitionInput(t *testing.T) {
	co := startCompany(t)
	order, err := co.eng.Create(context.Background(), co.admin, "sales_order", map[string]any{
		"customer": co.ids["C-0001"], "payment_method": "cash",
		"lines": []any{map[string]any{"item": co.ids["TEA-250G"], "qty": "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWeb(t, co.base)
	w.signIn("manager", managerPassword)
	path := "/r/sales_order/" + order.ID()
	_, page, _ := w.do("GET", path, nil)
	csrf := csrfRE.FindStringSubmatch(page)
	if csrf == nil || !strings.Contains(page, `action="`+path+`/t/cancel"`) {
		t.Fatal("the record page offers no cancel form")
	}
	form := url.Values{"_csrf": {csrf[1]}, "_version": {fmt.Sprint(order.Version())}}
	status, page, _ := w.do("POST", path+"/t/cancel", form)
	if status != http.StatusUnprocessableEntity || !strings.Contains(page, `id="t-cancel-reason-err">必填`) ||
		!strings.Contains(page, `<details class="action-dialog" open>`) {
		t.Fatalf("cancel without a reason: %d", status)
	}
	if rec, _ := co.eng.Get(context.Background(), co.admin, "sales_order", order.ID()); rec["state"] != "draft" {
		t.Fatalf("state after a refused cancel: %v", rec["state"])
	}
	form.Set("in.reason", "客户改期")
	status, _, hdr := w.do("POST", path+"/t/cancel", form)
	if status != http.StatusSeeOther || hdr.Get("Location") != path+"?msg=done" {
		t.Fatalf("cancel: %d to %q", status, hdr.Get("Location"))
	}
	_, page, _ = w.do("GET", hdr.Get("Location"), nil)
	if !strings.Contains(page, `id="record-state">已取消`) || !strings.Contains(page, `id="v-cancel_reason">客户改期`) || !strings.Contains(page, "操作已完成") {
		t.Fatal("the cancelled order's page does not show its state and reason")
	}
	// The same version again is stale: a clear message, nothing changes.
	status, page, _ = w.do("POST", path+"/t/cancel", form)
	if status != http.StatusConflict {
		t.Fatalf("a second cancel at the old version: %d", status)
	}
	if !strings.Contains(page, `id="action-errors"`) {
		t.Fatal("a refused second cancel shows no message")
	}
}

// Rejecting from the inbox needs a comment (the engine's rule, shown in the
// user's language); with one, the request closes and the order stays a draft.
func TestRejectFromTheInbox(t *testing.T) {
	co := startCompany(t)
	ctx := context.Background()
	order, err := co.eng.Create(ctx, co.admin, "sales_order", map[string]any{
		"customer": co.ids["C-0001"], "lines": []any{map[string]any{"item": co.ids["RICE-10KG"], "qty": "30"}}})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := co.eng.Transition(ctx, co.admin, "sales_order", order.ID(), "confirm", order.Version(), nil)
	if err != nil || taken.Approval == "" {
		t.Fatalf("confirm over the credit limit: %v, approval %q", err, taken.Approval)
	}
	w := newWeb(t, co.base)
	w.signIn("manager", managerPassword)
	_, home, _ := w.do("GET", "/", nil)
	csrf := csrfRE.FindStringSubmatch(home)
	if csrf == nil || !strings.Contains(home, `action="/approvals/`+taken.Approval+`"`) {
		t.Fatal("the approval is not in the manager's inbox")
	}
	// The record page offers the same decision, coming back to itself.
	_, recPage, _ := w.do("GET", "/r/sales_order/"+order.ID(), nil)
	if !strings.Contains(recPage, `action="/approvals/`+taken.Approval+`"`) || !strings.Contains(recPage, `name="back" value="/r/sales_order/`+order.ID()+`"`) {
		t.Fatal("the record page does not offer the approver a decision")
	}
	form := url.Values{"_csrf": {csrf[1]}, "back": {"/"}, "decision": {"reject"}}
	status, page, _ := w.do("POST", "/approvals/"+taken.Approval, form)
	if status != http.StatusUnprocessableEntity || !strings.Contains(page, "审批意见：必填") {
		t.Fatalf("reject without a comment: %d", status)
	}
	form.Set("comment", "超出额度太多，请先收回欠款")
	status, _, hdr := w.do("POST", "/approvals/"+taken.Approval, form)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/?msg=rejected" {
		t.Fatalf("reject: %d to %q", status, hdr.Get("Location"))
	}
	_, home, _ = w.do("GET", hdr.Get("Location"), nil)
	if !strings.Contains(home, `role="status">已驳回`) || strings.Contains(home, taken.Approval) {
		t.Fatal("after rejecting, the inbox still shows the approval or no message")
	}
	_, page, _ = w.do("GET", "/r/sales_order/"+order.ID(), nil)
	if !strings.Contains(page, `id="record-state">草稿`) || !strings.Contains(page, "超出额度太多，请先收回欠款") || strings.Contains(page, `id="approval"`) {
		t.Fatal("the rejected order's page does not show a draft with the comment in its history")
	}
}
