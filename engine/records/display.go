package records

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// A View is a record prepared for people to read, in one language: labels,
// formatted values (money with two places and thousands separators, dates,
// option labels, yes/no), links as the linked record's title, tables as rows.
// Print layouts and the customer tracking page are rendered from Views; a
// View holds only what it was built from, so hidden fields never reach them.
type View struct {
	Lang       string `json:"lang"`
	Entity     string `json:"entity"`      // the entity's label
	EntityName string `json:"entity_name"` // the entity's name
	ID         string `json:"id"`          // the record's id
	Number     string `json:"number"`      // its number, if the entity has a series
	State      string `json:"state"`       // the state name
	StateLabel string `json:"state_label"` // the state's label
	CreatedAt  string `json:"created_at"`  // formatted
	// Record maps each field to its formatted value: text for plain fields, a
	// Linked for a link, a list of rows (column → formatted value) for a table.
	Record map[string]any `json:"record"`
	// Raw holds the stored values of the same fields, for conditions in
	// layouts ({{if .Raw.paid}}).
	Raw map[string]any `json:"-"`
	// Labels maps fields and table columns ("lines.qty") to their labels.
	Labels map[string]string `json:"labels"`
	// Fields lists the fields in order, for pages that show every field.
	Fields []ViewField `json:"fields"`
}

// ViewField is one field of a View, in order.
type ViewField struct {
	Name    string       `json:"name"`
	Label   string       `json:"label"`
	Type    string       `json:"type"`
	Text    string       `json:"text,omitempty"`    // a plain field or a link (its title)
	Columns []ViewColumn `json:"columns,omitempty"` // a table
	Rows    [][]string   `json:"rows,omitempty"`    // a table: one text per column
}

// ViewColumn is a column of a table in a View.
type ViewColumn struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Numeric bool   `json:"numeric"` // right-aligned
}

// Linked is a linked record in a View: it prints as the linked record's
// title ({{.Record.customer}}) and its keys are the linked record's fields,
// formatted ({{.Record.customer.phone}}), when the reader may see them.
type Linked map[string]any

// linkedTitle is the key of a Linked's title; no field name starts with "_".
const linkedTitle = "_title"

// String returns the linked record's title.
func (l Linked) String() string { s, _ := l[linkedTitle].(string); return s }

// viewer builds Views for one reader.
type viewer struct {
	e    *Engine
	ctx  context.Context
	u    User
	lang string
	// deep: links carry the linked record's fields (prints); otherwise only
	// their title (the anonymous tracking page).
	deep   bool
	titles map[string]string // "entity/id" → title
}

func (e *Engine) viewer(ctx context.Context, u User, lang string, deep bool) *viewer {
	if lang != "en" {
		lang = "zh-CN"
	}
	return &viewer{e: e, ctx: ctx, u: u, lang: lang, deep: deep, titles: map[string]string{}}
}

// text picks the label text in the viewer's language, else the other one.
func (v *viewer) text(l template.Label) string {
	if s := l.Text[v.lang]; s != "" {
		return s
	}
	for _, lang := range []string{"zh-CN", "en"} {
		if s := l.Text[lang]; s != "" {
			return s
		}
	}
	return ""
}

// selection names what a View shows: top-level fields in order, and for each
// table the columns (nil: all of them).
type selection struct {
	fields  []string
	columns map[string][]string
}

// view builds the View of rec (already stripped of what the reader may not
// see) with the fields of sel.
func (v *viewer) view(ent *template.Entity, rec Record, sel selection) (*View, error) {
	ev := v.e.evaluator(v.ctx, ent, v.u)
	if err := ev.prefetch(rec); err != nil {
		return nil, err
	}
	return v.viewWith(ev, ent, rec, sel)
}

