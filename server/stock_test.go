package server

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/templates"
)

// A test package on top of core for the stock API: deliveries that ship
// stock out of a warehouse, and goods receipts that bring it in.
var stockPackage = map[string]string{
	"package.yaml": "package: stock\nversion: 1.0.0\nlabel: {zh-CN: 库存, en: Stock}\nrequires: {core: ^1.0}\n",
	"delivery.yaml": `entity: delivery
label: {zh-CN: 销售出库单, en: Delivery}
number: "DL-{seq:5}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  warehouse: {type: link, to: warehouse, required: true, label: {zh-CN: 发货仓库, en: Warehouse}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, min: 0.001, label: {zh-CN: 数量, en: Quantity}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [sales]}
  shipped: {final: true, label: {zh-CN: 已发货, en: Shipped}}
transitions:
  ship:
    from: draft
    to: shipped
    roles: [warehouse]
    label: {zh-CN: 发货, en: Ship}
    effects:
      - stock: {move: out, warehouse: warehouse, lines: lines, item: .item, qty: .qty}
access:
  sales: {read: true, create: true, update: true}
  warehouse: {read: true}
`,
	"goods_receipt.yaml": `entity: goods_receipt
label: {zh-CN: 入库单, en: Goods receipt}
number: "GR-{seq:4}"
fields:
  warehouse: {type: link, to: warehouse, required: true, label: {zh-CN: 仓库, en: Warehouse}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, min: 0.001, label: {zh-CN: 数量, en: Quantity}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [warehouse]}
  received: {final: true, label: {zh-CN: 已入库, en: Received}}
transitions:
  receive:
    from: draft
    to: received
    roles: [warehouse]
    label: {zh-CN: 入库, en: Receive}
    effects:
      - stock: {move: in, warehouse: warehouse, lines: lines, item: .item, qty: .qty}
access:
  warehouse: {read: true, create: true, update: true}
  purchasing: {read: true}
`,
}

// stockHarness is a server with core and the stock package installed, its
// engine (for opening balances and Verify), and users: sam (sales), ken
// (warehouse), pat (purchasing) and vic, whose role may not read items.
type stockHarness struct {
	*harness
	eng   *records.Engine
	admin records.User
	sam   *client
	ken   *client
	pat   *client
	vic   *client
}

func startStock(t *testing.T, st store.Store) *stockHarness {
	t.Helper()
	cat := fstest.MapFS{}
	for name, text := range stockPackage {
		cat["stock/"+name] = &fstest.MapFile{Data: []byte(text)}
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
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "stock", packages.Options{}); err != nil {
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
		{Username: "sam", Name: "Sam", Roles: []string{"sales"}, Password: "sam-password-1"},
		{Username: "ken", Name: "Ken", Roles: []string{"warehouse"}, Password: "ken-password-1"},
		{Username: "pat", Name: "Pat", Roles: []string{"purchasing"}, Password: "pat-password-1", Language: "en"},
		{Username: "vic", Name: "Vic", Roles: []string{"visitor"}, Password: "vic-password-1"},
	} {
		if _, err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	sh := &stockHarness{eng: eng, harness: &harness{t: t, st: st, ids: map[string]string{},
		base: serve(t, New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: Info{Version: "test"}}))}}
	admin := sh.login("admin", "admin-password-1")
	var me struct{ User struct{ ID string } }
	sh.call(admin, "GET", "/api/v1/auth/me", "", nil, 200, &me)
	sh.admin = records.User{ID: me.User.ID, Name: "admin", Roles: []string{records.AdminRole}}
	for _, c := range []struct{ entity, key, body string }{
		{"customer", "C1", `{"code":"C1","name":"华东贸易"}`},
		{"warehouse", "WH1", `{"code":"WH1","name":"杭州主仓"}`},
		{"item", "A100", `{"code":"A100","name":"Widget","unit":"pcs","price":"12.50"}`},
		{"item", "B200", `{"code":"B200","name":"绿茶","unit":"carton","price":"36","min_stock":"10"}`},
	} {
		var rec map[string]any
		sh.call(admin, "POST", "/api/v1/records/"+c.entity, c.body, nil, 201, &rec)
		sh.ids[c.key] = rec["id"].(string)
	}
	sh.sam = sh.login("sam", "sam-password-1")
	sh.ken = sh.login("ken", "ken-password-1")
	sh.pat = sh.login("pat", "pat-password-1")
	sh.vic = sh.login("vic", "vic-password-1")
	return sh
}

