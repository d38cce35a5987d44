package ui_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/templates"
	"github.com/yerp/yerp/ui"
)

// chromiumPath is Debian's chromium, which CI installs.
const chromiumPath = "/usr/bin/chromium"

// company is a server on loopback over a fresh SQLite store with the whole
// catalog installed, as `yerp serve --demo` installs it, and a small part of
// the demo company: two salespeople, the sales manager, a warehouse keeper
// and a finance clerk (same usernames and names), a warehouse, items with stock, and a customer whose credit limit
// makes a larger order on credit wait for the manager's approval.
type company struct {
	base  string
	eng   *records.Engine
	admin records.User
	ids   map[string]string
}

// Passwords of the test users.
const (
	adminPassword   = "admin-password"
	salesPassword   = "sales1-password"
	managerPassword = "manager-password"
	sales2Password  = "sales2-password"
	keeperPassword  = "keeper-password"
	financePassword = "finance-password"
)

func startCompany(t *testing.T) *company {
	t.Helper()
	ctx := context.Background()
	st, svc, users := catalogStore(t)
	for _, u := range []auth.NewUser{
		{Username: "sales1", Name: "张伟", Roles: []string{"sales"}, Password: salesPassword},
		{Username: "manager", Name: "周敏", Roles: []string{"sales_manager"}, Password: managerPassword},
		{Username: "sales2", Name: "刘洋", Roles: []string{"sales"}, Password: sales2Password},
		{Username: "keeper", Name: "吴强", Roles: []string{"warehouse"}, Password: keeperPassword},
		{Username: "finance", Name: "孙丽", Roles: []string{"finance"}, Password: financePassword},
	} {
		if _, err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	co := &company{eng: eng, admin: records.User{ID: "test", Name: "test", Roles: []string{records.AdminRole}}, ids: map[string]string{}}
	create := func(key, entity string, values map[string]any) {
		t.Helper()
		rec, err := eng.Create(ctx, co.admin, entity, values)
		if err != nil {
			t.Fatalf("create %s: %v", key, err)
		}
		co.ids[key] = rec.ID()
	}
	create("company", "company", map[string]any{"name": "杭州优品商贸有限公司", "short_name": "优品商贸"})
	create("WH1", "warehouse", map[string]any{"code": "WH1", "name": "杭州主仓", "address": "杭州市余杭区仓前街道 8 号"})
	create("C-0001", "customer", map[string]any{"code": "C-0001", "name": "丽水万家商贸有限公司", "credit_limit": "1000",
		"payment_terms": "net_30", "address": "丽水市莲都区中山街 12 号", "contact_person": "李明", "phone": "13800000001", "default_warehouse": co.ids["WH1"]})
	for _, it := range []struct{ code, name, price string }{
		{"TEA-250G", "龙井茶 250g", "12.50"},
		{"OIL-5L", "花生油 5L", "8.80"},
		{"RICE-10KG", "东北大米 10kg", "45.00"},
	} {
		create(it.code, "item", map[string]any{"code": it.code, "name": it.name, "unit": "pcs", "price": it.price, "cost": "1"})
		qty, _ := decimal.Parse("1000")
		if err := eng.OpeningStock(ctx, co.admin, co.ids[it.code], co.ids["WH1"], qty); err != nil {
			t.Fatal(err)
		}
	}

	co.base = serveUI(t, server.Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: server.Info{Version: "test", Store: "sqlite"}})
	return co
}

// catalogStore opens a new SQLite store with the whole template catalog
// installed and the admin user (adminPassword).
func catalogStore(t *testing.T) (*sqlite.Store, *packages.Service, *auth.Service) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
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
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.EnsureAdmin(ctx, adminPassword); err != nil {
		t.Fatal(err)
	}
	return st, svc, users
}

// serveUI serves the API and the UI over deps on a loopback port until the
// test ends, and returns its base URL.
func serveUI(t *testing.T, deps server.Deps) string {
	t.Helper()
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
	return "http://" + ln.Addr().String()
}

// orders counts the sales orders in the store.
func (co *company) orders(t *testing.T) int {
	t.Helper()
	page, err := co.eng.List(context.Background(), co.admin, "sales_order", records.ListQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Records)
}

// browser starts headless chromium; the test skips without it only when
// the CI variable is unset.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s is not installed (CI installs it; apt-get install chromium)", chromiumPath)
		}
		t.Fatalf("CI is set and %s is missing: %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.WindowSize(1366, 768),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// shots is the folder of the screenshots: $YERP_SCREENSHOTS, else a
// temporary folder.
func shots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("YERP_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// b wraps a browser tab with the test's failure handling.
type b struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func (x *b) do(steps ...chromedp.Action[chromedp.Void]) {
	x.t.Helper()
	if err := chromedp.Do(x.ctx, steps...); err != nil {
		x.t.Fatal(err)
	}
}

// submit clicks a button that sends a form and waits for the next page.
func (x *b) submit(sel string) {
	x.t.Helper()
	if _, err := chromedp.RunResponse(x.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		x.t.Fatalf("click %s: %v", sel, err)
	}
}

func (x *b) open(url string) {
	x.t.Helper()
	if _, err := chromedp.RunResponse(x.ctx, chromedp.Navigate(url)); err != nil {
		x.t.Fatalf("open %s: %v", url, err)
	}
}

func (x *b) text(sel string) string {
	x.t.Helper()
	if x.count(sel) == 0 {
		x.t.Fatalf("the page has no %s", sel)
	}
	s, err := chromedp.Run(x.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		x.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (x *b) count(sel string) int {
	x.t.Helper()
	n, err := chromedp.Run(x.ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
	if err != nil {
		x.t.Fatal(err)
	}
	return n
}

func (x *b) shot(name string) {
	x.t.Helper()
	png, err := chromedp.Run(x.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		x.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(x.dir, name+".png"), png, 0o644); err != nil {
		x.t.Fatal(err)
	}
}

func (x *b) login(user, password string) {
	x.t.Helper()
	x.open(x.base() + "/")
	if got := x.text("h1"); got != "登录" {
		x.t.Fatalf("a signed-out visitor sees %q, want the login page", got)
	}
	x.do(chromedp.SendKeys(chromedp.ID("username"), user), chromedp.SendKeys(chromedp.ID("password"), password))
	x.submit("#login-submit")
}

func (x *b) base() string { return x.ctx.Value(baseKey{}).(string) }

type baseKey struct{}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// A salesperson enters a wholesale order with three lines in the zh-CN UI
// and submits it for confirmation; the customer's credit limit sends it to
// the sales manager, who approves it from the inbox on the home page; the
// order shows 已审核. On the way, a form without its customer is refused at
// the field, and nothing is saved.
func TestWholesaleOrderApprovedFromTheInbox(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}

	// The salesperson signs in and lands on the inbox, in Chinese.
	x.login("sales1", salesPassword)
	if got := x.text("h1"); got != "我的待办" {
		t.Fatalf("home page heading %q, want 我的待办", got)
	}
	if got := x.text(".who"); got != "张伟" {
		t.Fatalf("signed in as %q, want 张伟", got)
	}

	// The order form, from the template: sections and a lines table.
	x.open(co.base + "/r/sales_order/new")
	if got := x.text("h1"); !strings.Contains(got, "批发订货单") {
		t.Fatalf("form heading %q", got)
	}
	if got := x.text(`label[for="f-customer"]`); !strings.HasPrefix(got, "客户") {
		t.Fatalf("customer label %q", got)
	}

	// Three lines, but no customer: refused at the field, nothing saved.
	x.do(chromedp.Click(chromedp.ID("f-lines-add")), chromedp.Click(chromedp.ID("f-lines-add")))
	if n := x.count(`table[data-table="lines"] tbody tr`); n != 3 {
		t.Fatalf("%d line rows after adding two, want 3", n)
	}
	x.do(
		chromedp.SetValue(chromedp.ID("f-lines-0-item"), co.ids["TEA-250G"]),
		chromedp.SendKeys(chromedp.ID("f-lines-0-qty"), "40"),
		chromedp.SetValue(chromedp.ID("f-lines-1-item"), co.ids["OIL-5L"]),
		chromedp.SendKeys(chromedp.ID("f-lines-1-qty"), "55"),
		chromedp.SetValue(chromedp.ID("f-lines-2-item"), co.ids["RICE-10KG"]),
		chromedp.SendKeys(chromedp.ID("f-lines-2-qty"), "3"),
		chromedp.SendKeys(chromedp.ID("f-lines-2-price"), "43.90"),
	)
	x.submit("#save")
	if got := x.text("#f-customer-err"); got != "必填" {
		t.Fatalf("error at the customer field %q, want 必填", got)
	}
	if got := x.text("#form-errors"); !strings.Contains(got, "未保存") {
		t.Fatalf("form error summary %q", got)
	}
	if n := co.orders(t); n != 0 {
		t.Fatalf("%d orders stored after a refused form, want 0", n)
	}
	// The lines the user typed are still there.
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-lines-1-qty"))); v != "55" {
		t.Fatalf("line 2 quantity after the refusal %q, want 55", v)
	}
	x.shot("form-error-1366x768")

	// With the customer the order saves; the record page shows its number
	// and the exact total: 40 × 12.50 + 55 × 8.80 + 3 × 43.90 = 1,115.70.
	x.do(chromedp.SetValue(chromedp.ID("f-customer"), co.ids["C-0001"]))
	x.shot("form-1366x768")
	x.do(chromedp.ScrollIntoView(chromedp.ID("f-lines")))
	x.shot("form-lines-1366x768")
	x.submit("#save")
	number := x.text("#record-number")
	if !strings.HasPrefix(number, "SO-") {
		t.Fatalf("record page number %q, want SO-…", number)
	}
	if got := x.text("#v-total"); got != "1,115.70" {
		t.Fatalf("total %q, want 1,115.70", got)
	}
	if got := x.text("#record-state"); got != "草稿" {
		t.Fatalf("state %q, want 草稿", got)
	}
	if got := x.text("#v-customer"); got != "C-0001 丽水万家商贸有限公司" {
		t.Fatalf("customer shows as %q, want its title", got)
	}
	if got := x.text("#v-lines tbody tr:nth-child(3)"); !strings.Contains(got, "东北大米 10kg") || !strings.Contains(got, "131.70") {
		t.Fatalf("third line %q", got)
	}
	if got := x.text("#v-lines thead"); strings.Contains(got, "成本价") || !strings.Contains(got, "单价") {
		t.Fatalf("the salesperson's line columns %q: the cost is hidden from sales, the price is not", got)
	}
	if n := co.orders(t); n != 1 {
		t.Fatalf("%d orders stored, want 1", n)
	}
	x.shot("record-draft-1366x768")

	// A stale save: the order changes while the form is open; the save is
	// refused with a clear message and the other change stays.
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], co.base+"/r/sales_order/")
	x.submit("#edit")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-contact_person"))); v != "李明" {
		t.Fatalf("edit form contact person %q, want 李明", v)
	}
	stored, err := co.eng.Get(context.Background(), co.admin, "sales_order", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.eng.Update(context.Background(), co.admin, "sales_order", id, stored.Version(), map[string]any{"contact_person": "王五"}); err != nil {
		t.Fatal(err)
	}
	x.do(chromedp.SetValue(chromedp.ID("f-contact_person"), "赵六"))
	x.submit("#save")
	if got := x.text("#stale"); !strings.Contains(got, "已被他人修改") {
		t.Fatalf("stale save says %q", got)
	}
	if rec, _ := co.eng.Get(context.Background(), co.admin, "sales_order", id); rec["contact_person"] != "王五" {
		t.Fatalf("contact person after the refused stale save %v, want 王五", rec["contact_person"])
	}
	x.submit("#stale a")
	if got := x.text("#v-contact_person"); got != "王五" {
		t.Fatalf("reloaded record shows contact person %q, want 王五", got)
	}

	// Confirm: over the credit limit, so it waits for approval.
	x.submit("#t-confirm")
	if got := x.text(".flash"); got != "已提交审批，等待审批人处理" {
		t.Fatalf("after confirm the page says %q", got)
	}
	if got := x.text("#approval h2"); !strings.Contains(got, "审批中") {
		t.Fatalf("approval panel %q", got)
	}
	if got := x.text("#approval .steps"); !strings.Contains(got, "超信用额度审批") {
		t.Fatalf("approval steps %q", got)
	}
	if got := x.text("#record-state"); got != "草稿" {
		t.Fatalf("state while waiting %q, want 草稿", got)
	}
	x.shot("record-waiting-1366x768")

	// The list, at desktop and phone size.
	x.open(co.base + "/r/sales_order")
	if got := x.text("table.list tbody tr td:first-child"); got != number {
		t.Fatalf("first list row %q, want %s", got, number)
	}
	if got := x.text("table.list tbody tr"); !strings.Contains(got, "丽水万家商贸有限公司") || !strings.Contains(got, "1,115.70") {
		t.Fatalf("list row %q", got)
	}
	x.shot("list-1366x768")
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	x.open(co.base + "/r/sales_order")
	x.shot("list-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))

	// The manager signs in and approves it from the inbox.
	x.submit(".top form button")
	x.login("manager", managerPassword)
	if got := x.text("#approvals"); !strings.Contains(got, number) || !strings.Contains(got, "审核") || !strings.Contains(got, "张伟") {
		t.Fatalf("manager's inbox %q, want %s confirmed by 张伟", got, number)
	}
	x.shot("inbox-1366x768")
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	x.open(co.base + "/")
	if got := x.text("#approvals"); !strings.Contains(got, number) {
		t.Fatalf("manager's inbox on a phone %q, want %s", got, number)
	}
	x.shot("inbox-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))
	x.open(co.base + "/")
	x.do(chromedp.SendKeys(chromedp.CSS("#approvals textarea"), "同意，注意回款"))
	x.submit(`#approvals button[value="approve"]`)
	if got := x.text(".flash"); got != "已同意" {
		t.Fatalf("after approving the page says %q", got)
	}
	if got := x.text("#approvals"); strings.Contains(got, number) {
		t.Fatalf("the approved order is still in the inbox: %q", got)
	}
	x.open(co.base + "/r/sales_order")
	x.submit("table.list tbody tr td:first-child a")
	if got := x.text("#record-state"); got != "已审核" {
		t.Fatalf("state after approval %q, want 已审核", got)
	}
	if got := x.text(".timeline"); !strings.Contains(got, "周敏 审批通过：同意，注意回款") || !strings.Contains(got, "张伟 提交审批：审核") || !strings.Contains(got, "状态 由 草稿 改为 已审核") {
		t.Fatalf("history %q", got)
	}
	x.shot("record-confirmed-1366x768")
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	x.do(chromedp.Reload())
	if got := x.text("#record-state"); got != "已审核" {
		t.Fatalf("state on a phone %q, want 已审核", got)
	}
	x.shot("record-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))
	x.do(chromedp.Reload())

	// The same page in English.
	x.submit("a.lang")
	if got := x.text("#record-state"); got != "Confirmed" {
		t.Fatalf("state in English %q, want Confirmed", got)
	}
	if got := x.text("h1"); !strings.Contains(got, "Sales order") {
		t.Fatalf("heading in English %q", got)
	}
}
