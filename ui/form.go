package ui

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
)

// formField is one input of a form (or a cell of a table row).
type formField struct {
	Key      string // the field or column name: customer, qty
	Name     string // the form name: customer, lines.0.qty
	ID       string // the element id
	Label    string
	Help     string
	Type     string // the template type
	Input    string // how it is entered: text, textarea, number, date, datetime, select, multiselect, bool, link, user, email, tel, readonly, table
	Required bool
	Readonly bool
	Value    string
	Display  string // the value as text, for read-only fields
	Options  []option
	Error    string
	Wide     bool   // takes the full width (tables, long texts)
	Lookup   string // a link with more records than options: the search URL
	Upload   string // an attachment: where its file is uploaded (live.go)
	Download string // an attachment: the stored file
	Accept   string // an attachment: the content types it takes
	FileText string // an attachment: the download link's text

	// Tables.
	Columns  []*formField
	Rows     []formRow
	Template formRow // a blank row with __i__ for the index, cloned by the add-row button
}

// formRow is one row of a table in a form.
type formRow struct {
	Index string
	Key   string // the row key (_row) of a stored row
	Cells []*formField
}

type formSection struct {
	Label   string
	Columns int
	Fields  []*formField
}

// formData is what the form page shows.
type formData struct {
	Entity      string
	EntityLabel string
	ID          string // "" for a new record
	Number      string
	Version     int64
	Action      string
	Cancel      string
	Sections    []formSection
	Invalid     bool     // the save was refused for its values
	Errors      []string // problems not at one field
	Stale       bool
	Preview     string         // the live preview route (live.go)
	Changes     []historyEntry // a stale save: what changed since the form was opened
	Reload      string         // a stale save: the form afresh
}

// formValues are the values a form shows: what was posted, or a stored
// record as text.
type formValues struct {
	top  map[string][]string
	rows map[string][]rowValues
}

type rowValues struct {
	key   string
	cells map[string]string
	index int // the row's index in the posted form names (lines.3.qty)
}

// valuesOf turns a stored record into form values.
func valuesOf(ent *template.Entity, rec records.Record) formValues {
	fv := formValues{top: map[string][]string{}, rows: map[string][]rowValues{}}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		v, ok := rec[fe.Key.V]
		if !ok || v == nil {
			continue
		}
		switch f.Type.V {
		case "table":
			list, _ := v.([]any)
			for _, r := range list {
				row, _ := r.(map[string]any)
				rv := rowValues{cells: map[string]string{}}
				rv.key, _ = row["_row"].(string)
				for _, ce := range f.Fields {
					if ce.Val != nil {
						rv.cells[ce.Key.V] = inputValue(ce.Val, row[ce.Key.V])
					}
				}
				fv.rows[fe.Key.V] = append(fv.rows[fe.Key.V], rv)
			}
		case "multiselect":
			list, _ := v.([]any)
			for _, o := range list {
				fv.top[fe.Key.V] = append(fv.top[fe.Key.V], fmt.Sprint(o))
			}
		default:
			fv.top[fe.Key.V] = []string{inputValue(f, v)}
		}
	}
	return fv
}

