package reports_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
)

var ctx = context.Background()

// today is the clock of the tests: ageing is counted from it.
var today = time.Date(2026, 6, 30, 15, 4, 5, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

// Fixture is the data of the tests, as stored.
type Fixture struct {
	Customers map[string]store.Doc
	Items     map[string]store.Doc
	Orders    []store.Doc
	Bins      []store.Doc
	Ledger    []store.Doc
}

func fixture() Fixture {
	f := Fixture{Customers: map[string]store.Doc{}, Items: map[string]store.Doc{}}
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("c%d", i)
		f.Customers[id] = store.Doc{"_id": id, "code": fmt.Sprintf("C%03d", i), "name": fmt.Sprintf("客户%d", i)}
	}
	costs := []string{"2.50", "0.10", "13.333"}
	for i, c := range costs {
		id := fmt.Sprintf("i%d", i+1)
		f.Items[id] = store.Doc{"_id": id, "code": fmt.Sprintf("I%d", i+1), "name": "item " + id, "cost": dec(c)}
	}
	states := []string{"shipped", "shipped", "draft", "shipped", "cancelled", "shipped"}
	for n := 0; n < 30; n++ {
		var lines []any
		total := decimal.Zero
		for l := 0; l <= n%3; l++ {
			amount := dec(fmt.Sprintf("%d.%02d", 10+n*l, (n*7+l)%100))
			total = total.Add(amount)
			lines = append(lines, map[string]any{"item": fmt.Sprintf("i%d", (n+l)%3+1), "qty": dec(fmt.Sprintf("%d.5", l+1)), "amount": amount})
		}
		f.Orders = append(f.Orders, store.Doc{
			"_id": fmt.Sprintf("o%02d", n), "customer": fmt.Sprintf("c%d", n%4+1), "owner": fmt.Sprintf("u%d", n%2+1),
			"state": states[n%len(states)], "order_date": fmt.Sprintf("2026-%02d-%02d", n%5+1, n%28+1),
			"lines": lines, "total": total,
		})
	}
	f.Bins = []store.Doc{
		{"_id": "i1@w1", "item": "i1", "warehouse": "w1", "on_hand": dec("3"), "reserved": dec("1"), "alerted": true, "min_stock": dec("10")},
		{"_id": "i2@w1", "item": "i2", "warehouse": "w1", "on_hand": dec("50"), "reserved": dec("0"), "alerted": false},
		{"_id": "i3@w1", "item": "i3", "warehouse": "w1", "on_hand": dec("1.5"), "reserved": dec("0"), "alerted": true, "min_stock": dec("2")},
		{"_id": "i3@w2", "item": "i3", "warehouse": "w2", "on_hand": dec("0.25"), "reserved": dec("0"), "alerted": true, "min_stock": dec("2")},
	}
	// Invoices (debits with a due date) and payments (credits on the same
	// voucher), as the ledger effect writes them.
	due := func(days int) string { return today.AddDate(0, 0, -days).Format(template.DateLayout) }
	entry := func(party, voucher string, amount string, dueDays *int) store.Doc {
		a := dec(amount)
		d := store.Doc{"account": "receivable", "party": party, "voucher": voucher, "amount": a, "at": today.AddDate(0, 0, -100).Format(template.DateTimeLayout)}
		if a.Sign() > 0 {
			d["debit"] = a
		} else {
			d["credit"] = a.Neg()
		}
		if dueDays != nil {
			d["due"] = due(*dueDays)
		}
		return d
	}
	p := func(n int) *int { return &n }
	f.Ledger = []store.Doc{
		entry("c1", "v1", "100.10", p(-5)), // not yet due
		entry("c1", "v2", "200", p(0)),     // due today: 0-30
		entry("c1", "v2", "-50.05", nil),
		entry("c1", "v3", "30", p(31)), // 31-60
		entry("c2", "v4", "40", p(60)), // 31-60
		entry("c2", "v5", "55.55", p(61)),
		entry("c2", "v6", "70", p(90)),
		entry("c2", "v6", "-70", nil), // settled: left out
		entry("c3", "v7", "12.34", p(91)),
		entry("c3", "v8", "9", nil), // no due date: aged from "at", 100 days
		entry("c4", "v9", "500", p(10)),
	}
	f.Ledger = append(f.Ledger, store.Doc{"account": "payable", "party": "c1", "voucher": "p1", "amount": dec("999"), "due": due(200)})
	return f
}

