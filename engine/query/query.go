// Package query turns a filter written in expression syntax into a store.Filter.
//
// It serves two callers: the REST list endpoint, whose filter parameter is
// written by users and the UI (state == 'draft' && total > 100), and template
// access rules ('finance' in user.roles || owner == user.id), which must become
// filters pushed down to the database rather than be evaluated record by record.
//
// The syntax is a small subset of expr-lang, parsed with expr's own parser:
//
//	field == value   field != value   field < value   field <= value
//	field > value    field >= value   (or value OP field: the operator is flipped)
//	field in [v1, v2]   field not in [v1, v2]   not (field in [...])
//	field startsWith 'prefix'
//	a && b   a and b   a || b   a or b   !a   not a   (a)
//	bool_field   !bool_field   true   false
//
// A field is a name from the Schema, or a path into a table's columns
// ("lines.item": some row matches). A value is a string, a number (read from its
// text, so 0.1 stays exactly 0.1; a leading - or + is allowed), true, false, nil
// (only with == and !=), a list literal (only on the right of in) or a path into
// Vars (user.id, user.roles). A comparison whose sides are both values, such as
// 'finance' in user.roles, is folded to a constant: true is store.And() and false
// is store.Or(), and And/Or simplify around them.
//
// Everything else — function calls, arithmetic, field-to-field comparisons,
// contains/endsWith/matches, indexing, the conditional operator — is refused with
// an *Error that gives the column and says what is allowed. Field names never
// come from string literals, and every path segment must be an identifier
// accepted by store.CheckPath, so input such as {"$where": "1"} or $gt == 1 can
// only produce an error.
package query

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/yerp/yerp/engine/store"
)

// Field describes one field a filter may use.
type Field struct {
	// Type is a template field type: text, longtext, int, decimal, money,
	// quantity, percent, bool, date, datetime, select, multiselect, link, user,
	// table, email, phone, barcode, attachment or json.
	Type string
	// Fields are the columns of a table field (path "lines.item").
	Fields map[string]Field
}

// Schema describes the fields a filter may use: top-level field name -> Field.
// The caller adds the system fields it wants to allow: id (text), number (text),
// state (text), owner (user), created_at (datetime). The field "id" is the
// record id and is filtered as the store's _id.
type Schema map[string]Field

// Vars are names bound to constants, e.g.
// {"user": map[string]any{"id": "u1", "roles": []string{"sales"}}}. A var
// shadows a field of the same name. Values may be nil, bool, string, Go numbers,
// decimal.Decimal, time.Time, slices of those and string-keyed maps.
type Vars map[string]any

// Limits on the input.
const (
	// MaxLen is the longest source accepted, in bytes.
	MaxLen = 4000
	// MaxDepth is the deepest nesting accepted. A chain of one operator
	// (a && b && c) counts as one level; each !, parenthesised group of another
	// operator and comparison adds one.
	MaxDepth = 32
	// MaxComparisons is the most comparisons (==, in, startsWith, bare bool
	// fields...) one filter may hold.
	MaxComparisons = 200
)

// allowed is appended to errors about unsupported syntax.
const allowed = "a filter allows only comparisons of a field with a value (== != < <= > >=), joined with &&, || and !; field in [...]; field startsWith '...'"

// Error is a filter that cannot be translated. Col is the 1-based position in
// src, counted in characters (runes); Msg says what is wrong and what is allowed.
// Errors match store.ErrInvalid with errors.Is.
type Error struct {
	Col int
	Msg string
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("filter: column %d: %s", e.Col, e.Msg) }

// Unwrap makes errors.Is(err, store.ErrInvalid) true: the filter is malformed input.
func (e *Error) Unwrap() error { return store.ErrInvalid }

