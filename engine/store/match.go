package store

import (
	"strings"

	"github.com/yerp/yerp/engine/decimal"
)

// Match reports whether the normalized document doc satisfies the checked filter
// f (see CheckFilter), with the semantics documented on Filter. It is the
// reference the backends' translations are tested against, and the evaluator a
// backend uses where its database cannot express a condition.
func Match(doc Doc, f Filter) bool {
	switch n := f.(type) {
	case nil:
		return true
	case *Logic:
		switch n.Op {
		case OpAnd:
			for _, a := range n.Args {
				if !Match(doc, a) {
					return false
				}
			}
			return true
		case OpOr:
			for _, a := range n.Args {
				if Match(doc, a) {
					return true
				}
			}
			return false
		default:
			return !Match(doc, n.Args[0])
		}
	case *Linear:
		sum := decimal.Zero
		for _, t := range n.Terms {
			if d, ok := doc[t.Path].(decimal.Decimal); ok {
				sum = sum.Add(d.Mul(decimal.FromInt(t.Coef)))
			}
		}
		return opHolds(n.Op, sum.Cmp(n.Value))
	case *Field:
		return matchField(doc, n)
	}
	return false
}

func matchField(doc Doc, n *Field) bool {
	vals, found := Lookup(doc, n.Path)
	switch n.Op {
	case OpExists:
		return found == n.Value.(bool)
	case OpNe:
		return !matchField(doc, &Field{n.Path, OpEq, n.Value})
	case OpNin:
		return !matchField(doc, &Field{n.Path, OpIn, n.Value})
	case OpEq:
		if n.Value == nil {
			return !found || len(vals) == 1 && vals[0] == nil
		}
		for _, v := range vals {
			if c, ok := Compare(v, n.Value); ok && c == 0 {
				return true
			}
		}
		return false
	case OpIn:
		for _, want := range n.Value.([]any) {
			for _, v := range vals {
				if c, ok := Compare(v, want); ok && c == 0 {
					return true
				}
			}
		}
		return false
	case OpPrefix:
		p := n.Value.(string)
		for _, v := range vals {
			if s, ok := v.(string); ok && strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	default: // range operators
		for _, v := range vals {
			if c, ok := Compare(v, n.Value); ok && opHolds(n.Op, c) {
				return true
			}
		}
		return false
	}
}

func opHolds(op Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpGt:
		return c > 0
	case OpGte:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLte:
		return c <= 0
	}
	return false
}

// Lookup returns the values at path in doc: one value for a top-level field;
// for a nested path, every value reached, descending into each element of the
// arrays it crosses. found is false when the path reaches nothing.
func Lookup(doc Doc, path string) (vals []any, found bool) {
	segs := strings.Split(path, ".")
	v, ok := doc[segs[0]]
	if !ok {
		return nil, false
	}
	if len(segs) == 1 {
		return []any{v}, true
	}
	var out []any
	collect(v, segs[1:], &out, &found)
	return out, found
}

func collect(v any, segs []string, out *[]any, found *bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			collect(e, segs, out, found)
		}
	case map[string]any:
		if len(segs) == 0 {
			*out = append(*out, x)
			*found = true
			return
		}
		if c, ok := x[segs[0]]; ok {
			collect(c, segs[1:], out, found)
		}
	default:
		if len(segs) == 0 {
			*out = append(*out, x)
			*found = true
		}
	}
}

// Compare orders two normalized scalars of the same kind (decimal with decimal,
// string with string by bytes, bool with bool); ok is false for different kinds,
// which no range operator relates.
func Compare(a, b any) (c int, ok bool) {
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		if !ok {
			return 0, false
		}
		return x.Cmp(y), true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		default:
			return 1, true
		}
	case nil:
		return 0, b == nil
	}
	return 0, false
}
