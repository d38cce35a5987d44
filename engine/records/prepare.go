package records

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// prepare builds the record a write would store: before (nil on create) with
// the client's values applied, defaults filled (create), computed fields
// computed, and every rule of the template checked. It returns the record,
// or a *ValidationError listing every problem together with the record as
// far as it was built (values refused left out).
func (ev *evaluator) prepare(before Record, input map[string]any, fa fieldAccess) (Record, error) {
	ent := ev.ent.Decl
	ve := &ValidationError{}
	creating := before == nil
	ev.before = before
	fa = fa.withDeclared(ent)
	rec := Record{}
	for k, v := range before {
		rec[k] = v
	}

	// The client's values, each checked against its field.
	for key, v := range input {
		f, ok := ent.Fields.Get(key)
		switch {
		case !ok || f == nil:
			code := "unknown_field"
			if slices.Contains(systemFields, key) {
				code = "readonly"
			}
			ve.add(key, code, nil)
			continue
		case f.Compute.IsSet():
			continue // computed on the server; what the client sent is ignored
		case fa.readonly[key]:
			if !equalValue(before[key], v) {
				ve.add(key, "readonly", nil)
			}
			continue
		}
		if !creating && !fa.effect && f.ReadonlyWhen.IsSet() {
			locked, err := ev.runBool("fields."+key+".readonly_when", before, nil, nil)
			if err != nil {
				return nil, err
			}
			if locked {
				if nv, ok := coerceField(&ValidationError{}, key, f, v); ok && !equalValue(before[key], nv) {
					ve.add(key, "readonly", nil)
				}
				continue
			}
		}
		nv, ok := coerceField(ve, key, f, v)
		if rows, isRows := nv.([]any); isRows && f.Type.V == "table" {
			// Rows are kept even when some cells were refused, so that the
			// other cells are checked too.
			rec[key] = keepRows(ve, key, f.Fields, before[key], rows, fa)
		} else if ok {
			rec[key] = nv
		}
	}
	// Go on after bad values: the other checks still report their problems,
	// so a form with five mistakes gets five errors. A field whose value was
	// refused is not also reported as missing.
	refused := map[string]bool{}
	for _, fe := range ve.Errors {
		refused[fe.Path] = true
	}

	if err := ev.prefetch(rec); err != nil {
		return nil, err
	}
	// Defaults on create, in declaration order (a default may use an earlier field).
	if creating {
		for _, fe := range ent.Fields {
			if _, given := rec[fe.Key.V]; given || fe.Val == nil {
				continue
			}
			out, err := ev.run("fields."+fe.Key.V+".default", rec, nil, nil)
			if err != nil {
				return nil, err
			}
			if out != nil {
				v, err := stored(fe.Val, out)
				if err != nil {
					return nil, fmt.Errorf("records: default of %s: %w", fe.Key.V, err)
				}
				rec[fe.Key.V] = v
			}
		}
	}
	// Table rows: column defaults for new rows, then computed columns.
	for _, fe := range ent.Fields {
		if fe.Val == nil || fe.Val.Type.V != "table" {
			continue
		}
		rows, _ := rec[fe.Key.V].([]any)
		for i, r := range rows {
			row, _ := r.(map[string]any)
			for _, col := range fe.Val.Fields {
				if col.Val == nil {
					continue
				}
				place := "fields." + fe.Key.V + ".fields." + col.Key.V
				_, given := row[col.Key.V]
				if col.Val.Compute.IsSet() || (!given && col.Val.Default.IsSet()) {
					kind := ".default"
					if col.Val.Compute.IsSet() {
						kind = ".compute"
					}
					out, err := ev.run(place+kind, rec, row, fe.Val.Fields)
					if err != nil {
						return nil, err
					}
					v, err := stored(col.Val, out)
					if err != nil {
						return nil, fmt.Errorf("records: %s[%d].%s: %w", fe.Key.V, i, col.Key.V, err)
					}
					row[col.Key.V] = v
				}
			}
		}
	}
	// Computed fields, in declaration order.
	for _, fe := range ent.Fields {
		if fe.Val == nil || !fe.Val.Compute.IsSet() {
			continue
		}
		out, err := ev.run("fields."+fe.Key.V+".compute", rec, nil, nil)
		if err != nil {
			return nil, err
		}
		v, err := stored(fe.Val, out)
		if err != nil {
			return nil, fmt.Errorf("records: compute %s: %w", fe.Key.V, err)
		}
		rec[fe.Key.V] = v
	}

	// Required, conditional required, rows, links.
	for _, fe := range ent.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		name := fe.Key.V
		required := f.Required
		if !required && f.RequiredWhen.IsSet() {
			var err error
			if required, err = ev.runBool("fields."+name+".required_when", rec, nil, nil); err != nil {
				return nil, err
			}
		}
		if required && isEmpty(rec[name]) && !refused[name] {
			ve.add(name, "required", nil)
		}
		switch f.Type.V {
		case "table":
			rows, _ := rec[name].([]any)
			if f.MinRows != nil && len(rows) < *f.MinRows {
				ve.add(name, "min_rows", map[string]any{"min": *f.MinRows})
			}
			if f.MaxRows != nil && len(rows) > *f.MaxRows {
				ve.add(name, "max_rows", map[string]any{"max": *f.MaxRows})
			}
			kept := map[string][]any{} // link column → what it held before, listed once
			for i, r := range rows {
				row, _ := r.(map[string]any)
				for _, col := range f.Fields {
					path := fmt.Sprintf("%s[%d].%s", name, i, col.Key.V)
					if col.Val == nil {
						continue
					}
					if col.Val.Required && isEmpty(row[col.Key.V]) && !refused[path] {
						ve.add(path, "required", nil)
					}
					if col.Val.Type.V == "link" {
						place := "fields." + name + ".fields." + col.Key.V
						if _, ok := kept[col.Key.V]; !ok {
							kept[col.Key.V] = columnValues(before[name], col.Key.V)
						}
						if err := ev.checkLink(ve, path, place, col.Val, row[col.Key.V], kept[col.Key.V]); err != nil {
							return nil, err
						}
					}
				}
			}
			uniqueRows(ve, name, f, rows)
		case "link":
			if err := ev.checkLink(ve, name, "fields."+name, f, rec[name], []any{before[name]}); err != nil {
				return nil, err
			}
		case "attachment":
			if err := ev.checkFile(ve, name, name, rec[name], before[name]); err != nil {
				return nil, err
			}
		case "user":
			if err := ev.checkUser(ve, name, f, rec[name], before[name]); err != nil {
				return nil, err
			}
		}
	}
	// The template's rules, once the fields are sound.
	if len(ve.Errors) == 0 {
		for i, r := range ent.Rules {
			ok, err := ev.runBool(fmt.Sprintf("rules[%d].check", i), rec, nil, nil)
			if err != nil {
				return nil, err
			}
			if !ok {
				ve.add("", "rule", map[string]any{"message": r.Message.Text})
			}
		}
	}
	if err := ve.orNil(); err != nil {
		// The record as far as it was built goes with the problems: a
		// preview (live.go) shows its computed values; writers drop it.
		return rec, err
	}
	return rec, nil
}