// viewWith is view with an evaluator whose links are already fetched (one
// evaluator for a page of records).
func (v *viewer) viewWith(ev *evaluator, ent *template.Entity, rec Record, sel selection) (*View, error) {
	out := &View{Lang: v.lang, Entity: v.text(ent.Decl.Label), EntityName: ent.Name, ID: rec.ID(),
		Record: map[string]any{}, Raw: map[string]any{}, Labels: map[string]string{}}
	out.Number, _ = rec[fNumber].(string)
	out.State, _ = rec[fState].(string)
	if st, ok := ent.Decl.States.Get(out.State); ok && st != nil {
		out.StateLabel = v.text(st.Label)
	}
	if out.StateLabel == "" {
		out.StateLabel = out.State
	}
	out.CreatedAt = formatTime(rec[fCreatedAt], "datetime")
	sys := map[string][2]string{fNumber: {"编号", "Number"}, fState: {"状态", "State"}, fCreatedAt: {"创建时间", "Created"}}
	for _, name := range sel.fields {
		if pair, ok := sys[name]; ok {
			label := pair[0]
			if v.lang == "en" {
				label = pair[1]
			}
			text := map[string]string{fNumber: out.Number, fState: out.StateLabel, fCreatedAt: out.CreatedAt}[name]
			out.Labels[name] = label
			out.Record[name], out.Raw[name] = text, rec[name]
			out.Fields = append(out.Fields, ViewField{Name: name, Label: label, Type: "text", Text: text})
			continue
		}
		f, ok := ent.Decl.Fields.Get(name)
		if !ok || f == nil {
			continue
		}
		val, present := rec[name]
		if !present && f.Type.V != "table" {
			continue // hidden from the reader, or never set: absent either way
		}
		vf := ViewField{Name: name, Label: v.text(f.Label), Type: f.Type.V}
		if vf.Label == "" {
			vf.Label = name
		}
		out.Labels[name] = vf.Label
		out.Raw[name] = val
		if f.Type.V == "table" {
			if !present {
				continue
			}
			rows, err := v.table(ev, name, f, val, sel.columns[name], out, &vf)
			if err != nil {
				return nil, err
			}
			out.Record[name] = rows
		} else {
			fv, err := v.value(ev, f, val)
			if err != nil {
				return nil, err
			}
			out.Record[name] = fv
			vf.Text = fmt.Sprint(fv)
		}
		out.Fields = append(out.Fields, vf)
	}
	return out, nil
}

// table formats the rows of table name with the given columns (nil: all).
func (v *viewer) table(ev *evaluator, name string, f *template.FieldDecl, val any, cols []string, out *View, vf *ViewField) ([]map[string]any, error) {
	if cols == nil {
		cols = f.Fields.Keys()
	}
	var decls []*template.FieldDecl
	for _, c := range cols {
		cf, ok := f.Fields.Get(c)
		if !ok || cf == nil {
			continue
		}
		label := v.text(cf.Label)
		if label == "" {
			label = c
		}
		out.Labels[name+"."+c] = label
		vf.Columns = append(vf.Columns, ViewColumn{Name: c, Label: label, Numeric: isNumeric(cf.Type.V)})
		decls = append(decls, cf)
	}
	rows, _ := val.([]any)
	list := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		row, _ := r.(map[string]any)
		fr := map[string]any{}
		texts := make([]string, 0, len(vf.Columns))
		for i, c := range vf.Columns {
			cv, present := row[c.Name]
			if !present {
				texts = append(texts, "")
				continue // a hidden column is absent from the row
			}
			fv, err := v.value(ev, decls[i], cv)
			if err != nil {
				return nil, err
			}
			fr[c.Name] = fv
			texts = append(texts, fmt.Sprint(fv))
		}
		list = append(list, fr)
		vf.Rows = append(vf.Rows, texts)
	}
	return list, nil
}

func isNumeric(t string) bool {
	switch t {
	case "int", "decimal", "money", "quantity", "percent":
		return true
	}
	return false
}

// value formats one stored value of field f: a Linked for a link, text for
// everything else.
func (v *viewer) value(ev *evaluator, f *template.FieldDecl, val any) (any, error) {
	if f.Type.V != "link" {
		return v.format(f, val), nil
	}
	id, _ := val.(string)
	if id == "" {
		return Linked{}, nil
	}
	linked, err := ev.linked(f.To.V, id)
	if err != nil {
		return nil, err
	}
	return v.linked(f.To.V, id, linked, v.deep)
}

