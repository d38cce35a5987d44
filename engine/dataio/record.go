package dataio

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/yerp/yerp/engine/records"
)

// built is one record's values as the engine takes them, and where each came
// from in the file.
type built struct {
	values map[string]any
	first  int                // data row of the record's first row
	tables map[string][]int   // table → data row of each of its rows
	errs   []RowError         // problems found while reading the cells
	cols   map[string]*column // field path ("code", "lines.qty") → its column
}

// record checks and writes one record (or only checks it, on a dry run).
func (im *importer) record(g *group, existing records.Record) error {
	if len(g.errs) > 0 {
		im.fail(g.errs)
		return nil
	}
	b := im.build(g, existing)
	if len(b.errs) > 0 {
		im.fail(b.errs)
		return nil
	}
	if existing != nil {
		return im.update(g, b, existing)
	}
	return im.create(g, b)
}

func (im *importer) create(g *group, b *built) error {
	if im.opt.DryRun {
		if _, err := im.eng.ValidateCreate(im.ctx, im.u, im.ent.Name, b.values); err != nil {
			return im.refused(g, b, err)
		}
		if errs := im.sameFile(g, b); len(errs) > 0 {
			im.fail(errs)
			return nil
		}
		im.res.Created++
		return nil
	}
	im.pending = append(im.pending, pendingCreate{g: g, b: b, slot: im.slot})
	return nil
}

func (im *importer) update(g *group, b *built, existing records.Record) error {
	chk, err := im.eng.ValidateUpdate(im.ctx, im.u, im.ent.Name, existing.ID(), existing.Version(), b.values)
	if err != nil {
		return im.refused(g, b, err)
	}
	if !chk.Changed {
		im.res.Unchanged++
		return nil
	}
	if im.opt.DryRun {
		im.res.Updated++
		return nil
	}
	if _, err := im.eng.Update(im.ctx, im.u, im.ent.Name, existing.ID(), existing.Version(), b.values); err != nil {
		return im.refused(g, b, err)
	}
	im.res.Updated++
	return nil
}

// sameFile reports, on a dry run, unique values that an earlier record of
// the same file already uses (the store refuses them only when written).
func (im *importer) sameFile(g *group, b *built) []RowError {
	var out []RowError
	for _, fe := range im.ent.Decl.Fields {
		if fe.Val == nil || !fe.Val.Unique {
			continue
		}
		s, ok := b.values[fe.Key.V].(string)
		if !ok || s == "" {
			continue
		}
		if im.unique[fe.Key.V] == nil {
			im.unique[fe.Key.V] = map[string]bool{}
		}
		if im.unique[fe.Key.V][s] {
			out = append(out, im.rowError(g, b, records.FieldError{Path: fe.Key.V, Code: "unique"}))
		}
		im.unique[fe.Key.V][s] = true
	}
	return out
}

// refused reports why the engine refused a record; an error that is not
// about the record (the store failed) stops the import.
func (im *importer) refused(g *group, b *built, err error) error {
	var ve *records.ValidationError
	switch {
	case errors.As(err, &ve):
		errs := make([]RowError, 0, len(ve.Errors))
		for _, fe := range ve.Errors {
			errs = append(errs, im.rowError(g, b, fe))
		}
		im.fail(errs)
	case errors.Is(err, records.ErrForbidden):
		im.fail([]RowError{im.rowError(g, b, records.FieldError{Code: "forbidden",
			Params: map[string]any{"message": strings.TrimPrefix(err.Error(), "records: forbidden: ")}})})
	case errors.Is(err, records.ErrConflict):
		im.fail([]RowError{im.rowError(g, b, records.FieldError{Code: "changed_meanwhile"})})
	case errors.Is(err, records.ErrNotFound):
		im.fail([]RowError{im.rowError(g, b, records.FieldError{Code: "not_found"})})
	default:
		return fmt.Errorf("dataio: row %d: %w", fileRow(b.first), err)
	}
	return nil
}

func (im *importer) fail(errs []RowError) {
	im.res.Failed++
	for i := range errs {
		errs[i].Message = render(im.lang, records.FieldError{Path: errs[i].Field, Code: errs[i].Code, Params: errs[i].Params}, im.opt.Message)
	}
	if im.slots != nil {
		im.slots[im.slot] = append(im.slots[im.slot], errs...)
		return
	}
	im.res.Errors = append(im.res.Errors, errs...)
}

