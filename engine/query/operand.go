package query

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/expr-lang/expr/ast"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// Stored layouts of date and datetime fields (as the template engine writes them).
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = time.RFC3339Nano
)

// operand is one side of a comparison: a field, or a constant.
type operand struct {
	node  ast.Node
	field bool
	path  string // store path of a field
	name  string // the field or var path as written
	typ   Field  // a field's declaration
	val   any    // a constant: nil, bool, string, decimal.Decimal or time.Time
	list  bool   // a list constant: its elements are items
	items []operand
}

// seg is one segment of a dotted name.
type seg struct {
	name string
	node ast.Node
}

// operand translates a node that must be a field or a constant.
func (t *translator) operand(n ast.Node, depth int) (operand, error) {
	if depth > MaxDepth {
		return operand{}, t.tooDeep(n)
	}
	switch x := n.(type) {
	case *ast.IdentifierNode, *ast.MemberNode:
		segs, err := t.path(n)
		if err != nil {
			return operand{}, err
		}
		if v, ok := t.vars[segs[0].name]; ok {
			return t.varValue(n, segs, v)
		}
		return t.fieldPath(n, segs)
	case *ast.StringNode:
		return operand{node: n, val: x.Value}, nil
	case *ast.IntegerNode, *ast.FloatNode:
		d, err := t.number(n)
		if err != nil {
			return operand{}, err
		}
		return operand{node: n, val: d}, nil
	case *ast.BoolNode:
		return operand{node: n, val: x.Value}, nil
	case *ast.NilNode:
		return operand{node: n}, nil
	case *ast.UnaryNode:
		if x.Operator == "-" || x.Operator == "+" {
			in, err := t.operand(x.Node, depth+1)
			if err != nil {
				return operand{}, err
			}
			d, ok := in.val.(decimal.Decimal)
			if in.field || in.list || !ok {
				return operand{}, t.errAt(x, "%s can only precede a number; arithmetic cannot be used in a filter", x.Operator)
			}
			if x.Operator == "-" {
				d = d.Neg()
			}
			return operand{node: n, val: d}, nil
		}
		return operand{}, t.errAt(x, "%s negates a condition, not a value; %s", x.Operator, allowed)
	case *ast.BinaryNode:
		switch x.Operator {
		case "==", "!=", "<", "<=", ">", ">=", "in", "startsWith", "&&", "||", "and", "or":
			return operand{}, t.errAt(x, "a condition (%s) cannot be compared with a value; %s", x.Operator, allowed)
		}
	case *ast.ArrayNode:
		out := operand{node: n, list: true, items: make([]operand, 0, len(x.Nodes))}
		for _, e := range x.Nodes {
			it, err := t.operand(e, depth+1)
			if err != nil {
				return operand{}, err
			}
			if it.field {
				return operand{}, t.errAt(e, "a list holds values, not fields (%s)", it.name)
			}
			if it.list {
				return operand{}, t.errAt(e, "a list cannot hold lists")
			}
			out.items = append(out.items, it)
		}
		return out, nil
	}
	return operand{}, t.unsupported(n)
}

// path reads a dotted name (a, a.b, a.b.c) written with identifiers only.
func (t *translator) path(n ast.Node) ([]seg, error) {
	var segs []seg
	for {
		switch x := n.(type) {
		case *ast.IdentifierNode:
			segs = append(segs, seg{x.Value, x})
			slices.Reverse(segs)
			for _, s := range segs {
				if err := store.CheckPath(s.name); err != nil || strings.Contains(s.name, ".") {
					return nil, t.errAt(s.node, "%s is not a field name: names are up to 64 letters, digits and _, not starting with a digit", clip(s.name))
				}
			}
			return segs, nil
		case *ast.MemberNode:
			prop, ok := x.Property.(*ast.StringNode)
			if x.Optional || x.Method || !ok {
				return nil, t.unsupported(x)
			}
			// A property written as a name, not a string literal (a['b']).
			if txt, ok := t.text(prop); !ok || txt != prop.Value {
				return nil, t.errAt(x, "fields are named with dots (lines.item), never by text in [...]; %s", allowed)
			}
			segs = append(segs, seg{prop.Value, prop})
			n = x.Node
		default:
			return nil, t.unsupported(n)
		}
	}
}

