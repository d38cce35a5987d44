package records

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/template"
)

// readonly: true keeps users from editing a field or a table column, while
// the template's own effects still write it.
func TestReadonlyFieldsAreWrittenByEffectsOnly(t *testing.T) {
	order := strings.Replace(chainOrder, "received: {type: quantity, default: 0,", "received: {type: quantity, default: 0, readonly: true,", 1)
	order = strings.Replace(order, "fields:\n  lines:", "fields:\n  receipts: {type: int, default: 0, readonly: true, label: {zh-CN: 收货次数, en: Receipts}}\n  lines:", 1)
	receipt := strings.Replace(chainReceipt, "      - transition: {link: po, name: mark_done,", "      - update: {link: po, values: {receipts: \"po.receipts + 1\"}}\n      - transition: {link: po, name: mark_done,", 1)
	if order == chainOrder || receipt == chainReceipt {
		t.Fatal("fixture: the replacements did not apply")
	}
	eng, wh, item := chainEngine(t, order, receipt)
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	ken := User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}}
	po, err := eng.Create(ctx, admin, "po", map[string]any{"lines": []any{map[string]any{"item": item.ID(), "qty": "10"}}})
	if err != nil {
		t.Fatal(err)
	}

	// Not even an admin edits them by hand.
	rows := po["lines"].([]any)
	row := rows[0].(map[string]any)
	edited := map[string]any{rowKey: row[rowKey], "item": item.ID(), "qty": "10", "received": "10"}
	_, err = eng.Update(ctx, admin, "po", po.ID(), po.Version(), map[string]any{"lines": []any{edited}, "receipts": 3})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("editing read-only fields: %v, want a validation error", err)
	}
	codes := map[string]string{}
	for _, fe := range ve.Errors {
		codes[fe.Path] = fe.Code
	}
	if codes["lines[0].received"] != "readonly" || codes["receipts"] != "readonly" || len(codes) != 2 {
		t.Fatalf("editing read-only fields gave %v, want lines[0].received and receipts readonly", codes)
	}

	// A receipt's effects write both.
	gr, err := eng.Create(ctx, ken, "gr", map[string]any{"po": po.ID(), "warehouse": wh.ID(),
		"lines": []any{map[string]any{"item": item.ID(), "qty": "4"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Transition(ctx, ken, "gr", gr.ID(), "receive", gr.Version(), nil); err != nil {
		t.Fatalf("receive: %v", err)
	}
	got, err := eng.get(ctx, "po", po.ID())
	if err != nil {
		t.Fatal(err)
	}
	row = got["lines"].([]any)[0].(map[string]any)
	if !equalValue(row["received"], dec("4")) || !equalValue(got["receipts"], int64(1)) || got[fState] != "partial" {
		t.Fatalf("after the receipt: received %v, receipts %v, state %v; want 4, 1, partial", row["received"], got["receipts"], got[fState])
	}
}

// A link's filter holds on the server: a newly chosen record must pass it,
// while a record that already links to one that no longer passes (an item
// made inactive since) can still be saved.
func TestLinkFilterOnWrites(t *testing.T) {
	order := strings.Replace(chainOrder, "item: {type: link, to: item, required: true,", "item: {type: link, to: item, required: true, filter: \"active\",", 1)
	if order == chainOrder {
		t.Fatal("fixture: the replacement did not apply")
	}
	eng, _, item := chainEngine(t, order, chainReceipt)
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	po, err := eng.Create(ctx, admin, "po", map[string]any{"lines": []any{map[string]any{"item": item.ID(), "qty": "10"}}})
	if err != nil {
		t.Fatal(err)
	}
	if item, err = eng.Update(ctx, admin, "item", item.ID(), item.Version(), map[string]any{"active": false}); err != nil {
		t.Fatal(err)
	}
	row := po["lines"].([]any)[0].(map[string]any)
	if _, err := eng.Update(ctx, admin, "po", po.ID(), po.Version(), map[string]any{"lines": []any{
		map[string]any{rowKey: row[rowKey], "item": item.ID(), "qty": "12"},
	}}); err != nil {
		t.Fatalf("keeping an item made inactive since: %v", err)
	}
	_, err = eng.Create(ctx, admin, "po", map[string]any{"lines": []any{map[string]any{"item": item.ID(), "qty": "1"}}})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "lines[0].item" || ve.Errors[0].Code != "link_filtered" {
		t.Fatalf("choosing an inactive item: %v, want lines[0].item link_filtered", err)
	}
}

func TestReadsThroughRowLink(t *testing.T) {
	cols := template.Map[*template.FieldDecl]{
		{Key: template.Str{V: "item"}, Val: &template.FieldDecl{Type: template.Str{V: "link"}}},
		{Key: template.Str{V: "qty"}, Val: &template.FieldDecl{Type: template.Str{V: "quantity"}}},
	}
	for src, want := range map[string]bool{
		"sum(lines, .amount)":      false,
		"sum(lines, .qty * .cost)": false,
		"all(lines, let it = .item.id; count(lines, .item.id == it) == 1)": false,
		"all(lines, .item.barcode == .scanned)":                            true,
		"all(lines, .item?.barcode == .scanned)":                           true,
		"all(lines, let x = .item; x.barcode != '')":                       true,
		"lines[0].item.price > 0":                                          true,
		"map(lines, .item)":                                                true,
	} {
		if got := readsThroughRowLink(src, cols); got != want {
			t.Errorf("%s: %v, want %v", src, got, want)
		}
	}
}

// An effect_only transition is taken by effects only: not offered to users,
// refused even to an admin, and taken by the receipt's effects as before.
func TestEffectOnlyTransitions(t *testing.T) {
	order := strings.Replace(chainOrder, "    to: partial\n", "    to: partial\n    effect_only: true\n", 1)
	order = strings.Replace(order, "    to: done\n", "    to: done\n    effect_only: true\n", 1)
	if strings.Count(order, "effect_only") != 2 {
		t.Fatal("fixture: the replacements did not apply")
	}
	eng, wh, item := chainEngine(t, order, chainReceipt)
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	ken := User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}}
	po, err := eng.Create(ctx, admin, "po", map[string]any{"lines": []any{map[string]any{"item": item.ID(), "qty": "10"}}})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := eng.Transitions(ctx, admin, "po", po.ID())
	if err != nil || len(opts) != 0 {
		t.Fatalf("transitions offered to an admin: %+v, %v; want none", opts, err)
	}
	if _, err := eng.Transition(ctx, admin, "po", po.ID(), "mark_partial", po.Version(), nil); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("an admin taking mark_partial: %v, want not available", err)
	}
	gr, err := eng.Create(ctx, ken, "gr", map[string]any{"po": po.ID(), "warehouse": wh.ID(),
		"lines": []any{map[string]any{"item": item.ID(), "qty": "4"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Transition(ctx, ken, "gr", gr.ID(), "receive", gr.Version(), nil); err != nil {
		t.Fatalf("receive: %v", err)
	}
	if got, err := eng.get(ctx, "po", po.ID()); err != nil || got[fState] != "partial" {
		t.Fatalf("after the receipt the order is %v (%v), want partial", got[fState], err)
	}
}

// The transitions list applies the checks of a transition with input that do
// not read the input; the ones that do wait until it is given.
func TestTransitionsListChecksThatNeedNoInput(t *testing.T) {
	extra := `  remark:
    from: [open, partial]
    label: {zh-CN: 备注, en: Remark}
    input:
      text: {type: text, required: true, label: {zh-CN: 内容, en: Text}}
    checks:
      - {check: "all(lines, .received >= .qty)", message: {zh-CN: 尚未全部到货, en: Not all received}}
  comment:
    from: [open, partial]
    label: {zh-CN: 说明, en: Comment}
    input:
      text: {type: text, label: {zh-CN: 内容, en: Text}}
    checks:
      - {check: "input.text != 'x'", message: {zh-CN: 不能为 x, en: Not x}}
access:`
	order := strings.Replace(chainOrder, "access:", extra, 1)
	eng, _, item := chainEngine(t, order, chainReceipt)
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	po, err := eng.Create(ctx, admin, "po", map[string]any{"lines": []any{map[string]any{"item": item.ID(), "qty": "10"}}})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := eng.Transitions(ctx, admin, "po", po.ID())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Option{}
	for _, o := range opts {
		got[o.Name] = o
	}
	if o := got["remark"]; o.Allowed || o.Reason != "check" {
		t.Errorf("remark, whose check fails without reading input: %+v, want refused for its check", o)
	}
	if o := got["comment"]; !o.Allowed {
		t.Errorf("comment, whose check reads input: %+v, want allowed until input is given", o)
	}
}

// A row holding a value in a column the user may not change cannot be
// removed; one whose read-only columns are still empty or zero can.
func TestRowsWithLockedValuesStay(t *testing.T) {
	order := strings.Replace(chainOrder, "received: {type: quantity, default: 0,", "received: {type: quantity, default: 0, readonly: true,", 1)
	eng, wh, item := chainEngine(t, order, chainReceipt)
	admin := User{ID: "u-admin", Roles: []string{"admin"}}
	ken := User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}}
	other, err := eng.Create(ctx, admin, "item", map[string]any{"code": "B200", "name": "绿茶", "unit": "carton"})
	if err != nil {
		t.Fatal(err)
	}
	po, err := eng.Create(ctx, admin, "po", map[string]any{"lines": []any{
		map[string]any{"item": item.ID(), "qty": "10"}, map[string]any{"item": other.ID(), "qty": "5"}}})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := eng.Create(ctx, ken, "gr", map[string]any{"po": po.ID(), "warehouse": wh.ID(),
		"lines": []any{map[string]any{"item": item.ID(), "qty": "4"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Transition(ctx, ken, "gr", gr.ID(), "receive", gr.Version(), nil); err != nil {
		t.Fatal(err)
	}
	got, err := eng.get(ctx, "po", po.ID())
	if err != nil {
		t.Fatal(err)
	}
	rows := got["lines"].([]any)
	first, second := rows[0].(map[string]any), rows[1].(map[string]any)
	keep := func(r map[string]any) map[string]any {
		return map[string]any{rowKey: r[rowKey], "item": r["item"], "qty": fmt.Sprint(r["qty"])}
	}
	// Dropping the received line is refused, and nothing changes.
	_, err = eng.Update(ctx, admin, "po", po.ID(), got.Version(), map[string]any{"lines": []any{keep(second)}})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "lines" || ve.Errors[0].Code != "row_locked" || ve.Errors[0].Params["row"] != 1 {
		t.Fatalf("dropping a received line: %v, want lines row_locked for row 1", err)
	}
	// Dropping the line nothing was received on is fine.
	if _, err := eng.Update(ctx, admin, "po", po.ID(), got.Version(), map[string]any{"lines": []any{keep(first)}}); err != nil {
		t.Fatalf("dropping a line with nothing received: %v", err)
	}
}

func TestLabelFallsBackToNumberThenID(t *testing.T) {
	for _, c := range []struct {
		rec  map[string]any
		want string
	}{
		{map[string]any{"code": "C1", "name": "华东百货", "number": "X"}, "C1 华东百货"},
		{map[string]any{"name": "华东百货"}, "华东百货"},
		{map[string]any{"number": "SK-000012", fID: "r1"}, "SK-000012"},
		{map[string]any{fID: "r1"}, "r1"},
		{map[string]any{"_id": "d1"}, "d1"},
	} {
		if got := label(c.rec); got != c.want {
			t.Errorf("label(%v) = %q, want %q", c.rec, got, c.want)
		}
	}
}
