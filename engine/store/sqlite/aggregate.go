package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/yerp/yerp/engine/decimal"

	"github.com/yerp/yerp/engine/store"
)

// Aggregate implements store.Store: the match, the grouping and every
// accumulator run in SQL; the few result rows are ordered and cut in Go with the
// same order as the other backend (store.SortRows).
func (s *Store) Aggregate(ctx context.Context, coll string, a store.Aggregation) (_ []store.Doc, err error) {
	defer classified(&err)
	if err := store.CheckCollection(coll); err != nil {
		return nil, err
	}
	a, err = store.CheckAggregation(a)
	if err != nil {
		return nil, err
	}
	ci, err := s.lookup(ctx, coll)
	if err != nil {
		return nil, err
	}
	if ci == nil {
		return []store.Doc{}, nil
	}
	// src(path) is the JSON document and path inside it that a group key or
	// accumulator reads: with Unwind, paths below the unwound array read the
	// element (u.value), the others the parent document.
	src := func(path string) (doc, p string) {
		if a.Unwind != "" && strings.HasPrefix(path, a.Unwind+".") {
			return "u.value", strings.TrimPrefix(path, a.Unwind+".")
		}
		return "doc", path
	}
	var b sqlBuf
	b.WriteString("SELECT ")
	var cols []string
	for _, g := range a.GroupBy {
		doc, p := src(g)
		if n, ok := a.Truncate[g]; ok {
			cols = append(cols, fmt.Sprintf("CASE WHEN json_type(%s,'$.%s') = 'text' THEN json_quote(substr(json_extract(%s,'$.%s'),1,%d)) END", doc, p, doc, p, n))
			continue
		}
		// The JSON text of the value (null and missing as SQL NULL) groups and
		// reads back every type exactly.
		cols = append(cols, "nullif("+doc+" -> '$."+p+"', 'null')")
	}
	groupCols := len(cols)
	for _, acc := range a.Accumulators {
		doc, p := src(acc.Path)
		e := "json_extract(" + doc + ",'$." + p + "')"
		if acc.Path == store.IDField {
			e = jsonExpr(acc.Path)
		}
		typ := "json_type(" + doc + ",'$." + p + "')"
		switch acc.Op {
		case store.Count:
			cols = append(cols, "count(*)")
		case store.Sum:
			cols = append(cols, "sum(CASE WHEN "+typ+" = 'integer' THEN "+e+" END)")
		case store.Avg:
			cols = append(cols, "sum(CASE WHEN "+typ+" = 'integer' THEN "+e+" END)", "count(CASE WHEN "+typ+" = 'integer' THEN 1 END)")
		case store.Min, store.Max:
			cols = append(cols, string(acc.Op)+"(CASE WHEN "+typ+" IN ('integer','text') THEN "+e+" END)")
		}
	}
	cols = append(cols, "count(*)") // documents in the group: none means no group
	b.WriteString(strings.Join(cols, ", "))
	if a.Unwind != "" {
		// The match runs on the parent documents; json_each then gives one row
		// per element (none for a missing or empty array).
		b.WriteString(" FROM (SELECT doc FROM " + table(coll) + " WHERE ")
		b.where(ci, a.Match)
		b.WriteString(") AS m, json_each(m.doc, '$." + a.Unwind + "') AS u WHERE u.type = 'object'")
	} else {
		b.WriteString(" FROM " + table(coll) + " WHERE ")
		b.where(ci, a.Match)
	}
	if groupCols > 0 {
		b.WriteString(" GROUP BY ")
		for i := range groupCols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(cols[i])
		}
	}
	rows, err := s.query(ctx, b.String(), b.args...)
	if err != nil {
		if strings.Contains(err.Error(), "integer overflow") {
			return nil, fmt.Errorf("%w: aggregate %s: a sum exceeds %s", store.ErrInvalid, coll, store.MaxAbs)
		}
		return nil, fmt.Errorf("sqlite: aggregate %s: %w", coll, err)
	}
	defer rows.Close()
	out := []store.Doc{}
	for rows.Next() {
		vals := make([]any, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: aggregate %s: %w", coll, err)
		}
		row := store.Doc{}
		for i, g := range a.GroupBy {
			v, err := groupValue(vals[i])
			if err != nil {
				return nil, fmt.Errorf("sqlite: aggregate %s: %w", coll, err)
			}
			row[g] = v
		}
		i := groupCols
		for _, acc := range a.Accumulators {
			switch acc.Op {
			case store.Count:
				row[acc.As] = vals[i].(int64)
			case store.Sum:
				row[acc.As] = decimal.FromScaled(intOrZero(vals[i]), store.Scale)
			case store.Avg:
				row[acc.As] = store.Average(decimal.FromScaled(intOrZero(vals[i]), store.Scale), vals[i+1].(int64))
				i++
			default:
				row[acc.As] = storeValue(vals[i])
			}
			i++
		}
		if vals[len(vals)-1].(int64) == 0 {
			continue // SQL gives one row without GROUP BY even when nothing matched
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		if strings.Contains(err.Error(), "integer overflow") {
			return nil, fmt.Errorf("%w: aggregate %s: a sum exceeds %s", store.ErrInvalid, coll, store.MaxAbs)
		}
		return nil, fmt.Errorf("sqlite: aggregate %s: %w", coll, err)
	}
	store.SortRows(out, a)
	if a.Limit > 0 && len(out) > a.Limit {
		out = out[:a.Limit]
	}
	return out, nil
}

func intOrZero(v any) int64 {
	n, _ := v.(int64)
	return n
}

// groupValue reads the JSON text of a group key back into the value model.
func groupValue(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return parseJSON([]byte(x))
	case []byte:
		return parseJSON(x)
	}
	return nil, fmt.Errorf("group key of type %T", v)
}
