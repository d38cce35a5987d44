package records

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

var ctx = context.Background()

// The test package: wholesale orders on top of core, as in TEMPLATES.md.
const salesPackage = `package: sales
version: 1.0.0
label: {zh-CN: 销售, en: Sales}
requires: {core: ^1.0}
`

const salesOrder = `entity: sales_order
label: {zh-CN: 批发订货单, en: Sales order}
number: "SO-{yyyy}{mm}-{seq:5}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  warehouse: {type: link, to: warehouse, label: {zh-CN: 仓库, en: Warehouse}, default: "customer.default_warehouse"}
  payment_method: {type: select, options: [bank_transfer, cash, cod, credit], default: "'credit'", label: {zh-CN: 付款方式, en: Payment}}
  address: {type: text, required_when: "payment_method == 'cod'", label: {zh-CN: 地址, en: Address}}
  order_date: {type: date, label: {zh-CN: 下单日期, en: Order date}}
  delivery_date: {type: date, label: {zh-CN: 交货日期, en: Delivery date}}
  lines:
    type: table
    min_rows: 1
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true}
      qty: {type: quantity, required: true, min: 0.001}
      price: {type: money, default: "item.price"}
      amount: {type: money, compute: "qty * price"}
      cost: {type: money, default: "item.cost"}
  total: {type: money, compute: "sum(lines, .amount)", label: {zh-CN: 合计, en: Total}}
  note: {type: text, label: {zh-CN: 备注, en: Note}}
rules:
  - check: "delivery_date == nil || delivery_date >= order_date"
    message: {en: Delivery date cannot be before the order date, zh-CN: 交货日期不能早于下单日期}
  - check: "before == nil || before.note != 'locked' || note == 'locked'"
    message: {en: A locked note stays, zh-CN: 已锁定的备注不能修改}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [sales, sales_manager]}
  confirmed: {label: {zh-CN: 已审核, en: Confirmed}}
  shipped: {label: {zh-CN: 已发货, en: Shipped}}
  completed: {final: true, label: {zh-CN: 已完成, en: Completed}}
  cancelled: {final: true, label: {zh-CN: 已取消, en: Cancelled}}
transitions:
  complete:
    from: shipped
    to: completed
    roles: [sales_manager]
    label: {zh-CN: 完成, en: Complete}
    effects:
      - set: {values: {note: "note + ' / delivered'"}}
  ship:
    from: confirmed
    to: shipped
    roles: [sales_manager]
    label: {zh-CN: 发货, en: Ship}
    input:
      carrier: {type: text, required: true, label: {zh-CN: 承运商, en: Carrier}}
      fail: {type: bool, label: {zh-CN: 失败, en: Fail}}
    effects:
      - set: {values: {note: "'shipped by ' + input.carrier"}}
      - create: {entity: delivery_note, link_back: sales_order, values: {customer: customer, carrier: input.carrier, total: total}}
      - update: {link: customer, values: {credit_limit: "-5"}, when: "input.fail"}
      - update: {link: customer, values: {notes: "'last shipment ' + number"}}
  confirm:
    from: draft
    to: confirmed
    roles: [sales, sales_manager]
    label: {zh-CN: 审核, en: Confirm}
    checks:
      - check: "total > 0"
        message: {en: The order is empty, zh-CN: 订单为空}
      - check: "total < 100"
        warn: true
        message: {en: A large order, zh-CN: 大额订单}
  transfer:
    from: [draft, confirmed]
    roles: [sales, sales_manager]
    label: {zh-CN: 转交, en: Transfer}
    input:
      to_user: {type: user, required: true, label: {zh-CN: 转交给, en: To}}
      reason: {type: text, required: true, label: {zh-CN: 原因, en: Reason}}
    effects:
      - assign: {to: input.to_user, note: input.reason}
  cancel:
    from: [draft, confirmed]
    to: cancelled
    roles: [sales_manager]
    label: {zh-CN: 取消, en: Cancel}
    input:
      reason: {type: text, required: true, label: {zh-CN: 原因, en: Reason}}
    effects:
      - set: {values: {note: "'cancelled: ' + input.reason"}}
  rush:
    from: draft
    to: confirmed
    roles: [sales]
    label: {zh-CN: 加急, en: Rush}
    approval:
      when: "total > 1000"
      steps: [{name: manager, roles: [sales_manager]}]
  submit:
    from: draft
    to: confirmed
    roles: [sales, sales_manager]
    label: {zh-CN: 提交审批, en: Submit}
    approval:
      when: "total > 0"
      steps:
        - {name: manager, roles: [sales_manager]}
        - {name: finance, roles: [finance], when: "total > 100000"}
        - {name: warehouse, roles: [warehouse], quorum: all}
access:
  sales:
    read: "owner == user.id"
    create: true
    update: "owner == user.id"
    delete: "owner == user.id"
    fields: {hide: [lines.cost], readonly: [lines.price]}
  sales_manager: {read: true, update: true, create: true}
`

const deliveryNote = `entity: delivery_note
label: {zh-CN: 发货单, en: Delivery note}
number: "DN-{seq:4}"
fields:
  sales_order: {type: link, to: sales_order, required: true, label: {zh-CN: 订货单, en: Order}}
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  carrier: {type: text, required: true, label: {zh-CN: 承运商, en: Carrier}}
  total: {type: money, label: {zh-CN: 金额, en: Amount}}
states:
  open: {initial: true, label: {zh-CN: 待签收, en: Open}}
  delivered: {final: true, label: {zh-CN: 已签收, en: Delivered}}
transitions:
  deliver:
    from: open
    to: delivered
    roles: [sales_manager]
    label: {zh-CN: 签收, en: Deliver}
    effects:
      - transition: {link: sales_order, name: complete}
access:
  sales_manager: {read: true, update: true}
`

type fixture struct {
	svc     *packages.Service
	st      store.Store
	eng     *Engine
	admin   User
	alice   User // sales
	bob     User // sales
	manager User
	ids     map[string]string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return setupWith(t, salesOrder)
}

