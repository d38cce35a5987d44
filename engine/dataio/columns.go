package dataio

import (
	"strings"

	"github.com/yerp/yerp/engine/template"
)

// column is one column of the file and what it fills.
type column struct {
	index  int
	header string              // as written
	field  string              // top-level field ("lines" for a table column), or a system field
	col    string              // the table's column, "" for a top-level field
	decl   *template.FieldDecl // the field or table column; nil for system fields
	// output columns are read but never written: system fields, state,
	// computed and read-only fields (an export has them; an import skips them).
	output bool
}

// path names the column's field: "code", "lines.qty".
func (c *column) path() string {
	if c.col != "" {
		return c.field + "." + c.col
	}
	return c.field
}

// layout is how a file's columns map onto an entity.
type layout struct {
	ent  *template.Entity
	cols []*column
	key  *column // the key column, nil when the file has none
	// keyField is what records are matched by: "code" (a unique field),
	// "number", or "" (no key: every record is created).
	keyField string
}

// keyField picks the field records are matched by: a unique field named code,
// else the first required unique field, else the number.
func keyField(ent *template.Entity) string {
	if f, ok := ent.Decl.Fields.Get("code"); ok && f != nil && f.Unique {
		return "code"
	}
	for _, fe := range ent.Decl.Fields {
		if fe.Val != nil && fe.Val.Unique && fe.Val.Required && fe.Val.Type.V != "table" {
			return fe.Key.V
		}
	}
	if ent.Decl.Number.V != "" {
		return "number"
	}
	return ""
}

// System columns an export writes and an import reads back: their labels.
var systemLabels = map[string]template.Label{
	"number": {Text: map[string]string{"zh-CN": "编号", "en": "Number"}},
	"state":  {Text: map[string]string{"zh-CN": "状态", "en": "State"}},
}

// systemOnly are system fields recognised by name and never written.
var systemOnly = []string{"id", "version", "owner", "created_at", "created_by", "updated_at", "updated_by"}

func norm(s string) string {
	s = strings.ReplaceAll(s, "\u3000", " ")
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// names are the ways a header may name a field: its name and its labels.
func names(name string, l template.Label) []string {
	out := []string{norm(name)}
	for _, t := range l.Text {
		if t != "" {
			out = append(out, norm(t))
		}
	}
	return out
}

// match finds the entry of fields a header names: a name match wins over a
// label match; two label matches are ambiguous (and name nothing).
func match(h string, fields template.Map[*template.FieldDecl]) (string, *template.FieldDecl, bool) {
	h = norm(h)
	var found []string
	for _, fe := range fields {
		if fe.Val == nil {
			continue
		}
		if norm(fe.Key.V) == h {
			return fe.Key.V, fe.Val, false
		}
		for _, n := range names(fe.Key.V, fe.Val.Label) {
			if n == h {
				found = append(found, fe.Key.V)
				break
			}
		}
	}
	if len(found) == 1 {
		f, _ := fields.Get(found[0])
		return found[0], f, false
	}
	return "", nil, len(found) > 1
}

// mapColumns maps the header row onto ent's fields. Every header that names
// nothing, names a field twice or is ambiguous is a problem of the file.
func mapColumns(ent *template.Entity, header []string, rows [][]string) (*layout, error) {
	lay := &layout{ent: ent, keyField: keyField(ent)}
	var probs []RowError
	seen := map[string]string{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			if columnEmpty(rows, i) {
				continue
			}
			h = columnName(i)
			probs = append(probs, RowError{Row: 1, Column: h, Code: "unknown_column", Params: map[string]any{"column": h}})
			continue
		}
		c, ambiguous := mapColumn(ent, h)
		switch {
		case c == nil && ambiguous:
			probs = append(probs, RowError{Row: 1, Column: h, Code: "ambiguous_column", Params: map[string]any{"column": h}})
			continue
		case c == nil:
			probs = append(probs, RowError{Row: 1, Column: h, Code: "unknown_column", Params: map[string]any{"column": h}})
			continue
		}
		c.index, c.header = i, h
		if prev, dup := seen[c.path()]; dup {
			probs = append(probs, RowError{Row: 1, Column: h, Code: "duplicate_column", Params: map[string]any{"column": h, "field": prev}})
			continue
		}
		seen[c.path()] = h
		if c.col == "" && c.field == lay.keyField && lay.keyField != "" {
			lay.key = c
		}
		lay.cols = append(lay.cols, c)
	}
	if len(probs) > 0 {
		return nil, &FileError{Problems: probs}
	}
	return lay, nil
}

// mapColumn maps one header: a field, "table.column", or a system column.
func mapColumn(ent *template.Entity, h string) (*column, bool) {
	if name, f, amb := match(h, ent.Decl.Fields); f != nil {
		return &column{field: name, decl: f, output: f.Compute.IsSet() || f.Readonly}, false
	} else if amb {
		return nil, true
	}
	if t, c, ok := strings.Cut(h, "."); ok {
		tname, tf, amb := match(t, ent.Decl.Fields)
		if amb {
			return nil, true
		}
		if tf != nil && tf.Type.V == "table" {
			cname, cf, amb := match(c, tf.Fields)
			if cf != nil {
				return &column{field: tname, col: cname, decl: cf, output: cf.Compute.IsSet() || cf.Readonly}, false
			}
			return nil, amb
		}
	}
	for name, l := range systemLabels {
		for _, n := range names(name, l) {
			if n == norm(h) && (name != "number" || ent.Decl.Number.V != "") && (name != "state" || len(ent.Decl.States) > 0) {
				return &column{field: name, output: name != "number"}, false
			}
		}
	}
	for _, name := range systemOnly {
		if norm(h) == name {
			return &column{field: name, output: true}, false
		}
	}
	return nil, false
}

func columnEmpty(rows [][]string, i int) bool {
	for _, r := range rows {
		if i < len(r) && !isSpace(r[i]) && r[i] != "" {
			return false
		}
	}
	return true
}

// columnName is the spreadsheet name of column i (0 → A, 26 → AA).
func columnName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}
