// Package templatetest runs a template package's own acceptance tests
// (tests/*.yaml): fixtures, then steps taken as users, each with expectations,
// against a fresh temporary store. `yerp test DIR` and `go test` use it.
//
// A test file:
//
//	name: order transfer between salespeople
//	users: {alice: [sales], bob: [sales], mia: [sales_manager]}
//	fixtures:
//	  - {entity: customer, values: {code: C1, name: Acme}}
//	steps:
//	  - as: alice
//	    create: sales_order
//	    values: {customer: C1, lines: [{item: A100, qty: 10}]}
//	    expect: {state: draft, total: 125.00}
//	  - as: alice
//	    transition: transfer
//	    input: {to_user: bob, reason: vacation}
//	    expect: {owner: bob}
//	  - as: alice
//	    update: {note: x}
//	    expect_error: not_found
//	  - as: mia
//	    decide: approve          # or reject / return (with comment:), withdraw
//	  - as: mia
//	    transition: ship
//	    input: {credit_limit: -5}
//	    expect_error: credit_limit:min
//	    expect: {state: confirmed, created: {delivery_note: 0}, notifications: {alice: 0}}
//
// With expect_error, expect is checked on the record as it is after the
// refusal; notifications counts a user's unread notifications.
//
// Link values and user inputs may name fixtures by their code (or number) and
// users by their test name; a step without create works on the record of the
// last create, or with on: ENTITY on the last record created of that entity.
package templatetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
)

// File is one test file.
type File struct {
	Name     string              `yaml:"name"`
	Users    map[string][]string `yaml:"users"`
	Fixtures []Fixture           `yaml:"fixtures"`
	Steps    []Step              `yaml:"steps"`
}

// Fixture is a record created by admin before the steps, or opening stock.
type Fixture struct {
	Entity string         `yaml:"entity"`
	Values map[string]any `yaml:"values"`
	// Stock is an opening balance: {item: A100, warehouse: WH1, qty: 40}.
	Stock *struct {
		Item      string `yaml:"item"`
		Warehouse string `yaml:"warehouse"`
		Qty       string `yaml:"qty"`
	} `yaml:"stock"`
}

// Step is one action of a user and what must follow.
type Step struct {
	As         string         `yaml:"as"`
	Create     string         `yaml:"create"`
	Values     map[string]any `yaml:"values"`
	Update     map[string]any `yaml:"update"`
	Transition string         `yaml:"transition"`
	Input      map[string]any `yaml:"input"`
	// On makes the step work on the last record created of another entity
	// (the sheet counted before a receipt, the invoice after its payment).
	On string `yaml:"on"`
	// Decide approves, rejects, returns or withdraws the approval last opened.
	Decide string `yaml:"decide"`
	// Print renders the print layout of that name for the record, as the
	// step's user, in zh-CN; expect: {printed: [text, ...]} checks the page.
	Print       string         `yaml:"print"`
	Comment     string         `yaml:"comment"`
	Expect      map[string]any `yaml:"expect"`
	ExpectError string         `yaml:"expect_error"`
}

// Result is the outcome of one test file.
type Result struct {
	File, Name string
	Failures   []string // empty when the test passed
}