// opening posts an opening balance of item in WH1.
func (sh *stockHarness) opening(item string, qty int64) {
	sh.t.Helper()
	if err := sh.eng.OpeningStock(ctx, sh.admin, sh.ids[item], sh.ids["WH1"], decimal.FromInt(qty)); err != nil {
		sh.t.Fatal(err)
	}
}

// delivery creates a draft delivery of qty of item from WH1 (as sam) and
// returns its id.
func (sh *stockHarness) delivery(item string, qty int) string {
	sh.t.Helper()
	var rec map[string]any
	sh.call(sh.sam, "POST", "/api/v1/records/delivery",
		fmt.Sprintf(`{"customer":%q,"warehouse":%q,"lines":[{"item":%q,"qty":"%d"}]}`, sh.ids["C1"], sh.ids["WH1"], sh.ids[item], qty), nil, 201, &rec)
	if rec["state"] != "draft" {
		sh.t.Fatalf("new delivery: %v", rec)
	}
	return rec["id"].(string)
}

// ship takes ship on a delivery at version 1 (as ken) and checks the status.
func (sh *stockHarness) ship(id string, want int, out any) {
	sh.t.Helper()
	sh.call(sh.ken, "POST", "/api/v1/records/delivery/"+id+"/transitions/ship", "", map[string]string{"If-Match": `"1"`}, want, out)
}

// bin is a bin as the stock API answers it.
type bin struct {
	Item      string `json:"item"`
	Warehouse string `json:"warehouse"`
	OnHand    string `json:"on_hand"`
	Reserved  string `json:"reserved"`
	Available string `json:"available"`
	MinStock  string `json:"min_stock"`
	Below     bool   `json:"below_minimum"`
}

// bins GETs path (a stock list) as c.
func (sh *stockHarness) bins(c *client, path string) []bin {
	sh.t.Helper()
	var out struct{ Bins []bin }
	sh.call(c, "GET", path, "", nil, 200, &out)
	return out.Bins
}

// lowStockNotes returns c's low_stock notifications.
func (sh *stockHarness) lowStockNotes(c *client) []records.Notification {
	sh.t.Helper()
	var out struct{ Notifications []records.Notification }
	sh.call(c, "GET", "/api/v1/notifications?limit=200", "", nil, 200, &out)
	var low []records.Notification
	for _, n := range out.Notifications {
		if n.Kind == "low_stock" {
			low = append(low, n)
		}
	}
	return low
}

// verify checks that every bin agrees with its ledger.
func (sh *stockHarness) verify() {
	sh.t.Helper()
	ms, err := sh.eng.Verify(ctx)
	if err != nil {
		sh.t.Fatal(err)
	}
	if len(ms) > 0 {
		sh.t.Fatalf("verify: %v", ms)
	}
}

// insufficient is the expected insufficient-stock message of one unit of
// A100 asked from an empty WH1.
var insufficient = map[string]string{
	"zh-CN": "库存不足：A100 Widget 在 WH1 杭州主仓 需要 1，可用 0",
	"en":    "Not enough stock: A100 Widget in WH1 杭州主仓, asked 1, available 0",
}

// checkInsufficient checks a refused ship of one unit of A100: one
// insufficient_stock error at lines[0].qty, in language l.
func checkInsufficient(prob Problem, l string) error {
	if prob.Status != 422 || len(prob.Errors) != 1 {
		return fmt.Errorf("want one field error with status 422: %+v", prob)
	}
	e := prob.Errors[0]
	if e.Field != "lines[0].qty" || e.Code != "insufficient_stock" {
		return fmt.Errorf("want lines[0].qty: insufficient_stock, got %s: %s", e.Field, e.Code)
	}
	if e.Message != insufficient[l] {
		return fmt.Errorf("message in %s: %q, want %q", l, e.Message, insufficient[l])
	}
	if e.Params["item"] != "A100 Widget" || e.Params["warehouse"] != "WH1 杭州主仓" || e.Params["asked"] != "1" || e.Params["available"] != "0" {
		return fmt.Errorf("params %v", e.Params)
	}
	return nil
}

