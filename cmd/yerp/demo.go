package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/dataio"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
)

// demoSeed fixes the demo company, so every demo store looks the same.
const demoSeed = 20261126

// demoUsers are the demo company's staff, at least one per role of the
// catalog (two in finance, so one can approve what the other reports). The
// purchasing manager is a buyer too: the manager role of the purchasing
// package adds approvals, the buyer role of core reads the master data.
var demoUsers = []struct{ name, display, role string }{
	{"sales1", "张伟", "sales"}, {"sales2", "刘洋", "sales"}, {"sales3", "陈静", "sales"}, {"sales4", "杨帆", "sales"},
	{"manager", "周敏", "sales_manager"},
	{"keeper", "吴强", "warehouse"}, {"keeper2", "郑磊", "warehouse"},
	{"buyer", "王芳", "purchasing"}, {"buymgr", "赵军", "purchasing,purchasing_manager"},
	{"finance", "孙丽", "finance"}, {"finance2", "钱涛", "finance"},
	{"field1", "冯超", "field_staff"}, {"field2", "何娟", "field_staff"},
}

// loadDemo installs every catalog package and, on an empty store, loads the
// demo company: users per role (one-time passwords printed to out), master
// data through the same import path users take, and a few months of business
// (opening stock, purchase, sales and COD orders in every state, a customer
// audit campaign), all taken through the records engine's transitions.
func loadDemo(ctx context.Context, svc *packages.Service, users *auth.Service, eng *records.Engine, out io.Writer) error {
	entries, err := svc.Catalog(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Installed == "" && svc.Model().Packages[e.Name] == nil {
			if _, err := svc.Install(ctx, e.Name, packages.Options{By: "demo"}); err != nil {
				return fmt.Errorf("install %s: %w", e.Name, err)
			}
		}
	}
	admin := records.User{ID: "demo", Name: "demo", Roles: []string{records.AdminRole}}
	page, err := eng.List(ctx, admin, "warehouse", records.ListQuery{Limit: 1})
	if err != nil {
		return err
	}
	if len(page.Records) > 0 {
		return nil // loaded before
	}

	staff := map[string]records.User{"admin": admin}
	fmt.Fprintln(out, "demo users (one-time passwords, printed once):")
	for _, u := range demoUsers {
		au, err := users.UserByName(ctx, u.name)
		if errors.Is(err, auth.ErrNotFound) {
			password := randomPassword()
			au, err = users.CreateUser(ctx, auth.NewUser{Username: u.name, Name: u.display, Roles: strings.Split(u.role, ","), Password: password})
			if err == nil {
				fmt.Fprintf(out, "  %-8s %-18s %s\n", u.name, u.role, password)
			}
		}
		if err != nil {
			return fmt.Errorf("demo user %s: %w", u.name, err)
		}
		staff[u.name] = records.User{ID: au.ID, Name: au.Name, Roles: au.Roles, Lang: au.Language}
	}

	c := newDemoCompany(demoSeed)
	if _, err := eng.Create(ctx, admin, "company", map[string]any{"name": "杭州优品商贸有限公司", "short_name": "优品商贸"}); err != nil {
		return fmt.Errorf("demo company: %w", err)
	}
	for _, t := range append(append([]demoTable{}, c.warehouses...), c.categories, c.customers, c.suppliers, c.items) {
		res, err := dataio.Import(ctx, eng, admin, t.entity, strings.NewReader(t.CSV()), dataio.Options{Format: dataio.CSV, Lang: "en"})
		if err != nil {
			return fmt.Errorf("demo %s: %w", t.entity, err)
		}
		if res.Failed > 0 {
			return fmt.Errorf("demo %s: %d of %d records failed, first: %+v", t.entity, res.Failed, res.Total, res.Errors[0])
		}
	}
	d, err := newDemoRun(ctx, eng, staff, c)
	if err != nil {
		return err
	}
	if err := d.business(); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo data: %s\n", d.summary())
	return nil
}

// randomPassword returns 16 random characters.
func randomPassword() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
