package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/templates"
	"github.com/yerp/yerp/ui"
)

// The authorization matrix (authz_test.go) runs over the whole built-in
// catalog: one user per role the packages declare, one without roles, and
// records of every entity seeded straight into the store (the matrix tests
// who may see what, not whether fake values would pass the templates'
// rules), each with unique marker values so a leaked value can be found in
// any answer: JSON, CSV, HTML.

var bg = context.Background()

// azUser is a logged-in user of the matrix.
type azUser struct {
	name, id, token string
	role            string // "" for the user without roles
}

func (u *azUser) roles() []string {
	if u.role == "" {
		return nil
	}
	return []string{u.role}
}

// azSeed is one seeded record.
type azSeed struct {
	entity, id, owner, state string
	kind                     string // "own" (owner is the role's user) or "other" (a stranger's)
	role                     string // whose own record ("" for other)
	primary                  bool   // the record the per-record routes are checked on
	doc                      store.Doc
	markers                  map[string]string // field path ("code", "lines.cost") → its unique text
	links                    []*azSeed         // the records its link fields point to
}

// identity is a marker that names the record in any rendering: its number,
// else the first text field no role hides.
func (s *azSeed) identity(w *azWorld) string {
	if n, ok := s.doc["number"].(string); ok {
		return n
	}
	ent := w.model.Entities[s.entity]
	for _, fe := range ent.Decl.Fields {
		if m, ok := s.markers[fe.Key.V]; ok && !w.hiddenByAnyRole(ent, fe.Key.V) && isText(fe.Val.Type.V) {
			return m
		}
	}
	return ""
}

// azWorld is the server, the users and the seeded records.
type azWorld struct {
	t        *testing.T
	base     string
	st       store.Store
	model    *template.Model
	eng      *records.Engine
	users    []*azUser // one per role (sorted), then the user without roles
	stranger *azUser
	seeds    map[string][]*azSeed // by entity
	byID     map[string]*azSeed
	entities []string // the entities checked, sorted
	counter  int
	files    map[string]string // entity.field → an uploaded file id
}

func azBackends(t *testing.T, run func(t *testing.T, st store.Store, mongo bool)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		run(t, st, false)
	})
	t.Run("mongo", func(t *testing.T) { run(t, mongotest.Open(t), true) })
}

