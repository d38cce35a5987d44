package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/yerp/yerp/engine/store"
)

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, coll, id string) (_ store.Doc, err error) {
	defer classified(&err)
	if err := store.CheckCollection(coll); err != nil {
		return nil, err
	}
	if ci, err := s.lookup(ctx, coll); err != nil {
		return nil, err
	} else if ci == nil {
		return nil, fmt.Errorf("sqlite: get %s/%s: %w", coll, id, store.ErrNotFound)
	}
	var (
		v    int64
		data string
	)
	err = s.queryRow(ctx, `SELECT v, doc FROM `+table(coll)+` WHERE id = ?`, id).Scan(&v, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get %s/%s: %w", coll, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s/%s: %w", coll, id, err)
	}
	return decode(id, v, []byte(data))
}

// findSQL builds the statement of a checked query: it selects id, v, the
// document, rid and the sort-key values (for the next cursor). cond, when not
// nil, adds the condition of one keyset branch (see branches), whose first
// fixed sort keys are constant and left out of the ORDER BY (SQLite does not
// see that an expression compared with = is constant, and would sort).
func findSQL(coll string, ci *collInfo, q store.Query, cond *branch, limit int) (string, []any) {
	var b sqlBuf
	fixed := 0
	if cond != nil {
		fixed = cond.fixed
	}
	arms := orArms(q.Filter)
	if len(q.Sort) == 0 || arms == nil {
		b.WriteString("SELECT id, v, doc, rid")
		for _, k := range q.Sort {
			b.WriteString(", " + jsonExpr(k.Path))
		}
		b.WriteString(" FROM " + table(coll) + " WHERE ")
		b.where(ci, q.Filter)
		if cond != nil {
			b.WriteString(" AND ")
			cond.where(&b)
		}
		b.orderBy(q.Sort, fixed, "", limit)
		return b.String(), b.args
	}
	// A sorted page over a disjunction (a read rule such as owner == me ||
	// transfer_to == me): each arm is its own sorted, limited query, so that
	// each can walk the index that suits it, and the union of the arms'
	// first rows is sorted and cut again. As one query, SQLite would rather
	// walk the sort's index and test the disjunction on every row, reading
	// a large part of the collection for a selective page.
	b.WriteString("SELECT id, v, d, rid")
	for i := range q.Sort {
		b.WriteString(", k" + strconv.Itoa(i))
	}
	b.WriteString(" FROM (")
	for a, arm := range arms {
		if a > 0 {
			b.WriteString(" UNION ")
		}
		b.WriteString("SELECT * FROM (SELECT id, v, doc AS d, rid")
		for i, k := range q.Sort {
			b.WriteString(", " + jsonExpr(k.Path) + " AS k" + strconv.Itoa(i))
		}
		b.WriteString(" FROM " + table(coll) + " WHERE ")
		b.where(ci, arm)
		if cond != nil {
			b.WriteString(" AND ")
			cond.where(&b)
		}
		b.orderBy(q.Sort, fixed, "", limit)
		b.WriteString(")")
	}
	b.WriteString(")")
	b.orderBy(q.Sort, fixed, "k", limit)
	return b.String(), b.args
}

// orderBy writes ORDER BY the sort keys from the first one that is not
// fixed (by their expressions, or by the result columns named prefix+i when
// prefix is set), then the rowid, and LIMIT. The rowid breaks ties. It is the
// hidden last column of every index, so a sort served by an index declared
// in the same directions needs no sorting.
func (b *sqlBuf) orderBy(keys []store.SortKey, fixed int, prefix string, limit int) {
	b.WriteString(" ORDER BY ")
	for i := fixed; i < len(keys); i++ {
		if prefix != "" {
			b.WriteString(prefix + strconv.Itoa(i))
		} else {
			b.WriteString(jsonExpr(keys[i].Path))
		}
		if keys[i].Desc {
			b.WriteString(" DESC")
		}
		b.WriteString(", ")
	}
	b.WriteString("rid LIMIT " + strconv.Itoa(limit))
}

