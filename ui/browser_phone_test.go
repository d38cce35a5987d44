package ui_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/server"
)

// Passwords of the phone tests' users.
const (
	fieldPassword = "field1-password"
	phoneKeeperPw = "keeper-password"
)

// phoneCompany is a server on loopback over a fresh SQLite store with the
// whole catalog, the demo's field worker 冯超 (field1, field_staff), the sales
// manager 周敏 and the warehouse keeper 吴强, items and customers with
// barcodes, and a customer audit whose checks of three customers the manager
// assigned to the field worker.
type phoneCompany struct {
	base   string
	eng    *records.Engine
	admin  records.User
	keeper records.User
	ids    map[string]string
}

func startPhoneCompany(t *testing.T) *phoneCompany {
	t.Helper()
	ctx := context.Background()
	st, svc, users := catalogStore(t)
	made := map[string]*auth.User{}
	for _, u := range []auth.NewUser{
		{Username: "manager", Name: "周敏", Roles: []string{"sales_manager"}, Password: managerPassword},
		{Username: "keeper", Name: "吴强", Roles: []string{"warehouse"}, Password: phoneKeeperPw},
		{Username: "field1", Name: "冯超", Roles: []string{"field_staff"}, Password: fieldPassword},
	} {
		nu, err := users.CreateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		made[u.Username] = nu
	}
	as := func(name string) records.User {
		u := made[name]
		return records.User{ID: u.ID, Name: u.Name, Roles: u.Roles}
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	co := &phoneCompany{eng: eng, admin: records.User{ID: "test", Name: "test", Roles: []string{records.AdminRole}},
		keeper: as("keeper"), ids: map[string]string{}}
	create := func(key string, u records.User, entity string, values map[string]any) records.Record {
		t.Helper()
		rec, err := eng.Create(ctx, u, entity, values)
		if err != nil {
			t.Fatalf("create %s: %v", key, err)
		}
		co.ids[key] = rec.ID()
		return rec
	}
	create("WH1", co.admin, "warehouse", map[string]any{"code": "WH1", "name": "杭州主仓"})
	for _, it := range []struct{ code, name, barcode string }{
		{"TEA-250G", "龙井茶 250g", "6920000000011"},
		{"OIL-5L", "花生油 5L", "6920000000028"},
		{"RICE-10KG", "东北大米 10kg", "6920000000035"},
	} {
		create(it.code, co.admin, "item", map[string]any{"code": it.code, "name": it.name, "unit": "pcs", "price": "10", "cost": "1", "barcode": it.barcode})
		qty, _ := decimal.Parse("1000")
		if err := eng.OpeningStock(ctx, co.admin, co.ids[it.code], co.ids["WH1"], qty); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ code, name, barcode, address string }{
		{"C-0002", "滨江便利店", "6901234500022", "杭州市滨江区江南大道 588 号"},
		{"C-0003", "拱墅区副食品店", "6901234500033", "杭州市拱墅区湖墅南路 21 号"},
		{"C-0004", "西湖区百货商店", "6901234500044", "杭州市西湖区文三路 90 号"},
	} {
		create(c.code, co.admin, "customer", map[string]any{"code": c.code, "name": c.name, "barcode": c.barcode, "address": c.address,
			"contact_person": "李娜", "phone": "0571-88886666"})
	}
	manager := as("manager")
	camp := create("CA", manager, "customer_audit", map[string]any{"name": "2026年第二季度华东区客户盘点", "start_date": "2026-04-01", "end_date": "2026-06-30"})
	if _, err := eng.Transition(ctx, manager, "customer_audit", camp.ID(), "start", camp.Version(), nil); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"C-0002", "C-0003", "C-0004"} {
		v := create("V-"+code, manager, "customer_audit_visit", map[string]any{"campaign": camp.ID(), "customer": co.ids[code]})
		if _, err := eng.Transition(ctx, manager, "customer_audit_visit", v.ID(), "assign", v.Version(), map[string]any{"field_staff": made["field1"].ID}); err != nil {
			t.Fatal(err)
		}
	}

	co.base = serveUI(t, server.Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: server.Info{Version: "test", Store: "sqlite"}})
	return co
}

// phone opens a browser tab at phone size (390×844, as the scanning
// screens are used) and signs user in.
func (co *phoneCompany) phone(t *testing.T, user, password string) *b {
	t.Helper()
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	x.login(user, password)
	return x
}