// setupWith is setup with another text of the sales_order entity.
func setupWith(t *testing.T, orderYAML string) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := fstest.MapFS{
		"sales/package.yaml":       {Data: []byte(salesPackage)},
		"sales/sales_order.yaml":   {Data: []byte(orderYAML)},
		"sales/delivery_note.yaml": {Data: []byte(deliveryNote)},
	}
	core, _ := fsFiles(t)
	for k, v := range core {
		cat["core/"+k] = &fstest.MapFile{Data: []byte(v)}
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sales", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		svc: svc, st: st, eng: New(st, svc.Model, Options{}),
		admin:   User{ID: "u-admin", Roles: []string{"admin"}},
		alice:   User{ID: "u-alice", Name: "Alice", Roles: []string{"sales"}},
		bob:     User{ID: "u-bob", Name: "Bob", Roles: []string{"sales"}},
		manager: User{ID: "u-mgr", Roles: []string{"sales_manager"}},
		ids:     map[string]string{},
	}
	for _, c := range []struct {
		entity, key string
		values      map[string]any
	}{
		{"warehouse", "WH1", map[string]any{"code": "WH1", "name": "主仓库"}},
		{"customer", "C1", map[string]any{"code": "C1", "name": "华东贸易", "credit_limit": "100000"}},
		{"item", "A100", map[string]any{"code": "A100", "name": "Widget", "unit": "pcs", "price": "12.50", "cost": "8.10"}},
		{"item", "B200", map[string]any{"code": "B200", "name": "Gadget", "unit": "box", "price": "0.10", "cost": "0.07"}},
	} {
		rec, err := f.eng.Create(ctx, f.admin, c.entity, c.values)
		if err != nil {
			t.Fatalf("create %s: %v", c.key, err)
		}
		f.ids[c.key] = rec.ID()
	}
	// The customer ships from WH1 by default.
	c, _ := f.eng.Get(ctx, f.admin, "customer", f.ids["C1"])
	if _, err := f.eng.Update(ctx, f.admin, "customer", c.ID(), c.Version(), map[string]any{"default_warehouse": f.ids["WH1"]}); err != nil {
		t.Fatal(err)
	}
	return f
}

func fsFiles(t *testing.T) (map[string]string, error) {
	t.Helper()
	out := map[string]string{}
	entries, err := templates.FS.ReadDir("core")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue // tests/ and prints/ are not needed here
		}
		data, err := templates.FS.ReadFile("core/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out, nil
}

func (f *fixture) order(t *testing.T, u User, lines ...map[string]any) Record {
	t.Helper()
	ls := make([]any, len(lines))
	for i, l := range lines {
		ls[i] = l
	}
	rec, err := f.eng.Create(ctx, u, "sales_order", map[string]any{"customer": f.ids["C1"], "lines": ls, "order_date": "2026-11-25"})
	if err != nil {
		t.Fatalf("create order: %v", err)
	}
	return rec
}

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

func codes(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return []string{"not a validation error: " + fmt.Sprint(err)}
	}
	var out []string
	for _, fe := range ve.Errors {
		out = append(out, fe.Path+":"+fe.Code)
	}
	sort.Strings(out)
	return out
}

func TestCreateFillsDefaultsAndComputesExactly(t *testing.T) {
	f := setup(t)
	rec := f.order(t, f.alice,
		map[string]any{"item": f.ids["B200"], "qty": "3"},
		map[string]any{"item": f.ids["A100"], "qty": 2, "price": nil})
	lines := rec["lines"].([]any)
	l0 := lines[0].(map[string]any)
	if !l0["price"].(decimal.Decimal).Equal(dec("0.1")) || !l0["amount"].(decimal.Decimal).Equal(dec("0.3")) {
		t.Fatalf("line 0: %v", l0)
	}
	if !rec["total"].(decimal.Decimal).Equal(dec("25.3")) {
		t.Fatalf("total %v, want exactly 25.30", rec["total"])
	}
	if _, seen := l0["cost"]; seen {
		t.Fatalf("sales sees the hidden cost: %v", l0)
	}
	if rec["state"] != "draft" || rec["owner"] != f.alice.ID || rec["payment_method"] != "credit" || rec["warehouse"] != f.ids["WH1"] {
		t.Fatalf("defaults: %v", rec)
	}
	if n, _ := rec["number"].(string); !strings.HasPrefix(n, "SO-") || !strings.HasSuffix(n, "-00001") {
		t.Fatalf("number %q", rec["number"])
	}
	// The manager sees the cost the default took from the item.
	mrec, err := f.eng.Get(ctx, f.manager, "sales_order", rec.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c := mrec["lines"].([]any)[0].(map[string]any)["cost"]; c == nil || !c.(decimal.Decimal).Equal(dec("0.07")) {
		t.Fatalf("cost kept for the manager: %v", c)
	}
}

func TestEveryMistakeIsReported(t *testing.T) {
	f := setup(t)
	_, err := f.eng.Create(ctx, f.alice, "sales_order", map[string]any{
		"payment_method": "barter",
		"order_date":     "25/11/2026",
		"colour":         "red",
		"lines": []any{
			map[string]any{"qty": "many"},
			map[string]any{"item": f.ids["A100"], "qty": "1.2345"},
		},
	})
	want := []string{"colour:unknown_field", "customer:required", "lines[0].item:required", "lines[0].qty:not_a_number", "lines[1].qty:scale", "order_date:not_a_date", "payment_method:not_an_option"}
	if got := codes(err); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("errors %v, want %v", got, want)
	}
	// Once the values are sound: required fields, required_when, rows, links.
	_, err = f.eng.Create(ctx, f.alice, "sales_order", map[string]any{
		"payment_method": "cod",
		"lines":          []any{map[string]any{"item": "nope", "qty": "1"}},
	})
	want = []string{"address:required", "customer:required", "lines[0].item:link_not_found"}
	if got := codes(err); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("errors %v, want %v", got, want)
	}
	_, err = f.eng.Create(ctx, f.alice, "sales_order", map[string]any{"customer": f.ids["C1"], "lines": []any{}})
	if got := codes(err); strings.Join(got, " ") != "lines:min_rows" {
		t.Fatalf("empty table: %v", got)
	}
	// A template rule.
	_, err = f.eng.Create(ctx, f.alice, "sales_order", map[string]any{"customer": f.ids["C1"], "order_date": "2026-11-25", "delivery_date": "2026-11-01",
		"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "1"}}})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Code != "rule" || ve.Errors[0].Params["message"].(map[string]string)["en"] != "Delivery date cannot be before the order date" {
		t.Fatalf("rule: %v", err)
	}
	// A read-only column and a computed total from the client.
	_, err = f.eng.Create(ctx, f.alice, "sales_order", map[string]any{"customer": f.ids["C1"], "total": "1",
		"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "1", "price": "0.01"}}})
	if got := codes(err); strings.Join(got, " ") != "lines[0].price:readonly" {
		t.Fatalf("sales setting the price: %v", got)
	}
	if n, _ := f.st.Count(ctx, "sales_order", nil); n != 0 {
		t.Fatalf("%d orders written by refused creates", n)
	}
}

func TestUpdateVersionsHistoryAndHiddenColumns(t *testing.T) {
	f := setup(t)
	rec := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "2"}, map[string]any{"item": f.ids["B200"], "qty": "5"})
	lines := rec["lines"].([]any)
	// Alice changes the quantity of the second line and drops the first; she
	// never saw cost, and it must survive.
	second := lines[1].(map[string]any)
	second["qty"] = "6"
	upd, err := f.eng.Update(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"lines": []any{second}, "note": "急"})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Version() != rec.Version()+1 || !upd["total"].(decimal.Decimal).Equal(dec("0.6")) {
		t.Fatalf("after update: version %d total %v", upd.Version(), upd["total"])
	}
	stored, _ := f.st.Get(ctx, "sales_order", rec.ID())
	if c := stored["lines"].([]any)[0].(map[string]any)["cost"]; c == nil || !c.(decimal.Decimal).Equal(dec("0.07")) {
		t.Fatalf("hidden cost lost by an update from a user who cannot see it: %v", c)
	}
	// A stale version is refused and changes nothing.
	_, err = f.eng.Update(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"note": "late"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	// History: field diff, rows diffed by row, hidden cost not shown to Alice.
	hist, err := f.eng.History(ctx, f.alice, "sales_order", rec.ID())
	if err != nil || len(hist) != 2 || hist[0].Action != "create" || hist[1].Action != "update" {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	var paths []string
	for _, c := range hist[1].Changes {
		paths = append(paths, c.Op+" "+c.Path)
		if strings.Contains(c.Path, "cost") {
			t.Fatalf("history shows a hidden column to sales: %+v", c)
		}
		if row, ok := c.From.(map[string]any); ok {
			if _, seen := row["cost"]; seen {
				t.Fatalf("history shows a hidden column in a removed row: %+v", c)
			}
		}
	}
	key := second[rowKey].(string)
	want := []string{"row_removed lines[" + lines[0].(map[string]any)[rowKey].(string) + "]", "set lines[" + key + "].amount", "set lines[" + key + "].qty", "set note", "set total"}
	sort.Strings(paths)
	sort.Strings(want)
	if strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Fatalf("history changes %v, want %v", paths, want)
	}
}