// coerceField converts a top-level value; a table is converted row by row.
func coerceField(ve *ValidationError, path string, f *template.FieldDecl, v any) (any, bool) {
	if f.Type.V != "table" {
		return coerce(ve, path, f, v)
	}
	if v == nil {
		return []any{}, true
	}
	items, ok := v.([]any)
	if !ok {
		ve.add(path, "not_a_list", nil)
		return nil, false
	}
	if len(items) > 10000 {
		ve.add(path, "max_rows", map[string]any{"max": 10000})
		return nil, false
	}
	rows := make([]any, 0, len(items))
	good := true
	for i, it := range items {
		in, ok := it.(map[string]any)
		rp := fmt.Sprintf("%s[%d]", path, i)
		if !ok {
			ve.add(rp, "not_an_object", nil)
			good = false
			continue
		}
		row := map[string]any{}
		for k, cv := range in {
			if k == rowKey {
				if id, ok := cv.(string); ok && rowIDRE.MatchString(id) {
					row[rowKey] = id
				}
				continue
			}
			col, ok := f.Fields.Get(k)
			if !ok || col == nil {
				ve.add(rp+"."+k, "unknown_field", nil)
				good = false
				continue
			}
			if col.Compute.IsSet() {
				continue // computed on the server
			}
			nv, ok := coerce(ve, rp+"."+k, col, cv)
			good = good && ok
			if ok && nv != nil {
				row[k] = nv
			}
		}
		rows = append(rows, row)
	}
	return rows, good
}