// linked is the Linked of a record of entity: its title and, when deep and
// the reader may read it, its fields (their links as titles only).
func (v *viewer) linked(entity, id string, rec Record, deep bool) (Linked, error) {
	out := Linked{"id": id}
	if rec == nil {
		return out, nil // gone
	}
	ent := v.e.model().Entities[entity]
	if ent == nil {
		return out, nil
	}
	title, err := v.title(ent, rec)
	if err != nil {
		return nil, err
	}
	out[linkedTitle] = title
	if !deep {
		return out, nil
	}
	ev := v.e.evaluator(v.ctx, ent, v.u)
	ok, err := ev.can("read", rec)
	if err != nil || !ok {
		return out, err
	}
	fa, err := ev.fields("read", rec)
	if err != nil {
		return nil, err
	}
	seen := project(rec, fa)
	if n, ok := seen[fNumber].(string); ok {
		out[fNumber] = n
	}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		val, present := seen[fe.Key.V]
		if f == nil || !present || f.Type.V == "table" {
			continue
		}
		if f.Type.V == "link" {
			lid, _ := val.(string)
			if lid == "" {
				continue
			}
			lrec, err := ev.linked(f.To.V, lid)
			if err != nil {
				return nil, err
			}
			l, err := v.linked(f.To.V, lid, lrec, false)
			if err != nil {
				return nil, err
			}
			out[fe.Key.V] = l
			continue
		}
		out[fe.Key.V] = v.format(f, val)
	}
	return out, nil
}

// title is how a record shows in links: its entity's title expression, else
// its number, name, code or id.
func (v *viewer) title(ent *template.Entity, rec Record) (string, error) {
	key := ent.Name + "/" + rec.ID()
	if t, ok := v.titles[key]; ok {
		return t, nil
	}
	t := ""
	if ent.Programs["title"] != nil {
		out, err := v.e.evaluator(v.ctx, ent, v.u).run("title", rec, nil, nil)
		if err != nil {
			return "", err
		}
		if out != nil {
			t = fmt.Sprint(out)
		}
	}
	for _, k := range []string{fNumber, "name", "code", fID} {
		if t != "" {
			break
		}
		t, _ = rec[k].(string)
	}
	v.titles[key] = t
	return t, nil
}

// format renders a stored value of a field that is not a link.
func (v *viewer) format(f *template.FieldDecl, val any) string {
	if val == nil {
		return ""
	}
	switch f.Type.V {
	case "money":
		return formatDecimal(val, 2, true)
	case "decimal":
		return formatDecimal(val, scaleOf(f), true)
	case "quantity":
		return formatDecimal(val, -1, true)
	case "percent":
		s := formatDecimal(val, -1, false)
		if s == "" {
			return ""
		}
		return s + "%"
	case "int":
		return formatDecimal(val, 0, false)
	case "bool":
		b, _ := val.(bool)
		yes := map[bool][2]string{true: {"是", "Yes"}, false: {"否", "No"}}[b]
		if v.lang == "en" {
			return yes[1]
		}
		return yes[0]
	case "date", "datetime":
		return formatTime(val, f.Type.V)
	case "select":
		return v.option(f, fmt.Sprint(val))
	case "multiselect":
		list, _ := val.([]any)
		parts := make([]string, len(list))
		for i, o := range list {
			parts[i] = v.option(f, fmt.Sprint(o))
		}
		return strings.Join(parts, v.sep())
	case "attachment", "json":
		return ""
	}
	return fmt.Sprint(val)
}

func (v *viewer) sep() string {
	if v.lang == "en" {
		return ", "
	}
	return "、"
}

func (v *viewer) option(f *template.FieldDecl, o string) string {
	if l, ok := f.OptionLabels.Get(o); ok {
		if t := v.text(l); t != "" {
			return t
		}
	}
	return o
}

