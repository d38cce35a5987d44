package dataio

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
)

// ExportOptions choose what Export writes; the zero value writes every
// record the user may read as CSV with headers in zh-CN.
type ExportOptions struct {
	Format Format   // CSV (default) or XLSX
	Filter string   // the list API's filter: state == 'draft' && total > 100
	Sort   []string // the list API's sort: ["-order_date", "number"]
	// Fields limits the columns to these fields ("lines" for a whole table,
	// "lines.qty" for one column); nil writes every field the user may read.
	Fields []string
	// Names writes field names as headers ("code", "lines.qty") and option
	// values instead of labels in Lang; either imports back.
	Names bool
	Lang  string // "zh-CN" (default) or "en"
}

// Export writes the records of entity that u may read and that match the
// filter, all of them (page by page, without holding the list in memory), to
// w. Columns are the fields u may read, in the template's order: the number
// and the state first when the entity has them, a table as one column per
// table column and one line per table row (the record's own cells repeated
// on each). Links are written as the target's code, else its number, else
// its id; what Export writes imports back as it is. It returns how many
// records it wrote. A bad filter or sort is a *records.ValidationError,
// returned before anything is written.
func Export(ctx context.Context, eng *records.Engine, u records.User, entity string, w io.Writer, opt ExportOptions) (int, error) {
	ent, err := eng.Entity(entity)
	if err != nil {
		return 0, err
	}
	if !records.Readable(ent, u) {
		return 0, fmt.Errorf("%w: you may not read %s", records.ErrForbidden, entity)
	}
	ex := &exporter{ctx: ctx, eng: eng, u: u, ent: ent, opt: opt, lang: lang(opt.Lang), loc: time.Local}
	ex.columns()
	q := records.ListQuery{Filter: opt.Filter, Sort: opt.Sort, Limit: records.MaxPage}
	page, err := eng.List(ctx, u, entity, q)
	if err != nil {
		return 0, err
	}
	var out rowWriter
	if opt.Format == XLSX {
		out, err = newXLSXWriter(w, labelOf(ent.Name, ent.Decl.Label, ex.lang))
		if err != nil {
			return 0, err
		}
	} else {
		out = newCSVWriter(w)
	}
	header := make([]any, len(ex.cols))
	for i, c := range ex.cols {
		header[i] = c.header
	}
	if err := out.write(header); err != nil {
		return 0, err
	}
	n := 0
	for {
		if err := ex.resolve(page.Records); err != nil {
			return n, err
		}
		for _, rec := range page.Records {
			for _, row := range ex.rows(rec) {
				if err := out.write(row); err != nil {
					return n, err
				}
			}
			n++
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
		if page, err = eng.List(ctx, u, entity, q); err != nil {
			return n, err
		}
	}
	return n, out.close()
}

type exporter struct {
	ctx  context.Context
	eng  *records.Engine
	u    records.User
	ent  *template.Entity
	opt  ExportOptions
	lang string
	loc  *time.Location
	cols []*column
	// links maps target entity → id → what is written for it.
	links map[string]map[string]string
}

// columns lists the columns: number, state, then each field the user may
// read (attachments are files, not cells).
func (ex *exporter) columns() {
	hidden := records.HiddenFields(ex.ent, ex.u)
	want := func(path string) bool {
		if len(ex.opt.Fields) == 0 {
			return true
		}
		for _, f := range ex.opt.Fields {
			if f = strings.TrimSpace(f); f == path || strings.HasPrefix(path, f+".") {
				return true
			}
		}
		return false
	}
	head := func(name string, l template.Label) string {
		if ex.opt.Names {
			return name
		}
		return labelOf(name, l, ex.lang)
	}
	if ex.ent.Decl.Number.V != "" && want("number") {
		ex.cols = append(ex.cols, &column{field: "number", header: head("number", systemLabels["number"])})
	}
	if len(ex.ent.Decl.States) > 0 && want("state") {
		ex.cols = append(ex.cols, &column{field: "state", header: head("state", systemLabels["state"])})
	}
	for _, fe := range ex.ent.Decl.Fields {
		f := fe.Val
		if f == nil || hidden[fe.Key.V] || f.Type.V == "attachment" {
			continue
		}
		if f.Type.V != "table" {
			if want(fe.Key.V) {
				ex.cols = append(ex.cols, &column{field: fe.Key.V, decl: f, header: head(fe.Key.V, f.Label)})
			}
			continue
		}
		for _, ce := range f.Fields {
			path := fe.Key.V + "." + ce.Key.V
			if ce.Val == nil || hidden[path] || ce.Val.Type.V == "attachment" || !want(path) {
				continue
			}
			ex.cols = append(ex.cols, &column{field: fe.Key.V, col: ce.Key.V, decl: ce.Val,
				header: head(fe.Key.V, f.Label) + "." + head(ce.Key.V, ce.Val.Label)})
		}
	}
}

// resolve looks up what to write for the links of a page: one query per
// target entity.
func (ex *exporter) resolve(page []records.Record) error {
	want := map[string]map[string]bool{}
	add := func(f *template.FieldDecl, v any) {
		if id, ok := v.(string); ok && id != "" && f.Type.V == "link" {
			if want[f.To.V] == nil {
				want[f.To.V] = map[string]bool{}
			}
			want[f.To.V][id] = true
		}
	}
	for _, rec := range page {
		for _, c := range ex.cols {
			if c.decl == nil || c.decl.Type.V != "link" {
				continue
			}
			if c.col == "" {
				add(c.decl, rec[c.field])
				continue
			}
			rows, _ := rec[c.field].([]any)
			for _, r := range rows {
				if row, ok := r.(map[string]any); ok {
					add(c.decl, row[c.col])
				}
			}
		}
	}
	ex.links = map[string]map[string]string{}
	for to, set := range want {
		target, err := ex.eng.Entity(to)
		if err != nil {
			continue // written as the id
		}
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		recs, err := findIn(ex.ctx, ex.eng, ex.u, to, []string{"id"}, ids)
		if err != nil {
			return err
		}
		m := map[string]string{}
		_, hasCode := target.Decl.Fields.Get("code")
		for _, r := range recs {
			switch {
			case hasCode && r["code"] != nil:
				m[r.ID()] = fmt.Sprint(r["code"])
			case r["number"] != nil:
				m[r.ID()] = fmt.Sprint(r["number"])
			}
		}
		ex.links[to] = m
	}
	return nil
}

// rows are the lines of one record: one per row of its longest table.
func (ex *exporter) rows(rec records.Record) [][]any {
	n := 1
	for _, c := range ex.cols {
		if c.col != "" {
			rows, _ := rec[c.field].([]any)
			n = max(n, len(rows))
		}
	}
	out := make([][]any, n)
	for i := range out {
		line := make([]any, len(ex.cols))
		for j, c := range ex.cols {
			var v any
			if c.col == "" {
				v = rec[c.field]
			} else if rows, _ := rec[c.field].([]any); i < len(rows) {
				if row, ok := rows[i].(map[string]any); ok {
					v = row[c.col]
				}
			}
			line[j] = ex.cell(c, v)
		}
		out[i] = line
	}
	return out
}

// cell formats one value: text, or a decimal (written as a number cell in
// XLSX when a float64 holds it exactly).
func (ex *exporter) cell(c *column, v any) any {
	if v == nil {
		return ""
	}
	if c.decl == nil { // number, state
		s := fmt.Sprint(v)
		if c.field == "state" && !ex.opt.Names {
			if st, ok := ex.ent.Decl.States.Get(s); ok && st != nil {
				return labelOf(s, st.Label, ex.lang)
			}
		}
		return s
	}
	switch c.decl.Type.V {
	case "int", "decimal", "money", "quantity", "percent":
		if d, ok := v.(decimal.Decimal); ok {
			return d
		}
	case "bool":
		b, _ := v.(bool)
		switch {
		case ex.opt.Names:
			return fmt.Sprint(b)
		case ex.lang == "en" && b:
			return "Yes"
		case ex.lang == "en":
			return "No"
		case b:
			return "是"
		default:
			return "否"
		}
	case "select":
		return ex.optionLabel(c.decl, fmt.Sprint(v))
	case "multiselect":
		items, _ := v.([]any)
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = ex.optionLabel(c.decl, fmt.Sprint(it))
		}
		return strings.Join(parts, ", ")
	case "datetime":
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.In(ex.loc).Format("2006-01-02 15:04:05")
			}
		}
	case "link":
		if id, ok := v.(string); ok {
			if s, ok := ex.links[c.decl.To.V][id]; ok {
				return s
			}
		}
	case "json":
		b, err := json.Marshal(v)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

