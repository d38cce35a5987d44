// Command pocketbase is the PocketBase side of "yerp bench --scenario
// pocketbase": PocketBase's own server (its serve command, unchanged) with a
// sales_orders collection equivalent to yerp's wholesale order, created on
// first start through PocketBase's Go API, plus a seed command that loads a
// list data set straight into PocketBase's SQLite database.
//
// It is its own Go module so that yerp's go.mod does not carry PocketBase's
// dependencies; yerp bench builds it with the Go toolchain from the
// repository checkout.
//
//	pocketbase serve --http 127.0.0.1:8090 --dir DIR
//	pocketbase seed --dir DIR --users 200 --orders 100000 --lines 10
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// Names shared with cmd/yerp/bench_pocketbase.go.
const (
	ordersCollection    = "sales_orders"
	customersCollection = "customers"
	warehouseCollection = "warehouses"
	superuserEmail      = "bench@example.com"
	superuserPassword   = "yerp-bench-superuser"
	// UserPassword is every bench user's password.
	userPassword = "yerp-bench-password"
)

func main() {
	app := pocketbase.NewWithConfig(pocketbase.Config{HideStartBanner: true})
	app.OnBootstrap().BindFunc(func(e *core.BootstrapEvent) error {
		if err := e.Next(); err != nil {
			return err
		}
		return ensureSchema(e.App)
	})
	app.RootCmd.AddCommand(seedCommand(app))
	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}

// ensureSchema creates, once, the superuser and the collections: customers,
// warehouses and sales_orders, the latter with the fields yerp's order stores,
// its lines as one JSON field, yerp's indexes plus one for the list's filter
// and sort, and rules restricting a salesperson to their own orders.
func ensureSchema(app core.App) error {
	if _, err := app.FindAuthRecordByEmail(core.CollectionNameSuperusers, superuserEmail); err != nil {
		su, err := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
		if err != nil {
			return err
		}
		r := core.NewRecord(su)
		r.SetEmail(superuserEmail)
		r.SetPassword(superuserPassword)
		if err := app.Save(r); err != nil {
			return fmt.Errorf("superuser: %w", err)
		}
	}
	if _, err := app.FindCollectionByNameOrId(ordersCollection); err == nil {
		return nil
	}
	return app.RunInTransaction(func(tx core.App) error {
		// Logins are setup, not measured: the bench users' passwords are
		// hashed at bcrypt's lowest cost so that 200 of them log in fast.
		// Every measured request is authenticated by its token (a JWT
		// check and a read of the user), which no password touches.
		users, err := tx.FindCollectionByNameOrId("users")
		if err != nil {
			return err
		}
		if pw, ok := users.Fields.GetByName("password").(*core.PasswordField); ok {
			pw.Cost = bcrypt.MinCost
		}
		if err := tx.Save(users); err != nil {
			return fmt.Errorf("users: %w", err)
		}

		var parties []*core.Collection
		for _, name := range []string{customersCollection, warehouseCollection} {
			c := core.NewBaseCollection(name)
			c.ListRule, c.ViewRule = types.Pointer("@request.auth.id != ''"), types.Pointer("@request.auth.id != ''")
			c.Fields.Add(
				&core.TextField{Name: "code", Required: true, Max: 40},
				&core.TextField{Name: "name", Required: true, Max: 200},
				&core.AutodateField{Name: "created", OnCreate: true},
				&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
			)
			c.AddIndex("idx_"+name+"_code", true, "code", "")
			if err := tx.Save(c); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			parties = append(parties, c)
		}

		o := core.NewBaseCollection(ordersCollection)
		// As yerp's sales role: read an order you own or that is being
		// handed over to you; create orders as yourself; edit your own.
		own := "owner = @request.auth.id || transfer_to = @request.auth.id"
		o.ListRule, o.ViewRule = types.Pointer(own), types.Pointer(own)
		o.CreateRule = types.Pointer("@request.auth.id != '' && @request.body.owner = @request.auth.id")
		o.UpdateRule = types.Pointer("owner = @request.auth.id")
		o.DeleteRule = nil // superusers only
		o.Fields.Add(
			&core.TextField{Name: "number", Required: true, Max: 40},
			&core.RelationField{Name: "customer", CollectionId: parties[0].Id, MaxSelect: 1, Required: true},
			&core.RelationField{Name: "warehouse", CollectionId: parties[1].Id, MaxSelect: 1, Required: true},
			&core.DateField{Name: "order_date", Required: true},
			&core.DateField{Name: "delivery_date"},
			&core.SelectField{Name: "payment_method", Values: []string{"credit", "cash", "bank_transfer"}, MaxSelect: 1, Required: true},
			&core.TextField{Name: "contact_person", Max: 50},
			&core.TextField{Name: "phone", Max: 40},
			&core.TextField{Name: "address", Required: true, Max: 200},
			&core.JSONField{Name: "lines", Required: true, MaxSize: 1 << 20},
			&core.NumberField{Name: "total"},
			&core.NumberField{Name: "margin"},
			&core.TextField{Name: "delivery_note", Max: 40},
			&core.TextField{Name: "carrier", Max: 50},
			&core.TextField{Name: "tracking_no", Max: 50},
			&core.DateField{Name: "ship_date"},
			&core.TextField{Name: "invoice_no", Max: 40},
			&core.DateField{Name: "due_date"},
			&core.RelationField{Name: "transfer_to", CollectionId: users.Id, MaxSelect: 1},
			&core.TextField{Name: "transfer_reason", Max: 200},
			&core.TextField{Name: "cancel_reason", Max: 200},
			&core.TextField{Name: "note", Max: 2000},
			&core.SelectField{Name: "state", Values: []string{"draft", "confirmed", "allocated", "shipped", "invoiced", "settled", "completed", "cancelled"}, MaxSelect: 1, Required: true},
			&core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1, Required: true},
			&core.AutodateField{Name: "created", OnCreate: true},
			&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
		)
		// yerp's order: a unique number, and the template's indexes
		// [customer, order_date] and [state, -order_date]; then one index
		// serving the list page (a salesperson's drafts, newest first) and
		// one for the hand-over half of the rule.
		o.AddIndex("idx_so_number", true, "number", "")
		o.AddIndex("idx_so_customer_date", false, "customer, order_date", "")
		o.AddIndex("idx_so_state_date", false, "state, order_date DESC", "")
		o.AddIndex("idx_so_owner_state_date", false, "owner, state, order_date DESC", "")
		o.AddIndex("idx_so_transfer_to", false, "transfer_to", "")
		if err := tx.Save(o); err != nil {
			return fmt.Errorf("%s: %w", ordersCollection, err)
		}
		return nil
	})
}