// orArms returns the arms of a filter that is a disjunction, or a
// conjunction with one disjunction among its terms (each arm then holds the
// other terms too), and nil for any other filter. Nested conjunctions and
// disjunctions of one term or of their own kind are flattened first: the
// read rules of a user's roles arrive as a disjunction of the roles' rules.
func orArms(f store.Filter) []store.Filter {
	var terms []store.Filter
	flat(f, store.OpAnd, &terms)
	or := -1
	var arms []store.Filter
	for i, t := range terms {
		if l, ok := t.(*store.Logic); ok && l.Op == store.OpOr {
			if or >= 0 {
				return nil // two disjunctions: their product could be large
			}
			or = i
			flat(l, store.OpOr, &arms)
		}
	}
	if or < 0 || len(arms) < 2 || len(arms) > 8 {
		return nil
	}
	rest := append(slices.Clone(terms[:or]), terms[or+1:]...)
	for i, a := range arms {
		arms[i] = store.And(append(slices.Clone(rest), a)...)
	}
	return arms
}

// flat appends the terms of f under op to terms: the arguments of f and of
// the logic nodes of op within it, with one-argument logic nodes of either
// kind replaced by their argument.
func flat(f store.Filter, op store.LogicOp, terms *[]store.Filter) {
	if l, ok := f.(*store.Logic); ok && (l.Op == op || len(l.Args) == 1 && l.Op != store.OpNot) {
		for _, a := range l.Args {
			flat(a, op, terms)
		}
		return
	}
	*terms = append(*terms, f)
}

// branches splits "every row after the cursor" into conditions that are each
// one index range, listed in sort order: first the rows that tie with the
// cursor on every key (rid after), then those that tie on all keys but the last
// and come after it on that key, and so on up to the first key. In descending
// order nulls come last, so "after v" is two ranges there: below v, then null.
func branches(sort []store.SortKey, vals []any, rid int64) []*branch {
	eqPrefix := func(b *sqlBuf, n int) {
		for j := 0; j < n; j++ {
			e := jsonExpr(sort[j].Path)
			if vals[j] == nil {
				b.WriteString(e + " IS NULL AND ")
			} else {
				b.WriteString(e + " = ")
				b.arg(vals[j])
				b.WriteString(" AND ")
			}
		}
	}
	out := []*branch{{len(sort), func(b *sqlBuf) {
		eqPrefix(b, len(sort))
		b.WriteString("rid > ")
		b.arg(rid)
	}}}
	for i := len(sort) - 1; i >= 0; i-- {
		e := jsonExpr(sort[i].Path)
		switch {
		case !sort[i].Desc && vals[i] == nil:
			out = append(out, &branch{i, func(b *sqlBuf) { eqPrefix(b, i); b.WriteString(e + " IS NOT NULL") }})
		case !sort[i].Desc:
			out = append(out, &branch{i, func(b *sqlBuf) { eqPrefix(b, i); b.WriteString(e + " > "); b.arg(vals[i]) }})
		case vals[i] == nil:
			// nothing comes after null in descending order
		default:
			out = append(out,
				&branch{i, func(b *sqlBuf) { eqPrefix(b, i); b.WriteString(e + " < "); b.arg(vals[i]) }},
				&branch{i + 1, func(b *sqlBuf) { eqPrefix(b, i); b.WriteString(e + " IS NULL") }})
		}
	}
	return out
}

// branch is one index range of the rows after a cursor: its condition, and how
// many leading sort keys it holds constant.
type branch struct {
	fixed int
	where func(*sqlBuf)
}

