package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
)

// loadDemo installs every catalog package and, on an empty store, a small
// realistic data set: a company, warehouses, customers, items, and one user
// per role whose passwords are printed once.
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
	admin := records.User{ID: "demo", Roles: []string{records.AdminRole}}
	page, err := eng.List(ctx, admin, "warehouse", records.ListQuery{Limit: 1})
	if err != nil {
		return err
	}
	if len(page.Records) > 0 {
		return nil // loaded before
	}
	ids := map[string]string{}
	create := func(entity, key string, values map[string]any) error {
		rec, err := eng.Create(ctx, admin, entity, values)
		if err != nil {
			return fmt.Errorf("demo %s %s: %w", entity, key, err)
		}
		ids[key] = rec.ID()
		return nil
	}
	steps := []struct {
		entity, key string
		values      map[string]any
	}{
		{"company", "co", map[string]any{"name": "杭州优品商贸有限公司", "short_name": "优品商贸"}},
		{"warehouse", "WH1", map[string]any{"code": "WH1", "name": "杭州主仓", "address": "杭州市余杭区仓前街道 88 号"}},
		{"warehouse", "WH2", map[string]any{"code": "WH2", "name": "宁波分仓", "address": "宁波市鄞州区物流园 12 号"}},
		{"item_category", "CAT1", map[string]any{"code": "DRINK", "name": "饮料"}},
		{"item_category", "CAT2", map[string]any{"code": "SNACK", "name": "零食"}},
		{"customer", "C1", map[string]any{"code": "C-0001", "name": "华东百货有限公司", "contact_person": "王经理", "phone": "0571-8888 1234", "credit_limit": "200000", "customer_group": "key_account"}},
		{"customer", "C2", map[string]any{"code": "C-0002", "name": "西湖便利连锁", "contact_person": "李店长", "phone": "138 0000 1111", "credit_limit": "50000", "customer_group": "retail"}},
		{"customer", "C3", map[string]any{"code": "C-0003", "name": "宁波海港批发部", "contact_person": "陈老板", "phone": "0574-2222 3333", "credit_limit": "80000"}},
		{"supplier", "S1", map[string]any{"code": "S-001", "name": "浙江清泉饮品厂", "contact_person": "赵经理", "phone": "0571-6666 0000"}},
		{"item", "I1", map[string]any{"code": "D-500", "name": "矿泉水 500ml", "unit": "carton", "price": "24.00", "cost": "15.50", "min_stock": "50", "barcode": "6901234567892"}},
		{"item", "I2", map[string]any{"code": "D-1500", "name": "矿泉水 1.5L", "unit": "carton", "price": "36.00", "cost": "24.00", "min_stock": "30"}},
		{"item", "I3", map[string]any{"code": "S-101", "name": "苏打饼干", "unit": "box", "price": "18.50", "cost": "11.20", "min_stock": "40"}},
	}
	for _, s := range steps {
		if err := create(s.entity, s.key, s.values); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "demo users (one-time passwords, printed once):")
	for _, u := range []struct{ name, display, role string }{
		{"sales1", "张销售", "sales"}, {"sales2", "刘销售", "sales"}, {"manager", "周经理", "sales_manager"},
		{"keeper", "吴仓管", "warehouse"}, {"buyer", "郑采购", "purchasing"}, {"finance", "孙会计", "finance"}, {"field", "钱外勤", "field_staff"},
	} {
		if _, err := users.UserByName(ctx, u.name); err == nil {
			continue
		} else if !errors.Is(err, auth.ErrNotFound) {
			return err
		}
		password := randomPassword()
		if _, err := users.CreateUser(ctx, auth.NewUser{Username: u.name, Name: u.display, Roles: []string{u.role}, Password: password}); err != nil {
			return fmt.Errorf("demo user %s: %w", u.name, err)
		}
		fmt.Fprintf(out, "  %-8s %-14s %s\n", u.name, u.role, password)
	}
	return nil
}

// randomPassword returns 16 random characters.
func randomPassword() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