// seedResult is what the seed command prints (one JSON object).
type seedResult struct {
	Customer  string     `json:"customer"`
	Warehouse string     `json:"warehouse"`
	Users     []seedUser `json:"users"`
	Orders    int        `json:"orders"`
	Password  string     `json:"password"`
	// Order is the body of a new order (number and owner left empty), as
	// the create scenario posts it.
	Order   map[string]any `json:"order"`
	Seconds float64        `json:"seconds"`
}

type seedUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// seedCommand loads users, a customer, a warehouse and orders, each order
// with lines lines, one in five a draft, spread over the users in turn and a
// minute apart (as yerp bench's list data set). The first order is saved
// through PocketBase (validation, relations, hooks); the others are copies
// of its stored row with their own id, number, owner, state and dates,
// inserted in transactions of 10,000, so PocketBase's table, its indexes
// and its rules see what a save would have written. Then PRAGMA optimize
// gathers the planner's statistics, as yerp's store does after loading.
func seedCommand(app core.App) *cobra.Command {
	var users, orders, lines int
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "load the bench data set: users, a customer, a warehouse and orders",
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			res, err := seed(app, users, orders, lines)
			if err != nil {
				return err
			}
			res.Seconds = time.Since(start).Seconds()
			return json.NewEncoder(os.Stdout).Encode(res)
		},
	}
	cmd.Flags().IntVar(&users, "users", 200, "salespeople (users) to create")
	cmd.Flags().IntVar(&orders, "orders", 0, "orders to load")
	cmd.Flags().IntVar(&lines, "lines", 10, "lines per order")
	return cmd
}