// Parse translates src into a store filter over the fields of schema, with the
// names in vars bound to constants. The result has passed store.CheckFilter.
// Every error is an *Error.
func Parse(src string, schema Schema, vars Vars) (f store.Filter, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &Error{Col: 1, Msg: fmt.Sprintf("internal error while reading the filter: %v", r)}
		}
	}()
	if len(src) > MaxLen {
		return nil, &Error{Col: 1, Msg: fmt.Sprintf("the filter is %d bytes long; at most %d are allowed", len(src), MaxLen)}
	}
	if !utf8.ValidString(src) {
		col := 1
		for i := 0; i < len(src); {
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
			col++
		}
		return nil, &Error{Col: col, Msg: "the filter is not valid UTF-8"}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Col: 1, Msg: "the filter is empty; " + allowed}
	}
	tree, perr := parser.Parse(src)
	if perr != nil {
		var fe *file.Error
		if errors.As(perr, &fe) {
			return nil, &Error{Col: max(fe.From+1, 1), Msg: "syntax error: " + fe.Message}
		}
		return nil, &Error{Col: 1, Msg: "syntax error: " + perr.Error()}
	}
	if tree == nil || tree.Node == nil {
		return nil, &Error{Col: 1, Msg: "the filter is empty; " + allowed}
	}
	t := &translator{src: []rune(src), schema: schema, vars: vars}
	out, err := t.cond(tree.Node, 1)
	if err != nil {
		return nil, err
	}
	checked, err := store.CheckFilter(out, false)
	if err != nil {
		return nil, &Error{Col: 1, Msg: fmt.Sprintf("the filter does not fit the store: %v", err)}
	}
	return checked, nil
}

// isConst reports whether f is a constant: And of nothing (true) or Or of
// nothing (false).
func isConst(f store.Filter) (value, ok bool) {
	l, isLogic := f.(*store.Logic)
	if !isLogic || len(l.Args) != 0 {
		return false, false
	}
	switch l.Op {
	case store.OpAnd:
		return true, true
	case store.OpOr:
		return false, true
	}
	return false, false
}

// constant returns the filter for a condition known in advance.
func constant(b bool) store.Filter {
	if b {
		return store.And()
	}
	return store.Or()
}

// IsTrue reports whether f is the constant true filter (And of nothing), which
// Parse returns for a condition that holds for every record.
func IsTrue(f store.Filter) bool { v, ok := isConst(f); return ok && v }

// IsFalse reports whether f is the constant false filter (Or of nothing), which
// Parse returns for a condition that holds for no record.
func IsFalse(f store.Filter) bool { v, ok := isConst(f); return ok && !v }

// and combines filters with And, flattening nested Ands and folding constants.
func and(fs []store.Filter) store.Filter {
	var out []store.Filter
	for _, f := range fs {
		if v, ok := isConst(f); ok {
			if !v {
				return constant(false)
			}
			continue
		}
		if l, ok := f.(*store.Logic); ok && l.Op == store.OpAnd {
			out = append(out, l.Args...)
			continue
		}
		out = append(out, f)
	}
	switch len(out) {
	case 0:
		return constant(true)
	case 1:
		return out[0]
	}
	return store.And(out...)
}

// or combines filters with Or, flattening nested Ors and folding constants.
func or(fs []store.Filter) store.Filter {
	var out []store.Filter
	for _, f := range fs {
		if v, ok := isConst(f); ok {
			if v {
				return constant(true)
			}
			continue
		}
		if l, ok := f.(*store.Logic); ok && l.Op == store.OpOr {
			out = append(out, l.Args...)
			continue
		}
		out = append(out, f)
	}
	switch len(out) {
	case 0:
		return constant(false)
	case 1:
		return out[0]
	}
	return store.Or(out...)
}

// not negates f, using Ne/Eq and Nin/In (which the store defines as each
// other's negations), removing double negations and folding constants.
func not(f store.Filter) store.Filter {
	if v, ok := isConst(f); ok {
		return constant(!v)
	}
	switch n := f.(type) {
	case *store.Field:
		neg := map[store.Op]store.Op{store.OpEq: store.OpNe, store.OpNe: store.OpEq, store.OpIn: store.OpNin, store.OpNin: store.OpIn}
		if op, ok := neg[n.Op]; ok {
			return &store.Field{Path: n.Path, Op: op, Value: n.Value}
		}
	case *store.Logic:
		if n.Op == store.OpNot && len(n.Args) == 1 {
			return n.Args[0]
		}
	}
	return store.Not(f)
}