// fieldPath resolves a dotted name against the schema.
func (t *translator) fieldPath(n ast.Node, segs []seg) (operand, error) {
	root := segs[0]
	f, ok := t.schema[root.name]
	if !ok {
		fields := slices.Collect(maps.Keys(t.schema))
		near := slices.AppendSeq(slices.Clone(fields), maps.Keys(t.vars))
		return operand{}, t.errAt(root.node, "unknown field %q%s", root.name, suggest(root.name, near, fields, "fields"))
	}
	name := root.name
	for _, s := range segs[1:] {
		if f.Type != "table" {
			if f.Type == "link" || f.Type == "user" {
				return operand{}, t.errAt(s.node, "%s is a %s field: a filter sees the linked record's id only, so compare %s with an id, not %s.%s", name, f.Type, name, name, s.name)
			}
			return operand{}, t.errAt(s.node, "%s is a %s field and has no fields (%s.%s)", name, f.Type, name, s.name)
		}
		col, ok := f.Fields[s.name]
		if !ok {
			return operand{}, t.errAt(s.node, "table %s has no column %q%s", name, s.name, suggest(s.name, slices.Collect(maps.Keys(f.Fields)), slices.Collect(maps.Keys(f.Fields)), "columns"))
		}
		name += "." + s.name
		f = col
	}
	p := name
	if p == "id" {
		p = store.IDField
	}
	return operand{node: n, field: true, path: p, name: name, typ: f}, nil
}

// suggest returns "; did you mean ...?" with the names of near that are close
// to name, or else the list of what exists (all).
func suggest(name string, near, all []string, what string) string {
	type cand struct {
		s string
		d int
	}
	var hits []cand
	lower := strings.ToLower(name)
	limit := 1 + len([]rune(name))/5 // one edit for short names, more for longer ones
	for _, c := range near {
		if d := levenshtein.ComputeDistance(lower, strings.ToLower(c)); d <= limit {
			hits = append(hits, cand{c, d})
		}
	}
	slices.SortFunc(hits, func(a, b cand) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.s, b.s)
	})
	if len(hits) > 0 {
		var qs []string
		for i, c := range hits {
			if i == 3 {
				break
			}
			qs = append(qs, fmt.Sprintf("%q", c.s))
		}
		return "; did you mean " + strings.Join(qs, " or ") + "?"
	}
	if len(all) == 0 {
		return "; there are no " + what
	}
	all = slices.Sorted(slices.Values(all))
	if len(all) > 30 {
		all = append(all[:30:30], "...")
	}
	return "; the " + what + " are: " + strings.Join(all, ", ")
}

// varValue reads a var path as a constant.
func (t *translator) varValue(n ast.Node, segs []seg, v any) (operand, error) {
	name := segs[0].name
	for _, s := range segs[1:] {
		next, ok := member(v, s.name)
		if !ok {
			return operand{}, t.errAt(s.node, "%s has no %q", name, s.name)
		}
		v = next
		name += "." + s.name
	}
	val, list, err := normalizeConst(v)
	if err != nil {
		return operand{}, t.errAt(n, "%s cannot be used in a filter: %v", name, err)
	}
	o := operand{node: n, name: name}
	if list {
		o.list = true
		for _, e := range val.([]any) {
			o.items = append(o.items, operand{node: n, name: name, val: e})
		}
		return o, nil
	}
	o.val = val
	return o, nil
}

// member returns v[key] for a string-keyed map v.
func member(v any, key string) (any, bool) {
	if v == nil {
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	mv := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
	if !mv.IsValid() {
		return nil, false
	}
	return mv.Interface(), true
}

// normalizeConst converts a var's Go value to a constant: nil, bool, string,
// decimal.Decimal, time.Time, or (list true) a []any of those.
func normalizeConst(v any) (any, bool, error) {
	switch x := v.(type) {
	case nil, bool, string, decimal.Decimal, time.Time:
		return x, false, nil
	}
	if d, ok, err := store.ToDecimal(v); ok {
		if err != nil {
			return nil, false, fmt.Errorf("%v: %w", v, err)
		}
		return d, false, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), false, nil
	case reflect.Bool:
		return rv.Bool(), false, nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			e, list, err := normalizeConst(rv.Index(i).Interface())
			if err != nil {
				return nil, false, err
			}
			if list {
				return nil, false, fmt.Errorf("it holds a list of lists")
			}
			out[i] = e
		}
		return out, true, nil
	case reflect.Map:
		return nil, false, fmt.Errorf("it is an object; use one of its keys")
	}
	return nil, false, fmt.Errorf("unsupported value type %T", v)
}

// number reads a number literal from its source text, so that it is exact.
func (t *translator) number(n ast.Node) (decimal.Decimal, error) {
	txt, ok := t.text(n)
	if !ok {
		return decimal.Zero, t.errAt(n, "cannot read the number")
	}
	clean := strings.ToLower(strings.ReplaceAll(txt, "_", ""))
	if strings.HasPrefix(clean, "0x") || strings.HasPrefix(clean, "0o") || strings.HasPrefix(clean, "0b") {
		if i, ok := n.(*ast.IntegerNode); ok {
			return decimal.FromInt(int64(i.Value)), nil
		}
	}
	if strings.Contains(clean, "e") {
		return decimal.Zero, t.errAt(n, "write numbers without an exponent (1000, not 1e3): %s", clip(txt))
	}
	d, err := decimal.Parse(clean)
	if err != nil {
		return decimal.Zero, t.errAt(n, "%s is not a number", clip(txt))
	}
	return d, nil
}

