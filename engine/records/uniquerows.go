package records

import (
	"fmt"

	"github.com/yerp/yerp/engine/template"
)

// uniqueRows reports, with the code "duplicate" at the cell (lines[3].item),
// every row of table whose value in a column declared unique: true an
// earlier row already holds; the param row is that earlier row, counted
// from 1. Empty values are not compared. One pass over the rows per unique
// column: a count sheet of 5,000 lines costs 5,000 lookups, where the rule
// all(lines, let it = .item.id; count(lines, .item.id == it) == 1) costs 25
// million evaluations.
func uniqueRows(ve *ValidationError, table string, f *template.FieldDecl, rows []any) {
	for _, col := range f.Fields {
		if col.Val == nil || !col.Val.Unique {
			continue
		}
		seen := make(map[string]int, len(rows))
		for i, r := range rows {
			row, _ := r.(map[string]any)
			v := row[col.Key.V]
			if isEmpty(v) {
				continue
			}
			k := uniqueKey(v)
			if j, dup := seen[k]; dup {
				ve.add(fmt.Sprintf("%s[%d].%s", table, i, col.Key.V), "duplicate", map[string]any{"row": j + 1})
				continue
			}
			seen[k] = i
		}
	}
}
