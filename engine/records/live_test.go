package records

import (
	"errors"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
)

// liveOrder is the test order with a delivery address that is shown and
// required only for cash on delivery, and a line note shown only on lines
// of more than 10.
var liveOrder = strings.NewReplacer(
	`address: {type: text, required_when: "payment_method == 'cod'",`,
	`address: {type: text, required_when: "payment_method == 'cod'", visible_when: "payment_method == 'cod'",`,
	"      cost: {type: money, default: \"item.cost\"}\n",
	"      cost: {type: money, default: \"item.cost\"}\n      line_note: {type: text, visible_when: \"qty > 10\"}\n",
).Replace(salesOrder)

// A preview computes what a save would from the values typed so far —
// defaults, computed columns and sums, the fields' conditions — reports the
// problems a save would, hides what the user may not see, and writes
// nothing: no record, no audit entry, no number.
func TestPreviewComputesWhatASaveWouldAndWritesNothing(t *testing.T) {
	f := setupWith(t, liveOrder)
	if !strings.Contains(liveOrder, "visible_when: \"qty > 10\"") || !strings.Contains(liveOrder, "visible_when: \"payment_method == 'cod'\"") {
		t.Fatal("the test order lost its conditions")
	}
	audits := func() int64 {
		n, err := f.st.Count(ctx, auditColl, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := audits()
	lines := []any{
		map[string]any{"item": f.ids["A100"], "qty": "2"},
		map[string]any{"item": f.ids["B200"], "qty": "12.5"},
		map[string]any{},
	}
	p, err := f.eng.Preview(ctx, f.alice, "sales_order", "", 0, map[string]any{"payment_method": "cod", "lines": lines})
	if err != nil {
		t.Fatal(err)
	}
	// 2 × 12.50 + 12.5 × 0.10 = 26.25, exactly, with the prices from the
	// items.
	rows := p.Record["lines"].([]any)
	if len(rows) != 3 {
		t.Fatalf("%d preview rows, want the 3 sent (in order)", len(rows))
	}
	if a := rows[0].(map[string]any)["amount"]; a == nil || !dec("25").Equal(toDec(t, a)) {
		t.Fatalf("line 1 amount %v, want 25 (2 × the item's 12.50)", a)
	}
	if a := rows[1].(map[string]any)["amount"]; a == nil || !dec("1.25").Equal(toDec(t, a)) {
		t.Fatalf("line 2 amount %v, want 1.25", a)
	}
	if tot := p.Record["total"]; tot == nil || !dec("26.25").Equal(toDec(t, tot)) {
		t.Fatalf("total %v, want 26.25", tot)
	}
	if _, seen := rows[0].(map[string]any)["cost"]; seen {
		t.Fatal("the preview shows sales the cost column its access hides")
	}
	// Conditions on the values typed: cod shows the address and requires it.
	if st := p.Fields["address"]; !st.Visible || !st.Required || st.Readonly {
		t.Fatalf("address under cod: %+v, want visible and required", st)
	}
	if st := p.Fields["total"]; !st.Readonly || !st.Visible {
		t.Fatalf("total: %+v, want read-only (computed)", st)
	}
	if st := p.Fields["customer"]; !st.Required {
		t.Fatalf("customer: %+v, want required", st)
	}
	if len(p.Rows["lines"]) != 3 {
		t.Fatalf("%d row states, want 3", len(p.Rows["lines"]))
	}
	if _, seen := p.Rows["lines"][0]["cost"]; seen {
		t.Fatal("the preview gives sales the state of the hidden cost column")
	}
	r0, r1 := p.Rows["lines"][0], p.Rows["lines"][1]
	if !r0["price"].Readonly || !r0["amount"].Readonly || r0["qty"].Readonly || !r0["qty"].Required {
		t.Fatalf("line cells: %+v", r0)
	}
	if r0["line_note"].Visible || !r1["line_note"].Visible {
		t.Fatalf("line note shown on 2 (%v) and on 12.5 (%v); want only on more than 10", r0["line_note"].Visible, r1["line_note"].Visible)
	}
	// The problems are those of a save, with the same paths and codes.
	values := map[string]any{"payment_method": "cod", "lines": lines}
	_, cerr := f.eng.Create(ctx, f.alice, "sales_order", values)
	if got, want := strings.Join(codes(p.Problems), " "), strings.Join(codes(cerr), " "); got != want || !strings.Contains(got, "address:required") {
		t.Fatalf("preview problems %s; a save says %s", got, want)
	}

	// Credit instead: the address is neither shown nor required.
	p, err = f.eng.Preview(ctx, f.alice, "sales_order", "", 0, map[string]any{"payment_method": "credit", "customer": f.ids["C1"], "lines": lines[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Fields["address"]; st.Visible || st.Required {
		t.Fatalf("address on credit: %+v, want hidden and optional", st)
	}
	if p.Problems != nil {
		t.Fatalf("a good order previews with problems: %v", p.Problems)
	}
	if p.Record["number"] != nil || p.Record["state"] != "draft" || p.Record["warehouse"] != f.ids["WH1"] {
		t.Fatalf("preview record: number %v state %v warehouse %v; want no number, draft and the customer's warehouse", p.Record["number"], p.Record["state"], p.Record["warehouse"])
	}
	if n, _ := f.st.Count(ctx, "sales_order", nil); n != 0 || audits() != before {
		t.Fatalf("previews wrote: %d orders, %d audit entries (had %d)", n, audits(), before)
	}
	// No number was taken: the first order saved gets the first number.
	rec := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "2"})
	if num, _ := rec["number"].(string); !strings.HasSuffix(num, "-00001") {
		t.Fatalf("first order number %q after previews, want …-00001", num)
	}

	// An edit form: stale versions are reported, others' records are not
	// found, and a record locked in its state cannot be previewed either.
	row := rec["lines"].([]any)[0].(map[string]any)
	edit := map[string]any{"customer": f.ids["C1"], "lines": []any{map[string]any{rowKey: row[rowKey], "item": f.ids["A100"], "qty": "4"}}}
	p, err = f.eng.Preview(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), edit)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stale || p.Version != rec.Version() || !dec("50").Equal(toDec(t, p.Record["total"])) {
		t.Fatalf("edit preview: stale %v version %d total %v; want current and 50", p.Stale, p.Version, p.Record["total"])
	}
	if _, err := f.eng.Update(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"note": "急"}); err != nil {
		t.Fatal(err)
	}
	p, err = f.eng.Preview(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), edit)
	if err != nil || !p.Stale || p.Version != rec.Version()+1 {
		t.Fatalf("preview after another change: stale %v version %d err %v; want stale at %d", p.Stale, p.Version, err, rec.Version()+1)
	}
	if _, err := f.eng.Preview(ctx, f.bob, "sales_order", rec.ID(), 0, edit); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob previews alice's order: %v, want not found", err)
	}
	if _, err := f.eng.Preview(ctx, User{ID: "u-x", Roles: []string{"field_staff"}}, "sales_order", "", 0, edit); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a user who may not create previews a new order: %v", err)
	}
	cur, _ := f.eng.Get(ctx, f.alice, "sales_order", rec.ID())
	if _, err := f.eng.Transition(ctx, f.alice, "sales_order", rec.ID(), "confirm", cur.Version(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Preview(ctx, f.alice, "sales_order", rec.ID(), 0, edit); !errors.Is(err, ErrForbidden) {
		t.Fatalf("preview of an order locked in its state: %v, want forbidden", err)
	}
}

// toDec reads a stored number.
func toDec(t *testing.T, v any) decimal.Decimal {
	t.Helper()
	d, ok := toDecimal(v)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	return d
}