// offline cuts the tab's network (requests fail, navigator.onLine is false)
// or gives it back.
func (x *b) offline(off bool) {
	x.t.Helper()
	if _, err := chromedp.Call(x.ctx, network.Enable, network.EnableParams{}); err != nil {
		x.t.Fatal(err)
	}
	if _, err := chromedp.Call(x.ctx, emulateNetworkConditions, networkConditions{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		x.t.Fatal(err)
	}
	if _, err := chromedp.Call(x.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: off, DownloadThroughput: -1, UploadThroughput: -1,
	}); err != nil {
		x.t.Fatal(err)
	}
	want := "!navigator.onLine"
	if !off {
		want = "navigator.onLine"
	}
	if _, err := chromedp.Run(x.ctx, chromedp.Poll[bool](want, chromedp.WithPollingTimeout(0))); err != nil {
		x.t.Fatal(err)
	}
}

// emulateNetworkConditions is Network.emulateNetworkConditions, which
// chromium still serves; cdproto keeps only its successor, whose parameters
// this chromium does not take yet.
var emulateNetworkConditions = cdp.Command[networkConditions, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

type networkConditions struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

// scanCode types code into the scan input and Enter, as a keyboard-wedge
// scanner does.
func (x *b) scanCode(code string) {
	x.t.Helper()
	x.do(chromedp.SendKeys(chromedp.ID("ph-code"), code+kb.Enter))
}

// waitText waits until the text of sel contains want.
func (x *b) waitText(sel, want string) {
	x.t.Helper()
	js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return !!e && e.textContent.includes(` + jsString(want) + `); })()`
	if _, err := chromedp.Run(x.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		x.t.Fatalf("waiting for %q in %s: %v (it shows %q)", want, sel, err, x.text(sel))
	}
}

// visit reads a customer check as the admin.
func (co *phoneCompany) visit(t *testing.T, key string) records.Record {
	t.Helper()
	rec, err := co.eng.Get(context.Background(), co.admin, "customer_audit_visit", co.ids["V-"+key])
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// verifications counts the verify transitions in a check's history.
func (co *phoneCompany) verifications(t *testing.T, key string) int {
	t.Helper()
	hist, err := co.eng.History(context.Background(), co.admin, "customer_audit_visit", co.ids["V-"+key])
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range hist {
		if e.Action == "transition" && e.Transition == "verify" {
			n++
		}
	}
	return n
}

// The acceptance: a field worker scans two customers on the phone
// layout while offline, and the records arrive once the connection is back,
// once each, even when the same queue is sent again.
func TestPhoneCustomerAuditOffline(t *testing.T) {
	co := startPhoneCompany(t)
	x := co.phone(t, "field1", fieldPassword)

	// The phone home lists the customer audit with the three checks.
	x.open(co.base + "/m")
	if got := x.text("h1"); got != "扫码作业" {
		t.Fatalf("phone home heading %q", got)
	}
	task := x.text("#ph-task-customer_audit_visit")
	if !strings.Contains(task, "客户核实任务") || !strings.Contains(task, "2026年第二季度华东区客户盘点") || !strings.Contains(task, "3 个待核实") {
		t.Fatalf("the field worker's scan tasks %q", task)
	}
	if n := x.count(".ph-task"); n != 1 {
		t.Fatalf("the field worker sees %d scan tasks, want the customer audit only", n)
	}
	x.shot("phone-home-390x844")
	x.submit("#ph-task-customer_audit_visit a.ph-doc")
	if n := x.count("#ph-checks li"); n != 3 {
		t.Fatalf("%d checks listed, want 3", n)
	}
	if got := x.text("#ph-checks"); !strings.Contains(got, "滨江便利店") || !strings.Contains(got, "待核实") {
		t.Fatalf("checks %q", got)
	}
	if got := x.text("#ph-sync"); got != "已同步" {
		t.Fatalf("sync state before scanning %q, want 已同步", got)
	}
	focused, err := chromedp.Run(x.ctx, chromedp.Evaluate[string]("document.activeElement.id"))
	if err != nil || focused != "ph-code" {
		t.Fatalf("the focus is on %q (%v), want the scan input", focused, err)
	}

	// The connection drops; two customers are scanned.
	x.offline(true)
	x.scanCode("6901234500022")
	x.waitText("#ph-feedback", "已扫描：C-0002 滨江便利店")
	x.scanCode("6901234500033")
	x.waitText("#ph-feedback", "已扫描：C-0003 拱墅区副食品店")
	x.waitText("#ph-sync", "2 条待同步")
	if got := x.text("#ph-sync"); !strings.Contains(got, "离线") {
		t.Fatalf("sync state offline %q, want it to say 离线", got)
	}
	// A second scan of the same customer is a warning, not a new check; an
	// unknown code is an error.
	x.scanCode("6901234500022")
	x.waitText("#ph-feedback", "C-0002 滨江便利店 已扫描过")
	if got, _ := chromedp.Run(x.ctx, chromedp.AttributeValue(chromedp.ID("ph-feedback"), "class")); !strings.Contains(got.Value, "warn") {
		t.Fatalf("a repeated scan shows as %q, want a warning", got.Value)
	}
	x.scanCode("0000000000000")
	x.waitText("#ph-feedback", "未知条码：0000000000000")
	x.waitText("#ph-sync", "2 条待同步")
	if got := x.text(`#ph-checks li[data-id="` + co.ids["V-C-0002"] + `"]`); !strings.Contains(got, "待同步") {
		t.Fatalf("the scanned check shows %q, want 待同步", got)
	}
	x.shot("phone-offline-390x844")

	// Nothing has reached the server.
	for _, key := range []string{"C-0002", "C-0003", "C-0004"} {
		if v := co.visit(t, key); v["state"] != "in_progress" || v["scanned_barcode"] != nil && v["scanned_barcode"] != "" {
			t.Fatalf("check of %s while the phone is offline: %v", key, v)
		}
	}
	// The queue, as the phone will send it.
	queued, err := chromedp.Run(x.ctx, chromedp.Evaluate[string](
		`JSON.stringify(JSON.parse(localStorage.getItem('yerp.phone.queue.' + JSON.parse(document.getElementById('ph-data').textContent).user)).flatMap(e => e.ops))`))
	if err != nil {
		t.Fatal(err)
	}
	var ops []map[string]any
	if err := json.Unmarshal([]byte(queued), &ops); err != nil || len(ops) != 4 {
		t.Fatalf("queued operations %s (%v), want an update and a transition per customer", queued, err)
	}
	for _, op := range ops {
		if k, _ := op["key"].(string); k == "" {
			t.Fatalf("an operation without an idempotency key: %v", op)
		}
	}

	// The connection is back: the queue is sent, and the page says so.
	x.offline(false)
	x.waitText("#ph-sync", "已同步")
	x.waitText(`#ph-checks li[data-id="`+co.ids["V-C-0002"]+`"]`, "已核实")
	x.shot("phone-scan-390x844")
	versions := map[string]any{}
	for _, key := range []string{"C-0002", "C-0003"} {
		v := co.visit(t, key)
		if v["state"] != "completed" || v["result"] != "verified" || v["scanned_barcode"] != map[string]string{"C-0002": "6901234500022", "C-0003": "6901234500033"}[key] || v["found_by"] != "barcode" {
			t.Fatalf("check of %s after the sync: %v", key, v)
		}
		if n := co.verifications(t, key); n != 1 {
			t.Fatalf("check of %s verified %d times, want once", key, n)
		}
		versions[key] = v["version"]
	}
	if v := co.visit(t, "C-0004"); v["state"] != "in_progress" {
		t.Fatalf("the customer not scanned: %v", v)
	}

	// The same queue sent again (an answer lost on the way): every
	// operation is answered as the first time, and nothing is written.
	replay, err := chromedp.Run(x.ctx, chromedp.Evaluate[string](`(async () => {
		const m = JSON.parse(document.getElementById('ph-data').textContent);
		const r = await fetch('/api/v1/batch', {method: 'POST', credentials: 'same-origin',
			headers: {'Content-Type': 'application/json', 'X-CSRF-Token': m.csrf}, body: JSON.stringify({operations: `+queued+`})});
		return r.status + ' ' + await r.text(); })()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ := strings.Cut(replay, " ")
	var ans struct {
		Results []struct {
			Status   int  `json:"status"`
			Replayed bool `json:"replayed"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &ans); status != "200" || err != nil || len(ans.Results) != 4 {
		t.Fatalf("replay answered %s %s (%v)", status, body, err)
	}
	for i, r := range ans.Results {
		if r.Status != 200 || !r.Replayed {
			t.Fatalf("replayed operation %d: %+v, want 200 replayed", i, r)
		}
	}
	for _, key := range []string{"C-0002", "C-0003"} {
		if v := co.visit(t, key); v["version"] != versions[key] || co.verifications(t, key) != 1 {
			t.Fatalf("check of %s moved on the replay: version %v (was %v), %d verifications", key, v["version"], versions[key], co.verifications(t, key))
		}
	}
}

