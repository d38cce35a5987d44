package records

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

// orderWithRef is the test sales order with a unique reference.
var orderWithRef = strings.Replace(salesOrder, "  note: {type: text,",
	"  ref: {type: text, unique: true, pattern: \"^R[0-9]+$\", label: {zh-CN: 参考号, en: Reference}}\n  note: {type: text,", 1)

// setupOn is setupWith on store st, with a fixed clock.
func setupOn(t *testing.T, st store.Store, orderYAML string) *fixture {
	t.Helper()
	cat := fstest.MapFS{
		"sales/package.yaml":       {Data: []byte(salesPackage)},
		"sales/sales_order.yaml":   {Data: []byte(orderYAML)},
		"sales/delivery_note.yaml": {Data: []byte(deliveryNote)},
	}
	entries, err := templates.FS.ReadDir("core")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := templates.FS.ReadFile("core/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		cat["core/"+e.Name()] = &fstest.MapFile{Data: data}
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sales", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	f := &fixture{
		svc: svc, st: st, eng: New(st, svc.Model, Options{Now: clk.now}),
		admin:   User{ID: "u-admin", Roles: []string{"admin"}},
		alice:   User{ID: "u-alice", Name: "Alice", Roles: []string{"sales"}},
		bob:     User{ID: "u-bob", Name: "Bob", Roles: []string{"sales"}},
		manager: User{ID: "u-mgr", Roles: []string{"sales_manager"}},
		ids:     map[string]string{},
	}
	for _, c := range []struct {
		entity, key string
		values      map[string]any
	}{
		{"warehouse", "WH1", map[string]any{"code": "WH1", "name": "主仓库"}},
		{"customer", "C1", map[string]any{"code": "C1", "name": "华东贸易", "credit_limit": "100000"}},
		{"item", "A100", map[string]any{"code": "A100", "name": "Widget", "unit": "pcs", "price": "12.50", "cost": "8.10"}},
		{"item", "B200", map[string]any{"code": "B200", "name": "Gadget", "unit": "box", "price": "0.10", "cost": "0.07"}},
	} {
		rec, err := f.eng.Create(ctx, f.admin, c.entity, c.values)
		if err != nil {
			t.Fatalf("create %s: %v", c.key, err)
		}
		f.ids[c.key] = rec.ID()
	}
	c, _ := f.eng.Get(ctx, f.admin, "customer", f.ids["C1"])
	if _, err := f.eng.Update(ctx, f.admin, "customer", c.ID(), c.Version(), map[string]any{"default_warehouse": f.ids["WH1"]}); err != nil {
		t.Fatal(err)
	}
	return f
}

// orderInputs are orders as a salesperson sends them, good and bad, with the
// fixture's keys (C1, A100, ...) where ids go.
func orderInputs() []map[string]any {
	line := func(item string, qty any) any { return map[string]any{"item": item, "qty": qty} }
	return []map[string]any{
		{"customer": "C1", "ref": "R1", "order_date": "2026-11-25", "lines": []any{line("A100", "2"), line("B200", 3)}},
		{"ref": "R2", "lines": []any{line("A100", "0")}},                                                                            // no customer, qty under min
		{"customer": "C1", "ref": "R3", "payment_method": "cod", "address": "杭州市", "lines": []any{line("B200", "1.5")}},             // required_when met
		{"customer": "C1", "ref": "R4", "payment_method": "cod", "lines": []any{line("A100", 1)}},                                   // address missing
		{"customer": "C1", "ref": "R5", "lines": []any{line("Z999", 1)}},                                                            // no such item
		{"customer": "C1", "ref": "R6", "lines": []any{map[string]any{"item": "A100", "qty": 1, "price": "1.00"}}},                  // price read-only for sales
		{"customer": "C1", "ref": "R7", "order_date": "2026-11-25", "delivery_date": "2026-11-20", "lines": []any{line("A100", 1)}}, // rule
		{"customer": "C1", "ref": "R8", "note": "rush", "total": "999", "lines": []any{line("A100", 4)}},                            // total is computed: ignored
		{"customer": "C1", "ref": "R10", "colour": "red", "lines": []any{line("A100", 1)}},                                          // unknown field
		{"customer": "C1", "ref": "R11", "payment_method": "bitcoin", "lines": []any{line("A100", 1)}},                              // not an option
		{"customer": "C1", "ref": "bad ref", "lines": []any{line("A100", 1)}},                                                       // pattern
		{"customer": "C1", "lines": []any{}},                                                                                        // min_rows
		{"customer": "C1", "ref": "R12", "lines": []any{line("A100", "1"), line("B200", "2"), line("A100", "3")}},
		// Unique references last: a single create takes a number before the
		// store refuses the duplicate, which would shift the numbers after it.
		{"customer": "C1", "ref": "R9", "lines": []any{line("A100", 1)}}, // held by a stored order
		{"customer": "C1", "ref": "R1", "lines": []any{line("A100", 1)}}, // held by the first row
	}
}

