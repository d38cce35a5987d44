package records

import (
	"errors"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
)

// Validate* must agree with Create and Update on every problem, and write
// nothing: not the record, not an audit entry, not a number.
func TestValidateAgreesWithWritesAndWritesNothing(t *testing.T) {
	f := setup(t)
	audits := func() int64 {
		n, err := f.st.Count(ctx, auditColl, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		name   string
		user   User
		values map[string]any
		want   string
	}{
		{"bad values, missing fields and a dangling link", f.alice, map[string]any{
			"payment_method": "barter", "order_date": "25/11/2026", "colour": "red",
			"lines": []any{map[string]any{"qty": "many"}, map[string]any{"item": "nope", "qty": "1.2345"}},
		}, "colour:unknown_field customer:required lines[0].item:required lines[0].qty:not_a_number lines[1].item:link_not_found lines[1].qty:scale order_date:not_a_date payment_method:not_an_option"},
		{"required_when", f.alice, map[string]any{"customer": f.ids["C1"], "payment_method": "cod",
			"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "1"}}}, "address:required"},
		{"a rule", f.alice, map[string]any{"customer": f.ids["C1"], "order_date": "2026-11-25", "delivery_date": "2026-11-01",
			"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "1"}}}, ":rule"},
		{"a read-only column for the role", f.alice, map[string]any{"customer": f.ids["C1"],
			"lines": []any{map[string]any{"item": f.ids["A100"], "qty": "1", "price": "0.01"}}}, "lines[0].price:readonly"},
	}
	before := audits()
	for _, c := range cases {
		_, verr := f.eng.ValidateCreate(ctx, c.user, "sales_order", c.values)
		_, cerr := f.eng.Create(ctx, c.user, "sales_order", c.values)
		if got := strings.Join(codes(verr), " "); got != c.want {
			t.Errorf("%s: ValidateCreate %s, want %s", c.name, got, c.want)
		}
		if v, w := strings.Join(codes(verr), " "), strings.Join(codes(cerr), " "); v != w {
			t.Errorf("%s: ValidateCreate says %s, Create says %s", c.name, v, w)
		}
	}
	// A good order: what Create would store, without a number, and nothing written.
	good := map[string]any{"customer": f.ids["C1"], "lines": []any{map[string]any{"item": f.ids["A100"], "qty": "2"}}}
	chk, err := f.eng.ValidateCreate(ctx, f.alice, "sales_order", good)
	if err != nil {
		t.Fatal(err)
	}
	if !chk.Changed || !chk.Record["total"].(decimal.Decimal).Equal(dec("25")) || chk.Record["number"] != nil || chk.Record["state"] != "draft" {
		t.Fatalf("checked create: %+v", chk)
	}
	if _, seen := chk.Record["lines"].([]any)[0].(map[string]any)["cost"]; seen {
		t.Fatalf("the checked record shows sales a hidden column: %v", chk.Record)
	}
	if n, _ := f.st.Count(ctx, "sales_order", nil); n != 0 || audits() != before {
		t.Fatalf("validation wrote: %d orders, %d audit entries (had %d)", n, audits(), before)
	}
	// Access: a user with no create right gets what Create says.
	if _, err := f.eng.ValidateCreate(ctx, User{ID: "u-x", Roles: []string{"field_staff"}}, "sales_order", good); !errors.Is(err, ErrForbidden) {
		t.Fatalf("create without the right: %v", err)
	}

	// Update: a no-op is reported unchanged, a change is listed, a stale
	// version is a conflict, a used unique value is reported; nothing written.
	rec := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "2"})
	row := rec["lines"].([]any)[0].(map[string]any)
	same := map[string]any{"customer": f.ids["C1"], "lines": []any{map[string]any{rowKey: row[rowKey], "item": f.ids["A100"], "qty": "2.000"}}}
	before = audits()
	chk, err = f.eng.ValidateUpdate(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), same)
	if err != nil || chk.Changed || len(chk.Changes) != 0 {
		t.Fatalf("same values: %+v, %v", chk, err)
	}
	chk, err = f.eng.ValidateUpdate(ctx, f.alice, "sales_order", rec.ID(), rec.Version(), map[string]any{"note": "急"})
	if err != nil || !chk.Changed || len(chk.Changes) != 1 || chk.Changes[0].Path != "note" {
		t.Fatalf("a change: %+v, %v", chk, err)
	}
	if _, err := f.eng.ValidateUpdate(ctx, f.alice, "sales_order", rec.ID(), rec.Version()+1, same); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if _, err := f.eng.ValidateUpdate(ctx, f.bob, "sales_order", rec.ID(), rec.Version(), same); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another's order: %v", err)
	}
	stored, _ := f.st.Get(ctx, "sales_order", rec.ID())
	if stored.Version() != rec.Version() || stored["note"] != nil || audits() != before {
		t.Fatalf("validation of an update wrote: version %d note %v", stored.Version(), stored["note"])
	}
	if _, err := f.eng.ValidateCreate(ctx, f.admin, "customer", map[string]any{"code": "C1", "name": "dup"}); strings.Join(codes(err), " ") != "code:unique" {
		t.Fatalf("used code on create: %v", err)
	}
	other, err := f.eng.Create(ctx, f.admin, "customer", map[string]any{"code": "C2", "name": "其他"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.ValidateUpdate(ctx, f.admin, "customer", other.ID(), other.Version(), map[string]any{"code": "C1"}); strings.Join(codes(err), " ") != "code:unique" {
		t.Fatalf("used code on update: %v", err)
	}
	if _, err := f.eng.ValidateUpdate(ctx, f.admin, "customer", other.ID(), other.Version(), map[string]any{"code": "C2", "name": "其他公司"}); err != nil {
		t.Fatalf("own code is not a duplicate: %v", err)
	}
}
