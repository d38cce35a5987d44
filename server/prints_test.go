package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/templates"
)

// shipPackage is a test package on top of core: shipments with a print
// layout and customer tracking links. Sales see neither the internal cost nor
// the cost of a line.
var shipPackage = map[string]string{
	"package.yaml": "package: ship\nversion: 1.0.0\nlabel: {zh-CN: 发货, en: Shipping}\nrequires: {core: ^1.0}\n",
	"shipment.yaml": `entity: shipment
label: {zh-CN: 发货单, en: Shipment}
number: "SH-{seq:5}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  ship_date: {type: date, label: {zh-CN: 发货日期, en: Ship date}}
  carrier: {type: text, label: {zh-CN: 承运商, en: Carrier}}
  tracking_no: {type: text, label: {zh-CN: 运单号, en: Tracking number}}
  internal_cost: {type: money, label: {zh-CN: 内部成本, en: Internal cost}}
  lines:
    type: table
    label: {zh-CN: 商品明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, label: {zh-CN: 数量, en: Quantity}}
      price: {type: money, label: {zh-CN: 单价, en: Price}}
      cost: {type: money, label: {zh-CN: 成本, en: Cost}}
  total: {type: money, compute: "sum(lines, .qty * .price)", label: {zh-CN: 合计, en: Total}}
states:
  draft: {initial: true, editable_by: [sales], label: {zh-CN: 草稿, en: Draft}}
  shipped: {final: true, label: {zh-CN: 已发货, en: Shipped}}
transitions:
  ship: {from: draft, to: shipped, roles: [sales], label: {zh-CN: 发货, en: Ship}}
access:
  sales:
    read: "owner == user.id"
    create: true
    update: "owner == user.id"
    fields: {hide: [internal_cost, lines.cost]}
  finance: {read: true}
prints:
  delivery: {label: {zh-CN: 发货单, en: Delivery note}, template: prints/shipment.html, paper: A5-landscape}
tracking:
  fields: [state, ship_date, carrier, tracking_no, customer, lines, total]
  feedback: true
`,
	"prints/shipment.html": `<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Print.Label}} {{.Number}}</title></head>
<body>
<h1>{{.Company.name}}</h1>
<h2>{{.Print.Label}} {{.Record.number}} ({{.StateLabel}})</h2>
<p>{{.Labels.customer}}: {{.Record.customer}}, {{.Record.customer.phone}}</p>
<p>{{.Labels.internal_cost}}: {{.Record.internal_cost}}</p>
<table>
<tr><th>{{index .Labels "lines.item"}}</th><th>{{index .Labels "lines.qty"}}</th><th>{{index .Labels "lines.price"}}</th><th>{{index .Labels "lines.cost"}}</th></tr>
{{range .Record.lines}}<tr><td>{{.item}} {{.item.unit}}</td><td>{{.qty}}</td><td>{{.price}}</td><td>{{.cost}}</td></tr>
{{end}}</table>
<p class="total">{{.Labels.total}}: {{.Record.total}}</p>
</body></html>
`,
}

// countingStore is the real store, counting the reads that reach it.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (s *countingStore) Get(c context.Context, coll, id string) (store.Doc, error) {
	s.reads.Add(1)
	return s.Store.Get(c, coll, id)
}

func (s *countingStore) Find(c context.Context, coll string, q store.Query) (store.Page, error) {
	s.reads.Add(1)
	return s.Store.Find(c, coll, q)
}

// shipHarness is a server with core and ship installed; sam and sue are
// salespeople (sue cannot read sam's shipments), fin is finance (reads,
// never updates).
type shipHarness struct {
	*harness
	st       *countingStore
	svc      *packages.Service
	admin    *client
	sam      *client
	sue      *client
	fin      *client
	samID    string
	shipment string // sam's shipment
}

