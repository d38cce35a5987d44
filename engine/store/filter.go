package store

import (
	"fmt"

	"github.com/yerp/yerp/engine/decimal"
)

// Filter is a condition on a document: a tree of *Field, *Logic and *Linear nodes
// built with the functions below. Callers never pass query text of a backend
// (SQL, BSON): each backend translates the tree and binds every value as a
// parameter, so a value from user input cannot become an operator.
type Filter interface{ filterNode() }

// Op is a comparison operator of a Field or Linear node.
type Op string

// Operators. Ne and Nin are the negations of Eq and In: they also match documents
// where the path is missing, and for paths through arrays they hold when no
// element is equal. Range operators only compare numbers with numbers and
// strings with strings (by UTF-8 bytes); a missing field never satisfies them.
const (
	OpEq     Op = "eq"
	OpNe     Op = "ne"
	OpGt     Op = "gt"
	OpGte    Op = "gte"
	OpLt     Op = "lt"
	OpLte    Op = "lte"
	OpIn     Op = "in"
	OpNin    Op = "nin"
	OpExists Op = "exists"
	OpPrefix Op = "prefix"
)

// Field compares the value at Path. Value is a scalar (nil, bool, string, a
// number, decimal.Decimal, time.Time) for Eq..Lte; a []any of scalars for In and
// Nin; a bool for Exists (true: the path is present, even if null); a string for
// Prefix. Eq and Ne with nil match a missing or null top-level field.
type Field struct {
	Path  string
	Op    Op
	Value any
}

// LogicOp combines filters.
type LogicOp string

// Logical operators.
const (
	OpAnd LogicOp = "and"
	OpOr  LogicOp = "or"
	OpNot LogicOp = "not"
)

// Logic is And/Or of Args, or Not of its single argument. And of nothing holds;
// Or of nothing does not.
type Logic struct {
	Op   LogicOp
	Args []Filter
}

// Linear compares a weighted sum of top-level numeric fields with a value, for
// example on_hand - reserved >= 5. Missing fields count as 0. It is allowed only
// in Inc.If, where the store evaluates it on one document atomically.
type Linear struct {
	Terms []Term
	Op    Op // Eq, Ne, Gt, Gte, Lt, Lte
	Value decimal.Decimal
}

// Term is Coef × the number at Path.
type Term struct {
	Path string
	Coef int64
}

func (*Field) filterNode()  {}
func (*Logic) filterNode()  {}
func (*Linear) filterNode() {}

// Eq holds when the value at path equals v.
func Eq(path string, v any) Filter { return &Field{path, OpEq, v} }

// Ne holds when the value at path does not equal v (or is missing).
func Ne(path string, v any) Filter { return &Field{path, OpNe, v} }

// Gt holds when the value at path is greater than v.
func Gt(path string, v any) Filter { return &Field{path, OpGt, v} }

// Gte holds when the value at path is greater than or equal to v.
func Gte(path string, v any) Filter { return &Field{path, OpGte, v} }

// Lt holds when the value at path is less than v.
func Lt(path string, v any) Filter { return &Field{path, OpLt, v} }

// Lte holds when the value at path is less than or equal to v.
func Lte(path string, v any) Filter { return &Field{path, OpLte, v} }

// In holds when the value at path equals one of vs.
func In(path string, vs ...any) Filter { return &Field{path, OpIn, vs} }

// Nin holds when the value at path equals none of vs.
func Nin(path string, vs ...any) Filter { return &Field{path, OpNin, vs} }

// Exists holds when the path is present (yes) or absent (!yes).
func Exists(path string, yes bool) Filter { return &Field{path, OpExists, yes} }

// Prefix holds when the value at path is a string starting with p.
func Prefix(path, p string) Filter { return &Field{path, OpPrefix, p} }

// And holds when every f holds.
func And(fs ...Filter) Filter { return &Logic{OpAnd, fs} }

// Or holds when at least one f holds.
func Or(fs ...Filter) Filter { return &Logic{OpOr, fs} }

// Not holds when f does not.
func Not(f Filter) Filter { return &Logic{OpNot, []Filter{f}} }

// Weighted starts a Linear condition: Weighted(T("on_hand", 1), T("reserved", -1)).Gte(x).
func Weighted(terms ...Term) LinearSum { return LinearSum(terms) }

// T is a Term.
func T(path string, coef int64) Term { return Term{path, coef} }

// LinearSum is a weighted sum of fields waiting for its comparison.
type LinearSum []Term

// Gte completes the sum as "sum >= v".
func (s LinearSum) Gte(v decimal.Decimal) Filter { return &Linear{s, OpGte, v} }