// A warehouse keeper counts a count sheet on the phone: a known item
// increments its line against the book quantity, an item not on the sheet
// adds a line, an unknown barcode is an error, − corrects a scan; the counts
// reach the server, and posting the count goes through the engine's
// transition.
func TestPhoneStocktakeCount(t *testing.T) {
	co := startPhoneCompany(t)
	ctx := context.Background()
	sheet, err := co.eng.Create(ctx, co.keeper, "stocktake", map[string]any{"warehouse": co.ids["WH1"], "lines": []any{
		map[string]any{"item": co.ids["TEA-250G"], "counted": "0"},
		map[string]any{"item": co.ids["OIL-5L"], "counted": "0"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	number, _ := sheet["number"].(string)
	x := co.phone(t, "keeper", phoneKeeperPw)
	x.open(co.base + "/m")
	if got := x.text("#ph-task-stocktake"); !strings.Contains(got, number) || !strings.Contains(got, "盘点中") || !strings.Contains(got, "2 行") {
		t.Fatalf("the keeper's stocktake task %q, want %s", got, number)
	}
	if n := x.count("#ph-task-customer_audit_visit"); n != 0 {
		t.Fatal("the warehouse keeper is offered the customer audit")
	}
	x.submit("#ph-task-stocktake a.ph-doc")
	tea := `#ph-lines li[data-item="` + co.ids["TEA-250G"] + `"]`
	if got := x.text(tea); !strings.Contains(got, "龙井茶 250g") || !strings.Contains(got, "0 / 1000") {
		t.Fatalf("tea line before scanning %q, want 0 of the book's 1000", got)
	}

	x.scanCode("6920000000011")
	x.waitText("#ph-feedback", "TEA-250G 龙井茶 250g：1 / 1000")
	x.scanCode("6920000000011")
	x.waitText(tea, "2 / 1000")
	x.scanCode("6920000000011")
	x.waitText(tea, "3 / 1000")
	x.scanCode("9999999999999")
	x.waitText("#ph-feedback", "未知条码：9999999999999")
	if got, _ := chromedp.Run(x.ctx, chromedp.AttributeValue(chromedp.ID("ph-feedback"), "class")); !strings.Contains(got.Value, "err") {
		t.Fatalf("an unknown barcode shows as %q, want an error", got.Value)
	}
	// The rice is not on the sheet: counting it adds a line.
	x.scanCode("RICE-10KG")
	x.waitText("#ph-feedback", "新增一行：RICE-10KG 东北大米 10kg")
	// One tea too many: − takes it back.
	x.waitText("#ph-sync", "已同步")
	x.do(chromedp.Click(chromedp.CSS(tea+` button[data-step="-1"]`), chromedp.NodeVisible))
	x.waitText(tea, "2 / 1000")
	x.waitText("#ph-sync", "已同步")
	x.shot("phone-count-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))
	x.shot("phone-count-1366x768")
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))

	rec, err := co.eng.Get(ctx, co.admin, "stocktake", sheet.ID())
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]string{}
	for _, r := range rec["lines"].([]any) {
		row := r.(map[string]any)
		counted[row["item"].(string)] = row["counted"].(decimal.Decimal).String() + "/" + asText(row["barcode"])
	}
	want := map[string]string{co.ids["TEA-250G"]: "2/6920000000011", co.ids["OIL-5L"]: "0/", co.ids["RICE-10KG"]: "1/6920000000035"}
	for k, v := range want {
		if counted[k] != v {
			t.Fatalf("lines on the server %v, want %v", counted, want)
		}
	}

	// Posting the count: the template's transition, on the record page.
	x.submit("#ph-t-post")
	if got := x.text("#record-state"); got != "已过账" {
		t.Fatalf("count sheet state after 盘点过账 %q, want 已过账", got)
	}
	bin, err := co.eng.Stock(ctx, co.ids["TEA-250G"], co.ids["WH1"])
	if err != nil {
		t.Fatal(err)
	}
	if bin.OnHand.String() != "2" {
		t.Fatalf("tea on hand after the count %s, want 2", bin.OnHand)
	}
}

func asText(v any) string { s, _ := v.(string); return s }