// kind is how a field's values are compared.
type kind int

const (
	kindString kind = iota + 1
	kindNumber
	kindBool
	kindDate
	kindDateTime
)

// kindOf returns the kind of a field operand, or an error when its type cannot
// be filtered.
func (t *translator) kindOf(o operand) (kind, error) {
	switch o.typ.Type {
	case "text", "longtext", "email", "phone", "barcode", "select", "link", "user":
		return kindString, nil
	case "int", "decimal", "money", "quantity", "percent":
		return kindNumber, nil
	case "bool":
		return kindBool, nil
	case "date":
		return kindDate, nil
	case "datetime":
		return kindDateTime, nil
	case "table":
		return 0, t.errAt(o.node, "%s is a table: filter on one of its columns (%s.<column>)", o.name, o.name)
	case "multiselect":
		return 0, t.errAt(o.node, "%s is a multiselect field: it holds a list, which a filter cannot compare", o.name)
	case "attachment", "json":
		return 0, t.errAt(o.node, "%s is a %s field and cannot be used in a filter", o.name, o.typ.Type)
	}
	return 0, t.errAt(o.node, "%s has the unknown type %q and cannot be used in a filter", o.name, o.typ.Type)
}

// convert checks the constant v against the field f of kind k and returns the
// value to store in the filter.
func (t *translator) convert(f operand, k kind, v operand) (any, error) {
	mismatch := func(want string) error {
		return t.errAt(v.node, "%s is a %s field: compare it with %s, not %s", f.name, f.typ.Type, want, describe(v))
	}
	switch k {
	case kindNumber:
		d, ok := v.val.(decimal.Decimal)
		if !ok {
			return nil, mismatch("a number")
		}
		if _, err := store.ScaledOf(d); err != nil {
			return nil, t.errAt(v.node, "%s: the number %s cannot be compared: numbers have at most %d digits after the point and stay below %s", f.name, short(d.String()), store.Scale, store.MaxAbs)
		}
		return d, nil
	case kindBool:
		b, ok := v.val.(bool)
		if !ok {
			return nil, mismatch("true or false")
		}
		return b, nil
	case kindString:
		s, ok := v.val.(string)
		if !ok {
			return nil, mismatch("text in quotes")
		}
		return s, nil
	case kindDate:
		switch x := v.val.(type) {
		case string:
			d, err := time.Parse(dateLayout, x)
			if err != nil || d.Format(dateLayout) != x {
				return nil, t.errAt(v.node, "%s is a date field: write the date as 'YYYY-MM-DD', not %s", f.name, clip(x))
			}
			return x, nil
		case time.Time:
			return x.Format(dateLayout), nil
		}
		return nil, mismatch("a date 'YYYY-MM-DD'")
	case kindDateTime:
		switch x := v.val.(type) {
		case string:
			d, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, t.errAt(v.node, "%s is a datetime field: write the time as RFC 3339 ('2024-06-01T09:30:00Z' or with an offset, +08:00), not %s", f.name, clip(x))
			}
			return d.UTC().Format(dateTimeLayout), nil
		case time.Time:
			return x.UTC().Format(dateTimeLayout), nil
		}
		return nil, mismatch("a datetime 'YYYY-MM-DDThh:mm:ssZ'")
	}
	return nil, t.errAt(f.node, "%s cannot be compared", f.name)
}

// foldable returns a constant in the form store.Compare orders.
func foldable(v any) any {
	if tm, ok := v.(time.Time); ok {
		return tm.UTC().Format(dateTimeLayout)
	}
	return v
}

// describe names what an operand is, for messages.
func describe(o operand) string {
	if o.field {
		return "the field " + o.name
	}
	if o.list {
		return "a list"
	}
	switch x := o.val.(type) {
	case nil:
		return "nil"
	case bool:
		return fmt.Sprintf("%t", x)
	case string:
		return "the text " + clip(x)
	case decimal.Decimal:
		return "the number " + short(x.String())
	case time.Time:
		return "a time"
	}
	return fmt.Sprintf("%T", o.val)
}

// clip quotes s for a message, shortened to at most 40 characters.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return fmt.Sprintf("%q...", string(r[:40]))
	}
	return fmt.Sprintf("%q", s)
}

// short shortens s for a message to at most 40 characters.
func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "..."
	}
	return s
}