// literalDefaults fills a new form with the defaults that are plain values
// ('credit', true, 0); the others (today(), customer.address) are filled by
// the engine when the record is saved.
func literalDefaults(ent *template.Entity) formValues {
	fv := formValues{top: map[string][]string{}, rows: map[string][]rowValues{}}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil || !f.Default.IsSet() {
			continue
		}
		src := strings.TrimSpace(f.Default.Src)
		switch {
		case src == "true" || src == "false":
			if src == "true" {
				fv.top[fe.Key.V] = []string{"true"}
			}
		case len(src) >= 2 && src[0] == '\'' && src[len(src)-1] == '\'' && !strings.ContainsAny(src[1:len(src)-1], `'\`):
			fv.top[fe.Key.V] = []string{src[1 : len(src)-1]}
		}
	}
	return fv
}

// rowIndexRE finds the row index in form names: lines.3.qty.
var rowIndexRE = regexp.MustCompile(`^([a-z][a-z0-9_]*)\.([0-9]{1,5})\.([a-z_][a-z0-9_]*)$`)

// postedValues reads the posted form: the editable fields of ent, and the
// rows of its tables in the order posted (rows left completely empty are
// dropped).
func postedValues(c fiber.Ctx, ent *template.Entity, fa records.FormAccess) formValues {
	fv := formValues{top: map[string][]string{}, rows: map[string][]rowValues{}}
	args := c.Request().PostArgs()
	for _, fe := range ent.Decl.Fields {
		if fe.Val == nil || fe.Val.Type.V == "table" || fa.Hidden[fe.Key.V] || fa.Readonly[fe.Key.V] {
			continue
		}
		for _, v := range args.PeekMulti(fe.Key.V) {
			fv.top[fe.Key.V] = append(fv.top[fe.Key.V], string(v))
		}
	}
	type cell struct {
		table string
		index int
		col   string
		value string
	}
	var cells []cell
	for k, v := range args.All() {
		m := rowIndexRE.FindStringSubmatch(string(k))
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		cells = append(cells, cell{m[1], i, m[3], string(v)})
	}
	byTable := map[string]map[int]*rowValues{}
	for _, cl := range cells {
		if byTable[cl.table] == nil {
			byTable[cl.table] = map[int]*rowValues{}
		}
		rv := byTable[cl.table][cl.index]
		if rv == nil {
			rv = &rowValues{cells: map[string]string{}, index: cl.index}
			byTable[cl.table][cl.index] = rv
		}
		if cl.col == "_row" {
			rv.key = cl.value
		} else {
			rv.cells[cl.col] = cl.value
		}
	}
	for table, rows := range byTable {
		f, ok := ent.Decl.Fields.Get(table)
		if !ok || f == nil || f.Type.V != "table" || fa.Hidden[table] || fa.Readonly[table] {
			continue
		}
		idx := make([]int, 0, len(rows))
		for i := range rows {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		fv.rows[table] = []rowValues{}
		for _, i := range idx {
			rv := rows[i]
			empty := true
			for _, v := range rv.cells {
				if strings.TrimSpace(v) != "" {
					empty = false
				}
			}
			if !empty || rv.key != "" {
				fv.rows[table] = append(fv.rows[table], *rv)
			}
		}
	}
	return fv
}

// engineValue converts the text of an input to the value the engine takes:
// numbers stay exact text, empty is nil.
func engineValue(f *template.FieldDecl, s string) any {
	s = strings.TrimSpace(s)
	switch f.Type.V {
	case "bool":
		return s == "true" || s == "on"
	case "datetime":
		if s == "" {
			return nil
		}
		if tm, err := time.ParseInLocation("2006-01-02T15:04", s, time.Local); err == nil {
			return tm.Format(time.RFC3339)
		}
		return s
	}
	if s == "" {
		return nil
	}
	if isNumber(f.Type.V) {
		// People type 1,200.50 and full-width digits (１２００．５); the
		// engine takes 1200.50.
		s = strings.Map(func(r rune) rune {
			switch {
			case r == ',' || r == '，':
				return -1
			case r >= '０' && r <= '９':
				return '0' + (r - '０')
			case r == '．':
				return '.'
			case r == '－':
				return '-'
			}
			return r
		}, s)
	}
	return s
}

// engineValues converts posted form values to the values of a create
// (creating: empty inputs are left out, so defaults apply) or an update
// (empty inputs clear the field).
func engineValues(ent *template.Entity, fa records.FormAccess, fv formValues, creating bool) map[string]any {
	out := map[string]any{}
	inForm := formFields(ent)
	for _, fe := range ent.Decl.Fields {
		f, name := fe.Val, fe.Key.V
		if f == nil || !inForm[name] || fa.Hidden[name] || fa.Readonly[name] || f.Compute.IsSet() || !editable(f) {
			continue
		}
		switch f.Type.V {
		case "table":
			rows := []any{}
			for _, rv := range fv.rows[name] {
				row := map[string]any{}
				if rv.key != "" {
					row["_row"] = rv.key
				}
				for _, ce := range f.Fields {
					col := ce.Key.V
					if ce.Val == nil || fa.Hidden[name+"."+col] || fa.Readonly[name+"."+col] || ce.Val.Compute.IsSet() || !editableCell(ce.Val) {
						continue
					}
					if v := engineValue(ce.Val, rv.cells[col]); v != nil {
						row[col] = v
					}
				}
				rows = append(rows, row)
			}
			out[name] = rows
		case "multiselect":
			list := []any{}
			for _, v := range fv.top[name] {
				if v != "" {
					list = append(list, v)
				}
			}
			if len(list) > 0 || !creating {
				out[name] = list
			}
		default:
			var s string
			if vs := fv.top[name]; len(vs) > 0 {
				s = vs[0]
			}
			v := engineValue(f, s)
			if v == nil && creating {
				continue // the default applies
			}
			out[name] = v // a box is always true or false: the user's choice
		}
	}
	return out
}

// formFields are the fields the form shows (a field left out of the
// template's form keeps its value on save).
func formFields(ent *template.Entity) map[string]bool {
	out := map[string]bool{}
	if len(ent.Decl.Form) == 0 {
		for _, k := range ent.Decl.Fields.Keys() {
			out[k] = true
		}
		return out
	}
	for _, s := range ent.Decl.Form {
		for _, f := range s.Fields {
			out[f.V] = true
		}
	}
	return out
}

// editable tells the types a form edits in this version: JSON is shown but
// changed through the API; an attachment is uploaded by live.js and the
// form holds its file id.
func editable(f *template.FieldDecl) bool {
	return f.Type.V != "json"
}

// editableCell is editable for a table column: the engine checks uploaded
// files of top-level fields only, so a column's attachment is not edited
// in forms.
func editableCell(f *template.FieldDecl) bool {
	return editable(f) && f.Type.V != "attachment"
}

// inputKind is how a field type is entered.
func inputKind(typ string) string {
	switch typ {
	case "longtext":
		return "textarea"
	case "int", "decimal", "money", "quantity", "percent":
		return "number"
	case "date", "datetime", "select", "multiselect", "bool", "link", "user", "email", "table":
		return typ
	case "phone":
		return "tel"
	case "attachment":
		return "file"
	case "json":
		return "readonly"
	}
	return "text"
}

// builder builds the fields of one form.
type builder struct {
	u      *UI
	ctx    context.Context
	usr    records.User
	l      string
	fa     records.FormAccess
	view   map[string]string         // formatted values of read-only fields
	rowsV  map[string][][]string     // formatted cells of tables, by row
	colsV  map[string]map[string]int // column index in rowsV
	rowIdx map[string]map[string]int // row key → index in rowsV
	errs   map[string]string         // form name → message
	ppl    people
	linkOp map[string][]option // cached options per linked entity+filter
	more   map[string]bool     // the linked entity+filter has more records than options
	entity string              // the form's entity, for lookups ("" in transition inputs)
	files  map[string]string   // attachment field → the file id the record holds
	record string              // the record's id ("" for a new one)
}

// field builds the input of top-level field name.
func (b *builder) field(ent *template.Entity, name string, fv formValues) (*formField, error) {
	f, ok := ent.Decl.Fields.Get(name)
	if !ok || f == nil || b.fa.Hidden[name] {
		return nil, nil
	}
	ff, err := b.input(f, name, name, fv.top[name])
	if err != nil {
		return nil, err
	}
	if b.fa.Readonly[name] || f.Compute.IsSet() || !editable(f) {
		ff.Readonly, ff.Input = true, "readonly"
		ff.Display = b.view[name]
	}
	if f.Type.V != "table" {
		ff.Wide = f.Type.V == "longtext"
		return ff, nil
	}
	ff.Wide = true
	ff.Input = "table"
	for _, ce := range f.Fields {
		col := ce.Key.V
		if ce.Val == nil || b.fa.Hidden[name+"."+col] {
			continue
		}
		h, err := b.input(ce.Val, col, name+".__i__."+col, nil)
		if err != nil {
			return nil, err
		}
		h.Readonly = ff.Readonly || b.fa.Readonly[name+"."+col] || ce.Val.Compute.IsSet() || !editableCell(ce.Val)
		if h.Readonly {
			h.Input = "readonly"
		}
		ff.Columns = append(ff.Columns, h)
	}
	ff.Template = b.row(name, "__i__", rowValues{cells: map[string]string{}}, ff.Columns, -1)
	for i, rv := range fv.rows[name] {
		stored := -1
		if j, ok := b.rowIdx[name][rv.key]; ok && rv.key != "" {
			stored = j
		}
		ff.Rows = append(ff.Rows, b.row(name, strconv.Itoa(i), rv, ff.Columns, stored))
	}
	if len(ff.Rows) == 0 && !ff.Readonly {
		ff.Rows = append(ff.Rows, b.row(name, "0", rowValues{cells: map[string]string{}}, ff.Columns, -1))
	}
	return ff, nil
}

// row builds the cells of one table row; stored is the row's index in the
// stored record (for the formatted read-only cells), -1 for a new row.
func (b *builder) row(table, index string, rv rowValues, cols []*formField, stored int) formRow {
	r := formRow{Index: index, Key: rv.key}
	for _, h := range cols {
		cell := *h
		cell.Name = table + "." + index + "." + h.Key
		cell.ID = htmlID(cell.Name)
		cell.Value = rv.cells[h.Key]
		cell.Options = withSelected(h.Options, cell.Value)
		cell.Error = b.errs[cell.Name]
		if cell.Readonly {
			cell.Display = ""
			if stored >= 0 {
				if rows := b.rowsV[table]; stored < len(rows) {
					if ci, ok := b.colsV[table][h.Key]; ok && ci < len(rows[stored]) {
						cell.Display = rows[stored][ci]
					}
				}
			}
		}
		r.Cells = append(r.Cells, &cell)
	}
	return r
}

func withSelected(opts []option, v string) []option {
	out := make([]option, len(opts))
	for i, o := range opts {
		o.Selected = o.Value == v && v != ""
		out[i] = o
	}
	return out
}

// input builds the input of field f named name, with values vs.
func (b *builder) input(f *template.FieldDecl, key, name string, vs []string) (*formField, error) {
	ff := &formField{Key: key, Name: name, ID: htmlID(name), Label: label(f.Label, b.l), Help: label(f.Help, b.l),
		Type: f.Type.V, Input: inputKind(f.Type.V), Required: f.Required, Error: b.errs[name]}
	if ff.Label == "" {
		ff.Label = key
	}
	if len(vs) > 0 {
		ff.Value = vs[0]
	}
	switch f.Type.V {
	case "select", "multiselect":
		sel := map[string]bool{}
		for _, v := range vs {
			sel[v] = true
		}
		ff.Options = selectOptions(f, b.l, sel)
	case "link":
		cacheKey := f.To.V + "|" + f.Filter.Src
		opts, ok := b.linkOp[cacheKey]
		if !ok {
			var err error
			var more bool
			opts, more, err = b.u.linkChoices(b.ctx, b.usr, f, ff.Value, "", maxLinkOptions)
			if err != nil {
				return nil, err
			}
			b.linkOp[cacheKey] = opts
			b.more[cacheKey] = more
		} else if ff.Value != "" {
			if !slices.ContainsFunc(opts, func(o option) bool { return o.Value == ff.Value }) {
				// Another row's value beyond the first options.
				extra, _, err := b.u.linkChoices(b.ctx, b.usr, f, ff.Value, "", 1)
				if err != nil {
					return nil, err
				}
				for _, o := range extra {
					if o.Value == ff.Value {
						opts = append(opts, o)
					}
				}
			}
			opts = withSelected(opts, ff.Value)
		}
		ff.Options = opts
		if b.more[cacheKey] && b.entity != "" {
			// More records than options: the search box asks the server.
			ff.Lookup = "/ui/lookup/" + b.entity + "/" + lookupPath(name)
		}
	case "user":
		ff.Options = b.ppl.options(f.Role.V, ff.Value)
	case "attachment":
		if b.entity != "" && key == name {
			ff.Upload = "/ui/upload/" + b.entity + "/" + key
			ff.FileText = t(b.l, "live_file_current")
			accept := make([]string, len(f.Accept))
			for i, a := range f.Accept {
				accept[i] = a.V
			}
			ff.Accept = strings.Join(accept, ",")
			if b.record != "" && ff.Value != "" && ff.Value == b.files[key] {
				ff.Download = "/api/v1/records/" + b.entity + "/" + b.record + "/files/" + key
			}
		} else {
			ff.Input = "readonly"
		}
	}
	return ff, nil
}

// form builds the sections of a form for ent: the template's form, or every
// field in order when it has none.
func (b *builder) form(ent *template.Entity, fv formValues) ([]formSection, error) {
	var out []formSection
	for _, s := range formSections(ent) {
		sec := formSection{Label: label(s.Section, b.l), Columns: max(1, s.Columns)}
		for _, name := range s.Fields {
			ff, err := b.field(ent, name.V, fv)
			if err != nil {
				return nil, err
			}
			if ff != nil {
				sec.Fields = append(sec.Fields, ff)
			}
		}
		if len(sec.Fields) > 0 {
			out = append(out, sec)
		}
	}
	return out, nil
}

// lookupPath is the field path of a form name: lines.3.item → lines.item.
func lookupPath(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) == 3 {
		return parts[0] + "." + parts[2]
	}
	return name
}

// errorName maps an engine field path (lines[2].qty) to a form name
// (lines.2.qty).
var pathIndexRE = regexp.MustCompile(`\[([0-9]+)\]`)

func errorName(path string) string { return pathIndexRE.ReplaceAllString(path, ".$1") }

// fieldErrors spreads a validation error over the form: each message at its
// field, the others in the list on top.
func fieldErrors(ent *template.Entity, ve *records.ValidationError, l string, known func(string) bool) (map[string]string, []string) {
	at := map[string]string{}
	var top []string
	for _, fe := range ve.Errors {
		msg := server.Message(l, fe)
		name := errorName(fe.Path)
		if fe.Path != "" && known(name) {
			if at[name] != "" {
				at[name] += "；"
			}
			at[name] += msg
			continue
		}
		if fe.Path != "" {
			base := strings.SplitN(name, ".", 2)[0]
			msg = fieldLabel(ent, base, l) + "：" + msg
		}
		top = append(top, msg)
	}
	return at, top
}

// formPage renders the form of ent for a new record (id "") or record id.
func (u *UI) formPage(c fiber.Ctx, status int, ent *template.Entity, id string, fa records.FormAccess, stored records.Record, fv formValues, ve *records.ValidationError, stale bool) error {
	l := lang(c)
	usr := engineUser(c)
	ppl, err := u.people(c.Context())
	if err != nil {
		return u.fail(c, err)
	}
	b := &builder{u: u, ctx: c.Context(), usr: usr, l: l, fa: fa, view: map[string]string{}, rowsV: map[string][][]string{},
		colsV: map[string]map[string]int{}, rowIdx: map[string]map[string]int{}, errs: map[string]string{}, ppl: ppl, linkOp: map[string][]option{}, more: map[string]bool{}, entity: ent.Name}
	data := &formData{Entity: ent.Name, EntityLabel: entityLabel(ent, l), ID: id, Stale: stale}
	b.record, b.files = id, map[string]string{}
	if stored != nil {
		for _, fe := range ent.Decl.Fields {
			if fe.Val != nil && fe.Val.Type.V == "attachment" {
				b.files[fe.Key.V], _ = stored[fe.Key.V].(string)
			}
		}
		views, err := u.d.Records.Views(c.Context(), usr, ent.Name, []records.Record{stored}, nil, l)
		if err != nil {
			return u.fail(c, err)
		}
		for _, vf := range views[0].Fields {
			b.view[vf.Name] = vf.Text
			if len(vf.Columns) > 0 {
				b.rowsV[vf.Name] = vf.Rows
				b.colsV[vf.Name] = map[string]int{}
				for i, col := range vf.Columns {
					b.colsV[vf.Name][col.Name] = i
				}
			}
		}
		for name, rows := range valuesOf(ent, stored).rows {
			b.rowIdx[name] = map[string]int{}
			for i, rv := range rows {
				b.rowIdx[name][rv.key] = i
			}
		}
		data.Number, _ = stored["number"].(string)
		data.Version = stored.Version()
	}
	if ve != nil {
		names := map[string]bool{}
		for _, fe := range ent.Decl.Fields {
			names[fe.Key.V] = true
		}
		data.Invalid = true
		b.errs, data.Errors = fieldErrors(ent, ve, l, func(name string) bool {
			return names[strings.SplitN(name, ".", 2)[0]]
		})
	}
	data.Sections, err = b.form(ent, fv)
	if err != nil {
		return u.fail(c, err)
	}
	title := data.EntityLabel + " · " + t(l, "new")
	data.Action, data.Cancel = "/r/"+ent.Name+"/new", "/r/"+ent.Name
	data.Preview = "/ui/preview/" + ent.Name
	if id != "" {
		title = data.EntityLabel + " " + data.Number + " · " + t(l, "edit")
		data.Action, data.Cancel = "/r/"+ent.Name+"/"+id+"/edit", "/r/"+ent.Name+"/"+id
		data.Preview += "/" + id
	}
	if stale {
		data.Reload = data.Action
		if data.Changes, err = u.liveStaleChanges(c, ent, id, data.Version); err != nil {
			return u.fail(c, err)
		}
	}
	return u.render(c, status, "form", u.newPage(c, title, data))
}

// entityOf returns the installed entity named in the route, readable by the
// caller, or answers 404.
func (u *UI) entityOf(c fiber.Ctx) (*template.Entity, bool, error) {
	ent := u.d.Packages.Model().Entities[c.Params("entity")]
	if ent == nil || !records.Readable(ent, engineUser(c)) {
		return nil, false, u.errorPage(c, fiber.StatusNotFound, "")
	}
	return ent, true, nil
}

func (u *UI) newForm(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	fa, _, err := u.d.Records.FormAccess(c.Context(), engineUser(c), ent.Name, "")
	if err != nil {
		return u.fail(c, err)
	}
	if !fa.Allowed {
		return u.errorPage(c, fiber.StatusForbidden, "")
	}
	return u.formPage(c, fiber.StatusOK, ent, "", fa, nil, literalDefaults(ent), nil, false)
}

func (u *UI) create(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	usr := engineUser(c)
	fa, _, err := u.d.Records.FormAccess(c.Context(), usr, ent.Name, "")
	if err != nil {
		return u.fail(c, err)
	}
	fv := postedValues(c, ent, fa)
	rec, err := u.d.Records.Create(c.Context(), usr, ent.Name, engineValues(ent, fa, fv, true))
	var ve *records.ValidationError
	if errors.As(err, &ve) {
		return u.formPage(c, fiber.StatusUnprocessableEntity, ent, "", fa, nil, fv, ve, false)
	}
	if err != nil {
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/r/" + ent.Name + "/" + rec.ID() + "?msg=saved")
}

func (u *UI) editForm(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	fa, rec, err := u.d.Records.FormAccess(c.Context(), engineUser(c), ent.Name, c.Params("id"))
	if err != nil {
		return u.fail(c, err)
	}
	if !fa.Allowed {
		return u.errorPage(c, fiber.StatusForbidden, "")
	}
	return u.formPage(c, fiber.StatusOK, ent, rec.ID(), fa, rec, valuesOf(ent, rec), nil, false)
}

func (u *UI) update(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	usr := engineUser(c)
	id := c.Params("id")
	fa, rec, err := u.d.Records.FormAccess(c.Context(), usr, ent.Name, id)
	if err != nil {
		return u.fail(c, err)
	}
	version, _ := strconv.ParseInt(c.FormValue("_version"), 10, 64)
	fv := postedValues(c, ent, fa)
	_, err = u.d.Records.Update(c.Context(), usr, ent.Name, id, version, engineValues(ent, fa, fv, false))
	var ve *records.ValidationError
	switch {
	case errors.As(err, &ve):
		rec["version"] = version
		return u.formPage(c, fiber.StatusUnprocessableEntity, ent, id, fa, rec, fv, ve, false)
	case errors.Is(err, records.ErrConflict):
		rec["version"] = version
		return u.formPage(c, fiber.StatusConflict, ent, id, fa, rec, fv, nil, true)
	case err != nil:
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/r/" + ent.Name + "/" + id + "?msg=saved")
}

// formSections are the template's form sections, or one two-column section
// of every field in order when it has none.
func formSections(ent *template.Entity) []template.FormSectionDecl {
	if len(ent.Decl.Form) > 0 {
		return ent.Decl.Form
	}
	s := template.FormSectionDecl{Columns: 2}
	for _, k := range ent.Decl.Fields.Keys() {
		s.Fields = append(s.Fields, template.Str{V: k})
	}
	return []template.FormSectionDecl{s}
}