// Passed reports whether every step met its expectations.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// RunPackage runs every tests/*.yaml of the package in folder dir of pkgFS,
// each in a fresh store under tmp, with the packages it requires taken from
// catalog.
func RunPackage(ctx context.Context, pkgFS fs.FS, dir string, catalog fs.FS, tmp string) ([]Result, error) {
	files, err := fs.Glob(pkgFS, path.Join(dir, "tests", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	// A folder of its own under tmp, so that several packages run under one
	// tmp never share a store.
	if tmp, err = os.MkdirTemp(tmp, path.Base(dir)+"-"); err != nil {
		return nil, err
	}
	var out []Result
	for i, f := range files {
		data, err := fs.ReadFile(pkgFS, f)
		if err != nil {
			return out, err
		}
		res := Result{File: f}
		var tf File
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true) // a misplaced key is an error, not a silent no-op
		if err := dec.Decode(&tf); err != nil {
			res.Failures = append(res.Failures, "cannot read the test: "+err.Error())
			out = append(out, res)
			continue
		}
		res.Name = tf.Name
		res.Failures = run(ctx, pkgFS, dir, catalog, filepath.Join(tmp, fmt.Sprintf("t%d.db", i)), tf)
		out = append(out, res)
	}
	return out, nil
}

// env is the world of one test file.
type env struct {
	ctx      context.Context
	st       store.Store
	eng      *records.Engine
	users    map[string]records.User
	model    func() *template.Model
	last     map[string]string // entity → id of the last record created
	actor    records.User      // who takes the current step (list: expectations read as them)
	cur      struct{ entity, id string }
	approval string // the approval last opened
	// warnings are the messages of the warn checks that did not hold on the
	// last transition, as {zh-CN, en} texts.
	warnings []map[string]string
	printed  string // the page the last print step rendered
}

func run(ctx context.Context, pkgFS fs.FS, dir string, catalog fs.FS, dbPath string, tf File) []string {
	fail := func(format string, args ...any) []string { return []string{fmt.Sprintf(format, args...)} }
	st, err := sqlite.Open(dbPath)
	if err != nil {
		return fail("store: %v", err)
	}
	defer st.Close()
	// The package under test, plus what it requires from the catalog.
	files, err := readAll(pkgFS, dir)
	if err != nil {
		return fail("%v", err)
	}
	svc, err := packages.New(ctx, st, catalog)
	if err != nil {
		return fail("%v", err)
	}
	src, ds := template.LoadPackage(pkgFS, dir)
	if src == nil {
		return fail("the package does not load:\n%s", ds)
	}
	for _, req := range src.Package.Requires {
		if svc.Model().Packages[req.Key.V] == nil {
			if _, err := svc.Install(ctx, req.Key.V, packages.Options{}); err != nil {
				return fail("install %s: %v", req.Key.V, err)
			}
		}
	}
	if _, err := svc.Publish(ctx, files, packages.Options{}); err != nil {
		return fail("install the package: %v", err)
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		return fail("%v", err)
	}
	e := &env{ctx: ctx, st: st, users: map[string]records.User{}, model: svc.Model, last: map[string]string{}}
	names := make([]string, 0, len(tf.Users))
	for n := range tf.Users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u, err := users.CreateUser(ctx, auth.NewUser{Username: n, Name: n, Roles: tf.Users[n], Password: n + "-test-password"})
		if err != nil {
			return fail("user %s: %v", n, err)
		}
		e.users[n] = records.User{ID: u.ID, Name: n, Roles: u.Roles}
	}
	e.users["admin"] = records.User{ID: "admin", Name: "admin", Roles: []string{records.AdminRole}}
	e.eng = records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	for i, fx := range tf.Fixtures {
		if fx.Stock != nil {
			if err := e.openingStock(fx.Stock.Item, fx.Stock.Warehouse, fx.Stock.Qty); err != nil {
				return fail("fixture %d (stock): %v", i+1, err)
			}
			continue
		}
		vals, err := e.resolve(fx.Entity, fx.Values)
		if err != nil {
			return fail("fixture %d (%s): %v", i+1, fx.Entity, err)
		}
		rec, err := e.eng.Create(ctx, e.users["admin"], fx.Entity, vals)
		if err != nil {
			return fail("fixture %d (%s): %v", i+1, fx.Entity, err)
		}
		e.last[fx.Entity] = rec.ID()
	}
	var failures []string
	for i, s := range tf.Steps {
		if msg := e.step(s); msg != "" {
			failures = append(failures, fmt.Sprintf("step %d (%s): %s", i+1, describe(s), msg))
		}
	}
	// Whatever the steps did, the books must agree with their ledgers.
	diffs, err := e.eng.Verify(ctx)
	if err != nil {
		failures = append(failures, "verify: "+err.Error())
	}
	for _, d := range diffs {
		failures = append(failures, "verify: "+d.String())
	}
	return failures
}

// openingStock posts qty of item (by code) into warehouse (by code).
func (e *env) openingStock(item, warehouse, qty string) error {
	it, err := e.lookup("item", item)
	if err != nil {
		return err
	}
	wh, err := e.lookup("warehouse", warehouse)
	if err != nil {
		return err
	}
	q, err := decimal.Parse(qty)
	if err != nil {
		return fmt.Errorf("qty %q: %w", qty, err)
	}
	return e.eng.OpeningStock(e.ctx, e.users["admin"], it, wh, q)
}