// The acceptance test of the ledger: 100 concurrent orders of one unit each
// for an item with 50 on hand, through the HTTP API.
func TestStockNoOversell(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startStock(t, st)
		sh.opening("A100", 50)
		const orders = 100
		ids := make([]string, orders)
		for i := range ids {
			ids[i] = sh.delivery("A100", 1)
		}

		type answer struct {
			status int
			ctype  string
			body   []byte
			err    error
		}
		answers := make([]answer, orders)
		langs := []string{"zh-CN", "en"}
		// A client of its own, whose idle connections are closed after the
		// race: the server's shutdown waits for open connections.
		tr := &http.Transport{MaxIdleConnsPerHost: orders}
		hc := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := http.NewRequest("POST", sh.base+"/api/v1/records/delivery/"+id+"/transitions/ship", nil)
				if err != nil {
					answers[i].err = err
					return
				}
				req.Header.Set("Authorization", "Bearer "+sh.ken.token)
				req.Header.Set("If-Match", `"1"`)
				req.Header.Set("Accept-Language", langs[i%2])
				<-begin
				resp, err := hc.Do(req)
				if err != nil {
					answers[i].err = err
					return
				}
				defer resp.Body.Close()
				answers[i].body, answers[i].err = io.ReadAll(resp.Body)
				answers[i].status, answers[i].ctype = resp.StatusCode, resp.Header.Get("Content-Type")
			}()
		}
		close(begin)
		wg.Wait()

		shipped, refused := map[string]bool{}, map[string]bool{}
		others := map[int]int{}
		var sample string
		for i, a := range answers {
			if a.err != nil {
				t.Fatalf("ship %d: %v", i, a.err)
			}
			switch a.status {
			case 200:
				shipped[ids[i]] = true
			case 422:
				refused[ids[i]] = true
				var prob Problem
				if err := json.Unmarshal(a.body, &prob); err != nil {
					t.Fatalf("ship %d: %v in %s", i, err, a.body)
				}
				if !strings.HasPrefix(a.ctype, "application/problem+json") {
					t.Errorf("ship %d: content type %q", i, a.ctype)
				}
				if err := checkInsufficient(prob, langs[i%2]); err != nil {
					t.Errorf("ship %d: %v", i, err)
				}
			default:
				others[a.status]++
				sample = string(a.body)
			}
		}
		if len(shipped) != 50 || len(refused) != 50 || len(others) > 0 {
			t.Fatalf("%d shipped, %d refused, other answers %v (e.g. %s); want 50 and 50", len(shipped), len(refused), others, sample)
		}

		// The shipped deliveries are those answered 200, the others are drafts
		// that the refused transition left as they were, version included.
		var page struct {
			Records []map[string]any
			Total   json.Number
		}
		sh.call(sh.sam, "GET", "/api/v1/records/delivery?limit=200&count=true", "", nil, 200, &page)
		if page.Total != "100" || len(page.Records) != orders {
			t.Fatalf("deliveries: total %v, %d listed", page.Total, len(page.Records))
		}
		states := map[string]int{}
		refusedVersions := map[string]int{}
		for _, r := range page.Records {
			id, state := r["id"].(string), r["state"]
			states[fmt.Sprint(state)]++
			switch {
			case shipped[id] && (state != "shipped" || r["version"] != json.Number("2")):
				t.Errorf("shipped delivery %s: state %v version %v", id, state, r["version"])
			case refused[id] && state != "draft":
				t.Errorf("refused delivery %s: state %v", id, state)
			case refused[id]:
				refusedVersions[fmt.Sprint(r["version"])]++
			}
		}
		if states["shipped"] != 50 || states["draft"] != 50 {
			t.Fatalf("states %v", states)
		}
		if refusedVersions["1"] != 50 {
			t.Errorf("refused deliveries by version: %v; want all 50 still at version 1", refusedVersions)
		}

		// A late ship (with the delivery's current ETag) is refused at
		// planning, in the caller's language, and changes nothing.
		var late string
		for id := range refused {
			late = id
			break
		}
		var rec map[string]any
		etag := sh.call(sh.ken, "GET", "/api/v1/records/delivery/"+late, "", nil, 200, &rec).Get("ETag")
		for _, l := range langs {
			var prob Problem
			sh.call(sh.ken, "POST", "/api/v1/records/delivery/"+late+"/transitions/ship", "", map[string]string{"If-Match": etag, "Accept-Language": l}, 422, &prob)
			if err := checkInsufficient(prob, l); err != nil {
				t.Fatalf("late ship: %v", err)
			}
		}
		if after := sh.call(sh.ken, "GET", "/api/v1/records/delivery/"+late, "", nil, 200, nil).Get("ETag"); after != etag {
			t.Errorf("a ship refused at planning moved the delivery from %s to %s", etag, after)
		}

		// On hand ends at 0, nothing reserved; the bin is not below a minimum
		// the item does not have.
		bs := sh.bins(sh.ken, "/api/v1/stock?item="+url.QueryEscape(sh.ids["A100"])+"&warehouse="+url.QueryEscape(sh.ids["WH1"]))
		if len(bs) != 1 || bs[0].Item != sh.ids["A100"] || bs[0].Warehouse != sh.ids["WH1"] ||
			bs[0].OnHand != "0" || bs[0].Reserved != "0" || bs[0].Available != "0" || bs[0].Below {
			t.Fatalf("stock after the race: %+v", bs)
		}

		sh.verify()
	})
}

