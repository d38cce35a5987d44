package server

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/templates"
)

// A package on top of core with orders and one report over them.
var reportPackage = map[string]string{
	"package.yaml": "package: shop\nversion: 1.0.0\nlabel: {zh-CN: 商店, en: Shop}\nrequires: {core: ^1.0}\n",
	"order.yaml": `entity: order
label: {zh-CN: 订单, en: Order}
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  total: {type: money, label: {zh-CN: 金额, en: Total}}
  channel:
    type: select
    options: [shop, phone]
    option_labels: {shop: {zh-CN: 门店, en: Shop}, phone: {zh-CN: 电话, en: Phone}}
    label: {zh-CN: 渠道, en: Channel}
access:
  sales: {read: "owner == user.id", create: true}
  sales_manager: {read: true}
`,
	"reports.yaml": `reports:
  by_customer:
    label: {zh-CN: 客户销售汇总, en: Sales by customer}
    source: order
    group: [customer]
    measures:
      orders: {count: true, label: {zh-CN: 单数, en: Orders}}
      amount: {sum: total, label: {zh-CN: 销售额, en: Amount}}
    sort: -amount
    filters: [customer]
    roles: [sales, sales_manager]
  by_channel:
    label: {zh-CN: 渠道汇总, en: By channel}
    source: order
    group: [channel]
    measures:
      orders: {count: true, label: {zh-CN: 单数, en: Orders}}
      amount: {sum: total, label: {zh-CN: 销售额, en: Amount}}
      average: {ratio: [amount, orders], label: {zh-CN: 单均（%）, en: Per order (%)}}
    roles: [sales_manager]
`,
}

type reportHarness struct {
	*harness
	alice, bob, mia *client
	orders          []struct{ customer, owner, total string }
}

func startReports(t *testing.T, st store.Store) *reportHarness {
	t.Helper()
	cat := fstest.MapFS{}
	for name, text := range reportPackage {
		cat["shop/"+name] = &fstest.MapFile{Data: []byte(text)}
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
	if _, err := svc.Install(ctx, "shop", packages.Options{}); err != nil {
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
	rh := &reportHarness{harness: &harness{t: t, st: st, ids: map[string]string{},
		base: serve(t, New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Reports: reports.New(st, eng, svc.Model, nil), Info: Info{Version: "test"}}))}}
	admin := rh.login("admin", "admin-password-1")
	for _, c := range []struct{ key, body string }{
		{"C1", `{"code":"C1","name":"华东贸易"}`},
		{"C2", `{"code":"C2","name":"North Trading"}`},
	} {
		var rec map[string]any
		rh.call(admin, "POST", "/api/v1/records/customer", c.body, nil, 201, &rec)
		rh.ids[c.key] = rec["id"].(string)
	}
	rh.alice, rh.bob, rh.mia = rh.login("alice", "alice-password-1"), rh.login("bob", "bob-password-1"), rh.login("mia", "mia-password-1")
	for i, o := range []struct{ customer, owner, total string }{
		{"C1", "alice", "100.10"}, {"C1", "bob", "0.20"}, {"C2", "alice", "33.33"},
		{"C2", "bob", "1000"}, {"C1", "alice", "0.01"}, {"C2", "alice", "12.34"},
	} {
		c := map[string]*client{"alice": rh.alice, "bob": rh.bob}[o.owner]
		channel := []string{"shop", "phone", "shop"}[i%3] // 4 shop, 2 phone
		rh.call(c, "POST", "/api/v1/records/order", fmt.Sprintf(`{"customer":%q,"total":%q,"channel":%q}`, rh.ids[o.customer], o.total, channel), nil, 201, nil)
		rh.orders = append(rh.orders, o)
	}
	return rh
}

// want sums the fixture per customer key for orders owned by owner ("" all).
func (rh *reportHarness) want(owner string) map[string][2]decimal.Decimal {
	out := map[string][2]decimal.Decimal{}
	for _, o := range rh.orders {
		if owner != "" && o.owner != owner {
			continue
		}
		w := out[o.customer]
		w[0] = w[0].Add(decimal.FromInt(1))
		w[1] = w[1].Add(decimal.MustParse(o.total))
		out[o.customer] = w
	}
	return out
}

// title is the customer's title as the core template writes it.
var customerTitles = map[string]string{"C1": "C1 华东贸易", "C2": "C2 North Trading"}

func (rh *reportHarness) raw(c *client, path, lang string, want int) ([]byte, http.Header) {
	rh.t.Helper()
	req, _ := http.NewRequest("GET", rh.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept-Language", lang)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rh.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		rh.t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, want, data)
	}
	return data, resp.Header
}