// checkStock compares stock: {ITEM@WH: {on_hand: n, reserved: n, available: n}}.
func (e *env) checkStock(want any) []string {
	var bad []string
	bins, _ := want.(map[string]any)
	keys := make([]string, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		item, wh, ok := strings.Cut(k, "@")
		if !ok {
			bad = append(bad, fmt.Sprintf("stock: %q is not ITEM@WAREHOUSE", k))
			continue
		}
		it, err1 := e.lookup("item", item)
		w, err2 := e.lookup("warehouse", wh)
		if err := errors.Join(err1, err2); err != nil {
			bad = append(bad, "stock: "+err.Error())
			continue
		}
		b, err := e.eng.Stock(e.ctx, it, w)
		if err != nil {
			bad = append(bad, "stock: "+err.Error())
			continue
		}
		got := map[string]decimal.Decimal{"on_hand": b.OnHand, "reserved": b.Reserved, "available": b.Available}
		fields, _ := bins[k].(map[string]any)
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			g, known := got[f]
			if !known {
				bad = append(bad, fmt.Sprintf("stock %s: no %q (on_hand, reserved, available)", k, f))
			} else if !same(g, fields[f]) {
				bad = append(bad, fmt.Sprintf("stock %s %s: want %v, got %s", k, f, fields[f], g))
			}
		}
	}
	return bad
}

// checkLists compares list: [{entity: E, filter: "expr", count: n}]: how
// many records of E matching the filter the step's user can list (their read
// rights apply, as in the API).
func (e *env) checkLists(want any) []string {
	var bad []string
	items, _ := want.([]any)
	for _, it := range items {
		l, _ := it.(map[string]any)
		entity, _ := l["entity"].(string)
		filter, _ := l["filter"].(string)
		page, err := e.eng.List(e.ctx, e.actor, entity, records.ListQuery{Filter: filter, Count: true, Limit: 1})
		if err != nil {
			bad = append(bad, fmt.Sprintf("list %s [%s]: %v", entity, filter, err))
			continue
		}
		if fmt.Sprint(page.Total) != fmt.Sprint(l["count"]) {
			bad = append(bad, fmt.Sprintf("list %s [%s]: want %v records, got %d", entity, filter, l["count"], page.Total))
		}
	}
	return bad
}

// checkBalance compares balance: {PARTY: amount}, parties by code.
func (e *env) checkBalance(want any) []string {
	return e.eachParty("balance", want, func(code, id string, want any) []string {
		if got := e.eng.Balance(e.ctx, id); !same(got, want) {
			return []string{fmt.Sprintf("balance %s: want %v, got %s", code, want, got)}
		}
		return nil
	})
}

// eachParty calls check for each PARTY of an expectation {PARTY: want}, in
// code order, with the party's id (a customer's, else a supplier's).
func (e *env) eachParty(what string, want any, check func(code, id string, want any) []string) []string {
	var bad []string
	parties, _ := want.(map[string]any)
	keys := make([]string, 0, len(parties))
	for k := range parties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		id, err := e.lookup("customer", k)
		if err != nil {
			if id, err = e.lookup("supplier", k); err != nil {
				bad = append(bad, fmt.Sprintf("%s: no customer or supplier %q", what, k))
				continue
			}
		}
		bad = append(bad, check(k, id, parties[k])...)
	}
	return bad
}

// checkWarnings compares warnings: [message, ...] with the warnings of the
// last transition, in order; each message in zh-CN or en.
func (e *env) checkWarnings(want any) []string {
	list, _ := want.([]any)
	var got []string
	for _, w := range e.warnings {
		got = append(got, w["zh-CN"]+" / "+w["en"])
	}
	ok := len(list) == len(e.warnings)
	for i := 0; ok && i < len(list); i++ {
		m := fmt.Sprint(list[i])
		ok = m == e.warnings[i]["zh-CN"] || m == e.warnings[i]["en"]
	}
	if !ok {
		return []string{fmt.Sprintf("warnings: want %q, got %q", list, got)}
	}
	return nil
}

