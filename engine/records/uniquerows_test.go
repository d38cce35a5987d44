package records

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/templates"
)

// The rows package: a sheet whose table has unique columns of several types,
// and columns computed from parent (a field, a linked record, the record's
// own table and the whole record).
const rowsPackage = `package: rows
version: 1.0.0
label: {zh-CN: 明细, en: Rows}
requires: {core: ^1.0}
`

const sheetEntity = `entity: sheet
label: {zh-CN: 清单, en: Sheet}
fields:
  warehouse: {type: link, to: warehouse, required: true, label: {zh-CN: 仓库, en: Warehouse}}
  factor: {type: decimal, default: 2, label: {zh-CN: 系数, en: Factor}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, unique: true}
      code: {type: text, unique: true}
      lot: {type: quantity, unique: true}
      qty: {type: quantity, required: true}
      scaled: {type: quantity, compute: "qty * parent.factor"}
      place: {type: text, compute: "parent.warehouse.name + '/' + item.code"}
      rest: {type: quantity, compute: "sum(parent.lines, .qty) - qty"}
      done: {type: int, compute: "count(parent.lines, .scaled > 0)"}
      whole: {type: bool, compute: "any([parent], .factor > 1 && .warehouse != nil)"}
  total: {type: quantity, compute: "sum(lines, .scaled)", label: {zh-CN: 合计, en: Total}}
`

type rowsFixture struct {
	st    store.Store
	eng   *Engine
	model func() *template.Model
	admin User
	ids   map[string]string
}

func newRowsFixture(t *testing.T, st store.Store) *rowsFixture {
	t.Helper()
	cat := fstest.MapFS{
		"rows/package.yaml": {Data: []byte(rowsPackage)},
		"rows/sheet.yaml":   {Data: []byte(sheetEntity)},
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
	if _, err := svc.Install(ctx, "rows", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	f := &rowsFixture{st: st, eng: New(st, svc.Model, Options{}), model: svc.Model,
		admin: User{ID: "u-admin", Roles: []string{"admin"}}, ids: map[string]string{}}
	for _, c := range []struct {
		entity, key string
		values      map[string]any
	}{
		{"warehouse", "WH1", map[string]any{"code": "WH1", "name": "杭州主仓"}},
		{"warehouse", "WH2", map[string]any{"code": "WH2", "name": "宁波分仓"}},
		{"item", "A100", map[string]any{"code": "A100", "name": "Widget", "unit": "pcs"}},
		{"item", "B200", map[string]any{"code": "B200", "name": "Gadget", "unit": "pcs"}},
		{"item", "C300", map[string]any{"code": "C300", "name": "Gizmo", "unit": "pcs"}},
	} {
		rec, err := f.eng.Create(ctx, f.admin, c.entity, c.values)
		if err != nil {
			t.Fatalf("create %s: %v", c.key, err)
		}
		f.ids[c.key] = rec.ID()
	}
	return f
}

// fieldErrors lists a validation error's problems as "path:code(row)".
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	var out []string
	for _, fe := range ve.Errors {
		s := fe.Path + ":" + fe.Code
		if row, ok := fe.Params["row"]; ok {
			s += fmt.Sprintf("(%v)", row)
		}
		out = append(out, s)
	}
	return out
}

// A column with unique: true refuses a row whose value an earlier row of the
// same record holds, at the later row's cell, naming the earlier row;
// empty cells are not compared, numbers compare by value, and nothing is
// written.
func TestUniqueRows(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newRowsFixture(t, st)
		a, b, c := f.ids["A100"], f.ids["B200"], f.ids["C300"]
		line := func(item, code, lot string) map[string]any {
			l := map[string]any{"qty": "1"}
			if item != "" {
				l["item"] = item
			}
			if code != "" {
				l["code"] = code
			}
			if lot != "" {
				l["lot"] = lot
			}
			return l
		}
		_, err := f.eng.Create(ctx, f.admin, "sheet", map[string]any{"warehouse": f.ids["WH1"], "lines": []any{
			line(a, "X", "1.5"),
			line(b, "", "2"),
			line(a, "Y", "1.50"), // item repeats row 1, lot 1.50 is 1.5
			line(c, "", ""),      // empty code and lot: not compared
			line(b, "X", ""),     // item repeats row 2, code row 1
			line("", "", "3"),    // empty item: not compared
		}})
		got := fieldErrors(t, err)
		want := []string{"lines[2].item:duplicate(1)", "lines[4].item:duplicate(2)", "lines[4].code:duplicate(1)", "lines[2].lot:duplicate(1)"}
		if !slices.Equal(got, want) {
			t.Fatalf("errors %v, want %v", got, want)
		}
		if n, err := st.Count(ctx, "sheet", nil); err != nil || n != 0 {
			t.Fatalf("%d sheets stored (%v) after a refused create", n, err)
		}

		// Distinct rows are stored; an update that repeats a row is refused
		// and leaves the record as it was.
		rec, err := f.eng.Create(ctx, f.admin, "sheet", map[string]any{"warehouse": f.ids["WH1"], "lines": []any{
			line(a, "X", "1"), line(b, "", ""), line(c, "", ""),
		}})
		if err != nil {
			t.Fatal(err)
		}
		rows := rec["lines"].([]any)
		upd := []any{}
		for _, r := range rows {
			upd = append(upd, map[string]any{rowKey: r.(map[string]any)[rowKey], "item": r.(map[string]any)["item"], "qty": "1"})
		}
		upd = append(upd, line(c, "", ""))
		_, err = f.eng.Update(ctx, f.admin, "sheet", rec.ID(), rec.Version(), map[string]any{"lines": upd})
		if got := fieldErrors(t, err); !slices.Equal(got, []string{"lines[3].item:duplicate(3)"}) {
			t.Fatalf("update errors %v", got)
		}
		after, err := f.eng.Get(ctx, f.admin, "sheet", rec.ID())
		if err != nil {
			t.Fatal(err)
		}
		if after.Version() != rec.Version() || len(after["lines"].([]any)) != 3 {
			t.Fatalf("refused update changed the sheet: version %d, %d lines", after.Version(), len(after["lines"].([]any)))
		}
		// Dropping the repeated row saves.
		if _, err := f.eng.Update(ctx, f.admin, "sheet", rec.ID(), rec.Version(), map[string]any{"lines": upd[:3]}); err != nil {
			t.Fatalf("update without a repeated row: %v", err)
		}
	})
}