func TestReportsAPI(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		rh := startReports(t, st)
		byTitle := map[string]string{}
		for k, v := range customerTitles {
			byTitle[v] = k
		}

		t.Run("ListInTheUsersLanguage", func(t *testing.T) {
			var out struct {
				Reports []struct {
					Package, Name, Label string
					Filters              []struct{ Name, Kind, Label string }
				}
			}
			rh.call(rh.mia, "GET", "/api/v1/reports", "", map[string]string{"Accept-Language": "en"}, 200, &out)
			if len(out.Reports) != 2 || out.Reports[0].Label != "Sales by customer" || len(out.Reports[0].Filters) != 1 || out.Reports[0].Filters[0].Label != "Customer" || out.Reports[1].Label != "By channel" {
				t.Fatalf("reports: %+v", out)
			}
			rh.call(rh.mia, "GET", "/api/v1/reports", "", map[string]string{"Accept-Language": "zh-CN"}, 200, &out)
			if out.Reports[0].Label != "客户销售汇总" {
				t.Errorf("zh-CN label %q", out.Reports[0].Label)
			}
		})

		t.Run("JSONWithAccess", func(t *testing.T) {
			for _, c := range []struct {
				who   *client
				owner string
			}{{rh.mia, ""}, {rh.alice, "alice"}, {rh.bob, "bob"}} {
				var out struct {
					Rows []map[string]any
				}
				rh.call(c.who, "GET", "/api/v1/reports/shop/by_customer", "", nil, 200, &out)
				want := rh.want(c.owner)
				if len(out.Rows) != len(want) {
					t.Fatalf("%s: rows %v, want %v", c.owner, out.Rows, want)
				}
				for _, row := range out.Rows {
					key := byTitle[fmt.Sprint(row["customer__title"])]
					w := want[key]
					if fmt.Sprint(row["orders"]) != w[0].String() || !decimal.MustParse(fmt.Sprint(row["amount"])).Equal(w[1]) {
						t.Errorf("%s: %s row %v, want %v", c.owner, key, row, w)
					}
				}
			}
		})

		t.Run("FilterNarrows", func(t *testing.T) {
			var out struct{ Rows []map[string]any }
			rh.call(rh.mia, "GET", "/api/v1/reports/shop/by_customer?customer="+rh.ids["C2"], "", nil, 200, &out)
			if len(out.Rows) != 1 || !decimal.MustParse(fmt.Sprint(out.Rows[0]["amount"])).Equal(rh.want("")["C2"][1]) {
				t.Errorf("filtered: %v", out.Rows)
			}
		})

		t.Run("CSV", func(t *testing.T) {
			data, hdr := rh.raw(rh.mia, "/api/v1/reports/shop/by_customer?format=csv", "en", 200)
			if !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
				t.Errorf("content type %s", hdr.Get("Content-Type"))
			}
			recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			checkTable(t, recs, []string{"Customer", "Orders", "Amount"}, rh.want(""), byTitle)
		})

		t.Run("OptionLabels", func(t *testing.T) {
			for lang, want := range map[string][]string{"zh-CN": {"渠道", "门店", "电话"}, "en": {"Channel", "Shop", "Phone"}} {
				data, _ := rh.raw(rh.mia, "/api/v1/reports/shop/by_channel?format=csv", lang, 200)
				recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff")))).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]string{}
				for _, r := range recs[1:] {
					got[r[0]] = r[1]
				}
				if recs[0][0] != want[0] || got[want[1]] != "4" || got[want[2]] != "2" || len(got) != 2 {
					t.Errorf("%s: %v, want %s with %s 4 and %s 2", lang, recs, want[0], want[1], want[2])
				}
			}
			var out struct {
				Columns []struct{ Options map[string]string }
				Rows    []map[string]any
			}
			rh.call(rh.mia, "GET", "/api/v1/reports/shop/by_channel", "", nil, 200, &out)
			if len(out.Columns) == 0 || out.Columns[0].Options["phone"] != "电话" || len(out.Rows) != 2 {
				t.Errorf("JSON keeps the values and gives the labels with the column: %+v", out)
			}
			// The ratio is 100 × amount / orders per channel, from the fixture.
			sums, counts := map[string]decimal.Decimal{}, map[string]int64{}
			for i, o := range rh.orders {
				ch := []string{"shop", "phone", "shop"}[i%3]
				sums[ch] = sums[ch].Add(decimal.MustParse(o.total))
				counts[ch]++
			}
			for _, row := range out.Rows {
				ch := fmt.Sprint(row["channel"])
				want, _ := sums[ch].Mul(decimal.FromInt(100)).Div(decimal.FromInt(counts[ch]), 2)
				if got := decimal.MustParse(fmt.Sprint(row["average"])); !got.Equal(want) {
					t.Errorf("%s: ratio %v, want %v", ch, got, want)
				}
			}
		})

		t.Run("XLSX", func(t *testing.T) {
			data, _ := rh.raw(rh.alice, "/api/v1/reports/shop/by_customer?format=xlsx", "zh-CN", 200)
			f, err := excelize.OpenReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := f.GetRows(f.GetSheetName(0))
			if err != nil {
				t.Fatal(err)
			}
			checkTable(t, rows, []string{"客户", "单数", "销售额"}, rh.want("alice"), byTitle)
			typ, _ := f.GetCellType(f.GetSheetName(0), "C2")
			if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
				t.Errorf("amount cell type %v, want a number", typ)
			}
		})

		t.Run("Errors", func(t *testing.T) {
			body, _ := rh.raw(rh.bob, "/api/v1/reports/shop/by_customer?colour=red", "en", 422)
			if !bytes.Contains(body, []byte("colour")) {
				t.Errorf("unknown filter: %s", body)
			}
			rh.raw(rh.mia, "/api/v1/reports/shop/nope", "en", 404)
			rh.raw(rh.mia, "/api/v1/reports/shop/by_customer?format=pdf", "en", 400)
		})
	})
}

// checkTable checks an exported table: the header, then one row per
// customer (by title) with its count and exact amount.
func checkTable(t *testing.T, recs [][]string, header []string, want map[string][2]decimal.Decimal, byTitle map[string]string) {
	t.Helper()
	if len(recs) != len(want)+1 || strings.Join(recs[0], "|") != strings.Join(header, "|") {
		t.Fatalf("table %v, want header %v and %d rows", recs, header, len(want))
	}
	for _, r := range recs[1:] {
		w, ok := want[byTitle[r[0]]]
		if !ok {
			t.Errorf("row %v: unknown customer", r)
			continue
		}
		n, err := decimal.Parse(r[1])
		a, err2 := decimal.Parse(r[2])
		if err != nil || err2 != nil || !n.Equal(w[0]) || !a.Equal(w[1]) {
			t.Errorf("row %v, want %v", r, w)
		}
	}
}