// startAuthz installs the whole catalog on st, serves the API and the UI on
// loopback, creates the users and seeds records of the given entities (all
// when only is nil).
func startAuthz(t *testing.T, st store.Store, only []string) *azWorld {
	t.Helper()
	svc, err := packages.New(bg, st, templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := svc.Catalog(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Installed == "" && svc.Model().Packages[e.Name] == nil {
			if _, err := svc.Install(bg, e.Name, packages.Options{By: "test"}); err != nil {
				t.Fatalf("install %s: %v", e.Name, err)
			}
		}
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	deps := server.Deps{Store: st, Auth: users, Records: eng, Packages: svc, Reports: reports.New(st, eng, svc.Model, nil), Info: server.Info{Version: "test"}}
	app := server.New(deps)
	if err := ui.Mount(app, deps); err != nil {
		t.Fatal(err)
	}
	w := &azWorld{t: t, st: st, model: svc.Model(), eng: eng, seeds: map[string][]*azSeed{}, byID: map[string]*azSeed{}, files: map[string]string{}}
	w.base = serveAuthz(t, app)

	roles := make([]string, 0, len(w.model.Roles))
	for r := range w.model.Roles {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	if len(roles) < 2 {
		t.Fatalf("the catalog declares %d roles", len(roles))
	}
	login := func(name, role string) *azUser {
		nu := auth.NewUser{Username: name, Name: name, Password: name + "-password-1"}
		if role != "" {
			nu.Roles = []string{role}
		}
		created, err := users.CreateUser(bg, nu)
		if err != nil {
			t.Fatalf("user %s: %v", name, err)
		}
		s, err := users.Login(bg, name, nu.Password, "127.0.0.1")
		if err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		return &azUser{name: name, id: created.ID, token: s.Token, role: role}
	}
	for _, r := range roles {
		w.users = append(w.users, login("u-"+strings.ReplaceAll(r, "_", "-"), r))
	}
	w.users = append(w.users, login("u-none", ""))
	w.stranger = login("stranger", "")

	for name := range w.model.Entities {
		if only == nil || slices.Contains(only, name) {
			w.entities = append(w.entities, name)
		}
	}
	sort.Strings(w.entities)
	w.seed()
	return w
}

func serveAuthz(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func (w *azWorld) next() int { w.counter++; return w.counter }

func isText(typ string) bool {
	switch typ {
	case "text", "longtext", "barcode", "email", "phone":
		return true
	}
	return false
}

func isNumber(typ string) bool { return typ == "money" || typ == "quantity" }

// hiddenByAnyRole reports whether some role hides field path of ent.
func (w *azWorld) hiddenByAnyRole(ent *template.Entity, path string) bool {
	for _, ae := range ent.Decl.Access {
		if ae.Val != nil && ae.Val.Fields != nil && slices.ContainsFunc(ae.Val.Fields.Hide, func(s template.Str) bool { return s.V == path }) {
			return true
		}
	}
	return false
}

// seed inserts, for every checked entity, a primary record of each role's
// user and of the stranger in the initial state, and one more of each in
// every other state (for the read rules and reports that look at the state).
func (w *azWorld) seed() {
	t := w.t
	// Ids first: link fields point to records seeded later.
	type plan struct {
		entity, owner, state, kind, role string
		primary                          bool
	}
	var plans []plan
	for _, name := range w.entities {
		ent := w.model.Entities[name]
		states := []string{""}
		if len(ent.Decl.States) > 0 {
			states = []string{initialState(ent.Decl)}
			for _, s := range ent.Decl.States {
				if s.Key.V != states[0] {
					states = append(states, s.Key.V)
				}
			}
		}
		for i, st := range states {
			for _, u := range w.users {
				plans = append(plans, plan{name, u.id, st, "own", u.role, i == 0})
			}
			plans = append(plans, plan{name, w.stranger.id, st, "other", "", i == 0})
		}
	}
	for _, p := range plans {
		s := &azSeed{entity: p.entity, id: store.NewID(), owner: p.owner, state: p.state, kind: p.kind, role: p.role, primary: p.primary, markers: map[string]string{}}
		w.seeds[p.entity] = append(w.seeds[p.entity], s)
		w.byID[s.id] = s
	}
	// The file of every attachment field, uploaded as the admin would.
	admin := records.User{ID: w.stranger.id, Roles: []string{records.AdminRole}}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	for _, name := range w.entities {
		for _, fe := range w.model.Entities[name].Decl.Fields {
			if fe.Val != nil && fe.Val.Type.V == "attachment" {
				info, err := w.eng.Upload(bg, admin, name, fe.Key.V, "proof.png", bytes.NewReader(png))
				if err != nil {
					t.Fatalf("upload %s.%s: %v", name, fe.Key.V, err)
				}
				w.files[name+"."+fe.Key.V] = info.ID
			}
		}
	}
	at := "2026-03-01T08:00:00.000000000Z"
	for _, name := range w.entities {
		ent := w.model.Entities[name]
		for _, s := range w.seeds[name] {
			doc := store.Doc{store.IDField: s.id, "owner": s.owner, "created_by": s.owner, "updated_by": s.owner, "created_at": at, "updated_at": at}
			if s.state != "" {
				doc["state"] = s.state
			}
			if ent.Decl.Number.V != "" {
				doc["number"] = fmt.Sprintf("N%05dQ", w.next())
			}
			for _, fe := range ent.Decl.Fields {
				if fe.Val == nil {
					continue
				}
				if v := w.value(s, fe.Key.V, fe.Val, ""); v != nil {
					doc[fe.Key.V] = v
				}
			}
			if _, err := w.st.Insert(bg, name, doc); err != nil {
				t.Fatalf("seed %s: %v", name, err)
			}
			// One audit entry that changed every field, so history has
			// values to hide.
			var changes []any
			for k, v := range doc {
				if !strings.HasPrefix(k, "_") && !slices.Contains([]string{"created_at", "updated_at", "created_by", "updated_by"}, k) {
					if rows, ok := v.([]any); ok {
						// Tables change row by row, as the engine records them.
						for _, r := range rows {
							row := r.(map[string]any)
							changes = append(changes, map[string]any{"path": k + "[" + row["_row"].(string) + "]", "op": "row_added", "to": row})
						}
						continue
					}
					changes = append(changes, map[string]any{"path": k, "op": "set", "to": v})
				}
			}
			sort.Slice(changes, func(i, j int) bool {
				return changes[i].(map[string]any)["path"].(string) < changes[j].(map[string]any)["path"].(string)
			})
			if _, err := w.st.Insert(bg, "sys_audit", store.Doc{"entity": name, "record": s.id, "version": int64(1), "action": "update",
				"user": s.owner, "at": at, "changes": changes}); err != nil {
				t.Fatal(err)
			}
			s.doc = doc
		}
	}
}

// value is a field's seeded value; path prefixes a table's columns.
func (w *azWorld) value(s *azSeed, name string, f *template.FieldDecl, table string) any {
	path := name
	if table != "" {
		path = table + "." + name
	}
	switch typ := f.Type.V; {
	case isText(typ):
		m := fmt.Sprintf("M%05dQ", w.next())
		s.markers[path] = m
		return m
	case isNumber(typ):
		n := w.next()
		m := fmt.Sprintf("%d.%02d", 100+n/100, n%100)
		s.markers[path] = m
		return decimal.MustParse(m)
	case typ == "int":
		return int64(w.next())
	case typ == "date":
		return "2026-03-01"
	case typ == "datetime":
		return "2026-03-01T08:00:00.000000000Z"
	case typ == "bool":
		return false
	case typ == "select":
		if len(f.Options) > 0 {
			return f.Options[0].V
		}
		return nil
	case typ == "user":
		return s.owner
	case typ == "attachment":
		if table != "" {
			return nil
		}
		return w.files[s.entity+"."+name]
	case typ == "link":
		// The stranger's primary record of the target: what a user may or
		// may not read through the link.
		for _, t := range w.seeds[f.To.V] {
			if t.primary && t.kind == "other" {
				s.links = append(s.links, t)
				return t.id
			}
		}
		return nil
	case typ == "table":
		row := map[string]any{"_row": "r1"}
		for _, c := range f.Fields {
			if c.Val != nil {
				if v := w.value(s, c.Key.V, c.Val, name); v != nil {
					row[c.Key.V] = v
				}
			}
		}
		return []any{row}
	}
	return nil
}

func initialState(e *template.EntityDecl) string {
	for _, s := range e.States {
		if s.Val != nil && s.Val.Initial {
			return s.Key.V
		}
	}
	return ""
}

// access is what the template gives role on ent ("" role: nothing).
func access(ent *template.Entity, role string) *template.AccessDecl {
	if role == "" {
		return nil
	}
	acc, _ := ent.Decl.Access.Get(role)
	return acc
}

// usable: the role may read some records of ent (the admin all).
func usable(ent *template.Entity, role string) bool {
	if role == records.AdminRole {
		return true
	}
	acc := access(ent, role)
	return acc != nil && acc.Read != nil && (acc.Read.Const == nil || *acc.Read.Const)
}

// allows evaluates the access rule of op ("read", "update", "delete") for
// role on the seeded record, with the expression language the templates are
// written in, independently of the engine.
func (w *azWorld) allows(role, op string, s *azSeed, u *azUser) bool {
	if role == records.AdminRole {
		return true
	}
	acc := access(w.model.Entities[s.entity], role)
	if acc == nil {
		return false
	}
	var rule *template.BoolOrExpr
	switch op {
	case "read":
		rule = acc.Read
	case "update":
		rule = acc.Update
	case "delete":
		rule = acc.Delete
	}
	if rule == nil {
		return false
	}
	if rule.Const != nil {
		return *rule.Const
	}
	return w.eval(rule.Expr.Src, s, u)
}

// eval runs a condition on a seeded record as u.
func (w *azWorld) eval(src string, s *azSeed, u *azUser) bool {
	env := map[string]any{}
	for k, v := range s.doc {
		env[k] = v
	}
	env["id"] = s.id
	env["user"] = map[string]any{"id": u.id, "name": u.name, "roles": u.roles()}
	for k, v := range env {
		if d, ok := v.(decimal.Decimal); ok {
			env[k] = d.String()
		}
	}
	prog, err := expr.Compile(src, expr.AllowUndefinedVariables())
	if err != nil {
		w.t.Fatalf("rule %q: %v", src, err)
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		w.t.Fatalf("rule %q on %s: %v", src, s.entity, err)
	}
	b, _ := out.(bool)
	return b
}

// hidden lists the fields (and "table.column"s) role may not see on ent.
func hidden(ent *template.Entity, role string) []string {
	acc := access(ent, role)
	if role == records.AdminRole || acc == nil || acc.Fields == nil {
		return nil
	}
	var out []string
	for _, f := range acc.Fields.Hide {
		out = append(out, f.V)
	}
	return out
}

// do sends a request as u (nil: nobody) with its bearer token and its
// session cookie (for the UI routes), and returns the status and body.
func (w *azWorld) do(u *azUser, method, path, body string, hdr map[string]string) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.base+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
		req.AddCookie(&http.Cookie{Name: server.SessionCookie, Value: u.token})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}