func TestRowAndStateAccess(t *testing.T) {
	f := setup(t)
	mine := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "1"})
	// Bob cannot read, update or delete Alice's order: it does not exist for him.
	if _, err := f.eng.Get(ctx, f.bob, "sales_order", mine.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob reads alice's order: %v", err)
	}
	if _, err := f.eng.Update(ctx, f.bob, "sales_order", mine.ID(), mine.Version(), map[string]any{"note": "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob updates alice's order: %v", err)
	}
	if _, err := f.eng.History(ctx, f.bob, "sales_order", mine.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob reads alice's history: %v", err)
	}
	// The manager reads and edits it.
	if _, err := f.eng.Update(ctx, f.manager, "sales_order", mine.ID(), mine.Version(), map[string]any{"note": "ok"}); err != nil {
		t.Fatal(err)
	}
	// Only transitions change the state.
	cur, _ := f.eng.Get(ctx, f.alice, "sales_order", mine.ID())
	_, err := f.eng.Update(ctx, f.alice, "sales_order", mine.ID(), cur.Version(), map[string]any{"state": "confirmed"})
	if got := codes(err); strings.Join(got, " ") != "state:use_transition" {
		t.Fatalf("state through update: %v", got)
	}
	// Once confirmed (as the confirm transition would), sales may not edit or delete it.
	d, _ := f.st.Get(ctx, "sales_order", mine.ID())
	d["state"] = "confirmed"
	d, _ = f.st.Replace(ctx, "sales_order", d)
	if _, err := f.eng.Update(ctx, f.alice, "sales_order", mine.ID(), d.Version(), map[string]any{"note": "y"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("edit in a locked state: %v", err)
	}
	if err := f.eng.Delete(ctx, f.alice, "sales_order", mine.ID(), d.Version()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("delete of a confirmed order: %v", err)
	}
	// A draft can be deleted by its owner.
	draft := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "1"})
	if err := f.eng.Delete(ctx, f.bob, "sales_order", draft.ID(), draft.Version()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob deletes alice's draft: %v", err)
	}
	if err := f.eng.Delete(ctx, f.alice, "sales_order", draft.ID(), draft.Version()); err != nil {
		t.Fatal(err)
	}
	// Sales may not change a customer's credit limit (read-only for the role).
	c, _ := f.eng.Get(ctx, f.alice, "customer", f.ids["C1"])
	_, err = f.eng.Update(ctx, f.alice, "customer", c.ID(), c.Version(), map[string]any{"credit_limit": "999999"})
	if got := codes(err); strings.Join(got, " ") != "credit_limit:readonly" {
		t.Fatalf("sales raising a credit limit: %v", got)
	}
	// Unique customer code.
	_, err = f.eng.Create(ctx, f.alice, "customer", map[string]any{"code": "C1", "name": "Dup"})
	if got := codes(err); strings.Join(got, " ") != "code:unique" {
		t.Fatalf("duplicate code: %v", got)
	}
}

