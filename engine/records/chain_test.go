package records

import (
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

// A purchase order whose receipts update its lines and then move it along:
// two effects on one linked record in one transition.
const chainPackage = `package: chain
version: 1.0.0
label: {zh-CN: 连续效果, en: Chained effects}
requires: {core: ^1.0}
`

const chainOrder = `entity: po
label: {zh-CN: 采购订单, en: Purchase order}
fields:
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, label: {zh-CN: 数量, en: Quantity}}
      received: {type: quantity, default: 0, label: {zh-CN: 已到货, en: Received}}
states:
  open: {initial: true, label: {zh-CN: 待收货, en: Open}}
  partial: {label: {zh-CN: 部分到货, en: Partly received}}
  done: {final: true, label: {zh-CN: 已到货, en: Received}}
transitions:
  mark_partial:
    from: [open, partial]
    to: partial
    label: {zh-CN: 部分到货, en: Partly received}
    checks:
      - {check: "any(lines, .received < .qty)", message: {zh-CN: 已全部到货, en: All received}}
  mark_done:
    from: [open, partial]
    to: done
    label: {zh-CN: 全部到货, en: Received}
    checks:
      - {check: "all(lines, .received >= .qty)", message: {zh-CN: 尚未全部到货, en: Not all received}}
access:
  warehouse: {read: true}
`

const chainReceipt = `entity: gr
label: {zh-CN: 入库单, en: Goods receipt}
fields:
  po: {type: link, to: po, required: true, label: {zh-CN: 采购订单, en: Purchase order}}
  warehouse: {type: link, to: warehouse, required: true, label: {zh-CN: 仓库, en: Warehouse}}
  book: {type: quantity, compute: "sum(lines, on_hand(.item, warehouse))", label: {zh-CN: 账面数量, en: On hand}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, label: {zh-CN: 数量, en: Quantity}}
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
      - update:
          link: po
          values:
            lines: "map(po.lines, let it = .item.id; {'item': it, 'qty': .qty, 'received': .received + sum(filter(lines, .item.id == it), .qty)})"
      - transition: {link: po, name: mark_done, when: "all(po.lines, .received >= .qty)"}
      - transition: {link: po, name: mark_partial, when: "any(po.lines, .received < .qty)"}
access:
  warehouse: {read: true, create: true, update: true}
`

// chainEngine installs core and a package of the given po and gr entities on a
// fresh SQLite store, with a warehouse and an item holding 7 units.
func chainEngine(t *testing.T, order, receipt string) (eng *Engine, wh, item Record) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := fstest.MapFS{
		"chain/package.yaml": {Data: []byte(chainPackage)},
		"chain/po.yaml":      {Data: []byte(order)},
		"chain/gr.yaml":      {Data: []byte(receipt)},
	}
	entries, err := templates.FS.ReadDir("core")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			data, err := templates.FS.ReadFile("core/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			cat["core/"+e.Name()] = &fstest.MapFile{Data: data}
		}
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "chain", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	eng = New(st, svc.Model, Options{})
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	if wh, err = eng.Create(ctx, admin, "warehouse", map[string]any{"code": "WH1", "name": "杭州主仓"}); err != nil {
		t.Fatal(err)
	}
	if item, err = eng.Create(ctx, admin, "item", map[string]any{"code": "A100", "name": "矿泉水", "unit": "carton"}); err != nil {
		t.Fatal(err)
	}
	if err := eng.OpeningStock(ctx, admin, item.ID(), wh.ID(), dec("7")); err != nil {
		t.Fatal(err)
	}
	return eng, wh, item
}

func TestEffectsOnOneLinkedRecordBuildOnEachOther(t *testing.T) {
	eng, wh, item := chainEngine(t, chainOrder, chainReceipt)
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	ken := User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}}
	po, err := eng.Create(ctx, admin, "po", map[string]any{"lines": []any{map[string]any{"item": item.ID(), "qty": "10"}}})
	if err != nil {
		t.Fatal(err)
	}
	receive := func(qty string, wantState, wantReceived string, wantVersion int64) {
		t.Helper()
		gr, err := eng.Create(ctx, ken, "gr", map[string]any{"po": po.ID(), "warehouse": wh.ID(),
			"lines": []any{map[string]any{"item": item.ID(), "qty": qty}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Transition(ctx, ken, "gr", gr.ID(), "receive", gr.Version(), nil); err != nil {
			t.Fatalf("receive %s: %v", qty, err)
		}
		got, err := eng.get(ctx, "po", po.ID())
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := got["lines"].([]any)
		row, _ := rows[0].(map[string]any)
		if got[fState] != wantState || !equalValue(row["received"], dec(wantReceived)) || got.Version() != wantVersion {
			t.Errorf("after receiving %s: state %v, received %v, version %d; want %s, %s, %d",
				qty, got[fState], row["received"], got.Version(), wantState, wantReceived, wantVersion)
		}
	}
	// The update and the transition of the order are one write each time.
	receive("4", "partial", "4", 2)
	receive("6", "done", "10", 3)

	// on_hand reads the bin: 7 opening + 4 + 6 received.
	gr, err := eng.Create(ctx, ken, "gr", map[string]any{"po": po.ID(), "warehouse": wh.ID(),
		"lines": []any{map[string]any{"item": item.ID(), "qty": "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !equalValue(gr["book"], dec("17")) {
		t.Errorf("on_hand gave %v, want 17", gr["book"])
	}
	ms, err := eng.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		t.Errorf("verify: %s", m)
	}
}