// formatDecimal writes a number with places fractional digits (-1: as few
// as it needs), grouping thousands when group is set.
func formatDecimal(val any, places int, group bool) string {
	d, ok := toDecimal(val)
	if !ok {
		return fmt.Sprint(val)
	}
	var s string
	if places >= 0 {
		s = d.Round(places).StringFixed(places)
	} else {
		s = d.String()
	}
	if !group {
		return s
	}
	return decimal.GroupThousands(s)
}

// formatTime writes a date as 2006-01-02 and a moment as 2006-01-02 15:04 in
// the server's time zone.
func formatTime(val any, typ string) string {
	var t time.Time
	switch x := val.(type) {
	case time.Time:
		t = x
	case string:
		if x == "" {
			return ""
		}
		var err error
		if typ == "date" {
			if t, err = time.Parse(template.DateLayout, x); err != nil {
				return x
			}
			return t.Format("2006-01-02")
		}
		if t, err = time.Parse(template.DateTimeLayout, x); err != nil {
			if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return x
			}
		}
	default:
		return fmt.Sprint(val)
	}
	if typ == "date" {
		return t.Format("2006-01-02")
	}
	return t.Local().Format("2006-01-02 15:04")
}

// companyEntity is the core package's company settings (a singleton).
const companyEntity = "company"

// company reads the company settings record, nil when the entity is not
// installed or has no record yet.
func (e *Engine) company(ctx context.Context) (*template.Entity, Record, error) {
	ent := e.model().Entities[companyEntity]
	if ent == nil {
		return nil, nil, nil
	}
	page, err := e.st.Find(ctx, companyEntity, store.Query{Sort: []store.SortKey{store.Asc(store.IDField)}, Limit: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("records: company: %w", err)
	}
	if len(page.Docs) == 0 {
		return ent, nil, nil
	}
	return ent, fromDoc(page.Docs[0]), nil
}

// PrintData is what a print layout is executed with.
type PrintData struct {
	*View
	// Company holds the company settings as the reader may see them (at
	// least the name), empty when there are none.
	Company Linked
	Print   PrintInfo
	Now     string // when it was printed, formatted
}

// PrintInfo describes the print itself.
type PrintInfo struct {
	Name  string
	Label string
	Paper string
}

// Print returns the layout of print name of entity and the data to execute
// it with, for a record the user may read: the record without the fields the
// user may not see, links with the linked records' fields (one level deep,
// as the user may see them), labels and values in lang. A record the user may
// not read, or a print the entity does not have, is ErrNotFound.
func (e *Engine) Print(ctx context.Context, u User, entity, id, name, lang string) (*template.Layout, *PrintData, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, nil, err
	}
	layout := ent.Layouts[name]
	if layout == nil {
		return nil, nil, fmt.Errorf("%w: %s has no print %q", ErrNotFound, entity, name)
	}
	rec, fa, err := e.readable(ctx, u, entity, id)
	if err != nil {
		return nil, nil, err
	}
	sel := selection{fields: append([]string{fNumber, fState, fCreatedAt}, ent.Decl.Fields.Keys()...), columns: map[string][]string{}}
	for _, fe := range ent.Decl.Fields {
		if fe.Val == nil || fe.Val.Type.V != "table" {
			continue
		}
		cols := []string{}
		for _, c := range fe.Val.Fields.Keys() {
			if !fa.hidden[fe.Key.V+"."+c] {
				cols = append(cols, c)
			}
		}
		sel.columns[fe.Key.V] = cols
	}
	v := e.viewer(ctx, u, lang, true)
	view, err := v.view(ent, project(rec, fa), sel)
	if err != nil {
		return nil, nil, err
	}
	data := &PrintData{View: view, Company: Linked{}, Now: time.Now().Local().Format("2006-01-02 15:04"),
		Print: PrintInfo{Name: name, Label: v.text(layout.Label), Paper: layout.Paper}}
	cent, crec, err := e.company(ctx)
	if err != nil {
		return nil, nil, err
	}
	if crec != nil {
		full, err := v.linked(cent.Name, crec.ID(), crec, true)
		if err != nil {
			return nil, nil, err
		}
		if _, readable := full["name"]; !readable {
			full["name"], _ = crec["name"].(string) // the name heads every print
		}
		data.Company = full
	}
	return layout, data, nil
}
