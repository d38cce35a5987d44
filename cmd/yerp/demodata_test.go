package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

func TestEAN13CheckDigit(t *testing.T) {
	// Published examples of valid EAN-13 codes.
	for _, code := range []string{"4006381333931", "9780201379624", "6901234567892"} {
		if got := ean13(code[:12], ""); got != code {
			t.Errorf("ean13(%s) = %s, want %s", code[:12], got, code)
		}
	}
}

func TestDemoCompanyIsBelievable(t *testing.T) {
	c := newDemoCompany(7)
	if again := newDemoCompany(7); again.customers.CSV() != c.customers.CSV() || again.items.CSV() != c.items.CSV() {
		t.Fatal("the same seed gave different demo data")
	}
	tables := append([]demoTable{c.categories, c.customers, c.suppliers, c.items}, c.warehouses...)
	min := map[string]int{"warehouse": 3, "item_category": 5, "customer": 50, "supplier": 10, "item": 100}
	for _, tb := range tables {
		// Parse the CSV back: every row has the header's width, codes and
		// names are unique, barcodes are valid EAN-13 and unique.
		rows, err := csv.NewReader(strings.NewReader(tb.CSV())).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", tb.entity, err)
		}
		if len(rows)-1 < min[tb.entity] {
			t.Errorf("%s: %d rows, want at least %d", tb.entity, len(rows)-1, min[tb.entity])
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		seen := map[string]bool{}
		for _, row := range rows[1:] {
			if len(row) != len(rows[0]) {
				t.Fatalf("%s: row %v has %d cells for %d columns", tb.entity, row, len(row), len(rows[0]))
			}
			for _, key := range []string{"code", "name", "barcode"} {
				i, ok := col[key]
				if !ok {
					continue
				}
				if v := key + "=" + row[i]; seen[v] {
					t.Errorf("%s: duplicate %s", tb.entity, v)
				} else {
					seen[v] = true
				}
				if key == "barcode" && (len(row[i]) != 13 || ean13(row[i][:12], "") != row[i]) {
					t.Errorf("%s: barcode %q is not a valid EAN-13", tb.entity, row[i])
				}
			}
		}
	}
}

// The demo company loads through the real engine on a fresh SQLite store: a
// believable amount of master data, at least 500 orders spread over every
// state of their workflows, a user per role, approvals waiting in inboxes,
// reports with rows, and books that add up. A second load adds nothing.
func TestDemoLoad(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	var out bytes.Buffer
	if err := loadDemo(ctx, svc, users, eng, &out); err != nil {
		t.Fatalf("load: %v\n%s", err, out.String())
	}
	admin := records.User{ID: "test", Roles: []string{records.AdminRole}}
	states := func(entity string) map[string]int {
		got := map[string]int{}
		q := records.ListQuery{Limit: records.MaxPage}
		for {
			page, err := eng.List(ctx, admin, entity, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Records {
				got[fmt.Sprint(r["state"])]++
			}
			if q.After = page.Next; q.After == "" {
				return got
			}
		}
	}
	total := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	for entity, least := range map[string]int{"customer": 50, "item": 100, "warehouse": 3} {
		if n := total(states(entity)); n < least {
			t.Errorf("%s: %d records, want at least %d", entity, n, least)
		}
	}
	// Every state of each order's workflow has records.
	model := svc.Model()
	orders := 0
	for _, entity := range []string{"sales_order", "purchase_order", "cod_order", "customer_audit_visit"} {
		got := states(entity)
		if entity != "customer_audit_visit" {
			orders += total(got)
		}
		for _, s := range model.Entities[entity].Decl.States {
			if n := got[s.Key.V]; n == 0 {
				t.Errorf("%s: no record in state %s (%v)", entity, s.Key.V, got)
			}
		}
	}
	if orders < 500 {
		t.Errorf("%d orders, want at least 500", orders)
	}
	// A user for every role of the catalog.
	for role := range model.Roles {
		if role == records.AdminRole {
			continue
		}
		if !slices.ContainsFunc(demoUsers, func(u struct{ name, display, role string }) bool {
			return slices.Contains(strings.Split(u.role, ","), role)
		}) {
			t.Errorf("no demo user has the role %s", role)
		}
	}
	for _, who := range []string{"manager", "buymgr"} {
		u, err := users.UserByName(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		inbox, _, err := eng.InboxPage(ctx, records.User{ID: u.ID, Roles: u.Roles}, 0)
		if err != nil || len(inbox) == 0 {
			t.Errorf("%s's inbox: %d approvals, %v", who, len(inbox), err)
		}
	}
	// Every report of the catalog has rows to show.
	rep := reports.New(st, eng, svc.Model, nil)
	for _, r := range model.ReportList() {
		res, err := rep.Run(ctx, admin, r.Package, r.Name, nil)
		if err != nil || len(res.Rows) == 0 {
			t.Errorf("report %s/%s: %d rows, %v", r.Package, r.Name, len(res.Rows), err)
		}
	}
	if ms, err := eng.Verify(ctx); err != nil || len(ms) > 0 {
		t.Errorf("verify: %v %v", ms, err)
	}
	before := total(states("sales_order"))
	if err := loadDemo(ctx, svc, users, eng, &out); err != nil {
		t.Fatal(err)
	}
	if after := total(states("sales_order")); after != before {
		t.Errorf("a second load changed the sales orders from %d to %d", before, after)
	}
}