func seed(app core.App, nUsers, nOrders, nLines int) (*seedResult, error) {
	if nUsers < 1 || nLines < 1 || nOrders < 0 {
		return nil, errors.New("seed: --users and --lines must be at least 1, --orders at least 0")
	}
	res := &seedResult{Password: userPassword, Orders: nOrders}
	usersCol, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return nil, err
	}
	for i := range nUsers {
		email := fmt.Sprintf("sales%03d@example.com", i)
		u, err := app.FindAuthRecordByEmail(usersCol, email)
		if err != nil {
			u = core.NewRecord(usersCol)
			u.SetEmail(email)
			u.SetPassword(userPassword)
			u.Set("name", fmt.Sprintf("销售员 %03d", i))
			u.SetVerified(true)
			if err := app.Save(u); err != nil {
				return nil, fmt.Errorf("user %s: %w", email, err)
			}
		}
		res.Users = append(res.Users, seedUser{ID: u.Id, Email: email})
	}
	party := func(collection, code, name string) (string, error) {
		c, err := app.FindCollectionByNameOrId(collection)
		if err != nil {
			return "", err
		}
		if r, err := app.FindFirstRecordByData(c, "code", code); err == nil {
			return r.Id, nil
		}
		r := core.NewRecord(c)
		r.Set("code", code)
		r.Set("name", name)
		if err := app.Save(r); err != nil {
			return "", fmt.Errorf("%s %s: %w", collection, code, err)
		}
		return r.Id, nil
	}
	if res.Warehouse, err = party(warehouseCollection, "WH1", "杭州主仓"); err != nil {
		return nil, err
	}
	if res.Customer, err = party(customersCollection, "C1", "华东百货"); err != nil {
		return nil, err
	}
	res.Order = order(res.Customer, res.Warehouse, "", "", nLines)
	if nOrders == 0 {
		return res, nil
	}
	orders, err := app.FindCollectionByNameOrId(ordersCollection)
	if err != nil {
		return nil, err
	}
	if n, err := app.CountRecords(orders); err != nil || n > 0 {
		return nil, fmt.Errorf("seed: %s already holds %d orders (%v): seed an empty data folder", ordersCollection, n, err)
	}

	base := time.Now().UTC().Add(-time.Duration(nOrders) * time.Minute).Truncate(time.Minute)
	first := core.NewRecord(orders)
	for k, v := range order(res.Customer, res.Warehouse, res.Users[0].ID, "L-000000000", nLines) {
		first.Set(k, v)
	}
	first.Set("state", "draft")
	first.Set("order_date", base.Truncate(24*time.Hour))
	if err := app.Save(first); err != nil {
		return nil, fmt.Errorf("the first order: %w", err)
	}
	row := dbx.NullStringMap{}
	if err := app.DB().Select("*").From(ordersCollection).Where(dbx.HashExp{"id": first.Id}).One(&row); err != nil {
		return nil, err
	}
	if _, err := app.DB().Delete(ordersCollection, dbx.HashExp{"id": first.Id}).Execute(); err != nil {
		return nil, err
	}
	cols := make([]string, 0, len(row))
	params := dbx.Params{}
	for c, v := range row {
		cols = append(cols, c)
		if v.Valid {
			params[c] = v.String
		} else {
			params[c] = nil
		}
	}
	insert := "INSERT INTO {{" + ordersCollection + "}} ("
	values := ""
	for i, c := range cols {
		if i > 0 {
			insert, values = insert+", ", values+", "
		}
		insert += "[[" + c + "]]"
		values += "{:" + c + "}"
	}
	insert += ") VALUES (" + values + ")"

	const batch = 10000
	for from := 0; from < nOrders; from += batch {
		err := app.RunInTransaction(func(tx core.App) error {
			q := tx.DB().NewQuery(insert).Prepare()
			defer q.Close()
			for i := from; i < min(from+batch, nOrders); i++ {
				at := base.Add(time.Duration(i) * time.Minute)
				params["id"] = core.GenerateDefaultRandomId()
				params["number"] = fmt.Sprintf("L-%09d", i)
				params["owner"] = res.Users[i%nUsers].ID
				params["state"] = "confirmed"
				if (i/nUsers)%5 == 0 { // one in five of each user's orders
					params["state"] = "draft"
				}
				stamp := at.Format(types.DefaultDateLayout)
				params["order_date"] = at.Truncate(24 * time.Hour).Format(types.DefaultDateLayout)
				params["created"], params["updated"] = stamp, stamp
				if _, err := q.Bind(params).Execute(); err != nil {
					return fmt.Errorf("order %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if _, err := app.NonconcurrentDB().NewQuery("PRAGMA optimize=0x10002").Execute(); err != nil {
		return nil, err
	}
	return res, nil
}

// order is the values of one order with n lines, as the client of the create
// scenario posts them and as yerp's engine stores its order: the lines carry
// their price, cost and amount, the order its total and margin (PocketBase
// computes nothing, so the client does).
func order(customer, warehouse, owner, number string, n int) map[string]any {
	lines := make([]any, n)
	var total, cost int64 // cents
	for i := range n {
		qty := int64(1 + i%9)
		price, c := int64(1250+25*i), int64(810+20*i)
		lines[i] = map[string]any{
			"row": fmt.Sprintf("r%014d", i), "item": fmt.Sprintf("item%011d", 100+i),
			"qty": strconv.FormatInt(qty, 10), "price": cents(price), "amount": cents(qty * price), "cost": cents(c),
		}
		total += qty * price
		cost += qty * c
	}
	return map[string]any{
		"number": number, "customer": customer, "warehouse": warehouse,
		"order_date": time.Now().UTC().Format(time.DateOnly) + " 00:00:00.000Z", "payment_method": "credit",
		"contact_person": "王经理", "phone": "13800000000", "address": "杭州市解放路 1 号",
		"lines": lines, "total": float64(total) / 100, "margin": float64(total-cost) / 100,
		"note": "bench", "state": "draft", "owner": owner,
	}
}

func cents(v int64) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }
