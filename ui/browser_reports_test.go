package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/server"
)

// apiUser signs in through the API and returns the user as the records
// engine knows them.
func apiUser(t *testing.T, base, username, password string) records.User {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		User struct {
			ID    string   `json:"id"`
			Name  string   `json:"name"`
			Roles []string `json:"roles"`
		} `json:"user"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.User.ID == "" {
		t.Fatalf("login %s: %v (status %d)", username, err, resp.StatusCode)
	}
	return records.User{ID: out.User.ID, Name: out.User.Name, Roles: out.User.Roles}
}

// shipOrder enters an order as owner on date and takes it through
// confirmation, allocation, packing (every line scanned) and shipping, as
// the demo does; it returns the shipped order.
func shipOrder(t *testing.T, co *company, owner records.User, customer, date string, lines map[string]string) records.Record {
	t.Helper()
	ctx := context.Background()
	var rows []any
	codes := make([]string, 0, len(lines))
	for code := range lines {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		rows = append(rows, map[string]any{"item": co.ids[code], "qty": lines[code]})
	}
	so, err := co.eng.Create(ctx, owner, "sales_order", map[string]any{"customer": co.ids[customer], "warehouse": co.ids["WH1"],
		"order_date": date, "payment_method": "cash", "lines": rows})
	if err != nil {
		t.Fatalf("create order: %v", err)
	}
	step := func(as records.User, entity string, rec records.Record, name string, input map[string]any) records.Record {
		t.Helper()
		tr, err := co.eng.Transition(ctx, as, entity, rec.ID(), name, rec.Version(), input)
		if err != nil {
			t.Fatalf("%s %s: %v", entity, name, err)
		}
		return tr.Record
	}
	so = step(owner, "sales_order", so, "confirm", nil)
	so = step(co.admin, "sales_order", so, "allocate", nil)
	note, err := co.eng.Get(ctx, co.admin, "delivery_note", fmt.Sprint(so["delivery_note"]))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, code := range codes {
		byID[co.ids[code]] = code
	}
	var scanned []any
	for _, r := range note["lines"].([]any) {
		row := map[string]any{}
		for k, v := range r.(map[string]any) {
			row[k] = v
		}
		row["scanned"], row["packed_qty"] = byID[fmt.Sprint(row["item"])], row["qty"]
		scanned = append(scanned, row)
	}
	if note, err = co.eng.Update(ctx, co.admin, "delivery_note", note.ID(), note.Version(), map[string]any{"lines": scanned}); err != nil {
		t.Fatal(err)
	}
	note = step(co.admin, "delivery_note", note, "pack", nil)
	step(co.admin, "delivery_note", note, "ship", map[string]any{"carrier": "顺丰速运", "tracking_no": "SF" + date, "ship_date": date})
	so, err = co.eng.Get(ctx, co.admin, "sales_order", so.ID())
	if err != nil || so["state"] != "shipped" {
		t.Fatalf("order after shipping: state %v, err %v", so["state"], err)
	}
	return so
}

// monthly is the sales by month as the records engine shows them to usr:
// the orders usr may read, shipped or later, summed per month of their date.
func monthly(t *testing.T, co *company, usr records.User, customer string) (months []string, sums map[string]decimal.Decimal, count int) {
	t.Helper()
	filter := "state in ['shipped', 'invoiced', 'settled', 'completed']"
	if customer != "" {
		filter += " && customer == " + strconv.Quote(co.ids[customer])
	}
	page, err := co.eng.List(context.Background(), usr, "sales_order", records.ListQuery{Filter: filter, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	sums = map[string]decimal.Decimal{}
	for _, rec := range page.Records {
		m := fmt.Sprint(rec["order_date"])[:7]
		d, _, _ := store.ToDecimal(rec["total"])
		if _, ok := sums[m]; !ok {
			months = append(months, m)
		}
		sums[m] = sums[m].Add(d)
	}
	sort.Strings(months)
	return months, sums, len(page.Records)
}

// content is the text of the first element sel matches, visible or not.
func (x *b) content(sel string) string {
	x.t.Helper()
	s, err := chromedp.Run(x.ctx, chromedp.Evaluate[string]("(document.querySelector("+jsString(sel)+") || {textContent: ''}).textContent"))
	if err != nil {
		x.t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// money writes an amount as the pages do: two places, thousands grouped.
func money(d decimal.Decimal) string {
	s := d.StringFixed(2)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String() + "." + frac
}

func total(sums map[string]decimal.Decimal) decimal.Decimal {
	out := decimal.Zero
	for _, d := range sums {
		out = out.Add(d)
	}
	return out
}

// The sales manager opens 月度销售: one bar per month with shipped sales and
// a table whose totals are the records engine's sums; the customer filter
// narrows both. The dashboard draws the reports' charts. A salesperson sees
// only their own orders in the same report and cannot open the manager's
// ranking.
func TestReportsChartsAndAccess(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}
	sales1 := apiUser(t, co.base, "sales1", salesPassword)
	sales2 := apiUser(t, co.base, "sales2", sales2Password)
	manager := apiUser(t, co.base, "manager", managerPassword)
	if _, err := co.eng.Create(context.Background(), co.admin, "customer", map[string]any{"code": "C-0002", "name": "衢州百汇超市",
		"address": "衢州市柯城区上街 5 号", "default_warehouse": co.ids["WH1"]}); err != nil {
		t.Fatal(err)
	}
	page, err := co.eng.List(context.Background(), co.admin, "customer", records.ListQuery{Filter: `code == "C-0002"`, Limit: 1})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("customer C-0002: %v", err)
	}
	co.ids["C-0002"] = page.Records[0].ID()
	finance := apiUser(t, co.base, "finance", financePassword)
	first := shipOrder(t, co, sales1, "C-0001", "2026-01-08", map[string]string{"TEA-250G": "10", "OIL-5L": "5"})
	second := shipOrder(t, co, sales1, "C-0002", "2026-01-21", map[string]string{"RICE-10KG": "2"})
	// Two invoices fall due at different ages: the receivable aging chart.
	outstanding := decimal.Zero
	for i, so := range []records.Record{first, second} {
		due := time.Now().AddDate(0, 0, -10-50*i).Format("2006-01-02")
		if _, err := co.eng.Transition(context.Background(), finance, "sales_order", so.ID(), "invoice", so.Version(),
			map[string]any{"invoice_no": fmt.Sprintf("3100000%d", i), "due_date": due}); err != nil {
			t.Fatal(err)
		}
		d, _, _ := store.ToDecimal(so["total"])
		outstanding = outstanding.Add(d)
	}
	shipOrder(t, co, sales2, "C-0002", "2026-02-03", map[string]string{"TEA-250G": "4"})
	shipOrder(t, co, sales1, "C-0001", "2026-03-15", map[string]string{"OIL-5L": "12", "RICE-10KG": "1"})
	shipOrder(t, co, sales2, "C-0001", "2026-03-28", map[string]string{"TEA-250G": "7"})
	// A draft order counts nowhere.
	if _, err := co.eng.Create(context.Background(), sales1, "sales_order", map[string]any{"customer": co.ids["C-0001"], "warehouse": co.ids["WH1"],
		"order_date": "2026-04-02", "payment_method": "cash", "lines": []any{map[string]any{"item": co.ids["TEA-250G"], "qty": "1"}}}); err != nil {
		t.Fatal(err)
	}

	// The manager: the reports page lists the sales reports by package.
	x.login("manager", managerPassword)
	x.open(co.base + "/reports")
	if got := x.text("main"); !strings.Contains(got, "月度销售") || !strings.Contains(got, "客户销售排行") || !strings.Contains(got, "应收账龄") {
		t.Fatalf("the manager's reports %q", got)
	}
	x.submit(`a[href="/reports/sales/sales_by_month"]`)
	months, sums, n := monthly(t, co, manager, "")
	if len(months) != 3 {
		t.Fatalf("the fixture has sales in %v, want 3 months", months)
	}
	if got := x.count("#report-chart svg rect.bar"); got != len(months) {
		t.Fatalf("%d bars, want one per month with sales %v", got, months)
	}
	if got := x.content("#report-chart svg title"); got != "月度销售 · 销售额" {
		t.Fatalf("chart title %q", got)
	}
	if got := x.count("#report-table tbody tr"); got != len(months) {
		t.Fatalf("%d table rows, want %d", got, len(months))
	}
	for i, m := range months {
		row := x.text(fmt.Sprintf("#report-table tbody tr:nth-child(%d)", i+1))
		if !strings.Contains(row, m) || !strings.Contains(row, money(sums[m])) {
			t.Fatalf("row %d %q, want %s with %s", i+1, row, m, money(sums[m]))
		}
	}
	if got, want := x.text("#total-amount"), money(total(sums)); got != want {
		t.Fatalf("total sales %q, want %s", got, want)
	}
	if got := x.text("#total-orders"); got != strconv.Itoa(n) {
		t.Fatalf("total orders %q, want %d", got, n)
	}
	x.shot("report-1366x768")
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	x.open(co.base + "/reports/sales/sales_by_month")
	x.shot("report-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))

	// The customer filter narrows the chart and the totals.
	x.open(co.base + "/reports/sales/sales_by_month")
	x.do(chromedp.SetValue(chromedp.ID("rf-customer"), co.ids["C-0002"]))
	x.submit("#report-run")
	months2, sums2, _ := monthly(t, co, manager, "C-0002")
	if got := x.count("#report-chart svg rect.bar"); got != len(months2) || len(months2) != 2 {
		t.Fatalf("%d bars for 衢州百汇超市, want %d (%v)", got, len(months2), months2)
	}
	if got, want := x.text("#total-amount"), money(total(sums2)); got != want {
		t.Fatalf("total sales of 衢州百汇超市 %q, want %s", got, want)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("rf-customer"))); v != co.ids["C-0002"] {
		t.Fatalf("the customer filter shows %q after running", v)
	}
	// A malformed date is refused with the filter's name, in Chinese.
	x.open(co.base + "/reports/sales/sales_by_month?order_date_from=2026-13-01")
	if got := x.text("#report-error"); !strings.Contains(got, "下单日期") || !strings.Contains(got, "YYYY-MM-DD") {
		t.Fatalf("bad date filter says %q", got)
	}

	// The top customers: horizontal bars, the biggest first.
	x.open(co.base + "/reports/sales/top_customers")
	if got := x.count("#report-chart svg.chart-hbars rect.bar"); got != 2 {
		t.Fatalf("%d ranking bars, want 2 customers", got)
	}

	// The receivable aging: a stacked bar per customer, a segment per age.
	x.open(co.base + "/reports/sales/receivable_aging")
	if got := x.count("#report-chart svg.chart-stacked rect.seg"); got != 2 {
		t.Fatalf("%d aging segments, want 2 (one invoice 10 days overdue, one 60)", got)
	}
	if got, want := x.text("#total-outstanding"), money(outstanding); got != want {
		t.Fatalf("total outstanding %q, want %s", got, want)
	}

	// The dashboard draws a chart per package; it is run as the manager.
	start := time.Now()
	x.open(co.base + "/dashboard")
	t.Logf("dashboard page: %v", time.Since(start))
	if got := x.count(".dash-card svg.chart"); got < 1 {
		t.Fatal("the dashboard has no chart")
	}
	if got := x.text(".dash-card"); !strings.Contains(got, "客户销售汇总") {
		t.Fatalf("first dashboard card %q, want the sales package's first charted report", got)
	}
	if got := x.count(".dash-card:first-child svg rect.bar"); got != 2 {
		t.Fatalf("%d bars in the sales by customer chart, want 2", got)
	}
	if got := x.count(".dash-card svg.chart-bars rect.bar"); got != len(months) {
		t.Fatalf("the dashboard's sales by month has %d bars, want %d", got, len(months))
	}
	x.shot("dashboard-1366x768")
	start = time.Now()
	x.open(co.base + "/")
	t.Logf("home page: %v", time.Since(start))
	if got := x.text("#modules"); !strings.Contains(got, "批发订货单") || !strings.Contains(got, "客户") {
		t.Fatalf("the home page's modules %q", got)
	}

	// The salesperson sees only their own orders.
	x.relogin("sales1", salesPassword)
	x.open(co.base + "/reports/sales/sales_by_month")
	own, ownSums, ownN := monthly(t, co, sales1, "")
	if len(own) != 2 {
		t.Fatalf("sales1's orders fall in %v, want 2 months", own)
	}
	if got := x.count("#report-chart svg rect.bar"); got != len(own) {
		t.Fatalf("the salesperson sees %d bars, want %d (own months %v)", got, len(own), own)
	}
	if got, want := x.text("#total-amount"), money(total(ownSums)); got != want || want == money(total(sums)) {
		t.Fatalf("the salesperson's total %q, want their own %s (all: %s)", got, want, money(total(sums)))
	}
	if got := x.text("#total-orders"); got != strconv.Itoa(ownN) {
		t.Fatalf("the salesperson's order count %q, want %d", got, ownN)
	}
	x.open(co.base + "/reports")
	if got := x.text("main"); strings.Contains(got, "客户销售排行") || !strings.Contains(got, "月度销售") {
		t.Fatalf("the salesperson's reports %q: the ranking is the manager's", got)
	}
	x.open(co.base + "/reports/sales/top_customers")
	if got := x.text("h1"); got != server.Title("zh-CN", 403) {
		t.Fatalf("the salesperson opening the ranking sees %q, want 403", got)
	}
	// The salesperson may read items: the home page shows low-stock alerts
	// (none here: every item has 1,000 in stock and no minimum).
	x.open(co.base + "/")
	if got := x.text("#low-stock"); !strings.Contains(got, "低库存预警") || !strings.Contains(got, "暂无") {
		t.Fatalf("low-stock section %q", got)
	}
}

// An admin imports customers from a CSV file with one bad row: the job's
// page shows the progress end with two created, one failed, and the bad
// row's error with its row number, in Chinese; the list shows the new
// customers. A saved filter of the list is saved, applied and deleted.
func TestImportProgressAndSavedFilters(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}
	csv := "客户编码,客户名称,收货地址,信用额度\n" +
		"C-0101,温州东方副食品批发部,温州市鹿城区人民路 1 号,5000\n" +
		"C-0102,金华佳佳便利店,金华市婺城区八一街 2 号,很多\n" +
		"C-0103,台州海鲜干货行,台州市椒江区东海大道 3 号,8000.50\n"
	file := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}

	x.login("admin", adminPassword)
	x.open(co.base + "/r/customer")
	x.submit("#import-records")
	if got := x.text("h1"); got != "导入客户" {
		t.Fatalf("import page heading %q", got)
	}
	x.do(chromedp.SetUploadFiles("#import-file", []string{file}))
	x.submit("#import-start")
	// The page polls the job until it ends (then it shows the server's final page).
	// The page reloads once when the job ends, which may interrupt a poll.
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector("#import-job") && !document.querySelector("#import-job").hasAttribute("data-poll")`, chromedp.WithPollingTimeout(0)))
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context") {
			t.Fatal(err)
		}
	}
	if got := x.text("#import-status"); got != "导入完成" {
		t.Fatalf("import status %q, want 导入完成", got)
	}
	for id, want := range map[string]string{"#import-processed": "3", "#import-total": "3", "#import-created": "2", "#import-failed": "1"} {
		if got := x.text(id); got != want {
			t.Fatalf("%s %q, want %s", id, got, want)
		}
	}
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[float64]("document.getElementById('import-progress').value / document.getElementById('import-progress').max")); v != 1 {
		t.Fatalf("the progress bar stands at %v, want full", v)
	}
	if got := x.count("#import-errors tbody tr"); got != 1 {
		t.Fatalf("%d errors listed, want 1", got)
	}
	want := server.Message("zh-CN", records.FieldError{Path: "credit_limit", Code: "not_a_number"})
	if got := x.text("#import-errors tbody tr"); !strings.HasPrefix(got, "3") || !strings.Contains(got, "信用额度") || !strings.Contains(got, want) {
		t.Fatalf("the error row %q, want row 3, 信用额度 and %q", got, want)
	}
	x.shot("import-1366x768")
	x.submit("#import-back")
	list := x.text("table.list tbody")
	if !strings.Contains(list, "温州东方副食品批发部") || !strings.Contains(list, "台州海鲜干货行") || strings.Contains(list, "金华佳佳便利店") {
		t.Fatalf("the customer list after the import %q", list)
	}

	// A saved filter: search C-01, save it, clear, apply it, delete it.
	x.do(chromedp.SendKeys(chromedp.ID("q"), "C-01"))
	x.submit(".filters button[type=submit]")
	if got := x.count("table.list tbody tr"); got != 2 {
		t.Fatalf("%d customers starting with C-01, want 2", got)
	}
	x.do(chromedp.SendKeys(chromedp.ID("sf-name"), "新客户"))
	x.submit("#save-filter button")
	if got := x.text(".flash"); got != "已保存常用筛选" {
		t.Fatalf("after saving the filter the page says %q", got)
	}
	x.open(co.base + "/r/customer")
	if got := x.count("table.list tbody tr"); got != 3 {
		t.Fatalf("%d customers without a filter, want 3", got)
	}
	x.submit(`#saved-filters a`)
	if got := x.count("table.list tbody tr"); got != 2 {
		t.Fatalf("%d customers with the saved filter, want 2", got)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("q"))); v != "C-01" {
		t.Fatalf("the saved filter applied the search %q, want C-01", v)
	}
	if got := x.text(`#saved-filters a[aria-current="true"]`); got != "新客户" {
		t.Fatalf("the current saved filter %q", got)
	}
	// Another user does not see it.
	x.relogin("manager", managerPassword)
	x.open(co.base + "/r/customer")
	if got := x.count("#saved-filters li"); got != 0 {
		t.Fatalf("the manager sees %d saved filters of the admin", got)
	}
	x.relogin("admin", adminPassword)
	x.open(co.base + "/r/customer")
	x.submit(`#saved-filters li button`)
	if got := x.text(".flash"); got != "已删除常用筛选" || x.count("#saved-filters li") != 0 {
		t.Fatalf("after deleting: %q, %d saved filters", got, x.count("#saved-filters li"))
	}
}
