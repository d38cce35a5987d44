package records

import (
	"fmt"
	"strings"
	"testing"
)

// A user input (or field) with a role takes only active users holding that
// role, and an expression over a table sees each row's links as records.
func TestUserRoleAndRowLinks(t *testing.T) {
	order := strings.Replace(salesOrder, "to_user: {type: user, required: true,", "to_user: {type: user, required: true, role: sales,", 1)
	order = strings.Replace(order, `      - check: "total > 0"`, `      - check: "all(lines, .item.code != 'B200')"
        message: {en: B200 is not sold, zh-CN: B200 不再销售}
      - check: "total > 0"`, 1)
	if order == salesOrder {
		t.Fatal("the order template did not change")
	}
	f, us := transitionFixtureWith(t, order)
	carol := us["carol"]
	rec := f.order(t, carol, map[string]any{"item": f.ids["A100"], "qty": "2"})
	for _, c := range []struct {
		to   string
		want string
	}{
		{us["frank"].ID, "[input.to_user:wrong_role]"}, // a warehouse keeper
		{"no-such-user", "[input.to_user:unknown_user]"},
	} {
		_, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "transfer", rec.Version(), map[string]any{"to_user": c.to, "reason": "休假"})
		if got := fmt.Sprint(codes(err)); got != c.want {
			t.Errorf("transfer to %s: got %s, want %s", c.to, got, c.want)
		}
	}
	taken, err := f.eng.Transition(ctx, carol, "sales_order", rec.ID(), "transfer", rec.Version(), map[string]any{"to_user": us["dave"].ID, "reason": "休假"})
	if err != nil || taken.Record[fOwner] != us["dave"].ID {
		t.Fatalf("transfer to a salesperson: %v, owner %v", err, taken.Record[fOwner])
	}

	// The check reads .item.code of every row: A100 passes, B200 does not.
	dave := us["dave"]
	ok := f.order(t, dave, map[string]any{"item": f.ids["A100"], "qty": "1"})
	if _, err := f.eng.Transition(ctx, dave, "sales_order", ok.ID(), "confirm", ok.Version(), nil); err != nil {
		t.Fatalf("confirm A100: %v", err)
	}
	bad := f.order(t, dave, map[string]any{"item": f.ids["A100"], "qty": "1"}, map[string]any{"item": f.ids["B200"], "qty": "1"})
	_, err = f.eng.Transition(ctx, dave, "sales_order", bad.ID(), "confirm", bad.Version(), nil)
	if got := fmt.Sprint(codes(err)); got != "[:check]" {
		t.Fatalf("confirm B200: got %s, want the check", got)
	}
	// The stored rows still hold the items' ids.
	stored, err := f.eng.Get(ctx, f.admin, "sales_order", bad.ID())
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := stored["lines"].([]any)
	if row, _ := rows[1].(map[string]any); len(rows) != 2 || row["item"] != f.ids["B200"] {
		t.Fatalf("rows after the check: %v", rows)
	}
}