// 100 concurrent creates get 100 consecutive numbers.
func TestNumberingUnderConcurrency(t *testing.T) {
	f := setup(t)
	f.eng.now = func() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) }
	var mu sync.Mutex
	var numbers []string
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := f.eng.Create(ctx, f.alice, "sales_order", map[string]any{"customer": f.ids["C1"], "lines": []any{map[string]any{"item": f.ids["A100"], "qty": "1"}}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			numbers = append(numbers, rec["number"].(string))
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(numbers)
	for i, n := range numbers {
		if want := fmt.Sprintf("SO-202611-%05d", i+1); n != want {
			t.Fatalf("number %d is %s, want %s (all: %v)", i, n, want, numbers)
		}
	}
	if len(numbers) != 100 {
		t.Fatalf("%d numbers", len(numbers))
	}
}

func TestListPushesReadRulesDown(t *testing.T) {
	f := setup(t)
	for i := 0; i < 7; i++ {
		f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": fmt.Sprint(i + 1)})
	}
	for i := 0; i < 3; i++ {
		f.order(t, f.bob, map[string]any{"item": f.ids["B200"], "qty": "1"})
	}
	ids := func(p Page) (out []string) {
		for _, r := range p.Records {
			out = append(out, r["owner"].(string))
		}
		return out
	}
	// Pages of 3 for Alice: exactly her 7 orders, every page full until the last.
	q := ListQuery{Sort: []string{"-total"}, Limit: 3, Count: true}
	var all []Record
	for {
		p, err := f.eng.List(ctx, f.alice, "sales_order", q)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 7 {
			t.Fatalf("count %d, want 7", p.Total)
		}
		for _, o := range ids(p) {
			if o != f.alice.ID {
				t.Fatalf("alice's list holds an order of %s", o)
			}
		}
		all = append(all, p.Records...)
		if p.Next == "" {
			break
		}
		if len(p.Records) != 3 {
			t.Fatalf("a page of %d before the last", len(p.Records))
		}
		q.After = p.Next
	}
	if len(all) != 7 || !all[0]["total"].(decimal.Decimal).Equal(dec("87.5")) {
		t.Fatalf("%d orders, first total %v", len(all), all[0]["total"])
	}
	// Filter tricks do not widen what she reads.
	for _, trick := range []string{"owner == 'u-bob'", "owner != 'nobody'", "true || owner == 'u-bob'", "id != ''"} {
		p, err := f.eng.List(ctx, f.alice, "sales_order", ListQuery{Filter: trick, Limit: 50})
		if err != nil {
			continue // rejected is fine too
		}
		for _, o := range ids(p) {
			if o != f.alice.ID {
				t.Fatalf("filter %q let alice read %s's order", trick, o)
			}
		}
	}
	// A hidden column cannot be filtered or sorted on: for her it does not exist.
	if _, err := f.eng.List(ctx, f.alice, "sales_order", ListQuery{Filter: "lines.cost > 0"}); !strings.Contains(strings.Join(codes(err), " "), "filter:invalid_filter") {
		t.Fatalf("filter on a hidden column: %v", err)
	}
	// The manager reads all ten; a filter narrows them.
	p, err := f.eng.List(ctx, f.manager, "sales_order", ListQuery{Filter: "lines.item == '" + f.ids["B200"] + "' && total < 1", Count: true})
	if err != nil || p.Total != 3 {
		t.Fatalf("manager filter: %v total %d", err, p.Total)
	}
	// Operator injection is a bad filter, not a query.
	for _, bad := range []string{`{"$where": "1"}`, "$gt == 1", "total.$ne == 1"} {
		if _, err := f.eng.List(ctx, f.manager, "sales_order", ListQuery{Filter: bad}); !strings.Contains(strings.Join(codes(err), " "), "filter:invalid_filter") {
			t.Fatalf("filter %q: %v", bad, err)
		}
	}
	if _, err := f.eng.List(ctx, f.manager, "sales_order", ListQuery{Sort: []string{"lines"}}); !strings.Contains(strings.Join(codes(err), " "), "sort:unknown_field") {
		t.Fatalf("sort by a table: %v", err)
	}
}

// Rules see the stored record as "before" on update, and nil on create.
func TestRulesSeeBefore(t *testing.T) {
	f := setup(t)
	rec := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "1"})
	rec, err := f.eng.Update(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"note": "locked"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.eng.Update(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"note": "open again"})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Params["message"].(map[string]string)["en"] != "A locked note stays" {
		t.Fatalf("changing a locked note: %v", err)
	}
	if _, err := f.eng.Update(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"note": "locked"}); err != nil {
		t.Fatalf("keeping the locked note: %v", err)
	}
}

// transitionFixture adds real users (auth) so that transfers can check the
// receiver's access.
func transitionFixture(t *testing.T) (*fixture, map[string]User) {
	return transitionFixtureWith(t, salesOrder)
}

func transitionFixtureWith(t *testing.T, orderYAML string) (*fixture, map[string]User) {
	f := setupWith(t, orderYAML)
	users, err := auth.New(f.st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]User{}
	for name, role := range map[string]string{"carol": "sales", "dave": "sales", "erin": "sales_manager", "frank": "warehouse"} {
		u, err := users.CreateUser(ctx, auth.NewUser{Username: name, Name: name, Roles: []string{role}, Password: name + "-password-1"})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = User{ID: u.ID, Name: name, Roles: u.Roles}
	}
	f.eng = New(f.st, f.eng.model, Options{Users: users})
	return f, out
}

func TestTransitions(t *testing.T) {
	f, us := transitionFixture(t)
	carol, dave, erin, frank := us["carol"], us["dave"], us["erin"], us["frank"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "10"}) // total 125.00

	// What carol may do now, and why not the rest.
	opts, err := f.eng.Transitions(ctx, carol, "sales_order", rec.ID())
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, o := range opts {
		why[o.Name] = fmt.Sprint(o.Allowed, " ", o.Reason)
	}
	if why["confirm"] != "true " || why["transfer"] != "true " || why["cancel"] != "false role" {
		t.Fatalf("options: %v", why)
	}

	// A PATCH cannot move the state; a role without rights cannot take the transition.
	if _, err := f.eng.Update(ctx, carol, "sales_order", rec.ID(), rec.Version(), map[string]any{"state": "confirmed"}); err == nil {
		t.Fatal("PATCH moved the state")
	}
	if _, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "cancel", rec.Version(), map[string]any{"reason": "x"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("sales cancelling: %v", err)
	}

	// Transfer to a user who cannot read orders is refused with a clear error.
	_, err = f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "transfer", rec.Version(), map[string]any{"to_user": frank.ID, "reason": "vacation"})
	if got := codes(err); strings.Join(got, " ") != "input:receiver_cannot_read" {
		t.Fatalf("transfer to a warehouse keeper: %v", got)
	}
	// Input is checked like fields.
	_, err = f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "transfer", rec.Version(), map[string]any{"to_user": dave.ID, "colour": "red"})
	if got := codes(err); strings.Join(got, " ") != "input.colour:unknown_field input.reason:required" {
		t.Fatalf("bad input: %v", got)
	}
	// Transfer to dave and back, both in history; carol loses sight of it meanwhile.
	tk, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "transfer", rec.Version(), map[string]any{"to_user": dave.ID, "reason": "vacation"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Record["owner"] != dave.ID || tk.Record["state"] != "draft" {
		t.Fatalf("after transfer: %v", tk.Record)
	}
	if _, err := f.eng.Get(ctx, carol, "sales_order", rec.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("carol still reads the transferred order: %v", err)
	}
	tk, err = f.eng.Transition(ctx, dave, "sales_order", rec.ID(), "transfer", tk.Record.Version(), map[string]any{"to_user": carol.ID, "reason": "back"})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := f.eng.History(ctx, carol, "sales_order", rec.ID())
	if err != nil {
		t.Fatal(err)
	}
	var transfers []string
	for _, h := range hist {
		if h.Transition == "transfer" {
			for _, c := range h.Changes {
				if c.Path == "owner" {
					transfers = append(transfers, fmt.Sprintf("%v->%v (%s by %s)", c.From, c.To, h.Note, h.User))
				}
			}
		}
	}
	want := []string{
		fmt.Sprintf("%s->%s (vacation by %s)", carol.ID, dave.ID, carol.ID),
		fmt.Sprintf("%s->%s (back by %s)", dave.ID, carol.ID, dave.ID),
	}
	if strings.Join(transfers, "|") != strings.Join(want, "|") {
		t.Fatalf("transfers in history %v, want %v", transfers, want)
	}

	// Confirm: the warn check reports, the state moves, the stale version is refused.
	cur := tk.Record
	tk, err = f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "confirm", cur.Version(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Record["state"] != "confirmed" || len(tk.Warnings) != 1 || tk.Warnings[0]["en"] != "A large order" {
		t.Fatalf("confirm: %v warnings %v", tk.Record["state"], tk.Warnings)
	}
	if _, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "confirm", cur.Version(), nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("confirm at a stale version: %v", err)
	}
	if _, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "confirm", tk.Record.Version(), nil); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("confirm twice: %v", err)
	}
	// The manager cancels: the set effect writes the note, the state is final.
	tk, err = f.eng.Transition(ctx, erin, "sales_order", rec.ID(), "cancel", tk.Record.Version(), map[string]any{"reason": "客户取消"})
	if err != nil || tk.Record["state"] != "cancelled" || tk.Record["note"] != "cancelled: 客户取消" {
		t.Fatalf("cancel: %v %v", tk.Record, err)
	}

	// A blocking check, and a transition that would need an approval.
	empty := f.order(t, carol, map[string]any{"item": f.ids["B200"], "qty": "1"})
	d, _ := f.st.Get(ctx, "sales_order", empty.ID())
	d["total"] = decimal.Zero
	d, _ = f.st.Replace(ctx, "sales_order", d)
	_, err = f.eng.Transition(ctx, carol, "sales_order", empty.ID(), "confirm", d.Version(), nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Code != "check" {
		t.Fatalf("confirm with a failing check: %v", err)
	}
	big := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "100"})
	tk, err = f.eng.Transition(ctx, carol, "sales_order", big.ID(), "rush", big.Version(), nil)
	if err != nil || tk.Approval == "" || tk.Record["state"] != "draft" {
		t.Fatalf("rush of a big order opens an approval: %v %+v", err, tk)
	}
	if _, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, "ok"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.eng.Get(ctx, carol, "sales_order", big.ID()); got["state"] != "confirmed" {
		t.Fatalf("after the approval: %v", got["state"])
	}
	small := f.order(t, carol, map[string]any{"item": f.ids["B200"], "qty": "1"})
	if _, err := f.eng.Transition(ctx, carol, "sales_order", small.ID(), "rush", small.Version(), nil); err != nil {
		t.Fatalf("rush of a small order (no approval needed): %v", err)
	}
}

