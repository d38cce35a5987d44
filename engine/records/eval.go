package records

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// evaluator runs one entity's expressions for one write or read: it builds
// environment values from records (fetching linked records once each).
type evaluator struct {
	e     *Engine
	ctx   context.Context
	ent   *template.Entity
	user  User
	links map[string]map[string]any // "entity/id" → stored record
	// before is the stored record during an update (nil on create): the
	// "before" of rules and conditions.
	before Record
	// bins are the stock bins read so far ("item@warehouse" → stored, nil when
	// none), planned their values after the moves planned so far.
	bins    map[string]store.Doc
	planned map[string]map[string]decimal.Decimal
	// changed are the linked records that earlier effects of this transition
	// change ("entity/id" → the record as planned; chain.go).
	changed map[string]Record
	// byEffect: the evaluator plans a transition an effect takes, so an
	// effect_only transition is allowed.
	byEffect bool
	// envs holds the linked records converted for expressions so far, so
	// that the rows of a table convert the records they read once.
	envs *template.EnvCache
}

func (e *Engine) evaluator(ctx context.Context, ent *template.Entity, u User) *evaluator {
	return &evaluator{e: e, ctx: ctx, ent: ent, user: u, links: map[string]map[string]any{},
		bins: map[string]store.Doc{}, planned: map[string]map[string]decimal.Decimal{}}
}