// checkLink reports a link to a record that does not exist or that the user
// may not read (the two look the same, so links do not reveal records), and
// a newly chosen record that the field's filter (program place.filter) does
// not allow. A value in kept (what the field held before) stays allowed, so
// a record linking to an item made inactive since can still be saved.
func (ev *evaluator) checkLink(ve *ValidationError, path, place string, f *template.FieldDecl, v any, kept []any) error {
	id, ok := v.(string)
	if !ok || id == "" {
		return nil
	}
	target := ev.e.model().Entities[f.To.V]
	rec, err := ev.linked(f.To.V, id)
	if err != nil {
		return err
	}
	if rec == nil || target == nil {
		ve.add(path, "link_not_found", map[string]any{"entity": f.To.V})
		return nil
	}
	readable, err := ev.e.canRead(ev.ctx, ev.user, target, Record(rec))
	if err != nil {
		return err
	}
	if !readable {
		ve.add(path, "link_not_found", map[string]any{"entity": f.To.V})
		return nil
	}
	if p := ev.ent.Programs[place+".filter"]; p != nil && !slices.Contains(kept, v) {
		tev := ev.e.evaluator(ev.ctx, target, ev.user)
		doc, err := tev.envDoc(target.Decl.Fields, rec, p.Names, p.Src)
		if err != nil {
			return err
		}
		env, err := p.Env(doc)
		if err != nil {
			return fmt.Errorf("records: %s.filter: %w", place, err)
		}
		if out, err := p.Run(env); err != nil || out != true {
			ve.add(path, "link_filtered", map[string]any{"entity": f.To.V})
		}
	}
	return nil
}

// columnValues lists the values of column col in the rows of a stored table.
func columnValues(table any, col string) []any {
	rows, _ := table.([]any)
	out := make([]any, 0, len(rows))
	for _, r := range rows {
		if row, ok := r.(map[string]any); ok {
			out = append(out, row[col])
		}
	}
	return out
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	}
	return false
}

// equalValue compares stored values (decimals by number).
func equalValue(a, b any) bool {
	if x, ok := a.(decimal.Decimal); ok {
		y, ok := toDecimal(b)
		return ok && x.Equal(y)
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalValue(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// rowKey identifies a table row across writes, so that a row keeps the values
// the user may not see or change, and history shows row-level changes, even
// when rows are reordered or removed.
const rowKey = "_row"

var rowIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// keepRows matches the rows the client sent with the stored ones by their row
// key: hidden columns keep their stored values, read-only columns must not
// change, and new rows get a key. A stored row cannot be removed either when
// it holds a value in a column the user may not change that says what the
// row is (a required column: a warehouse keeper who may not change a
// shipping notice's items or quantities cannot drop a line of it) or that
// the template's effects keep (readonly: true, like a purchase order line's
// received quantity); a salesperson who may not change prices can still
// drop an order line.
func keepRows(ve *ValidationError, table string, cols template.Map[*template.FieldDecl], before any, rows []any, fa fieldAccess) []any {
	old := map[string]map[string]any{}
	var order []string
	if bs, ok := before.([]any); ok {
		for _, b := range bs {
			if row, ok := b.(map[string]any); ok {
				if id, ok := row[rowKey].(string); ok {
					old[id] = row
					order = append(order, id)
				}
			}
		}
	}
	kept := map[string]bool{}
	for _, r := range rows {
		if row, ok := r.(map[string]any); ok {
			kept[asString(row[rowKey])] = true
		}
	}
	for i, id := range order {
		if kept[id] {
			continue
		}
		for col := range fa.readonly {
			name, ok := strings.CutPrefix(col, table+".")
			c, _ := cols.Get(name)
			if !ok || c == nil || !c.Required && !c.Readonly {
				continue
			}
			if v := old[id][name]; !isEmpty(v) && !isZeroNumber(v) {
				ve.add(table, "row_locked", map[string]any{"row": i + 1, "field": name})
				break
			}
		}
	}
	for i, r := range rows {
		row := r.(map[string]any)
		prev := old[asString(row[rowKey])]
		if prev == nil {
			row[rowKey] = newRowID()
		}
		for col := range fa.readonly {
			name, ok := strings.CutPrefix(col, table+".")
			if !ok {
				continue
			}
			if fa.hidden[col] {
				if prev != nil {
					row[name] = prev[name]
				} else {
					delete(row, name)
				}
				continue
			}
			if v, sent := row[name]; sent && !equalValue(prev[name], v) {
				ve.add(fmt.Sprintf("%s[%d].%s", table, i, name), "readonly", nil)
			}
			if prev != nil {
				row[name] = prev[name]
			}
		}
	}
	return rows
}

func asString(v any) string { s, _ := v.(string); return s }

// isZeroNumber reports whether v is a stored number (or its text) equal to
// zero.
func isZeroNumber(v any) bool {
	if t, isText := v.(string); isText {
		d, err := decimal.Parse(t)
		return err == nil && d.IsZero()
	}
	d, ok, _ := store.ToDecimal(v)
	return ok && d.IsZero()
}

// newRowID returns a short random row key.
func newRowID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