// 50 goroutines take the same transition on the same record: exactly one wins,
// and the effects of ship (a delivery note, a customer update) run once.
func TestTransitionRace(t *testing.T) {
	f, us := transitionFixture(t)
	carol, erin := us["carol"], us["erin"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
	race := func(u User, name string, version int64, in map[string]any) {
		t.Helper()
		var wins, lost atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := f.eng.Transition(ctx, u, "sales_order", rec.ID(), name, version, in)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrConflict), errors.Is(err, ErrNotAvailable):
					lost.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || lost.Load() != 49 {
			t.Fatalf("%s: %d transitions won, %d lost; want 1 and 49", name, wins.Load(), lost.Load())
		}
	}
	before, _ := f.st.Get(ctx, "customer", f.ids["C1"])
	race(carol, "confirm", rec.Version(), nil)
	race(erin, "ship", rec.Version()+1, map[string]any{"carrier": "顺丰"})
	hist, _ := f.eng.History(ctx, erin, "sales_order", rec.ID())
	n := map[string]int{}
	for _, h := range hist {
		n[h.Transition]++
	}
	if n["confirm"] != 1 || n["ship"] != 1 {
		t.Fatalf("history entries %v, want one confirm and one ship", n)
	}
	notes, err := f.st.Count(ctx, "delivery_note", store.Eq("sales_order", rec.ID()))
	if err != nil || notes != 1 {
		t.Fatalf("%d delivery notes (%v), want 1", notes, err)
	}
	cust, _ := f.st.Get(ctx, "customer", f.ids["C1"])
	if cust.Version() != before.Version()+1 {
		t.Fatalf("the customer was written %d times, want once", cust.Version()-before.Version())
	}
}

func approvalFixture(t *testing.T) (*fixture, map[string]User) {
	f := setup(t)
	users, err := auth.New(f.st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]User{}
	for name, role := range map[string]string{"carol": "sales", "erin": "sales_manager", "max": "sales_manager",
		"wu": "warehouse", "wang": "warehouse", "li": "warehouse"} {
		u, err := users.CreateUser(ctx, auth.NewUser{Username: name, Name: name, Roles: []string{role}, Password: name + "-password-1"})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = User{ID: u.ID, Name: name, Roles: u.Roles}
	}
	f.eng = New(f.st, f.eng.model, Options{Users: users, ModelAt: f.svc.ModelAt})
	return f, out
}

// An approval finishes under the template version it was opened with.
func TestApprovalPinnedToItsTemplateVersion(t *testing.T) {
	f, us := approvalFixture(t)
	carol, erin := us["carol"], us["erin"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
	tk, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "submit", rec.Version(), nil)
	if err != nil || tk.Approval == "" {
		t.Fatal(err)
	}
	// Version 1.1.0: submit now leads to shipped, and needs only the manager.
	v2 := map[string]string{
		"package.yaml": strings.Replace(salesPackage, "version: 1.0.0", "version: 1.1.0", 1),
		"sales_order.yaml": strings.Replace(strings.Replace(salesOrder, "  submit:\n    from: draft\n    to: confirmed", "  submit:\n    from: draft\n    to: shipped", 1),
			"        - {name: warehouse, roles: [warehouse], quorum: all}\n", "", 1),
		"delivery_note.yaml": deliveryNote,
	}
	if _, err := f.svc.Publish(ctx, v2, packages.Options{}); err != nil {
		t.Fatal(err)
	}
	// The manager approves; the request still has its warehouse step (1.0.0).
	if a, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, ""); err != nil || a.Status != ApprovalOpen {
		t.Fatalf("manager: %+v %v", a, err)
	}
	for _, who := range []string{"wu", "wang", "li"} {
		if _, err := f.eng.Decide(ctx, us[who], tk.Approval, Approve, ""); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := f.st.Get(ctx, "sales_order", rec.ID()); d["state"] != "confirmed" {
		t.Fatalf("state %v: the approval must finish as version 1.0.0 says (confirmed)", d["state"])
	}
	// A request opened now follows 1.1.0.
	again := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
	tk, _ = f.eng.Transition(ctx, carol, "sales_order", again.ID(), "submit", again.Version(), nil)
	if _, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, ""); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.st.Get(ctx, "sales_order", again.ID()); d["state"] != "shipped" {
		t.Fatalf("state %v under 1.1.0, want shipped", d["state"])
	}
}