// checkAccounts compares accounts: {PARTY: {receivable: n, provisional: n,
// payable: n}}, each account's balance of the party (debits less credits; for
// payable, credits less debits), parties by code.
func (e *env) checkAccounts(want any) []string {
	return e.eachParty("accounts", want, func(k, id string, want any) []string {
		var bad []string
		accounts, _ := want.(map[string]any)
		names := make([]string, 0, len(accounts))
		for a := range accounts {
			names = append(names, a)
		}
		sort.Strings(names)
		for _, a := range names {
			got := decimal.Zero
			if d, err := e.st.Get(e.ctx, "sys_party_balances", a+":"+id); err == nil {
				got, _ = decimal.Parse(fmt.Sprint(d["balance"]))
			} else if !errors.Is(err, store.ErrNotFound) {
				bad = append(bad, fmt.Sprintf("accounts %s %s: %v", k, a, err))
				continue
			}
			if !same(got, accounts[a]) {
				bad = append(bad, fmt.Sprintf("accounts %s %s: want %v, got %s", k, a, accounts[a], got))
			}
		}
		return bad
	})
}

func describe(s Step) string {
	who := s.As
	if who == "" {
		who = "admin"
	}
	switch {
	case s.Create != "":
		return who + " creates " + s.Create
	case s.Transition != "":
		return who + " takes " + s.Transition
	case s.Update != nil:
		return who + " updates"
	case s.Decide != "":
		return who + " decides " + s.Decide
	case s.Print != "":
		return who + " prints " + s.Print
	}
	return who + " checks"
}

func readAll(fsys fs.FS, dir string) (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		out[strings.TrimPrefix(p, dir+"/")] = string(data)
		return err
	})
	return out, err
}

// step runs one step and returns what went wrong ("" when it passed).
func (e *env) step(s Step) string {
	who := s.As
	if who == "" {
		who = "admin"
	}
	u, ok := e.users[who]
	if !ok {
		return fmt.Sprintf("unknown user %q (declare it under users:)", who)
	}
	e.actor = u
	if s.On != "" {
		id, ok := e.last[s.On]
		if !ok {
			// A record an effect created (the delivery note of an order):
			// the newest of the entity (ids are ordered by time).
			page, err := e.st.Find(e.ctx, s.On, store.Query{Sort: []store.SortKey{{Path: store.IDField, Desc: true}}, Limit: 1})
			if err != nil || len(page.Docs) == 0 {
				return fmt.Sprintf("on: no %s created yet", s.On)
			}
			id = page.Docs[0].ID()
		}
		e.cur.entity, e.cur.id = s.On, id
	}
	var rec records.Record
	var err error
	switch {
	case s.Create != "":
		var vals map[string]any
		if vals, err = e.resolve(s.Create, s.Values); err != nil {
			return err.Error()
		}
		if err = e.upload(u, s.Create, vals); err == nil {
			rec, err = e.eng.Create(e.ctx, u, s.Create, vals)
		}
		if err == nil {
			e.cur.entity, e.cur.id = s.Create, rec.ID()
			e.last[s.Create] = rec.ID()
		}
	case s.Transition != "" || s.Update != nil:
		if e.cur.id == "" {
			return "no record yet: create one first"
		}
		var stored store.Doc
		if stored, err = e.st.Get(e.ctx, e.cur.entity, e.cur.id); err != nil {
			return err.Error()
		}
		if s.Transition != "" {
			var in map[string]any
			if in, err = e.resolveInput(s.Transition, s.Input); err != nil {
				return err.Error()
			}
			var taken records.Taken
			taken, err = e.eng.Transition(e.ctx, u, e.cur.entity, e.cur.id, s.Transition, stored.Version(), in)
			rec = taken.Record
			e.warnings = taken.Warnings
			if taken.Approval != "" { // expect: {approval: open}
				e.approval = taken.Approval
				rec = records.Record{"approval": "open"}
				for k, v := range taken.Record {
					rec[k] = v
				}
				rec["approval"] = "open"
			}
		} else {
			var vals map[string]any
			if vals, err = e.resolve(e.cur.entity, s.Update); err != nil {
				return err.Error()
			}
			keepRowKeys(vals, stored)
			if err = e.upload(u, e.cur.entity, vals); err == nil {
				rec, err = e.eng.Update(e.ctx, u, e.cur.entity, e.cur.id, stored.Version(), vals)
			}
		}
	case s.Print != "":
		if e.cur.id == "" {
			return "no record yet: create one first"
		}
		var layout *template.Layout
		var data *records.PrintData
		if layout, data, err = e.eng.Print(e.ctx, u, e.cur.entity, e.cur.id, s.Print, "zh-CN"); err == nil {
			var page bytes.Buffer
			if err = layout.Template().Execute(&page, data); err == nil {
				e.printed = page.String()
				rec, err = e.eng.Get(e.ctx, u, e.cur.entity, e.cur.id)
			}
		}
	case s.Decide != "":
		if e.approval == "" {
			return "no approval is open: take a transition that needs one first"
		}
		if _, err = e.eng.Decide(e.ctx, u, e.approval, records.Decision(s.Decide), s.Comment); err == nil {
			rec, err = e.eng.Get(e.ctx, e.users["admin"], e.cur.entity, e.cur.id)
		}
	default:
		rec, err = e.eng.Get(e.ctx, u, e.cur.entity, e.cur.id)
	}
	if s.ExpectError != "" {
		if err == nil {
			return fmt.Sprintf("expected error %s, but it succeeded", s.ExpectError)
		}
		if got := errorCode(err); got != s.ExpectError {
			return fmt.Sprintf("expected error %s, got %s (%v)", s.ExpectError, got, err)
		}
		if len(s.Expect) == 0 || e.cur.id == "" {
			return ""
		}
		// What must still hold after the refusal: nothing of it stayed.
		if rec, err = e.eng.Get(e.ctx, e.users["admin"], e.cur.entity, e.cur.id); err != nil {
			return fmt.Sprintf("reading the record after the error: %v", err)
		}
	} else if err != nil {
		return fmt.Sprintf("unexpected error: %v", err)
	}
	return e.check(rec, s.Expect)
}