func (ex *exporter) optionLabel(f *template.FieldDecl, v string) string {
	if ex.opt.Names {
		return v
	}
	if l, ok := f.OptionLabels.Get(v); ok {
		return labelOf(v, l, ex.lang)
	}
	return v
}

// labelOf is a label in language l, or else in the other language, or else
// the name.
func labelOf(name string, l template.Label, lg string) string {
	if t := l.Text[lg]; t != "" {
		return t
	}
	for _, other := range []string{"zh-CN", "en"} {
		if t := l.Text[other]; t != "" {
			return t
		}
	}
	return name
}

// rowWriter writes the lines of an export.
type rowWriter interface {
	write(cells []any) error
	close() error
}

type csvWriter struct{ w *csv.Writer }

// newCSVWriter writes UTF-8 with a byte-order mark, which Excel needs to
// open Chinese text correctly.
func newCSVWriter(w io.Writer) *csvWriter {
	_, _ = w.Write(utf8BOM)
	return &csvWriter{w: csv.NewWriter(w)}
}

func (c *csvWriter) write(cells []any) error {
	rec := make([]string, len(cells))
	for i, v := range cells {
		if s, ok := v.(string); ok {
			rec[i] = defuse(s)
		} else {
			rec[i] = fmt.Sprint(v)
		}
	}
	return c.w.Write(rec)
}