func TestApprovals(t *testing.T) {
	f, us := approvalFixture(t)
	carol, erin, max := us["carol"], us["erin"], us["max"]
	state := func(id string) any { r, _ := f.st.Get(ctx, "sales_order", id); return r["state"] }

	// Three steps, the middle one skipped (total below 100,000), the last one
	// needing all three warehouse keepers.
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "2"})
	tk, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "submit", rec.Version(), nil)
	if err != nil || tk.Approval == "" {
		t.Fatalf("submit: %v %+v", err, tk)
	}
	if _, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "submit", rec.Version(), nil); !errors.Is(err, ErrApprovalPending) {
		t.Fatalf("second submit while one is open: %v", err)
	}
	inbox, _, err := f.eng.InboxPage(ctx, erin, 0)
	if err != nil || len(inbox) != 1 || inbox[0].ID != tk.Approval {
		t.Fatalf("erin's inbox: %+v", inbox)
	}
	if inbox, _, _ := f.eng.InboxPage(ctx, us["wu"], 0); len(inbox) != 0 {
		t.Fatalf("the warehouse step is not current yet: %+v", inbox)
	}
	if _, err := f.eng.Decide(ctx, us["wu"], tk.Approval, Approve, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a warehouse keeper deciding the manager step: %v", err)
	}
	a, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, "fine")
	if err != nil || a.Current != 2 {
		t.Fatalf("after the manager: %+v %v", a, err)
	}
	for i, who := range []string{"wu", "wang"} {
		if a, err = f.eng.Decide(ctx, us[who], tk.Approval, Approve, ""); err != nil || a.Status != ApprovalOpen {
			t.Fatalf("warehouse approval %d: %+v %v", i, a, err)
		}
	}
	if state(rec.ID()) != "draft" {
		t.Fatal("the transition ran before every keeper approved")
	}
	inboxOf := func(u User) int {
		in, _, err := f.eng.InboxPage(ctx, u, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(in)
	}
	if inboxOf(us["wu"]) != 0 || inboxOf(us["li"]) != 1 || inboxOf(erin) != 0 {
		t.Fatal("inbox during quorum all: wu decided (0), li has to (1), erin's step is done (0)")
	}
	if a, err = f.eng.Decide(ctx, us["li"], tk.Approval, Approve, ""); err != nil || a.Status != ApprovalApproved {
		t.Fatalf("last keeper: %+v %v", a, err)
	}
	if state(rec.ID()) != "confirmed" {
		t.Fatalf("approved, but the state is %v", state(rec.ID()))
	}

	// Self-approval is refused; rejection needs a reason; then a resubmission.
	own := f.order(t, erin, map[string]any{"item": f.ids["A100"], "qty": "1"})
	tk, _ = f.eng.Transition(ctx, erin, "sales_order", own.ID(), "submit", own.Version(), nil)
	if _, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := f.eng.Decide(ctx, max, tk.Approval, Reject, ""); err == nil {
		t.Fatal("rejection without a reason")
	}
	if a, err := f.eng.Decide(ctx, max, tk.Approval, Reject, "price too low"); err != nil || a.Status != ApprovalRejected {
		t.Fatalf("reject: %+v %v", a, err)
	}
	if state(own.ID()) != "draft" {
		t.Fatal("a rejected request moved the record")
	}
	tk, err = f.eng.Transition(ctx, erin, "sales_order", own.ID(), "submit", own.Version(), nil)
	if err != nil || tk.Approval == "" {
		t.Fatalf("resubmission: %v", err)
	}
	// Withdrawal by the requester, before any decision.
	if _, err := f.eng.Decide(ctx, max, tk.Approval, Withdraw, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("withdrawal by someone else: %v", err)
	}
	if a, err := f.eng.Decide(ctx, erin, tk.Approval, Withdraw, ""); err != nil || a.Status != ApprovalWithdrawn {
		t.Fatalf("withdraw: %+v %v", a, err)
	}

	// Return for changes, then reassign and add an approver on the resubmission.
	back := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
	tk, _ = f.eng.Transition(ctx, carol, "sales_order", back.ID(), "submit", back.Version(), nil)
	if a, err := f.eng.Decide(ctx, erin, tk.Approval, Return, "add a delivery date"); err != nil || a.Status != ApprovalReturned {
		t.Fatalf("return: %+v %v", a, err)
	}
	tk, err = f.eng.Transition(ctx, carol, "sales_order", back.ID(), "submit", back.Version(), nil)
	if err != nil || tk.Approval == "" {
		t.Fatalf("submit after return: %v", err)
	}
	if _, err := f.eng.Delegate(ctx, erin, tk.Approval, Reassign, max.ID, "on leave"); err != nil {
		t.Fatal(err)
	}
	if inboxOf(erin) != 0 || inboxOf(max) != 1 {
		t.Fatal("a reassigned step is in the assignee's inbox only")
	}
	if _, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("approval by the manager who reassigned the step: %v", err)
	}
	if a, err := f.eng.Decide(ctx, max, tk.Approval, Approve, ""); err != nil || a.Current != 2 {
		t.Fatalf("approval by the new assignee: %+v %v", a, err)
	}
	if _, err := f.eng.Delegate(ctx, us["wu"], tk.Approval, AddApprover, erin.ID, "second opinion"); err != nil {
		t.Fatal(err)
	}
	if inboxOf(erin) != 1 {
		t.Fatal("an added approver has the step in the inbox")
	}
	for _, who := range []string{"wu", "wang", "li"} {
		if a, err := f.eng.Decide(ctx, us[who], tk.Approval, Approve, ""); err != nil || a.Status != ApprovalOpen {
			t.Fatalf("keeper %s: %+v %v (the added approver has not approved yet)", who, a, err)
		}
	}
	if a, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, ""); err != nil || a.Status != ApprovalApproved {
		t.Fatalf("added approver: %+v %v", a, err)
	}
	if state(back.ID()) != "confirmed" {
		t.Fatalf("after return, reassign and add: %v", state(back.ID()))
	}

	// A change after submission voids the approval: approvers decide on what was submitted.
	ch := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
	tk, _ = f.eng.Transition(ctx, carol, "sales_order", ch.ID(), "submit", ch.Version(), nil)
	if _, err := f.eng.Update(ctx, carol, "sales_order", ch.ID(), ch.Version(), map[string]any{"note": "changed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Decide(ctx, erin, tk.Approval, Approve, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("approval of a changed record: %v", err)
	}
	if d, _ := f.st.Get(ctx, approvalsColl, tk.Approval); d["status"] != ApprovalVoided {
		t.Fatalf("status %v, want voided", d["status"])
	}

	// History shows the request and each decision.
	hist, _ := f.eng.History(ctx, carol, "sales_order", rec.ID())
	var actions []string
	for _, h := range hist {
		actions = append(actions, h.Action)
	}
	if want := "create approval_requested approval_approve approval_approve approval_approve approval_approved transition"; strings.Join(actions, " ") != want {
		t.Fatalf("history %v, want %s", actions, want)
	}
}