func shipCatalog(t testing.TB) fstest.MapFS {
	cat := fstest.MapFS{}
	for name, text := range shipPackage {
		cat["ship/"+name] = &fstest.MapFile{Data: []byte(text)}
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

func startShip(t *testing.T, base store.Store) *shipHarness {
	t.Helper()
	st := &countingStore{Store: base}
	svc, err := packages.New(ctx, st, shipCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "ship", packages.Options{}); err != nil {
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
		{Username: "sue", Name: "Sue", Roles: []string{"sales"}, Password: "sue-password-1"},
		{Username: "fin", Name: "Fin", Roles: []string{"finance"}, Password: "fin-password-1", Language: "en"},
	} {
		if _, err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	sh := &shipHarness{st: st, svc: svc, harness: &harness{t: t, st: st, ids: map[string]string{},
		base: serve(t, New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: Info{Version: "test"}}))}}
	sh.admin = sh.login("admin", "admin-password-1")
	sh.sam, sh.sue, sh.fin = sh.login("sam", "sam-password-1"), sh.login("sue", "sue-password-1"), sh.login("fin", "fin-password-1")
	var me struct{ User struct{ ID string } }
	sh.call(sh.sam, "GET", "/api/v1/auth/me", "", nil, 200, &me)
	sh.samID = me.User.ID
	for _, c := range []struct{ entity, key, body string }{
		{"company", "CO", `{"name":"杭州示例贸易有限公司","default_currency":"cny"}`},
		{"customer", "C1", `{"code":"C1","name":"华东贸易","phone":"0571-8888 6666"}`},
		{"item", "A100", `{"code":"A100","name":"Widget","unit":"pcs","price":"1234.50"}`},
	} {
		var rec map[string]any
		sh.call(sh.admin, "POST", "/api/v1/records/"+c.entity, c.body, nil, 201, &rec)
		sh.ids[c.key] = rec["id"].(string)
	}
	var rec map[string]any
	sh.call(sh.sam, "POST", "/api/v1/records/shipment", fmt.Sprintf(`{"customer":%q,"ship_date":"2026-03-02","carrier":"顺丰速运","tracking_no":"SF1234567890",
		"lines":[{"item":%q,"qty":"3","price":"1234.50"}]}`, sh.ids["C1"], sh.ids["A100"]), nil, 201, &rec)
	sh.shipment = rec["id"].(string)
	// Costs only an admin may write and see.
	sh.call(sh.admin, "PATCH", "/api/v1/records/shipment/"+sh.shipment, `{"internal_cost":"777.77","lines":[{"_row":`+mustJSON(rec["lines"].([]any)[0].(map[string]any)["_row"])+`,"item":"`+sh.ids["A100"]+`","qty":"3","price":"1234.50","cost":"987.65"}]}`,
		map[string]string{"If-Match": `"1"`}, 200, nil)
	return sh
}

// page GETs path (no API prefix) as c (nil: anonymous, no cookies) and
// returns the status and body.
func (sh *shipHarness) page(c *client, method, path, body string, hdr map[string]string) (int, http.Header, string) {
	sh.t.Helper()
	req, err := http.NewRequest(method, sh.base+path, strings.NewReader(body))
	if err != nil {
		sh.t.Fatal(err)
	}
	if c != nil {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		sh.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

func contains(t *testing.T, what, body string, want []string, not []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
	for _, n := range not {
		if strings.Contains(body, n) {
			t.Errorf("%s shows %q:\n%s", what, n, body)
		}
	}
}

func TestPrints(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startShip(t, st)
		path := "/api/v1/records/shipment/" + sh.shipment + "/prints/delivery"

		// The owner prints: number, company, the linked customer's title and
		// phone, each line with the item's title and unit, money formatted,
		// the paper; neither the internal cost nor the line cost.
		status, hdr, body := sh.page(sh.sam, "GET", path, "", nil)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
			t.Fatalf("print: %d %s\n%s", status, hdr.Get("Content-Type"), body)
		}
		contains(t, "sam's print", body,
			[]string{"<head><style>@page { size: A5 landscape; margin: 12mm; }</style>", "杭州示例贸易有限公司", "发货单 SH-00001 (草稿)",
				"客户: C1 华东贸易, 0571-8888 6666", "<th>商品</th><th>数量</th><th>单价</th><th></th>",
				"<td>A100 Widget 个</td><td>3</td><td>1,234.50</td><td></td>", "合计: 3,703.50"},
			[]string{"777.77", "987.65", "成本"})
		// The admin sees the costs: the check above can fail.
		_, _, body = sh.page(sh.admin, "GET", path+"?lang=en", "", nil)
		contains(t, "admin's print", body,
			[]string{"Delivery note SH-00001 (Draft)", "Internal cost: 777.77", "<th>Item</th><th>Quantity</th><th>Price</th><th>Cost</th>", "<td>987.65</td>", "Customer: C1 华东贸易"}, nil)
		// fin reads (and prefers English); sue may not read sam's shipment.
		status, _, body = sh.page(sh.fin, "GET", path, "", nil)
		if status != 200 || !strings.Contains(body, "Delivery note SH-00001") {
			t.Fatalf("fin's print: %d\n%s", status, body)
		}
		if status, _, _ = sh.page(sh.sue, "GET", path, "", nil); status != 404 {
			t.Fatalf("sue prints sam's shipment: %d", status)
		}
		if status, _, _ = sh.page(nil, "GET", path, "", nil); status != 401 {
			t.Fatalf("anonymous print: %d", status)
		}
		if status, _, _ = sh.page(sh.sam, "GET", "/api/v1/records/shipment/"+sh.shipment+"/prints/invoice", "", nil); status != 404 {
			t.Fatalf("unknown print: %d", status)
		}

		// A new version's layout is used at once, by this process and by
		// another one reading the same store; a rollback brings the old one
		// back; a broken layout is refused with its line and changes nothing.
		files := maps.Clone(shipPackage)
		files["package.yaml"] = strings.Replace(files["package.yaml"], "1.0.0", "1.1.0", 1)
		files["prints/shipment.html"] = strings.Replace(files["prints/shipment.html"], "<h1>", "<h1>v2 ", 1)
		if _, err := sh.svc.Publish(ctx, files, packages.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, _, body = sh.page(sh.sam, "GET", path, "", nil); !strings.Contains(body, "<h1>v2 杭州示例贸易有限公司") {
			t.Fatalf("published layout not used:\n%s", body)
		}
		other, err := packages.New(ctx, st, fstest.MapFS{})
		if err != nil {
			t.Fatal(err)
		}
		if l := other.Model().Entities["shipment"].Layouts["delivery"]; l == nil || !strings.Contains(l.Source, "<h1>v2 ") {
			t.Fatalf("another process's layout: %+v", l)
		}
		broken := maps.Clone(files)
		broken["package.yaml"] = strings.Replace(broken["package.yaml"], "1.1.0", "1.2.0", 1)
		broken["prints/shipment.html"] = strings.Replace(broken["prints/shipment.html"], "{{.Labels.total}}", "{{.Labels.total}", 1)
		_, err = sh.svc.Publish(ctx, broken, packages.Options{})
		var ce *packages.CheckError
		if !errors.As(err, &ce) || !strings.Contains(ce.Error(), `ship/prints/shipment.html:12:18: print "delivery": bad character U+007D '}'`) {
			t.Fatalf("broken layout published: %v", err)
		}
		if _, err := sh.svc.Rollback(ctx, "ship", "1.0.0", packages.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, _, body = sh.page(sh.sam, "GET", path, "", nil); strings.Contains(body, "v2 ") || !strings.Contains(body, "<h1>杭州示例贸易有限公司") {
			t.Fatalf("rolled-back layout not used:\n%s", body)
		}
	})
}