// upload stores, as user u, the files given to attachment fields as
// {file: NAME, content: TEXT} and puts the file's id in their place.
func (e *env) upload(u records.User, entity string, vals map[string]any) error {
	ent := e.model().Entities[entity]
	if ent == nil {
		return nil
	}
	for k, v := range vals {
		m, ok := v.(map[string]any)
		f, _ := ent.Decl.Fields.Get(k)
		if !ok || f == nil || f.Type.V != "attachment" {
			continue
		}
		name, content := fmt.Sprint(m["file"]), fmt.Sprint(m["content"])
		info, err := e.eng.Upload(e.ctx, u, entity, k, name, strings.NewReader(content))
		if err != nil {
			return err
		}
		vals[k] = info.ID
	}
	return nil
}

// keepRowKeys matches the rows of a table in an update to the stored rows by
// position, the way a form edits them: the row at index i is the stored row i
// with the cells given changed; the others (read-only columns too) keep their
// values.
func keepRowKeys(vals map[string]any, stored store.Doc) {
	for k, v := range vals {
		rows, ok := v.([]any)
		if !ok {
			continue
		}
		old, _ := stored[k].([]any)
		for i, r := range rows {
			row, ok := r.(map[string]any)
			if !ok || i >= len(old) {
				continue
			}
			prev, _ := old[i].(map[string]any)
			if _, given := row["_row"]; given || prev["_row"] == nil {
				continue
			}
			for c, cv := range prev { // cells not given keep their values
				if _, given := row[c]; !given {
					row[c] = cv
				}
			}
		}
	}
}

// errorCode names an engine error the way tests expect it.
func errorCode(err error) string {
	var ve *records.ValidationError
	switch {
	case errors.As(err, &ve):
		codes := make([]string, len(ve.Errors))
		for i, fe := range ve.Errors {
			codes[i] = fe.Code
			if fe.Path != "" {
				codes[i] = fe.Path + ":" + fe.Code
			}
		}
		sort.Strings(codes)
		return strings.Join(codes, ",")
	case errors.Is(err, records.ErrForbidden):
		return "forbidden"
	case errors.Is(err, records.ErrNotFound):
		return "not_found"
	case errors.Is(err, records.ErrConflict):
		return "conflict"
	case errors.Is(err, records.ErrNotAvailable):
		return "not_available"
	case errors.Is(err, records.ErrNeedsApproval):
		return "needs_approval"
	}
	return "error"
}

