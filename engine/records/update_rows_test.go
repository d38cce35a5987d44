package records

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// A price list whose application changes every item it lists: an update
// effect with lines.
const priceListPackage = `package: pricing
version: 1.0.0
label: {zh-CN: 调价, en: Pricing}
requires: {core: ^1.0}
`

const priceListEntity = `entity: price_list
label: {zh-CN: 调价单, en: Price list}
number: "PL-{seq:4}"
fields:
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      price: {type: money, required: true, label: {zh-CN: 新批发价, en: New price}}
      min: {type: quantity, label: {zh-CN: 安全库存, en: Minimum stock}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [purchasing]}
  applied: {final: true, label: {zh-CN: 已生效, en: Applied}}
transitions:
  apply:
    from: draft
    to: applied
    roles: [purchasing]
    label: {zh-CN: 生效, en: Apply}
    effects:
      - update: {lines: lines, link: item, values: {price: .price, min_stock: .min, notes: "'调价单 ' + number"}}
access:
  purchasing: {read: true, create: true, update: true}
`

func TestUpdateEffectWithLines(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := fstest.MapFS{
		"pricing/package.yaml":    {Data: []byte(priceListPackage)},
		"pricing/price_list.yaml": {Data: []byte(priceListEntity)},
	}
	core, _ := fsFiles(t)
	for k, v := range core {
		cat["core/"+k] = &fstest.MapFile{Data: []byte(v)}
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "pricing", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	eng := New(st, svc.Model, Options{})
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	pat := User{ID: "u-pat", Name: "Pat", Roles: []string{"purchasing"}}
	ids := map[string]string{}
	for _, code := range []string{"A100", "B200"} {
		rec, err := eng.Create(ctx, admin, "item", map[string]any{"code": code, "name": "商品 " + code, "unit": "carton", "price": "10"})
		if err != nil {
			t.Fatal(err)
		}
		ids[code] = rec.ID()
	}
	item := func(code string) store.Doc {
		d, err := st.Get(ctx, "item", ids[code])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	audits := func() int64 { n, _ := st.Count(ctx, auditColl, nil); return n }
	apply := func(lines ...map[string]any) error {
		rows := make([]any, len(lines))
		for i, l := range lines {
			rows[i] = l
		}
		pl, err := eng.Create(ctx, pat, "price_list", map[string]any{"lines": rows})
		if err != nil {
			t.Fatal(err)
		}
		_, err = eng.Transition(ctx, pat, "price_list", pl.ID(), "apply", pl.Version(), nil)
		return err
	}
	before := audits()

	// Two rows naming the same item are refused, and no item changes.
	err = apply(map[string]any{"item": ids["A100"], "price": "11"}, map[string]any{"item": ids["A100"], "price": "12"})
	if got := strings.Join(codes(err), " "); got != "lines[1].item:duplicate" {
		t.Fatalf("duplicate rows: %v (%v)", got, err)
	}
	// A row whose values the item refuses (a negative minimum stock) fails
	// the whole transition: the first row's item does not change either.
	err = apply(map[string]any{"item": ids["A100"], "price": "11"}, map[string]any{"item": ids["B200"], "price": "12", "min": "-1"})
	if got := strings.Join(codes(err), " "); got != "min_stock:min" {
		t.Fatalf("refused row: %v (%v)", got, err)
	}
	if a := item("A100"); a.Version() != 1 || a["notes"] != nil {
		t.Fatalf("A100 changed by a refused transition: %v", a)
	}
	if n := audits() - before; n != 2 {
		t.Fatalf("%d audit entries after two refusals, want 2 (the two price lists created)", n)
	}

	// Applied: each item gets its own row's values, in one posting.
	if err := apply(map[string]any{"item": ids["A100"], "price": "11.50", "min": "5"}, map[string]any{"item": ids["B200"], "price": "0.10"}); err != nil {
		t.Fatal(err)
	}
	a, b := item("A100"), item("B200")
	if a.Version() != 2 || b.Version() != 2 {
		t.Fatalf("versions after applying: A100 %d, B200 %d", a.Version(), b.Version())
	}
	for _, c := range []struct {
		doc   store.Doc
		field string
		want  string
	}{{a, "price", "11.50"}, {a, "min_stock", "5"}, {b, "price", "0.10"}} {
		if got, ok := c.doc[c.field].(decimal.Decimal); !ok || !got.Equal(dec(c.want)) {
			t.Fatalf("%s after applying: %v, want %s", c.field, c.doc[c.field], c.want)
		}
	}
	if a["notes"] != "调价单 PL-0003" {
		t.Fatalf("A100 notes: %v", a["notes"])
	}
	if b["notes"] != "调价单 PL-0003" {
		t.Fatalf("B200 notes: %v", b["notes"])
	}
	// The price list, its transition and both item updates are in the history.
	if n := audits() - before; n != 2+1+1+2 {
		t.Fatalf("%d audit entries, want 6", n)
	}
	if n, _ := st.Count(ctx, postingsColl, store.Eq("status", postingPending)); n != 0 {
		t.Fatalf("%d postings left pending", n)
	}
}