// defuse keeps a spreadsheet from running text as a formula (CSV injection):
// text that starts like a formula gets a leading apostrophe, which an import
// takes off again. Numbers are not text here and keep their sign.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *csvWriter) close() error {
	c.w.Flush()
	return c.w.Error()
}

type xlsxWriter struct {
	out io.Writer
	f   *excelize.File
	sw  *excelize.StreamWriter
	row int
}

func newXLSXWriter(w io.Writer, title string) (*xlsxWriter, error) {
	f := excelize.NewFile()
	name := sheetName(title)
	if err := f.SetSheetName("Sheet1", name); err != nil {
		return nil, fmt.Errorf("dataio: xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return nil, fmt.Errorf("dataio: xlsx: %w", err)
	}
	return &xlsxWriter{out: w, f: f, sw: sw}, nil
}

func (x *xlsxWriter) write(cells []any) error {
	x.row++
	vals := make([]any, len(cells))
	for i, v := range cells {
		vals[i] = v
		if d, ok := v.(decimal.Decimal); ok {
			vals[i] = d.String()
			if f, exact := floatOf(d); exact {
				vals[i] = f
			}
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, x.row)
	return x.sw.SetRow(cell, vals)
}

func (x *xlsxWriter) close() error {
	if err := x.sw.Flush(); err != nil {
		return fmt.Errorf("dataio: xlsx: %w", err)
	}
	_, err := x.f.WriteTo(x.out)
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// floatOf returns d as a float64 when the float's shortest text is d itself
// (so the cell reads back exactly).
func floatOf(d decimal.Decimal) (float64, bool) {
	var f float64
	if _, err := fmt.Sscan(d.String(), &f); err != nil {
		return 0, false
	}
	back, err := decimal.FromFloat(f)
	return f, err == nil && back.Equal(d) && len(strings.TrimLeft(strings.ReplaceAll(d.String(), ".", ""), "-0")) <= 15
}

// sheetName makes a valid sheet name: at most 31 characters, none of []:*?/\.
func sheetName(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > 31 {
		s = string([]rune(s)[:31])
	}
	if s == "" {
		s = "Sheet1"
	}
	return s
}