// linked returns the stored record a link points to, or nil if it is missing.
func (ev *evaluator) linked(entity, id string) (map[string]any, error) {
	key := entity + "/" + id
	if r, ok := ev.links[key]; ok {
		return r, nil
	}
	r, err := ev.e.get(ev.ctx, entity, id)
	if errors.Is(err, ErrNotFound) {
		ev.links[key] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ev.links[key] = r
	return r, nil
}

// prefetch loads, with one query per linked entity, every record that rec's
// links point to (top-level links and the links of table rows), so that the
// expressions of a 50-line order do not read 50 items one by one.
func (ev *evaluator) prefetch(rec map[string]any) error {
	return ev.prefetchRows([]map[string]any{rec})
}

// fetchLinks loads the records of entity with ids that are not cached yet,
// with one query per store.MaxLimit of them.
func (ev *evaluator) fetchLinks(entity string, ids []string) error {
	var want []any
	for _, id := range ids {
		if _, cached := ev.links[entity+"/"+id]; !cached && id != "" {
			ev.links[entity+"/"+id] = nil // asked for; stays nil if missing
			want = append(want, id)
		}
	}
	return ev.load(entity, want)
}

// load reads the records of entity with ids into the link cache.
func (ev *evaluator) load(entity string, ids []any) error {
	for start := 0; start < len(ids); start += store.MaxLimit {
		chunk := ids[start:min(start+store.MaxLimit, len(ids))]
		page, err := ev.e.st.Find(ev.ctx, entity, store.Query{Filter: store.In(store.IDField, chunk...), Limit: len(chunk)})
		if err != nil {
			return fmt.Errorf("records: links to %s: %w", entity, err)
		}
		for _, d := range page.Docs {
			ev.links[entity+"/"+d.ID()] = adoptDoc(d)
		}
	}
	return nil
}

// envDoc is the part of rec that names reads (all of rec when names is nil),
// with links replaced by the linked records, the way the expression types
// expect them (one level deep: a linked record's own links stay ids).
//
// src is the expression's source: a table's rows get their linked records
// only when it reads a field of one other than its id (.item.barcode); else
// a row's link stays its id, which the expression sees as a record with
// only its id. "" attaches them always.
func (ev *evaluator) envDoc(fields template.Map[*template.FieldDecl], rec map[string]any, names []string, src string) (map[string]any, error) {
	doc := make(map[string]any, len(names)+1)
	if names == nil {
		for k, v := range rec {
			doc[k] = v
		}
	} else {
		for _, n := range names {
			if v, ok := rec[n]; ok {
				doc[n] = v
			}
		}
	}
	for _, f := range fields {
		if f.Val != nil && f.Val.Type.V == "table" {
			// Rows read by an expression over the table (all(lines,
			// .item.barcode == .scanned)) see their links as records too.
			if _, read := doc[f.Key.V]; !read || src != "" && !readsThroughRowLink(src, f.Val.Fields) {
				continue
			}
			rows, err := ev.linkRows(f.Val.Fields, doc[f.Key.V])
			if err != nil {
				return nil, err
			}
			if rows != nil {
				doc[f.Key.V] = rows
			}
			continue
		}
		if f.Val == nil || f.Val.Type.V != "link" {
			continue
		}
		id, ok := doc[f.Key.V].(string)
		if !ok || id == "" {
			continue
		}
		linked, err := ev.linked(f.Val.To.V, id)
		if err != nil {
			return nil, err
		}
		if linked != nil {
			doc[f.Key.V] = linked
		}
	}
	doc["user"] = map[string]any{"id": ev.user.ID, "name": ev.user.Name, "roles": toAnySlice(ev.user.Roles)}
	if ev.before != nil && (names == nil || slices.Contains(names, "before")) {
		doc["before"] = map[string]any(ev.before)
	}
	return doc, nil
}

// rowLinkReads caches readsThroughRowLink per expression source and table.
var rowLinkReads sync.Map // string → bool

// identRef finds identifiers and what member of them is read, if any:
// "item", "item.id", "item?.barcode".
var identRef = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)(\s*\??\.\s*([A-Za-z_][A-Za-z0-9_]*))?`)

// readsThroughRowLink reports whether src may read a field other than the id
// of a record that a link column of cols points to. It errs on the side of
// yes: every mention of a link column's name counts unless it is followed by
// .id, whatever the name stands for there (let x = .item; x.barcode counts,
// and so does r.item.barcode).
func readsThroughRowLink(src string, cols template.Map[*template.FieldDecl]) bool {
	var links []string
	for _, c := range cols {
		if c.Val != nil && c.Val.Type.V == "link" {
			links = append(links, c.Key.V)
		}
	}
	if len(links) == 0 {
		return false
	}
	key := src + "\x00" + strings.Join(links, ",")
	if v, ok := rowLinkReads.Load(key); ok {
		return v.(bool)
	}
	reads := false
	for _, m := range identRef.FindAllStringSubmatch(src, -1) {
		// "x.item" is a mention too, and what follows it unknown.
		if slices.Contains(links, m[1]) && m[3] != "id" || slices.Contains(links, m[3]) {
			reads = true
			break
		}
	}
	rowLinkReads.Store(key, reads)
	return reads
}

// linkRows returns copies of the rows of a table whose link columns hold the
// linked records instead of their ids (nil when the table has no link column
// or no rows); the stored rows are not changed.
func (ev *evaluator) linkRows(cols template.Map[*template.FieldDecl], v any) ([]any, error) {
	rows, _ := v.([]any)
	var links []*template.FieldDecl
	var names []string
	for _, c := range cols {
		if c.Val != nil && c.Val.Type.V == "link" {
			links = append(links, c.Val)
			names = append(names, c.Key.V)
		}
	}
	if len(rows) == 0 || len(links) == 0 {
		return nil, nil
	}
	// One query per linked entity for the rows' links not read yet.
	want := map[string][]string{}
	for _, r := range rows {
		row, _ := r.(map[string]any)
		for j, f := range links {
			if id, ok := row[names[j]].(string); ok && id != "" {
				want[f.To.V] = append(want[f.To.V], id)
			}
		}
	}
	for entity, ids := range want {
		if err := ev.fetchLinks(entity, ids); err != nil {
			return nil, err
		}
	}
	out := make([]any, len(rows))
	for i, r := range rows {
		row, ok := r.(map[string]any)
		if !ok {
			out[i] = r
			continue
		}
		cp := make(map[string]any, len(row))
		for k, x := range row {
			cp[k] = x
		}
		for j, f := range links {
			id, ok := row[names[j]].(string)
			if !ok || id == "" {
				continue
			}
			linked, err := ev.linked(f.To.V, id)
			if err != nil {
				return nil, err
			}
			if linked != nil {
				cp[names[j]] = linked
			}
		}
		out[i] = cp
	}
	return out, nil
}

func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// run evaluates the program at place against the record (and, for a table
// column, the row). It returns nil, nil when the template has no such
// expression.
func (ev *evaluator) run(place string, rec map[string]any, row map[string]any, rowFields template.Map[*template.FieldDecl]) (any, error) {
	p := ev.ent.Programs[place]
	if p == nil {
		return nil, nil
	}
	var doc map[string]any
	var err error
	if row != nil {
		if doc, err = ev.envDoc(rowFields, row, p.Names, p.Src); err != nil {
			return nil, err
		}
		if slices.Contains(p.Names, "parent") {
			// Only the fields of parent the expression reads (all when it
			// uses parent whole): a row that reads parent.warehouse does not
			// convert the other 4,999 rows.
			if doc["parent"], err = ev.envDoc(ev.ent.Decl.Fields, rec, parentFields(p), p.Src); err != nil {
				return nil, err
			}
		}
	} else if doc, err = ev.envDoc(ev.ent.Decl.Fields, rec, p.Names, p.Src); err != nil {
		return nil, err
	}
	if p.UsesFunctions {
		top := rec
		if row != nil && rec == nil {
			top = row
		}
		ev.functions(doc, p.Names, top)
	}
	if ev.envs == nil {
		ev.envs = template.NewEnvCache()
	}
	env, err := p.EnvCached(doc, ev.envs)
	if err != nil {
		return nil, fmt.Errorf("records: %s: %w", place, err)
	}
	out, err := p.Run(env)
	if err != nil {
		// A value it needs is empty (customer.name without a customer) or the
		// arithmetic fails (a division by zero): the expression gives no value.
		// A default is then not applied, a computed field stays empty and a
		// condition is false; required fields and rules still report the gap.
		return nil, nil
	}
	return out, nil
}

// parentFields are the fields of the record that a row expression reads
// through parent, or nil for all of them.
func parentFields(p *template.Program) []string {
	if fs, ok := p.Members["parent"]; ok {
		return fs
	}
	return nil
}

// runBool evaluates a condition; an expression that fails counts as false
// and is returned as an error for the caller to log or report.
func (ev *evaluator) runBool(place string, rec, row map[string]any, rowFields template.Map[*template.FieldDecl]) (bool, error) {
	out, err := ev.run(place, rec, row, rowFields)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// stored converts an expression result to what field f stores: a linked
// record becomes its id.
func stored(f *template.FieldDecl, out any) (any, error) {
	if f.Type.V == "link" {
		rv := reflect.ValueOf(out)
		if rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return nil, nil
			}
			rv = rv.Elem()
		}
		if rv.Kind() == reflect.Struct {
			id := rv.FieldByName("F_id")
			if !id.IsValid() || id.String() == "" {
				return nil, nil
			}
			return id.String(), nil
		}
	}
	if f.Type.V == "table" {
		return tableRows(f, out), nil
	}
	return template.StoreValue(f.Type.V, out)
}

// tableRows turns a list of row structs (an expression copying a table) back
// into rows of table f: column by column of the same name, leaving out the
// columns f does not have and those it computes itself.
func tableRows(f *template.FieldDecl, out any) []any {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Slice {
		return nil
	}
	rows := make([]any, 0, rv.Len())
	for i := 0; i < rv.Len(); i++ {
		el := rv.Index(i)
		if m, ok := el.Interface().(map[string]any); ok {
			row := map[string]any{}
			for k, v := range m {
				if copied(f, k) {
					row[k] = v
				}
			}
			rows = append(rows, row)
			continue
		}
		if el.Kind() != reflect.Struct {
			continue
		}
		m := map[string]any{}
		for j := 0; j < el.NumField(); j++ {
			tag := el.Type().Field(j).Tag.Get("expr")
			if !copied(f, tag) {
				continue
			}
			v := el.Field(j).Interface()
			if f := reflect.Indirect(el.Field(j)); f.Kind() == reflect.Struct && f.FieldByName("F_id").IsValid() {
				v = f.FieldByName("F_id").String()
			} else if el.Field(j).Kind() == reflect.Pointer && el.Field(j).IsNil() {
				v = nil
			}
			m[tag] = v
		}
		rows = append(rows, m)
	}
	return rows
}

// copied reports whether a copied row keeps its column name in table f.
func copied(f *template.FieldDecl, name string) bool {
	col, ok := f.Fields.Get(name)
	return ok && col != nil && !col.Compute.IsSet()
}
