package query

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/yerp/yerp/engine/store"
)

// translator walks one parsed filter.
type translator struct {
	src         []rune
	schema      Schema
	vars        Vars
	comparisons int
}

// col returns the 1-based column of n in the source.
func (t *translator) col(n ast.Node) int {
	switch x := n.(type) {
	case *ast.MemberNode:
		// A dotted name (a.b) is located at its last name: point at its start.
		// Indexing (a[...]) stays at its bracket.
		if x.Property != nil && x.Property.Location() == x.Location() {
			return t.col(x.Node)
		}
	case *ast.ConditionalNode, *ast.SequenceNode:
		// Located after their end or at their first operator: point at the start.
		return t.pos(start(n))
	}
	return t.pos(n)
}

// pos returns the 1-based column of n's own location.
func (t *translator) pos(n ast.Node) int {
	if n == nil {
		return 1
	}
	from := n.Location().From
	if from < 0 || from > len(t.src) {
		return 1
	}
	return from + 1
}

// start returns the leftmost node of the expression n.
func start(n ast.Node) ast.Node {
	for i := 0; i <= MaxLen; i++ {
		switch x := n.(type) {
		case *ast.BinaryNode:
			n = x.Left
		case *ast.MemberNode:
			n = x.Node
		case *ast.ChainNode:
			n = x.Node
		case *ast.CallNode:
			n = x.Callee
		case *ast.ConditionalNode:
			n = x.Cond
		case *ast.SequenceNode:
			if len(x.Nodes) == 0 {
				return n
			}
			n = x.Nodes[0]
		default:
			return n
		}
	}
	return n
}

// errAt builds an *Error pointing at n.
func (t *translator) errAt(n ast.Node, format string, args ...any) *Error {
	return &Error{Col: t.col(n), Msg: fmt.Sprintf(format, args...)}
}

// text returns the source text of n, and false when its location is unusable.
func (t *translator) text(n ast.Node) (string, bool) {
	loc := n.Location()
	if loc.From < 0 || loc.To > len(t.src) || loc.From >= loc.To {
		return "", false
	}
	return string(t.src[loc.From:loc.To]), true
}

// count registers one comparison and enforces MaxComparisons.
func (t *translator) count(n ast.Node) error {
	t.comparisons++
	if t.comparisons > MaxComparisons {
		return t.errAt(n, "the filter has more than %d comparisons", MaxComparisons)
	}
	return nil
}

// tooDeep is the error for nesting beyond MaxDepth.
func (t *translator) tooDeep(n ast.Node) error {
	return t.errAt(n, "the filter is nested more than %d levels deep", MaxDepth)
}

// cond translates a node that must be a condition.
func (t *translator) cond(n ast.Node, depth int) (store.Filter, error) {
	if depth > MaxDepth {
		return nil, t.tooDeep(n)
	}
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "&&", "and", "||", "or":
			isAnd := x.Operator == "&&" || x.Operator == "and"
			var operands []ast.Node
			chain(x, isAnd, &operands)
			fs := make([]store.Filter, 0, len(operands))
			for _, o := range operands {
				f, err := t.cond(o, depth+1)
				if err != nil {
					return nil, err
				}
				fs = append(fs, f)
			}
			if isAnd {
				return and(fs), nil
			}
			return or(fs), nil
		case "==", "!=", "<", "<=", ">", ">=":
			return t.compare(x, depth)
		case "in":
			return t.in(x, depth)
		case "startsWith":
			return t.startsWith(x, depth)
		}
		return nil, t.unsupported(x)
	case *ast.UnaryNode:
		if x.Operator == "!" || x.Operator == "not" {
			f, err := t.cond(x.Node, depth+1)
			if err != nil {
				return nil, err
			}
			return not(f), nil
		}
		return nil, t.errAt(x, "%s gives a number, not a condition; %s", x.String(), allowed)
	case *ast.BoolNode:
		return constant(x.Value), nil
	case *ast.IdentifierNode, *ast.MemberNode:
		return t.bare(n, depth)
	}
	return nil, t.unsupported(n)
}

// chain collects the operands of a chain of && (isAnd) or || operators.
func chain(n ast.Node, isAnd bool, out *[]ast.Node) {
	if b, ok := n.(*ast.BinaryNode); ok {
		sameAnd := b.Operator == "&&" || b.Operator == "and"
		sameOr := b.Operator == "||" || b.Operator == "or"
		if isAnd && sameAnd || !isAnd && sameOr {
			chain(b.Left, isAnd, out)
			chain(b.Right, isAnd, out)
			return
		}
	}
	*out = append(*out, n)
}