// Two managers approving a quorum-any step at the same moment: one counts.
func TestApprovalRace(t *testing.T) {
	f, us := approvalFixture(t)
	carol := us["carol"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "2000"}) // rush needs the manager
	tk, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "rush", rec.Version(), nil)
	if err != nil || tk.Approval == "" {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, who := range []string{"erin", "max"} {
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func(u User) {
				defer wg.Done()
				<-start
				if _, err := f.eng.Decide(ctx, u, tk.Approval, Approve, ""); err == nil {
					wins.Add(1)
				}
			}(us[who])
		}
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d decisions counted, want 1", wins.Load())
	}
	d, _ := f.st.Get(ctx, "sales_order", rec.ID())
	if d["state"] != "confirmed" || d.Version() != rec.Version()+1 {
		t.Fatalf("record after the race: state %v version %d", d["state"], d.Version())
	}
}

// A transition whose effects write other records is one posting: all or nothing.
func TestEffectsOnOtherRecordsAreAllOrNothing(t *testing.T) {
	f, us := transitionFixture(t)
	carol, erin := us["carol"], us["erin"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "2"})
	tk, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "confirm", rec.Version(), nil)
	if err != nil {
		t.Fatal(err)
	}
	order := tk.Record
	customerBefore, _ := f.st.Get(ctx, "customer", f.ids["C1"])
	audits := func() int64 { n, _ := f.st.Count(ctx, auditColl, nil); return n }
	auditsBefore := audits()

	// The third of four effects fails (a credit limit below its minimum):
	// nothing of the transition stays.
	_, err = f.eng.Transition(ctx, erin, "sales_order", rec.ID(), "ship", order.Version(), map[string]any{"carrier": "SF", "fail": true})
	if got := codes(err); strings.Join(got, " ") != "credit_limit:min" {
		t.Fatalf("failing effect: %v", got)
	}
	if d, _ := f.st.Get(ctx, "sales_order", rec.ID()); d.Version() != order.Version() || d["state"] != "confirmed" || d["note"] != nil {
		t.Fatalf("the order changed: %v", d)
	}
	if n, _ := f.st.Count(ctx, "delivery_note", nil); n != 0 {
		t.Fatalf("%d delivery notes left by a failed transition", n)
	}
	if d, _ := f.st.Get(ctx, "customer", f.ids["C1"]); d.Version() != customerBefore.Version() {
		t.Fatal("the customer changed")
	}
	if audits() != auditsBefore {
		t.Fatal("audit entries left by a failed transition")
	}

	// Without the failing effect: the order, a new delivery note linked back,
	// the customer, and their history, all at once.
	tk, err = f.eng.Transition(ctx, erin, "sales_order", rec.ID(), "ship", order.Version(), map[string]any{"carrier": "SF"})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Record["state"] != "shipped" || tk.Record["note"] != "shipped by SF" {
		t.Fatalf("shipped order: %v", tk.Record)
	}
	page, _ := f.st.Find(ctx, "delivery_note", store.Query{})
	if len(page.Docs) != 1 || page.Docs[0]["sales_order"] != rec.ID() || page.Docs[0]["carrier"] != "SF" ||
		!page.Docs[0]["total"].(decimal.Decimal).Equal(dec("25")) || page.Docs[0]["number"] != "DN-0001" {
		t.Fatalf("delivery note: %v", page.Docs)
	}
	cust, _ := f.st.Get(ctx, "customer", f.ids["C1"])
	if cust["notes"] != "last shipment "+rec["number"].(string) || cust.Version() != customerBefore.Version()+1 {
		t.Fatalf("customer after shipping: %v", cust)
	}
	if audits() != auditsBefore+3 {
		t.Fatalf("%d new audit entries, want 3 (order, delivery note, customer)", audits()-auditsBefore)
	}
	if n, _ := f.st.Count(ctx, postingsColl, store.Eq("status", postingPending)); n != 0 {
		t.Fatalf("%d postings left pending", n)
	}

	// Delivering the note completes the order: a transition effect on a linked
	// record, with that transition's own effects, in the same posting.
	note := fromDoc(page.Docs[0])
	dtk, err := f.eng.Transition(ctx, erin, "delivery_note", note.ID(), "deliver", note.Version(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if dtk.Record["state"] != "delivered" {
		t.Fatalf("delivery note: %v", dtk.Record)
	}
	o, _ := f.st.Get(ctx, "sales_order", rec.ID())
	if o["state"] != "completed" || o["note"] != "shipped by SF / delivered" {
		t.Fatalf("order after delivery: state %v note %v", o["state"], o["note"])
	}
	// A second delivery note (made by admin) cannot complete an order twice:
	// the linked transition is not available, and nothing changes.
	other, err := f.eng.Create(ctx, f.admin, "delivery_note", map[string]any{"sales_order": rec.ID(), "customer": f.ids["C1"], "carrier": "EMS"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Transition(ctx, erin, "delivery_note", other.ID(), "deliver", other.Version(), nil); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("second delivery: %v", err)
	}
	if d, _ := f.st.Get(ctx, "delivery_note", other.ID()); d["state"] != "open" {
		t.Fatalf("the refused delivery moved its note: %v", d["state"])
	}
}

// A crash in the middle of a posting: Recover finishes it; a posting that
// meets a record changed meanwhile is rolled back whole.
func TestPostingRecovery(t *testing.T) {
	f := setup(t)
	a, _ := f.st.Insert(ctx, "customer", store.Doc{"code": "X1", "name": "a"})
	b, _ := f.st.Insert(ctx, "customer", store.Doc{"code": "X2", "name": "b"})
	writes := []write{
		{Op: "replace", Coll: "customer", ID: a.ID(), From: 1, Doc: map[string]any{"code": "X1", "name": "a2"}, Before: map[string]any{"code": "X1", "name": "a"}},
		{Op: "insert", Coll: "customer", ID: "new-one", Doc: map[string]any{"code": "X3", "name": "c"}},
		{Op: "replace", Coll: "customer", ID: b.ID(), From: 1, Doc: map[string]any{"code": "X2", "name": "b2"}, Before: map[string]any{"code": "X2", "name": "b"}},
	}
	store0 := func(ws []write) store.Doc { return stageCrashed(t, f.eng, ws) }
	// Crash after the first two writes.
	p := store0(writes)
	for _, w := range writes[:2] {
		if err := f.eng.apply(ctx, p.ID(), w, false); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.eng.Recover(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("a fresh posting is left to its writer: %d %v", n, err)
	}
	if n, err := f.eng.Recover(ctx, 0); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	for id, want := range map[string]string{a.ID(): "a2", "new-one": "c", b.ID(): "b2"} {
		if d, _ := f.st.Get(ctx, "customer", id); d["name"] != want {
			t.Fatalf("%s after recovery: %v", id, d)
		}
	}
	if d, _ := f.st.Get(ctx, postingsColl, p.ID()); d["status"] != postingDone {
		t.Fatalf("posting status %v", d["status"])
	}

	// A posting whose last write meets a changed record: the first ones are undone.
	c, _ := f.st.Get(ctx, "customer", a.ID())
	d2, _ := f.st.Get(ctx, "customer", b.ID())
	writes = []write{
		{Op: "replace", Coll: "customer", ID: a.ID(), From: c.Version(), Doc: map[string]any{"code": "X1", "name": "a3"}, Before: bare(fromDoc(c))},
		{Op: "insert", Coll: "customer", ID: "another", Doc: map[string]any{"code": "X4", "name": "d"}},
		{Op: "replace", Coll: "customer", ID: b.ID(), From: d2.Version() - 1, Doc: map[string]any{"code": "X2", "name": "b3"}},
	}
	if err := f.eng.post(ctx, writes); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("posting over a changed record: %v", err)
	}
	if d, _ := f.st.Get(ctx, "customer", a.ID()); d["name"] != "a2" {
		t.Fatalf("first write not rolled back: %v", d)
	}
	if _, err := f.st.Get(ctx, "customer", "another"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("inserted record not rolled back: %v", err)
	}
}

// notify writes in-app notifications in the transition's posting and queues a
// webhook, delivered afterwards with retries to a real HTTP server.
func TestNotifyAndWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	fails := 1
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
	}))
	defer hook.Close()
	remind := strings.Replace(salesOrder, "transitions:\n", `transitions:
  remind:
    from: [draft, confirmed]
    roles: [sales]
    label: {zh-CN: 提醒, en: Remind}
    effects:
      - notify: {to_roles: [sales_manager], to_users: "owner", message: {zh-CN: 请跟进, en: Please follow up}, webhook: "`+hook.URL+`/hook"}
`, 1)
	f, us := transitionFixtureWith(t, remind)
	carol, erin := us["carol"], us["erin"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
	if _, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "remind", rec.Version(), nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []User{carol, erin} {
		ns, unread, err := f.eng.Notifications(ctx, u, 10)
		if err != nil || len(ns) != 1 || unread != 1 || ns[0].Message["en"] != "Please follow up" || ns[0].Record != rec.ID() {
			t.Fatalf("notifications of %s: %+v %d %v", u.Name, ns, unread, err)
		}
		if err := f.eng.MarkRead(ctx, u, ns[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, unread, _ := f.eng.Notifications(ctx, u, 10); unread != 0 {
			t.Fatalf("%s still has %d unread", u.Name, unread)
		}
	}
	if err := f.eng.MarkRead(ctx, carol, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("marking someone else's or a missing notification: %v", err)
	}
	// First delivery fails (503): tried again later, then delivered once.
	if n, err := f.eng.DeliverWebhooks(ctx, hook.Client()); err != nil || n != 0 {
		t.Fatalf("first delivery: %d %v", n, err)
	}
	f.eng.now = func() time.Time { return time.Now().Add(time.Hour) }
	if n, err := f.eng.DeliverWebhooks(ctx, hook.Client()); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	if n, _ := f.eng.DeliverWebhooks(ctx, hook.Client()); n != 0 {
		t.Fatalf("delivered again: %d", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], `"record":"`+rec.ID()+`"`) || !strings.Contains(got[0], "Please follow up") {
		t.Fatalf("webhook bodies: %v", got)
	}
	// A transfer tells the new owner.
	if _, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "transfer", rec.Version()+1, map[string]any{"to_user": us["dave"].ID, "reason": "休假"}); err != nil {
		t.Fatal(err)
	}
	ns, _, _ := f.eng.Notifications(ctx, us["dave"], 10)
	if len(ns) != 1 || ns[0].Kind != "assigned" || !strings.Contains(ns[0].Message["zh-CN"], "已转交给你：休假") {
		t.Fatalf("dave's notifications: %+v", ns)
	}
	// The inbox's "assigned to me": open records handed over and still owned.
	assigned := func(u User) []Assignment {
		as, err := f.eng.Assigned(ctx, u, 0)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	if as := assigned(us["dave"]); len(as) != 1 || as[0].Record.ID() != rec.ID() || as[0].Entity != "sales_order" {
		t.Fatalf("dave's assigned records: %+v", as)
	}
	if _, err := f.eng.Transition(ctx, us["dave"], "sales_order", rec.ID(), "transfer", rec.Version()+2, map[string]any{"to_user": carol.ID, "reason": "回来了"}); err != nil {
		t.Fatal(err)
	}
	if as := assigned(us["dave"]); len(as) != 0 {
		t.Fatalf("dave handed it back, yet: %+v", as)
	}
	if as := assigned(carol); len(as) != 1 || as[0].Record.ID() != rec.ID() {
		t.Fatalf("carol's assigned records: %+v", as)
	}
}

// stageCrashed stores writes as a posting whose writer crashed: pending, its
// lease run out, none of it applied yet (the test applies some).
func stageCrashed(tb testing.TB, e *Engine, writes []write) store.Doc {
	tb.Helper()
	d, err := e.stage(ctx, writes)
	if err != nil {
		tb.Fatal(err)
	}
	d["lease"] = ""
	if d, err = e.st.Replace(ctx, postingsColl, d); err != nil {
		tb.Fatal(err)
	}
	return d
}

// TestInboxPage: a manager's inbox comes a page at a time, oldest first,
// saying whether more wait, and MayDecide agrees with it.
func TestInboxPage(t *testing.T) {
	f, us := approvalFixture(t)
	carol, erin := us["carol"], us["erin"]
	var want []string
	for range 5 {
		rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "1"})
		tk, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "submit", rec.Version(), nil)
		if err != nil || tk.Approval == "" {
			t.Fatalf("submit: %v %+v", err, tk)
		}
		want = append(want, tk.Approval)
	}
	own := f.order(t, erin, map[string]any{"item": f.ids["A100"], "qty": "1"})
	if _, err := f.eng.Transition(ctx, erin, "sales_order", own.ID(), "submit", own.Version(), nil); err != nil {
		t.Fatal(err)
	}
	ids := func(as []Approval) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	page, more, err := f.eng.InboxPage(ctx, erin, 2)
	if err != nil || !more || !slices.Equal(ids(page), want[:2]) {
		t.Fatalf("first page of 2: %v, more %v, %v; want %v and more", ids(page), more, err, want[:2])
	}
	page, more, err = f.eng.InboxPage(ctx, erin, 5)
	if err != nil || more || !slices.Equal(ids(page), want) {
		t.Fatalf("a page of 5: %v, more %v, %v; want %v (not erin's own request) and no more", ids(page), more, err, want)
	}
	for _, a := range page {
		if !f.eng.MayDecide(erin, a) || f.eng.MayDecide(us["wu"], a) || f.eng.MayDecide(carol, a) {
			t.Fatalf("MayDecide on %s: erin %v, wu %v, carol %v; want only erin", a.ID, f.eng.MayDecide(erin, a), f.eng.MayDecide(us["wu"], a), f.eng.MayDecide(carol, a))
		}
	}
}