var rowPath = regexp.MustCompile(`^([A-Za-z0-9_]+)\[(\d+)\]\.([A-Za-z0-9_]+)$`)

// rowError places an engine field error at the file row and column it comes
// from: "lines[2].qty" is the third table row's qty cell. A field that has no
// column in the file is named by its label.
func (im *importer) rowError(g *group, b *built, fe records.FieldError) RowError {
	re := RowError{Row: fileRow(b.first), Field: fe.Path, Key: g.key, Code: fe.Code, Params: fe.Params}
	path := fe.Path
	if m := rowPath.FindStringSubmatch(fe.Path); m != nil {
		n, _ := strconv.Atoi(m[2])
		if rows := b.tables[m[1]]; n < len(rows) {
			re.Row = fileRow(rows[n])
		}
		path = m[1] + "." + m[3]
	}
	if c := b.cols[path]; c != nil {
		re.Column = c.header
	} else if path != "" {
		re.Column = im.label(path)
	}
	return re
}

// label is a field's (or "table.column"'s) label in the import's language.
func (im *importer) label(path string) string {
	t, c, isCol := strings.Cut(path, ".")
	f, ok := im.ent.Decl.Fields.Get(t)
	if !ok || f == nil {
		return path
	}
	out := labelOf(t, f.Label, im.lang)
	if isCol {
		cf, ok := f.Fields.Get(c)
		if !ok || cf == nil {
			return out + "." + c
		}
		out += "." + labelOf(c, cf.Label, im.lang)
	}
	return out
}

// build turns a record's rows into the values the engine takes. Record-level
// cells are read from the first row that has them; a later row with another
// value is a conflict. Each row with table cells is one table row, matched by
// position with the stored rows so that an unchanged file changes nothing.
func (im *importer) build(g *group, existing records.Record) *built {
	b := &built{values: map[string]any{}, first: g.rows[0], tables: map[string][]int{}, cols: map[string]*column{}}
	for _, c := range im.lay.cols {
		b.cols[c.path()] = c
	}
	// Record-level fields.
	for _, c := range im.lay.cols {
		if c.col != "" || c.output || c.decl == nil {
			continue
		}
		val, from := "", -1
		for _, i := range g.rows {
			s := im.cell(i, c)
			if s == "" {
				continue
			}
			if from < 0 {
				val, from = s, i
				continue
			}
			if s != val {
				b.errs = append(b.errs, RowError{Row: fileRow(i), Column: c.header, Field: c.field, Key: g.key, Code: "conflict_value",
					Params: map[string]any{"first": val, "other": s}})
			}
		}
		if from < 0 {
			// An empty cell clears a stored value; on a new record it leaves
			// the field to its default.
			if existing != nil && !isEmpty(existing[c.field]) {
				b.values[c.field] = nil
			}
			continue
		}
		b.values[c.field] = im.value(c, val)
	}
	// Tables the file fills: one row per file row with cells of the table.
	tables := map[string]bool{}
	for _, c := range im.lay.cols {
		if c.col != "" && !c.output {
			tables[c.field] = true
		}
	}
	for table := range tables {
		var stored []any
		if existing != nil {
			stored, _ = existing[table].([]any)
		}
		var rows []any
		for _, i := range g.rows {
			row := map[string]any{}
			for _, c := range im.tableCols(table) {
				if s := im.cell(i, c); s != "" {
					row[c.col] = im.value(c, s)
				}
			}
			if len(row) == 0 {
				continue
			}
			if n := len(rows); n < len(stored) {
				if old, ok := stored[n].(map[string]any); ok && old["_row"] != nil {
					row["_row"] = old["_row"]
				}
			}
			rows = append(rows, row)
			b.tables[table] = append(b.tables[table], i)
		}
		if rows == nil {
			rows = []any{}
		}
		b.values[table] = rows
	}
	return b
}

// tableCols are the written columns of a table in the file.
func (im *importer) tableCols(table string) []*column {
	var out []*column
	for _, c := range im.lay.cols {
		if c.field == table && c.col != "" && !c.output {
			out = append(out, c)
		}
	}
	return out
}

// value converts a cell for its column.
func (im *importer) value(c *column, s string) any {
	if c.decl.Type.V == "link" {
		return im.linkID(c.decl, s)
	}
	return cellValue(c.decl, s, im.sh, im.loc)
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}