// bare translates a name used as a condition: a bool field (field == true) or a
// bool var (a constant).
func (t *translator) bare(n ast.Node, depth int) (store.Filter, error) {
	o, err := t.operand(n, depth)
	if err != nil {
		return nil, err
	}
	if err := t.count(n); err != nil {
		return nil, err
	}
	if !o.field {
		if b, ok := o.val.(bool); ok && !o.list {
			return constant(b), nil
		}
		return nil, t.errAt(n, "%s is %s, not a condition; %s", o.name, describe(o), allowed)
	}
	if o.typ.Type != "bool" {
		return nil, t.errAt(n, "%s is a %s field, not a condition: compare it with a value (%s == ...); %s", o.name, o.typ.Type, o.name, allowed)
	}
	return store.Eq(o.path, true), nil
}

// unsupported explains why n cannot be part of a filter.
func (t *translator) unsupported(n ast.Node) error {
	var what string
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "contains", "endsWith", "matches":
			return t.errAt(x, "%s is not supported in a filter: the database cannot search inside text with it, only compare (==) or match the start (startsWith); %s", x.Operator, allowed)
		case "+", "-", "*", "/", "%", "**", "^":
			what = fmt.Sprintf("arithmetic (%s)", x.Operator)
		case "??":
			what = "the ?? operator"
		case "..":
			what = "ranges (..)"
		case "|":
			what = "the pipe operator |"
		default:
			what = fmt.Sprintf("the operator %s", x.Operator)
		}
	case *ast.CallNode:
		what = "function calls"
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			what = fmt.Sprintf("function calls (%s(...))", id.Value)
		} else if _, ok := x.Callee.(*ast.MemberNode); ok {
			what = "method calls"
		}
	case *ast.BuiltinNode:
		what = fmt.Sprintf("function calls (%s(...))", x.Name)
	case *ast.ConditionalNode:
		what = "the conditional operator (?: and if/else)"
	case *ast.MemberNode:
		what = "indexing with [...] and ?."
	case *ast.SliceNode:
		what = "slices [a:b]"
	case *ast.ChainNode:
		what = "optional chaining (?.)"
	case *ast.SequenceNode:
		what = "several expressions separated by ;"
	case *ast.VariableDeclaratorNode:
		what = "let"
	case *ast.PointerNode, *ast.PredicateNode:
		what = "predicates (#, .field)"
	case *ast.MapNode, *ast.PairNode:
		what = "maps {...}"
	case *ast.BytesNode:
		what = "byte strings (b'...')"
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.NilNode, *ast.ArrayNode:
		return t.errAt(n, "a value alone is not a condition; %s", allowed)
	default:
		what = "this expression"
	}
	return t.errAt(n, "%s cannot be used in a filter; %s", what, allowed)
}

// compare translates ==, !=, <, <=, > and >=.
func (t *translator) compare(x *ast.BinaryNode, depth int) (store.Filter, error) {
	if err := t.count(x); err != nil {
		return nil, err
	}
	l, err := t.operand(x.Left, depth+1)
	if err != nil {
		return nil, err
	}
	r, err := t.operand(x.Right, depth+1)
	if err != nil {
		return nil, err
	}
	op := x.Operator
	switch {
	case l.field && r.field:
		return nil, t.errAt(x, "%s %s %s compares two fields; a filter compares a field with a value", l.name, op, r.name)
	case !l.field && !r.field:
		return t.fold(x, l, op, r)
	case r.field:
		l, r, op = r, l, flip(op)
	}
	if r.list {
		return nil, t.errAt(r.node, "a list can only follow in: %s in [...]", l.name)
	}
	k, err := t.kindOf(l)
	if err != nil {
		return nil, err
	}
	if r.val == nil {
		if op != "==" && op != "!=" {
			return nil, t.errAt(r.node, "nil can only be compared with == and !=")
		}
		if store.IsNested(l.path) {
			return nil, t.errAt(l.node, "%s %s nil: nil comparisons work only on top-level fields, not on table columns", l.name, op)
		}
		if op == "==" {
			return store.Eq(l.path, nil), nil
		}
		return store.Ne(l.path, nil), nil
	}
	if k == kindBool && op != "==" && op != "!=" {
		return nil, t.errAt(x, "%s is a bool field: booleans have no order, use == or !=", l.name)
	}
	v, err := t.convert(l, k, r)
	if err != nil {
		return nil, err
	}
	return &store.Field{Path: l.path, Op: storeOp[op], Value: v}, nil
}