func TestStockBelowMinimum(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startStock(t, st)
		a100, b200, wh1 := sh.ids["A100"], sh.ids["B200"], sh.ids["WH1"]
		below := func() []bin { return sh.bins(sh.pat, "/api/v1/stock/below-minimum") }

		// Reading stock needs read access to items.
		for _, p := range []string{"/api/v1/stock", "/api/v1/stock/below-minimum"} {
			var prob Problem
			sh.call(sh.vic, "GET", p, "", map[string]string{"Accept-Language": "en"}, 403, &prob)
			if prob.Status != 403 || prob.Title != "Forbidden" {
				t.Fatalf("%s for a user who may not read items: %+v", p, prob)
			}
		}
		sh.call(nil, "GET", "/api/v1/stock", "", nil, 401, nil)
		var prob Problem
		sh.call(sh.pat, "GET", "/api/v1/stock?below_minimum=maybe", "", nil, 400, &prob)
		if len(prob.Errors) != 1 || prob.Errors[0].Field != "below_minimum" || prob.Errors[0].Code != "not_a_bool" {
			t.Fatalf("bad below_minimum: %+v", prob)
		}

		// 12 on hand of an item whose minimum is 10: not below it.
		sh.opening("B200", 12)
		sh.opening("A100", 5) // no minimum: never below it
		if bs := sh.bins(sh.pat, "/api/v1/stock"); len(bs) != 2 {
			t.Fatalf("all bins: %+v", bs)
		}
		if bs := sh.bins(sh.pat, "/api/v1/stock?warehouse="+url.QueryEscape(wh1)+"&item="+url.QueryEscape(b200)); len(bs) != 1 || bs[0].OnHand != "12" || bs[0].Below {
			t.Fatalf("B200 at the start: %+v", bs)
		}
		if bs := below(); len(bs) != 0 {
			t.Fatalf("below minimum at the start: %+v", bs)
		}

		// Shipping 3 leaves 9: the alert is raised, purchasing is told once.
		sh.ship(sh.delivery("B200", 3), 200, nil)
		bs := below()
		if len(bs) != 1 || bs[0].Item != b200 || bs[0].Warehouse != wh1 || !bs[0].Below || bs[0].MinStock != "10" || bs[0].Available != "9" {
			t.Fatalf("below minimum after shipping 3: %+v", bs)
		}
		if q := sh.bins(sh.pat, "/api/v1/stock?below_minimum=true"); len(q) != 1 || q[0].Item != b200 {
			t.Fatalf("stock?below_minimum=true: %+v", q)
		}
		if q := sh.bins(sh.pat, "/api/v1/stock/below-minimum?item="+url.QueryEscape(a100)); len(q) != 0 {
			t.Fatalf("below minimum of A100: %+v", q)
		}
		notes := sh.lowStockNotes(sh.pat)
		if len(notes) != 1 || notes[0].Entity != "item" || notes[0].Record != b200 || notes[0].Read ||
			!strings.Contains(notes[0].Message["zh-CN"], "B200") || !strings.Contains(notes[0].Message["en"], "B200") {
			t.Fatalf("purchasing's low-stock notifications: %+v", notes)
		}
		if n := sh.lowStockNotes(sh.ken); len(n) != 0 {
			t.Fatalf("the warehouse keeper is told of low stock: %+v", n)
		}

		// Shipping 1 more: still below, not told again.
		sh.ship(sh.delivery("B200", 1), 200, nil)
		if bs := below(); len(bs) != 1 || bs[0].Available != "8" {
			t.Fatalf("below minimum after shipping 4: %+v", bs)
		}
		if n := sh.lowStockNotes(sh.pat); len(n) != 1 {
			t.Fatalf("told again while still below: %+v", n)
		}

		// A receipt back above the minimum clears the alert.
		var rec map[string]any
		sh.call(sh.ken, "POST", "/api/v1/records/goods_receipt", fmt.Sprintf(`{"warehouse":%q,"lines":[{"item":%q,"qty":"5"}]}`, wh1, b200), nil, 201, &rec)
		sh.call(sh.ken, "POST", "/api/v1/records/goods_receipt/"+rec["id"].(string)+"/transitions/receive", "", map[string]string{"If-Match": `"1"`}, 200, nil)
		if bs := below(); len(bs) != 0 {
			t.Fatalf("below minimum after the receipt: %+v", bs)
		}
		if bs := sh.bins(sh.pat, "/api/v1/stock?item="+url.QueryEscape(b200)); len(bs) != 1 || bs[0].OnHand != "13" || bs[0].Below {
			t.Fatalf("B200 after the receipt: %+v", bs)
		}

		// Falling below again is a new alert; an opening balance that brings
		// the bin back above the minimum clears it like a receipt.
		sh.ship(sh.delivery("B200", 5), 200, nil)
		if bs := below(); len(bs) != 1 || bs[0].Available != "8" {
			t.Fatalf("below minimum after shipping 5: %+v", bs)
		}
		if n := sh.lowStockNotes(sh.pat); len(n) != 2 {
			t.Fatalf("a new fall below the minimum: %d notifications", len(n))
		}
		sh.opening("B200", 4)
		if bs := sh.bins(sh.pat, "/api/v1/stock?item="+url.QueryEscape(b200)); len(bs) != 1 || bs[0].OnHand != "12" {
			t.Fatalf("B200 after the opening balance: %+v", bs)
		}
		if bs := below(); len(bs) != 0 {
			t.Errorf("below minimum after an opening balance back above it: %+v", bs)
		}
		sh.verify()
	})
}

// The stock errors have their messages in both languages, every parameter
// filled in.
func TestStockMessages(t *testing.T) {
	fe := records.FieldError{Path: "lines[0].qty", Code: "insufficient_stock",
		Params: map[string]any{"item": "A100 Widget", "warehouse": "WH1 杭州主仓", "asked": "1", "available": "0"}}
	for _, l := range []string{"zh-CN", "en"} {
		if got := message(l, fe); got != insufficient[l] {
			t.Errorf("%s: %q, want %q", l, got, insufficient[l])
		}
	}
	for _, fe := range []records.FieldError{
		{Path: "lines[0].item", Code: "not_found"},
		{Path: "lines[0].qty", Code: "stale_count", Params: map[string]any{"item": "A100 Widget", "warehouse": "WH1 杭州主仓",
			"counted_at": "2026-11-01T09:00:00Z", "moved_at": "2026-11-01T10:00:00Z"}},
	} {
		zh, en := message("zh-CN", fe), message("en", fe)
		if zh == fe.Code || en == fe.Code || zh == en || strings.ContainsAny(zh+en, "{}") {
			t.Errorf("%s: %q, %q", fe.Code, zh, en)
		}
	}
}