// Gt completes the sum as "sum > v".
func (s LinearSum) Gt(v decimal.Decimal) Filter { return &Linear{s, OpGt, v} }

// Lte completes the sum as "sum <= v".
func (s LinearSum) Lte(v decimal.Decimal) Filter { return &Linear{s, OpLte, v} }

// Lt completes the sum as "sum < v".
func (s LinearSum) Lt(v decimal.Decimal) Filter { return &Linear{s, OpLt, v} }

// Eq completes the sum as "sum == v".
func (s LinearSum) Eq(v decimal.Decimal) Filter { return &Linear{s, OpEq, v} }

// CheckFilter validates f and returns a copy whose values are normalized to the
// store's value model (numbers as decimal.Decimal, times as strings). linearOK
// says whether Linear nodes are allowed. Backends call it before translating.
func CheckFilter(f Filter, linearOK bool) (Filter, error) {
	switch n := f.(type) {
	case nil:
		return nil, nil
	case *Field:
		return checkField(n)
	case *Logic:
		switch n.Op {
		case OpAnd, OpOr:
		case OpNot:
			if len(n.Args) != 1 {
				return nil, fmt.Errorf("%w: not takes one filter, got %d", ErrInvalid, len(n.Args))
			}
		default:
			return nil, fmt.Errorf("%w: unknown logical operator %q", ErrInvalid, n.Op)
		}
		out := &Logic{Op: n.Op, Args: make([]Filter, len(n.Args))}
		for i, a := range n.Args {
			if a == nil {
				return nil, fmt.Errorf("%w: nil filter inside %s", ErrInvalid, n.Op)
			}
			c, err := CheckFilter(a, linearOK)
			if err != nil {
				return nil, err
			}
			out.Args[i] = c
		}
		return out, nil
	case *Linear:
		if !linearOK {
			return nil, fmt.Errorf("%w: a linear condition is allowed only in an increment guard", ErrInvalid)
		}
		if len(n.Terms) == 0 {
			return nil, fmt.Errorf("%w: linear condition without terms", ErrInvalid)
		}
		switch n.Op {
		case OpEq, OpNe, OpGt, OpGte, OpLt, OpLte:
		default:
			return nil, fmt.Errorf("%w: operator %q in a linear condition", ErrInvalid, n.Op)
		}
		for _, t := range n.Terms {
			if err := CheckTopLevel(t.Path); err != nil {
				return nil, err
			}
		}
		if _, err := n.Value.Scaled(Scale); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("%w: unknown filter node %T", ErrInvalid, f)
	}
}

func checkField(n *Field) (Filter, error) {
	if err := checkQueryPath(n.Path); err != nil {
		return nil, err
	}
	out := &Field{Path: n.Path, Op: n.Op}
	switch n.Op {
	case OpEq, OpNe, OpGt, OpGte, OpLt, OpLte:
		v, err := scalar(n.Value)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", n.Path, n.Op, err)
		}
		if v == nil && (n.Op != OpEq && n.Op != OpNe || IsNested(n.Path)) {
			return nil, fmt.Errorf("%w: %s %s nil: only eq and ne compare a top-level field with nil (use exists)", ErrInvalid, n.Path, n.Op)
		}
		if _, ok := v.(bool); ok && n.Op != OpEq && n.Op != OpNe {
			return nil, fmt.Errorf("%w: %s %s: booleans have no order", ErrInvalid, n.Path, n.Op)
		}
		out.Value = v
	case OpIn, OpNin:
		vs, ok := n.Value.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s %s wants a list of values, got %T", ErrInvalid, n.Path, n.Op, n.Value)
		}
		norm := make([]any, len(vs))
		for i, x := range vs {
			v, err := scalar(x)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", n.Path, n.Op, err)
			}
			if v == nil {
				return nil, fmt.Errorf("%w: %s %s: nil in the list (use exists)", ErrInvalid, n.Path, n.Op)
			}
			norm[i] = v
		}
		out.Value = norm
	case OpExists:
		b, ok := n.Value.(bool)
		if !ok {
			return nil, fmt.Errorf("%w: %s exists wants a bool, got %T", ErrInvalid, n.Path, n.Value)
		}
		out.Value = b
	case OpPrefix:
		s, ok := n.Value.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s prefix wants a string, got %T", ErrInvalid, n.Path, n.Value)
		}
		out.Value = s
	default:
		return nil, fmt.Errorf("%w: unknown operator %q on %s", ErrInvalid, n.Op, n.Path)
	}
	return out, nil
}