// storeOp maps comparison operators to store operators.
var storeOp = map[string]store.Op{
	"==": store.OpEq, "!=": store.OpNe,
	"<": store.OpLt, "<=": store.OpLte, ">": store.OpGt, ">=": store.OpGte,
}

// flip returns the operator that gives the same result with its sides swapped.
func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

// fold evaluates a comparison of two constants.
func (t *translator) fold(x *ast.BinaryNode, l operand, op string, r operand) (store.Filter, error) {
	if l.list || r.list {
		return nil, t.errAt(x, "%s compares a list; a list can only follow in", op)
	}
	a, b := foldable(l.val), foldable(r.val)
	c, ok := store.Compare(a, b)
	switch op {
	case "==":
		return constant(ok && c == 0), nil
	case "!=":
		return constant(!(ok && c == 0)), nil
	}
	_, isBool := a.(bool)
	if !ok || a == nil || isBool {
		return nil, t.errAt(x, "cannot order %s and %s with %s", describe(l), describe(r), op)
	}
	switch op {
	case "<":
		return constant(c < 0), nil
	case "<=":
		return constant(c <= 0), nil
	case ">":
		return constant(c > 0), nil
	}
	return constant(c >= 0), nil
}

// in translates field in [...] and folds constant in list.
func (t *translator) in(x *ast.BinaryNode, depth int) (store.Filter, error) {
	if err := t.count(x); err != nil {
		return nil, err
	}
	l, err := t.operand(x.Left, depth+1)
	if err != nil {
		return nil, err
	}
	r, err := t.operand(x.Right, depth+1)
	if err != nil {
		return nil, err
	}
	switch {
	case r.field:
		return nil, t.errAt(x.Right, "membership in a field (... in %s) is not supported; write field in [values]", r.name)
	case !r.list:
		return nil, t.errAt(x.Right, "in needs a list on its right: field in ['a', 'b']")
	case l.list:
		return nil, t.errAt(x.Left, "a list cannot be on the left of in")
	case !l.field:
		a := foldable(l.val)
		for _, it := range r.items {
			if c, ok := store.Compare(a, foldable(it.val)); ok && c == 0 {
				return constant(true), nil
			}
		}
		return constant(false), nil
	}
	k, err := t.kindOf(l)
	if err != nil {
		return nil, err
	}
	if len(r.items) == 0 {
		return constant(false), nil
	}
	vals := make([]any, len(r.items))
	for i, it := range r.items {
		if it.val == nil {
			return nil, t.errAt(it.node, "nil cannot be in the list of in; write %s == nil", l.name)
		}
		v, err := t.convert(l, k, it)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return store.In(l.path, vals...), nil
}

// startsWith translates field startsWith 'text'.
func (t *translator) startsWith(x *ast.BinaryNode, depth int) (store.Filter, error) {
	if err := t.count(x); err != nil {
		return nil, err
	}
	l, err := t.operand(x.Left, depth+1)
	if err != nil {
		return nil, err
	}
	r, err := t.operand(x.Right, depth+1)
	if err != nil {
		return nil, err
	}
	if r.field {
		return nil, t.errAt(x.Right, "startsWith needs text on its right, not the field %s: write field startsWith 'text'", r.name)
	}
	s, ok := r.val.(string)
	if !ok || r.list {
		return nil, t.errAt(x.Right, "startsWith needs text in quotes on its right, not %s", describe(r))
	}
	if !l.field {
		ls, ok := l.val.(string)
		if !ok || l.list {
			return nil, t.errAt(x.Left, "startsWith needs a text field on its left, not %s", describe(l))
		}
		return constant(strings.HasPrefix(ls, s)), nil
	}
	k, err := t.kindOf(l)
	if err != nil {
		return nil, err
	}
	if k != kindString && k != kindDate && k != kindDateTime {
		return nil, t.errAt(x, "%s is a %s field: startsWith works on text, date and datetime fields", l.name, l.typ.Type)
	}
	return store.Prefix(l.path, s), nil
}