// Row expressions that read parent see the record's fields, its linked
// records and, for its own table, the rows as computed so far, as they did
// when every row converted the whole record; records saved together
// (CreateMany, one evaluator) each see their own parent.
func TestRowExpressionsReadParent(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newRowsFixture(t, st)
		items := []string{f.ids["A100"], f.ids["B200"], f.ids["C300"]}
		codes := []string{"A100", "B200", "C300"}
		sheet := func(wh string, factor string, qtys ...int) map[string]any {
			var lines []any
			for i, q := range qtys {
				lines = append(lines, map[string]any{"item": items[i], "qty": fmt.Sprint(q)})
			}
			v := map[string]any{"warehouse": f.ids[wh], "lines": lines}
			if factor != "" {
				v["factor"] = factor
			}
			return v
		}
		check := func(t *testing.T, rec Record, whName string, factor int, qtys ...int) {
			t.Helper()
			rows := rec["lines"].([]any)
			sum := 0
			for _, q := range qtys {
				sum += q
			}
			for i, r := range rows {
				row := r.(map[string]any)
				want := map[string]any{
					"scaled": dec(fmt.Sprint(qtys[i] * factor)),
					"place":  whName + "/" + codes[i],
					"rest":   dec(fmt.Sprint(sum - qtys[i])),
					"done":   dec(fmt.Sprint(i + 1)), // the rows computed so far, this one included
					"whole":  true,
				}
				for col, w := range want {
					if got := row[col]; !equalValue(w, got) {
						t.Errorf("lines[%d].%s = %v, want %v", i, col, got, w)
					}
				}
			}
			if got, want := rec["total"], dec(fmt.Sprint(sum*factor)); !equalValue(want, got) {
				t.Errorf("total %v, want %v", got, want)
			}
			f.sameAsWholeParent(t, rec, "scaled", "place", "rest", "whole")
		}

		rec, err := f.eng.Create(ctx, f.admin, "sheet", sheet("WH1", "", 3, 5, 7))
		if err != nil {
			t.Fatal(err)
		}
		check(t, rec, "杭州主仓", 2, 3, 5, 7)

		// An update that changes the warehouse and the factor: every row sees
		// the new parent.
		var upd []any
		for i, r := range rec["lines"].([]any) {
			upd = append(upd, map[string]any{rowKey: r.(map[string]any)[rowKey], "item": items[i], "qty": fmt.Sprint(i + 1)})
		}
		rec, err = f.eng.Update(ctx, f.admin, "sheet", rec.ID(), rec.Version(), map[string]any{"warehouse": f.ids["WH2"], "factor": "3", "lines": upd})
		if err != nil {
			t.Fatal(err)
		}
		check(t, rec, "宁波分仓", 3, 1, 2, 3)

		// Records created together share one evaluator: each sees its own
		// warehouse and factor.
		res, err := f.eng.CreateMany(ctx, f.admin, "sheet", []map[string]any{
			sheet("WH2", "4", 2, 2), sheet("WH1", "", 1), sheet("WH2", "1", 6, 1, 2),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("record %d: %v", i, r.Err)
			}
		}
		check(t, res[0].Record, "宁波分仓", 4, 2, 2)
		check(t, res[1].Record, "杭州主仓", 2, 1)
		rows := res[2].Record["lines"].([]any)
		if w := rows[0].(map[string]any)["whole"]; w != false {
			t.Errorf("factor 1: whole = %v, want false", w)
		}
	})
}

// sameAsWholeParent evaluates the row compute programs cols of rec again the
// way the engine did before it converted only what they read: the whole
// record as parent, every link converted anew. The results must equal what
// the engine stored.
func (f *rowsFixture) sameAsWholeParent(t *testing.T, rec Record, cols ...string) {
	t.Helper()
	ent := f.model().Entities["sheet"]
	table, _ := ent.Decl.Fields.Get("lines")
	ev := f.eng.evaluator(ctx, ent, f.admin)
	stored := map[string]any{}
	for k, v := range rec {
		stored[k] = v
	}
	for i, r := range rec["lines"].([]any) {
		row := r.(map[string]any)
		for _, col := range cols {
			p := ent.Programs["fields.lines.fields."+col+".compute"]
			doc, err := ev.envDoc(table.Fields, row, p.Names, p.Src)
			if err != nil {
				t.Fatal(err)
			}
			if doc["parent"], err = ev.envDoc(ent.Decl.Fields, stored, nil, p.Src); err != nil {
				t.Fatal(err)
			}
			env, err := p.Env(doc)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Run(env)
			if err != nil {
				t.Fatalf("lines[%d].%s: %v", i, col, err)
			}
			c, _ := table.Fields.Get(col)
			want, err := storedValue(c, out)
			if err != nil {
				t.Fatal(err)
			}
			if !equalValue(want, row[col]) {
				t.Errorf("lines[%d].%s stored %v, with the whole record as parent %v", i, col, row[col], want)
			}
		}
	}
}

// storedValue is stored, named apart from the local variables of the tests.
func storedValue(f *template.FieldDecl, out any) (any, error) { return stored(f, out) }