// withIDs replaces the fixture's keys in v by their ids.
func (f *fixture) withIDs(v any) any {
	switch x := v.(type) {
	case string:
		if id, ok := f.ids[x]; ok {
			return id
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = f.withIDs(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = f.withIDs(e)
		}
		return out
	}
	return v
}

// canonical is the JSON of v with the fixture's ids replaced by their keys,
// and ids and row keys (random) replaced by names given in names.
func (f *fixture) canonical(t *testing.T, v any, names map[string]string) string {
	t.Helper()
	keys := map[string]string{}
	for k, id := range f.ids {
		keys[id] = k
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			if k, ok := keys[x]; ok {
				return k
			}
			if n, ok := names[x]; ok {
				return n
			}
			return x
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = walk(e)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				if k == rowKey || k == store.IDField || k == fID {
					continue
				}
				out[k] = walk(e)
			}
			return out
		case store.Doc:
			return walk(map[string]any(x))
		case Record:
			return walk(map[string]any(x))
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stored returns the sales orders and their audit entries as canonical JSON,
// in number order, each record id named by its number.
func (f *fixture) stored(t *testing.T) (orders, audit []string) {
	t.Helper()
	page, err := f.st.Find(ctx, "sales_order", store.Query{Sort: []store.SortKey{store.Asc(fNumber)}, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, d := range page.Docs {
		names[d.ID()] = "order " + fmt.Sprint(d[fNumber])
	}
	for _, d := range page.Docs {
		orders = append(orders, f.canonical(t, d, names))
	}
	entries, err := f.st.Find(ctx, auditColl, store.Query{Filter: store.Eq("entity", "sales_order"), Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range entries.Docs {
		audit = append(audit, f.canonical(t, d, names))
	}
	slices.Sort(audit)
	return orders, audit
}

func TestCreateManyStoresWhatCreateStores(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		// The single path runs on a second store of the same backend.
		var other store.Store
		if _, isSQLite := st.(*sqlite.Store); isSQLite {
			s, err := sqlite.Open(filepath.Join(t.TempDir(), "single.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			other = s
		} else {
			other = mongotest.Open(t)
		}
		one, many := setupOn(t, other, orderWithRef), setupOn(t, st, orderWithRef)
		for _, f := range []*fixture{one, many} {
			if _, err := f.eng.Create(ctx, f.manager, "sales_order", f.withIDs(map[string]any{"customer": "C1", "ref": "R9", "lines": []any{map[string]any{"item": "A100", "qty": 1}}}).(map[string]any)); err != nil {
				t.Fatal(err)
			}
		}
		inputs := orderInputs()
		var singles []CreateResult
		for _, in := range inputs {
			rec, err := one.eng.Create(ctx, one.alice, "sales_order", one.withIDs(in).(map[string]any))
			singles = append(singles, CreateResult{Record: rec, Err: err})
		}
		values := make([]map[string]any, len(inputs))
		for i, in := range inputs {
			values[i] = many.withIDs(in).(map[string]any)
		}
		results, err := many.eng.CreateMany(ctx, many.alice, "sales_order", values)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != len(inputs) {
			t.Fatalf("%d results for %d rows", len(results), len(inputs))
		}
		written := 0
		for i := range inputs {
			s, m := singles[i], results[i]
			if fmt.Sprint(codes(s.Err)) != fmt.Sprint(codes(m.Err)) && (s.Err != nil || m.Err != nil) {
				t.Errorf("row %d: single create %v, CreateMany %v", i, s.Err, m.Err)
			}
			if (s.Record == nil) != (m.Record == nil) {
				t.Fatalf("row %d: single create wrote %v, CreateMany %v", i, s.Record != nil, m.Record != nil)
			}
			if s.Record == nil {
				continue
			}
			written++
			if _, hidden := m.Record["lines"].([]any)[0].(map[string]any)["cost"]; hidden {
				t.Errorf("row %d: the record returned shows lines.cost, hidden from sales", i)
			}
			if a, b := one.canonical(t, s.Record, nil), many.canonical(t, m.Record, nil); a != b {
				t.Errorf("row %d: the record returned differs:\nsingle %s\nmany   %s", i, a, b)
			}
		}
		if written != 4 {
			t.Fatalf("%d rows written, want 4 (R1, R3, R8, R12)", written)
		}
		orders1, audit1 := one.stored(t)
		ordersN, auditN := many.stored(t)
		if len(orders1) != written+1 || len(audit1) != len(orders1) {
			t.Fatalf("single path stored %d orders and %d audit entries", len(orders1), len(audit1))
		}
		if !slices.Equal(orders1, ordersN) {
			t.Errorf("stored orders differ:\nsingle %s\nmany   %s", strings.Join(orders1, "\n       "), strings.Join(ordersN, "\n       "))
		}
		if !slices.Equal(audit1, auditN) {
			t.Errorf("audit entries differ:\nsingle %s\nmany   %s", strings.Join(audit1, "\n       "), strings.Join(auditN, "\n       "))
		}
	})
}

// racingStore is a real store whose InsertMany of sales orders lets a
// concurrent writer store a document first (once): the race between the
// engine's unique check and its write.
type racingStore struct {
	store.Store
	writer func()
}

func (r *racingStore) InsertMany(ctx context.Context, coll string, docs []store.Doc) (int, error) {
	if coll == "sales_order" && r.writer != nil {
		w := r.writer
		r.writer = nil
		w()
	}
	return r.Store.InsertMany(ctx, coll, docs)
}

func TestCreateManyFallsBackToSingleWritesWhenAWriteFails(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		race := &racingStore{Store: st}
		f := setupOn(t, race, orderWithRef)
		race.writer = func() {
			if _, err := st.Insert(ctx, "sales_order", store.Doc{"ref": "R3", fNumber: "OTHER-1"}); err != nil {
				t.Errorf("the concurrent writer: %v", err)
			}
		}
		var values []map[string]any
		for i := 1; i <= 5; i++ {
			values = append(values, map[string]any{"customer": f.ids["C1"], "ref": fmt.Sprintf("R%d", i),
				"lines": []any{map[string]any{"item": f.ids["A100"], "qty": i}}})
		}
		results, err := f.eng.CreateMany(ctx, f.manager, "sales_order", values)
		if err != nil {
			t.Fatal(err)
		}
		var numbers []string
		for i, r := range results {
			if i == 2 {
				if r.Record != nil || fmt.Sprint(codes(r.Err)) != "[ref:unique]" {
					t.Fatalf("row R3, taken meanwhile: record %v, error %v", r.Record, r.Err)
				}
				continue
			}
			if r.Err != nil || r.Record == nil {
				t.Fatalf("row %d: %v", i, r.Err)
			}
			numbers = append(numbers, r.Record[fNumber].(string))
			got, err := f.eng.Get(ctx, f.manager, "sales_order", r.Record.ID())
			if err != nil || got[fNumber] != r.Record[fNumber] || got["ref"] != values[i]["ref"] {
				t.Fatalf("row %d stored as %v (%v)", i, got, err)
			}
		}
		// Gap-free: the row refused took no number, and the series goes on
		// after the last one written.
		if want := "[SO-202611-00001 SO-202611-00002 SO-202611-00003 SO-202611-00004]"; fmt.Sprint(numbers) != want {
			t.Fatalf("numbers %v, want %s", numbers, want)
		}
		next, err := f.eng.Create(ctx, f.manager, "sales_order", map[string]any{"customer": f.ids["C1"], "ref": "R6",
			"lines": []any{map[string]any{"item": f.ids["A100"], "qty": 1}}})
		if err != nil || next[fNumber] != "SO-202611-00005" {
			t.Fatalf("next create: %v %v", next[fNumber], err)
		}
		// One audit entry per record written, none for the refused row.
		n, err := st.Count(ctx, auditColl, store.Eq("entity", "sales_order"))
		if err != nil || n != 5 {
			t.Fatalf("%d audit entries of orders (%v), want 5", n, err)
		}
		total, err := st.Count(ctx, "sales_order", nil)
		if err != nil || total != 6 {
			t.Fatalf("%d orders stored (%v), want 4 + the concurrent one + the next", total, err)
		}
	})
}

func TestCreateManyRefusesWhatCreateRefuses(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := setupOn(t, st, orderWithRef)
		row := func(ref string) map[string]any {
			return map[string]any{"customer": f.ids["C1"], "ref": ref, "lines": []any{map[string]any{"item": f.ids["A100"], "qty": 1}}}
		}
		// Not allowed at all: every row says so, nothing is written.
		nobody := User{ID: "u-ken", Roles: []string{"warehouse"}}
		results, err := f.eng.CreateMany(ctx, nobody, "sales_order", []map[string]any{row("R1"), row("R2")})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Record != nil || r.Err == nil || !strings.Contains(r.Err.Error(), "forbidden") {
				t.Fatalf("row %d by a user who may not create orders: %+v", i, r)
			}
		}
		results, err = f.eng.CreateMany(ctx, f.admin, "no_such_entity", []map[string]any{row("R1")})
		if err != nil || results[0].Err == nil || !strings.Contains(results[0].Err.Error(), "not found") {
			t.Fatalf("an entity not installed: %+v, %v", results, err)
		}
		// Unique values are checked against every stored record, also those
		// the user may not read (bob's order), and between the rows.
		if _, err := f.eng.Create(ctx, f.bob, "sales_order", row("R7")); err != nil {
			t.Fatal(err)
		}
		noRef := row("")
		delete(noRef, "ref") // an empty unique field is not a duplicate
		results, err = f.eng.CreateMany(ctx, f.alice, "sales_order", []map[string]any{row("R1"), row("R1"), row("R7"), noRef, row("R8")})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"[]", "[ref:unique]", "[ref:unique]", "[]", "[]"}
		for i, r := range results {
			got := "[]"
			if r.Err != nil {
				got = fmt.Sprint(codes(r.Err))
			}
			if got != want[i] || (r.Err == nil) != (r.Record != nil) {
				t.Errorf("row %d: %s (record %v), want %s", i, got, r.Record != nil, want[i])
			}
		}
		if n, _ := st.Count(ctx, "sales_order", nil); n != 4 {
			t.Fatalf("%d orders stored, want bob's and 3 of alice's", n)
		}
	})
}