// Find implements store.Store.
func (s *Store) Find(ctx context.Context, coll string, q store.Query) (_ store.Page, err error) {
	defer classified(&err)
	if err := store.CheckCollection(coll); err != nil {
		return store.Page{}, err
	}
	q, err = store.CheckQuery(q)
	if err != nil {
		return store.Page{}, err
	}
	var cur *store.Cursor
	var rid int64
	if q.After != "" {
		c, err := store.DecodeCursor(q.Sort, q.After)
		if err != nil {
			return store.Page{}, err
		}
		if rid, err = strconv.ParseInt(c.ID, 10, 64); err != nil {
			return store.Page{}, fmt.Errorf("%w: cursor is damaged", store.ErrInvalid)
		}
		cur = &c
	}
	ci, err := s.lookup(ctx, coll)
	if err != nil {
		return store.Page{}, err
	}
	if ci == nil {
		return store.Page{}, nil
	}
	conds := []*branch{nil}
	if cur != nil {
		conds = branches(q.Sort, cur.Values, rid)
	}
	// Read one row more than the page to know whether another page follows.
	var page store.Page
	var last store.Cursor
	for _, cond := range conds {
		text, args := findSQL(coll, ci, q, cond, q.Limit+1-len(page.Docs))
		more, err := s.findRows(ctx, coll, text, args, q, &page, &last)
		if err != nil {
			return store.Page{}, err
		}
		if more {
			if page.Next, err = store.EncodeCursor(q.Sort, last); err != nil {
				return store.Page{}, err
			}
			break
		}
	}
	return page, nil
}

// findRows appends the rows of one statement to page until it holds q.Limit
// documents; more reports that a further row exists.
func (s *Store) findRows(ctx context.Context, coll, text string, args []any, q store.Query, page *store.Page, last *store.Cursor) (more bool, err error) {
	rows, err := s.query(ctx, text, args...)
	if err != nil {
		return false, fmt.Errorf("sqlite: find in %s: %w", coll, err)
	}
	defer rows.Close()
	for rows.Next() {
		if len(page.Docs) == q.Limit {
			return true, nil
		}
		var (
			id   string
			v    int64
			data string
			r    int64
		)
		keys := make([]any, len(q.Sort))
		dest := []any{&id, &v, &data, &r}
		for i := range keys {
			dest = append(dest, &keys[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return false, fmt.Errorf("sqlite: find in %s: %w", coll, err)
		}
		d, err := decode(id, v, []byte(data))
		if err != nil {
			return false, err
		}
		page.Docs = append(page.Docs, project(d, q.Fields))
		for i, k := range keys {
			if b, ok := k.([]byte); ok {
				keys[i] = string(b)
			}
		}
		*last = store.Cursor{Values: keys, ID: strconv.FormatInt(r, 10)}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("sqlite: find in %s: %w", coll, err)
	}
	return false, nil
}

// project keeps the requested top-level fields (and _id, _v) of d.
func project(d store.Doc, fields []string) store.Doc {
	if fields == nil {
		return d
	}
	out := store.Doc{store.IDField: d[store.IDField], store.VersionField: d[store.VersionField]}
	for _, f := range fields {
		if v, ok := d[f]; ok {
			out[f] = v
		}
	}
	return out
}

// Count implements store.Store.
func (s *Store) Count(ctx context.Context, coll string, f store.Filter) (_ int64, err error) {
	defer classified(&err)
	if err := store.CheckCollection(coll); err != nil {
		return 0, err
	}
	f, err = store.CheckFilter(f, false)
	if err != nil {
		return 0, err
	}
	ci, err := s.lookup(ctx, coll)
	if err != nil {
		return 0, err
	}
	if ci == nil {
		return 0, nil
	}
	var b sqlBuf
	b.WriteString("SELECT count(*) FROM " + table(coll) + " WHERE ")
	b.where(ci, f)
	var n int64
	if err := s.queryRow(ctx, b.String(), b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", coll, err)
	}
	return n, nil
}

// Explain returns SQLite's query plan for a Find, one step per line; tests use
// it to prove that declared indexes serve filters and sorts.
func (s *Store) Explain(ctx context.Context, coll string, q store.Query) (string, error) {
	q, err := store.CheckQuery(q)
	if err != nil {
		return "", err
	}
	ci, err := s.lookup(ctx, coll)
	if err != nil {
		return "", err
	}
	if ci == nil {
		return "", fmt.Errorf("sqlite: explain %s: %w", coll, store.ErrNotFound)
	}
	text, args := findSQL(coll, ci, q, nil, q.Limit+1)
	return s.explain(ctx, text, args)
}

// explain returns the query plan of one statement.
func (s *Store) explain(ctx context.Context, text string, args []any) (string, error) {
	rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+text, args...)
	if err != nil {
		return "", fmt.Errorf("sqlite: explain: %w", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", fmt.Errorf("sqlite: explain: %w", err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n"), rows.Err()
}