// check compares expectations with the record: numbers exactly, users by
// test name, created: {entity: count}, notifications: {user: unread count},
// history: [lines as history renders them].
func (e *env) check(rec records.Record, expect map[string]any) string {
	keys := make([]string, 0, len(expect))
	for k := range expect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var bad []string
	for _, k := range keys {
		want := expect[k]
		if k == "notifications" { // unread notifications per user
			counts, _ := want.(map[string]any)
			for name, n := range counts {
				u, ok := e.users[name]
				if !ok {
					bad = append(bad, fmt.Sprintf("notifications: no user %q in this test", name))
					continue
				}
				_, unread, err := e.eng.Notifications(e.ctx, u, 1)
				if err != nil || fmt.Sprint(unread) != fmt.Sprint(n) {
					bad = append(bad, fmt.Sprintf("notifications of %s: want %v unread, got %d", name, n, unread))
				}
			}
			continue
		}
		if k == "history" { // the record's history, oldest first, one line per entry
			lines, err := e.history()
			if err != nil {
				bad = append(bad, "history: "+err.Error())
				continue
			}
			wantLines, _ := want.([]any)
			if fmt.Sprint(wantLines) != fmt.Sprint(lines) {
				bad = append(bad, fmt.Sprintf("history: want %q, got %q", wantLines, lines))
			}
			continue
		}
		if k == "stock" {
			bad = append(bad, e.checkStock(want)...)
			continue
		}
		if k == "list" { // [{entity, filter, count}]: records the step's user can list
			bad = append(bad, e.checkLists(want)...)
			continue
		}
		if k == "warnings" { // the warn checks that did not hold, by message (either language)
			bad = append(bad, e.checkWarnings(want)...)
			continue
		}
		if k == "printed" { // fragments of the page the print step rendered
			list, _ := want.([]any)
			for _, frag := range list {
				if !strings.Contains(e.printed, fmt.Sprint(frag)) {
					bad = append(bad, fmt.Sprintf("printed: %q is not on the page", frag))
				}
			}
			continue
		}
		if k == "not_printed" { // text that must not be on the printed page
			list, _ := want.([]any)
			for _, frag := range list {
				if strings.Contains(e.printed, fmt.Sprint(frag)) {
					bad = append(bad, fmt.Sprintf("not_printed: %q is on the page", frag))
				}
			}
			continue
		}
		if k == "accounts" {
			bad = append(bad, e.checkAccounts(want)...)
			continue
		}
		if k == "balance" {
			bad = append(bad, e.checkBalance(want)...)
			continue
		}
		if k == "outstanding" { // outstanding: amount open on the current record
			if got := e.eng.Outstanding(e.ctx, e.cur.id); !same(got, want) {
				bad = append(bad, fmt.Sprintf("outstanding: want %v, got %s", want, got))
			}
			continue
		}
		if k == "created" {
			counts, _ := want.(map[string]any)
			for ent, n := range counts {
				got, err := e.st.Count(e.ctx, ent, nil)
				if err != nil || fmt.Sprint(got) != fmt.Sprint(n) {
					bad = append(bad, fmt.Sprintf("created %s: want %v, got %d", ent, n, got))
				}
			}
			continue
		}
		got := rec[k]
		if u, ok := e.users[fmt.Sprint(want)]; ok && (k == "owner" || isUserField(e, k)) {
			want = u.ID
		}
		if !same(got, want) {
			bad = append(bad, fmt.Sprintf("%s: want %v, got %v", k, want, got))
		}
	}
	return strings.Join(bad, "; ")
}