func load(t testing.TB, st store.Store, f Fixture) {
	t.Helper()
	put := func(coll string, docs ...store.Doc) {
		for _, d := range docs {
			if _, err := st.Insert(ctx, coll, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range f.Customers {
		put("customer", d)
	}
	for _, d := range f.Items {
		put("item", d)
	}
	put("sales_order", f.Orders...)
	put(records.BinsCollection, f.Bins...)
	put(records.PartyLedgerCollection, f.Ledger...)
}

// open builds the engine over a store of the given backend, with the test
// package and the fixture loaded.
func open(t *testing.T, st store.Store) (*reports.Engine, Fixture) {
	t.Helper()
	m, ds := template.CheckDir(os.DirFS("testdata"), ".")
	if m == nil {
		t.Fatalf("testdata: %s", ds)
	}
	model := func() *template.Model { return m }
	rec := records.New(st, model, records.Options{Now: func() time.Time { return today }})
	f := fixture()
	load(t, st, f)
	return reports.New(st, rec, model, func() time.Time { return today }), f
}

func openSQLite(t testing.TB) store.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var (
	manager = records.User{ID: "m1", Roles: []string{"sales_manager"}, Lang: "en"}
	seller  = records.User{ID: "u1", Roles: []string{"sales"}, Lang: "zh-CN"}
	finance = records.User{ID: "f1", Roles: []string{"finance"}}
)

func TestReports(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", openSQLite}, {"mongo", mongotest.Open}} {
		t.Run(b.name, func(t *testing.T) {
			e, f := open(t, b.open(t))
			t.Run("GroupByLinkWithTitles", func(t *testing.T) { testByCustomer(t, e, f) })
			t.Run("AccessFiltersTheSums", func(t *testing.T) { testSellerSeesOwnOrders(t, e, f) })
			t.Run("FilterNarrows", func(t *testing.T) { testFilter(t, e, f) })
			t.Run("TopN", func(t *testing.T) { testTop(t, e, f) })
			t.Run("ByMonth", func(t *testing.T) { testByMonth(t, e, f) })
			t.Run("SumOverTableRows", func(t *testing.T) { testByItem(t, e, f) })
			t.Run("BelowMinimumWithValuation", func(t *testing.T) { testBelowMinimum(t, e, f) })
			t.Run("ReceivableAging", func(t *testing.T) { testAging(t, e, f) })
			t.Run("WhoMayRun", func(t *testing.T) { testWhoMayRun(t, e) })
			t.Run("BadFilters", func(t *testing.T) { testBadFilters(t, e) })
		})
	}
}

// sums are the expected rows of a report: key → measure → value.
type sums map[string]map[string]decimal.Decimal

func (s sums) add(key, measure string, v decimal.Decimal) {
	if s[key] == nil {
		s[key] = map[string]decimal.Decimal{}
	}
	s[key][measure] = s[key][measure].Add(v)
}

func run(t *testing.T, e *reports.Engine, u records.User, name string, params map[string]string) *reports.Result {
	t.Helper()
	res, err := e.Run(ctx, u, "shop", name, params)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// check compares the result rows with want (by the key column), measure by
// measure, and that the rows are ordered by sortCol descending.
func check(t *testing.T, res *reports.Result, keyCol string, want sums, sortCol string) {
	t.Helper()
	if len(res.Rows) != len(want) {
		t.Fatalf("%d rows %v, want %d: %v", len(res.Rows), res.Rows, len(want), want)
	}
	for i, row := range res.Rows {
		key := fmt.Sprint(row[keyCol])
		w, ok := want[key]
		if !ok {
			t.Errorf("row %d: unexpected key %s", i, key)
			continue
		}
		for m, v := range w {
			got := row[m]
			if n, ok := got.(int64); ok {
				got = decimal.FromInt(n)
			}
			if g, ok := got.(decimal.Decimal); !ok || !g.Equal(v) {
				t.Errorf("%s %s = %v, want %s", key, m, row[m], v)
			}
		}
		if sortCol != "" && i > 0 {
			prev := res.Rows[i-1][sortCol].(decimal.Decimal)
			if prev.Cmp(row[sortCol].(decimal.Decimal)) < 0 {
				t.Errorf("rows not sorted by -%s: %v before %v", sortCol, prev, row[sortCol])
			}
		}
	}
}

func shippedBy(f Fixture, keep func(store.Doc) bool) sums {
	want := sums{}
	for _, o := range f.Orders {
		if o["state"] != "shipped" || !keep(o) {
			continue
		}
		c := o["customer"].(string)
		want.add(c, "amount", o["total"].(decimal.Decimal))
		want.add(c, "orders", decimal.FromInt(1))
	}
	return want
}

func testByCustomer(t *testing.T, e *reports.Engine, f Fixture) {
	res := run(t, e, manager, "sales_by_customer", nil)
	check(t, res, "customer", shippedBy(f, func(store.Doc) bool { return true }), "amount")
	for _, row := range res.Rows {
		c := f.Customers[row["customer"].(string)]
		if want := c["code"].(string) + " " + c["name"].(string); row[reports.TitleKey("customer")] != want {
			t.Errorf("title of %s = %v, want %q", c["_id"], row[reports.TitleKey("customer")], want)
		}
	}
}

func testSellerSeesOwnOrders(t *testing.T, e *reports.Engine, f Fixture) {
	res := run(t, e, seller, "sales_by_customer", nil)
	want := shippedBy(f, func(o store.Doc) bool { return o["owner"] == seller.ID })
	all := shippedBy(f, func(store.Doc) bool { return true })
	if len(want) == 0 || fmt.Sprint(want) == fmt.Sprint(all) {
		t.Fatal("fixture: the seller's orders must be some, not all")
	}
	check(t, res, "customer", want, "amount")
}

func testFilter(t *testing.T, e *reports.Engine, f Fixture) {
	params := map[string]string{"customer": "c2", "order_date_from": "2026-02-01", "order_date_to": "2026-03-31"}
	res := run(t, e, manager, "sales_by_customer", params)
	want := shippedBy(f, func(o store.Doc) bool {
		d := o["order_date"].(string)
		return o["customer"] == "c2" && d >= "2026-02-01" && d <= "2026-03-31"
	})
	if len(want) != 1 {
		t.Fatalf("fixture: want one customer, got %v", want)
	}
	check(t, res, "customer", want, "")
}

func testTop(t *testing.T, e *reports.Engine, f Fixture) {
	res := run(t, e, manager, "top_customers", nil)
	all := shippedBy(f, func(store.Doc) bool { return true })
	type kv struct {
		k string
		v decimal.Decimal
	}
	var list []kv
	for k, m := range all {
		list = append(list, kv{k, m["amount"]})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v.Cmp(list[j].v) > 0 })
	want := sums{}
	for _, x := range list[:2] {
		want.add(x.k, "amount", x.v)
	}
	check(t, res, "customer", want, "amount")
}

func testByMonth(t *testing.T, e *reports.Engine, f Fixture) {
	res := run(t, e, manager, "sales_by_month", nil)
	want := sums{}
	for _, o := range f.Orders {
		if o["state"] == "shipped" {
			m := o["order_date"].(string)[:7]
			want.add(m, "amount", o["total"].(decimal.Decimal))
			want.add(m, "orders", decimal.FromInt(1))
		}
	}
	check(t, res, "order_date", want, "")
	for i := 1; i < len(res.Rows); i++ {
		if res.Rows[i-1]["order_date"].(string) >= res.Rows[i]["order_date"].(string) {
			t.Errorf("months out of order: %v", res.Rows)
		}
	}
}

func testByItem(t *testing.T, e *reports.Engine, f Fixture) {
	res := run(t, e, manager, "sales_by_item", nil)
	want := sums{}
	for _, o := range f.Orders {
		if o["state"] != "shipped" {
			continue
		}
		for _, l := range o["lines"].([]any) {
			row := l.(map[string]any)
			want.add(row["item"].(string), "qty", row["qty"].(decimal.Decimal))
			want.add(row["item"].(string), "amount", row["amount"].(decimal.Decimal))
		}
	}
	check(t, res, "lines.item", want, "amount")
	for _, row := range res.Rows {
		if row[reports.TitleKey("lines.item")] != f.Items[row["lines.item"].(string)]["code"].(string)+" "+f.Items[row["lines.item"].(string)]["name"].(string) {
			t.Errorf("item title %v", row[reports.TitleKey("lines.item")])
		}
	}
}

func testBelowMinimum(t *testing.T, e *reports.Engine, f Fixture) {
	res := run(t, e, manager, "below_minimum", nil)
	want := sums{}
	for _, b := range f.Bins {
		if b["alerted"] != true {
			continue
		}
		key := b["item"].(string) + "/" + b["warehouse"].(string)
		qty := b["on_hand"].(decimal.Decimal)
		want.add(key, "on_hand", qty)
		want.add(key, "value", qty.Mul(f.Items[b["item"].(string)]["cost"].(decimal.Decimal)))
	}
	for _, row := range res.Rows {
		row["key"] = row["item"].(string) + "/" + row["warehouse"].(string)
	}
	check(t, res, "key", want, "value")
	// The seller may run it, but item costs are hidden from sales: not for them.
	if _, err := e.Run(ctx, seller, "shop", "below_minimum", nil); !errors.Is(err, reports.ErrForbidden) {
		t.Errorf("a seller ran a valuation over hidden costs: %v", err)
	}
}

func testAging(t *testing.T, e *reports.Engine, f Fixture) {
	asOf := today.Format(template.DateLayout)
	res := run(t, e, finance, "receivable_aging", nil)
	if res.AsOf != asOf {
		t.Errorf("as_of %s, want today %s", res.AsOf, asOf)
	}
	type unit struct {
		party  string
		amount decimal.Decimal
		date   string
	}
	units := map[string]*unit{}
	for _, d := range f.Ledger {
		if d["account"] != "receivable" {
			continue
		}
		v := d["voucher"].(string)
		if units[v] == nil {
			units[v] = &unit{party: d["party"].(string)}
		}
		units[v].amount = units[v].amount.Add(d["amount"].(decimal.Decimal))
		if due, ok := d["due"].(string); ok {
			units[v].date = due
		} else if units[v].date == "" {
			units[v].date = d["at"].(string)[:10]
		}
	}
	want := sums{}
	cols := []string{"outstanding__not_due", "outstanding__0_30", "outstanding__31_60", "outstanding__61_90", "outstanding__over_90"}
	for _, u := range units {
		if u.amount.IsZero() {
			continue
		}
		d, _ := time.Parse(template.DateLayout, u.date)
		days := int(today.Truncate(24*time.Hour).Sub(d).Hours() / 24)
		col := cols[4]
		switch {
		case days < 0:
			col = cols[0]
		case days <= 30:
			col = cols[1]
		case days <= 60:
			col = cols[2]
		case days <= 90:
			col = cols[3]
		}
		want.add(u.party, "outstanding", u.amount)
		want.add(u.party, col, u.amount)
		for _, c := range cols {
			want.add(u.party, c, decimal.Zero)
		}
	}
	check(t, res, "party", want, "outstanding")
	if res.Rows[0][reports.TitleKey("party")] == res.Rows[0]["party"] {
		t.Errorf("party keys have no titles: %v", res.Rows[0])
	}
	// At an earlier as_of, what falls due after it is not due yet.
	earlier := today.AddDate(0, 0, -40).Format(template.DateLayout)
	notDue := map[string]decimal.Decimal{}
	for _, u := range units {
		if u.date > earlier {
			notDue[u.party] = notDue[u.party].Add(u.amount)
		}
	}
	res = run(t, e, finance, "receivable_aging", map[string]string{"as_of": earlier})
	if len(res.Rows) != len(want) {
		t.Fatalf("as_of %s: %d rows", earlier, len(res.Rows))
	}
	for _, row := range res.Rows {
		if got := row["outstanding__not_due"].(decimal.Decimal); !got.Equal(notDue[row["party"].(string)]) {
			t.Errorf("as_of %s: %s not due %v, want %v", earlier, row["party"], got, notDue[row["party"].(string)])
		}
	}
}

func testWhoMayRun(t *testing.T, e *reports.Engine) {
	names := func(u records.User) []string {
		var out []string
		for _, r := range e.Available(u) {
			out = append(out, r.Name)
		}
		sort.Strings(out)
		return out
	}
	if got := fmt.Sprint(names(seller)); got != "[sales_by_customer]" {
		t.Errorf("seller may run %s", got)
	}
	if got := fmt.Sprint(names(finance)); got != "[receivable_aging]" {
		t.Errorf("finance may run %s", got)
	}
	if got := len(names(records.User{ID: "a", Roles: []string{records.AdminRole}})); got != 6 {
		t.Errorf("admin may run %d reports, want all 6", got)
	}
	if _, err := e.Run(ctx, seller, "shop", "receivable_aging", nil); !errors.Is(err, reports.ErrForbidden) {
		t.Errorf("seller ran the aging: %v", err)
	}
	if _, err := e.Run(ctx, seller, "shop", "nope", nil); !errors.Is(err, reports.ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}
}

func testBadFilters(t *testing.T, e *reports.Engine) {
	_, err := e.Run(ctx, manager, "shop", "sales_by_customer", map[string]string{"order_date_from": "yesterday", "colour": "red"})
	var ve *records.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 2 || ve.Errors[0].Path != "order_date_from" || ve.Errors[0].Code != "not_a_date" || ve.Errors[1].Path != "colour" {
		t.Fatalf("bad filters: %v", err)
	}
}