// history renders the current record's history as lines such as
// "create by alice" or "transfer by alice, owner alice → bob (休假)", with
// users by their test names.
func (e *env) history() ([]any, error) {
	entries, err := e.eng.History(e.ctx, e.users["admin"], e.cur.entity, e.cur.id)
	if err != nil {
		return nil, err
	}
	name := func(id any) string {
		for n, u := range e.users {
			if u.ID == id {
				return n
			}
		}
		return fmt.Sprint(id)
	}
	out := make([]any, 0, len(entries))
	for _, h := range entries {
		line := h.Action
		if h.Transition != "" {
			line = h.Transition
		}
		line += " by " + name(h.User)
		for _, c := range h.Changes {
			if c.Path == "owner" && h.Action != "create" {
				line += ", owner " + name(c.From) + " → " + name(c.To)
			}
		}
		if h.Note != "" {
			line += " (" + h.Note + ")"
		}
		out = append(out, line)
	}
	return out, nil
}

func isUserField(e *env, k string) bool {
	ent := e.model().Entities[e.cur.entity]
	if ent == nil {
		return false
	}
	f, ok := ent.Decl.Fields.Get(k)
	return ok && f != nil && f.Type.V == "user"
}

// same compares an expected YAML value with a record value.
func same(got, want any) bool {
	if d, ok := got.(decimal.Decimal); ok {
		w, err := decimal.Parse(fmt.Sprint(want))
		return err == nil && d.Equal(w)
	}
	return fmt.Sprint(got) == fmt.Sprint(want)
}

// resolve turns names in values into ids: a link value that is not an id is
// looked up by the target's code or number; user fields take test user names.
func (e *env) resolve(entity string, values map[string]any) (map[string]any, error) {
	ent := e.model().Entities[entity]
	if ent == nil {
		return nil, fmt.Errorf("entity %q is not installed", entity)
	}
	out := map[string]any{}
	for k, v := range values {
		f, ok := ent.Decl.Fields.Get(k)
		if !ok || f == nil {
			out[k] = v
			continue
		}
		nv, err := e.resolveValue(f, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = nv
	}
	return out, nil
}

func (e *env) resolveValue(f *template.FieldDecl, v any) (any, error) {
	switch f.Type.V {
	case "link":
		return e.lookup(f.To.V, fmt.Sprint(v))
	case "user":
		if u, ok := e.users[fmt.Sprint(v)]; ok {
			return u.ID, nil
		}
	case "table":
		rows, _ := v.([]any)
		out := make([]any, len(rows))
		for i, r := range rows {
			row, _ := r.(map[string]any)
			nr := map[string]any{}
			for k, cv := range row {
				col, ok := f.Fields.Get(k)
				if !ok || col == nil {
					nr[k] = cv
					continue
				}
				var err error
				if nr[k], err = e.resolveValue(col, cv); err != nil {
					return nil, err
				}
			}
			out[i] = nr
		}
		return out, nil
	}
	switch x := v.(type) {
	case int, float64:
		return fmt.Sprint(x), nil // numbers go in as text, exactly as written
	}
	return v, nil
}

// lookup finds a record of entity by id, code or number.
func (e *env) lookup(entity, key string) (string, error) {
	if _, err := e.st.Get(e.ctx, entity, key); err == nil {
		return key, nil
	}
	for _, field := range []string{"code", "number"} {
		page, err := e.st.Find(e.ctx, entity, store.Query{Filter: store.Eq(field, key), Limit: 1})
		if err == nil && len(page.Docs) == 1 {
			return page.Docs[0].ID(), nil
		}
	}
	return "", fmt.Errorf("no %s with id, code or number %q", entity, key)
}

// resolveInput maps test user names in transition input to user ids, and
// link inputs given by code or number to the record's id.
func (e *env) resolveInput(transition string, in map[string]any) (map[string]any, error) {
	out := map[string]any{}
	var decl *template.TransitionDecl
	if ent := e.model().Entities[e.cur.entity]; ent != nil {
		decl, _ = ent.Decl.Transitions.Get(transition)
	}
	for k, v := range in {
		if decl != nil {
			if f, ok := decl.Input.Get(k); ok && f != nil && f.Type.V == "link" {
				id, err := e.lookup(f.To.V, fmt.Sprint(v))
				if err != nil {
					return nil, fmt.Errorf("input %s: %w", k, err)
				}
				out[k] = id
				continue
			}
		}
		if u, ok := e.users[fmt.Sprint(v)]; ok {
			out[k] = u.ID
			continue
		}
		out[k] = v
	}
	return out, nil
}
