package template

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/yerp/yerp/engine/decimal"
)

// Expressions are type-checked against Go struct types built from the entity's
// fields at load time (reflect.StructOf, names mapped with `expr` tags), so that
// expr-lang's checker knows every field's type: a misspelled field, a
// comparison of text with a number or a non-boolean check is a load error.

// Go types of the expression language.
var (
	tDecimal = reflect.TypeOf(decimal.Decimal{})
	tString  = reflect.TypeOf("")
	tInt     = reflect.TypeOf(0)
	tBool    = reflect.TypeOf(false)
	tTime    = reflect.TypeOf(time.Time{})
	tDate    = reflect.TypeOf((*time.Time)(nil)) // a date field: nil when empty
	tStrings = reflect.TypeOf([]string(nil))
	tAnyMap  = reflect.TypeOf(map[string]any(nil))
)

// User is the current user as expressions see it (user.id, user.name, user.roles).
type User struct {
	ID    string   `expr:"id"`
	Name  string   `expr:"name"`
	Roles []string `expr:"roles"`
}

// maxLinkDepth is how many links deep expressions may reach (customer.name is
// one, customer.default_warehouse.name two); deeper, a link is its id.
const maxLinkDepth = 2

// typeBuilder builds (and caches) the record types of one model.
type typeBuilder struct {
	entities map[string]*EntityDecl
	cache    map[string]reflect.Type
}

func newTypeBuilder(entities map[string]*EntityDecl) *typeBuilder {
	return &typeBuilder{entities: entities, cache: map[string]reflect.Type{}}
}

// fieldType is the Go type of a field's value in expressions at a link depth.
func (b *typeBuilder) fieldType(f *FieldDecl, depth int) reflect.Type {
	switch f.Type.V {
	case "int":
		return tInt
	case "decimal", "money", "quantity", "percent":
		return tDecimal
	case "bool":
		return tBool
	case "date", "datetime":
		return tDate
	case "multiselect":
		return tStrings
	case "json":
		return tAnyMap
	case "link":
		if depth < maxLinkDepth {
			if _, ok := b.entities[f.To.V]; ok {
				// A pointer, so that an empty link is nil: customer == nil.
				return reflect.PointerTo(b.record(f.To.V, depth+1))
			}
		}
		return tString
	case "table":
		return reflect.SliceOf(b.row(f.Fields, depth))
	}
	return tString // text, longtext, select, user, email, phone, barcode, attachment
}

func exprField(name string, t reflect.Type) reflect.StructField {
	return reflect.StructField{Name: "F_" + name, Type: t, Tag: reflect.StructTag(`expr:"` + name + `"`)}
}

// systemFields are the names every record has besides its declared fields.
var systemFields = []reflect.StructField{
	exprField("id", tString),
	exprField("number", tString),
	exprField("state", tString),
	exprField("owner", tString),
	exprField("created_at", tDate),
}

// record is the type of a record of entity at a link depth.
func (b *typeBuilder) record(entity string, depth int) reflect.Type {
	key := fmt.Sprintf("%s/%d", entity, depth)
	if t, ok := b.cache[key]; ok {
		return t
	}
	e := b.entities[entity]
	fields := append([]reflect.StructField(nil), systemFields...)
	seen := map[string]bool{"id": true, "number": true, "state": true, "owner": true, "created_at": true}
	for _, f := range e.Fields {
		if seen[f.Key.V] || f.Val == nil {
			continue
		}
		seen[f.Key.V] = true
		fields = append(fields, exprField(f.Key.V, b.fieldType(f.Val, depth)))
	}
	t := reflect.StructOf(uniqueFields(fields))
	b.cache[key] = t
	return t
}

// row is the type of one row of a table.
func (b *typeBuilder) row(cols Map[*FieldDecl], depth int) reflect.Type {
	var fields []reflect.StructField
	seen := map[string]bool{}
	for _, c := range cols {
		if seen[c.Key.V] || c.Val == nil {
			continue
		}
		seen[c.Key.V] = true
		fields = append(fields, exprField(c.Key.V, b.fieldType(c.Val, depth)))
	}
	return reflect.StructOf(uniqueFields(fields))
}

// uniqueFields drops every field whose expr name came before: a template
// field named like a system name or an engine function ("state", "user",
// "stock") is refused by the checker with a diagnostic, and must not crash
// the building of the environment first.
func uniqueFields(fields []reflect.StructField) []reflect.StructField {
	seen := map[string]bool{}
	out := fields[:0:0]
	for _, f := range fields {
		if name := f.Tag.Get("expr"); !seen[name] {
			seen[name] = true
			out = append(out, f)
		}
	}
	return out
}

// scope says which extra names an expression may use.
type scope struct {
	input  Map[*FieldDecl] // transition input, or nil
	before bool            // the stored record (rules, checks)
	row    reflect.Type    // for expressions on a table row: the row's fields are the top level
}

// env builds the environment type of an expression of entity e in scope s.
func (b *typeBuilder) env(e *EntityDecl, s scope) reflect.Type {
	rec := b.record(e.Entity.V, 0)
	var fields []reflect.StructField
	if s.row != nil {
		for i := 0; i < s.row.NumField(); i++ {
			fields = append(fields, s.row.Field(i))
		}
		fields = append(fields, exprField("parent", rec))
	} else {
		for i := 0; i < rec.NumField(); i++ {
			fields = append(fields, rec.Field(i))
		}
	}
	fields = append(fields, exprField("user", reflect.TypeOf(User{})))
	if s.before {
		fields = append(fields, exprField("before", reflect.PointerTo(rec))) // nil for a new record
	}
	if s.input != nil {
		fields = append(fields, exprField("input", b.row(s.input, 0)))
	}
	fields = append(fields, engineFunctions...)
	return reflect.StructOf(uniqueFields(fields))
}

// withAnyField returns env with the field name typed as any.
func withAnyField(env reflect.Type, name string) reflect.Type {
	fields := make([]reflect.StructField, env.NumField())
	for i := range fields {
		fields[i] = env.Field(i)
		if fields[i].Tag.Get("expr") == name {
			fields[i].Type = reflect.TypeOf((*any)(nil)).Elem()
		}
	}
	return reflect.StructOf(fields)
}

// engineFunctions are functions the engine provides when it evaluates an
// expression (they read the store); here they only give the checker their types.
var engineFunctions = []reflect.StructField{
	exprField("stock", reflect.TypeOf(func(item, warehouse any) decimal.Decimal { return decimal.Zero })),
	exprField("on_hand", reflect.TypeOf(func(item, warehouse any) decimal.Decimal { return decimal.Zero })),
	exprField("balance", reflect.TypeOf(func(party any) decimal.Decimal { return decimal.Zero })),
	exprField("outstanding", reflect.TypeOf(func(voucher any) decimal.Decimal { return decimal.Zero })),
}

// exprOptions are the compile options every expression shares: exact decimal
// operators, the built-in functions, and sum over decimals.
var exprOptions = buildExprOptions()

func buildExprOptions() []expr.Option {
	var opts []expr.Option
	type sig struct {
		suffix string
		typ    any
		conv   func(p []any) (decimal.Decimal, decimal.Decimal)
	}
	dd := func(p []any) (decimal.Decimal, decimal.Decimal) {
		return p[0].(decimal.Decimal), p[1].(decimal.Decimal)
	}
	di := func(p []any) (decimal.Decimal, decimal.Decimal) {
		return p[0].(decimal.Decimal), decimal.FromInt(int64(p[1].(int)))
	}
	id := func(p []any) (decimal.Decimal, decimal.Decimal) {
		return decimal.FromInt(int64(p[0].(int))), p[1].(decimal.Decimal)
	}
	df := func(p []any) (decimal.Decimal, decimal.Decimal) {
		f, _ := decimal.FromFloat(p[1].(float64))
		return p[0].(decimal.Decimal), f
	}
	fd := func(p []any) (decimal.Decimal, decimal.Decimal) {
		f, _ := decimal.FromFloat(p[0].(float64))
		return f, p[1].(decimal.Decimal)
	}
	arith := map[string]func(a, b decimal.Decimal) (any, error){
		"+": func(a, b decimal.Decimal) (any, error) { return a.Add(b), nil },
		"-": func(a, b decimal.Decimal) (any, error) { return a.Sub(b), nil },
		"*": func(a, b decimal.Decimal) (any, error) { return a.Mul(b), nil },
		"/": func(a, b decimal.Decimal) (any, error) { return a.Div(b, 10) },
	}
	compare := map[string]func(c int) bool{
		"<": func(c int) bool { return c < 0 }, "<=": func(c int) bool { return c <= 0 },
		">": func(c int) bool { return c > 0 }, ">=": func(c int) bool { return c >= 0 },
		"==": func(c int) bool { return c == 0 }, "!=": func(c int) bool { return c != 0 },
	}
	sigs := func(out reflect.Type) []sig {
		mk := func(a, b reflect.Type) any {
			return reflect.New(reflect.FuncOf([]reflect.Type{a, b}, []reflect.Type{out}, false)).Interface()
		}
		f64 := reflect.TypeOf(0.0)
		return []sig{
			{"DD", mk(tDecimal, tDecimal), dd}, {"DI", mk(tDecimal, tInt), di}, {"ID", mk(tInt, tDecimal), id},
			{"DF", mk(tDecimal, f64), df}, {"FD", mk(f64, tDecimal), fd},
		}
	}
	n := 0
	for op, fn := range arith {
		var names []string
		for _, s := range sigs(tDecimal) {
			name := fmt.Sprintf("__dec%d%s", n, s.suffix)
			conv, fn := s.conv, fn
			opts = append(opts, expr.Function(name, func(p ...any) (any, error) { a, b := conv(p); return boundedNumber(fn(a, b)) }, s.typ))
			names = append(names, name)
		}
		opts = append(opts, expr.Operator(op, names...))
		n++
	}
	for op, holds := range compare {
		var names []string
		for _, s := range sigs(tBool) {
			name := fmt.Sprintf("__dec%d%s", n, s.suffix)
			conv, holds := s.conv, holds
			opts = append(opts, expr.Function(name, func(p ...any) (any, error) { a, b := conv(p); return holds(a.Cmp(b)), nil }, s.typ))
			names = append(names, name)
		}
		opts = append(opts, expr.Operator(op, names...))
		n++
	}
	opts = append(opts, boundedText()...)
	opts = append(opts,
		expr.Function("__decsum", decSum, new(func(any) decimal.Decimal)),
		expr.Function("round", func(p ...any) (any, error) { return p[0].(decimal.Decimal).Round(p[1].(int)), nil },
			new(func(decimal.Decimal, int) decimal.Decimal)),
		expr.Function("today", func(...any) (any, error) {
			y, m, d := time.Now().Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.Local), nil
		}, new(func() time.Time)),
		expr.Function("now", func(...any) (any, error) { return time.Now(), nil }, new(func() time.Time)),
		expr.Function("days", func(p ...any) (any, error) {
			a, aok := asTime(p[0])
			b, bok := asTime(p[1])
			if !aok || !bok {
				return nil, fmt.Errorf("days: both dates must be set")
			}
			return int(b.Sub(a).Hours() / 24), nil
		}, new(func(time.Time, time.Time) int), new(func(*time.Time, *time.Time) int),
			new(func(*time.Time, time.Time) int), new(func(time.Time, *time.Time) int)),
		expr.Function("dec", func(p ...any) (any, error) { return decimal.Parse(p[0].(string)) }, new(func(string) decimal.Decimal)),
		expr.Function("abs", func(p ...any) (any, error) {
			switch x := p[0].(type) {
			case decimal.Decimal:
				return x.Abs(), nil
			case int:
				return max(x, -x), nil
			case float64:
				return max(x, -x), nil
			}
			return nil, fmt.Errorf("abs: %T is not a number", p[0])
		}, new(func(decimal.Decimal) decimal.Decimal), new(func(int) int), new(func(float64) float64)),
		minMax("min", -1), minMax("max", 1),
		expr.Patch(sumPatch{}),
	)
	return opts
}

// minMax is min or max of two numbers, exact for decimals (the built-ins work
// on floats): pick is -1 for the smaller, 1 for the larger.
func minMax(name string, pick int) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		a, aok, _ := toDecimal(p[0])
		b, bok, _ := toDecimal(p[1])
		if !aok || !bok {
			return nil, fmt.Errorf("%s: want numbers, got %T and %T", name, p[0], p[1])
		}
		if a.Cmp(b) == pick {
			return a, nil
		}
		return b, nil
	},
		new(func(decimal.Decimal, decimal.Decimal) decimal.Decimal),
		new(func(decimal.Decimal, int) decimal.Decimal), new(func(int, decimal.Decimal) decimal.Decimal),
		new(func(decimal.Decimal, float64) decimal.Decimal), new(func(float64, decimal.Decimal) decimal.Decimal),
		new(func(int, int) decimal.Decimal))
}

// toDecimal converts the numbers expressions produce.
func toDecimal(v any) (decimal.Decimal, bool, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, true, nil
	case int:
		return decimal.FromInt(int64(x)), true, nil
	case float64:
		d, err := decimal.FromFloat(x)
		return d, err == nil, err
	}
	return decimal.Zero, false, nil
}

// asTime reads a date value (a time or a set date field).
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case *time.Time:
		if x != nil {
			return *x, true
		}
	}
	return time.Time{}, false
}

// decSum adds the values of a mapped table column exactly.
func decSum(p ...any) (any, error) {
	total := decimal.Zero
	rv := reflect.ValueOf(p[0])
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("sum: want a list, got %T", p[0])
	}
	for i := 0; i < rv.Len(); i++ {
		x := rv.Index(i).Interface()
		if x == nil {
			continue
		}
		d, ok, err := toDecimal(x)
		if !ok {
			return nil, fmt.Errorf("sum: %T is not a number (%v)", x, err)
		}
		total = total.Add(d)
	}
	return total, nil
}

// sumPatch rewrites sum(rows, .x) to __decsum(map(rows, .x)) and sum(xs) to
// __decsum(xs), so that sums of money stay exact decimals (the built-in sum
// works on floats).
type sumPatch struct{}

func (sumPatch) Visit(n *ast.Node) {
	b, ok := (*n).(*ast.BuiltinNode)
	if !ok || b.Name != "sum" {
		return
	}
	arg := b.Arguments[0]
	if len(b.Arguments) == 2 {
		arg = &ast.BuiltinNode{Name: "map", Arguments: b.Arguments}
	}
	ast.Patch(n, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__decsum"}, Arguments: []ast.Node{arg}})
}

// Bounds on what one evaluation may build. expr's memory budget counts the
// elements of lists and ranges (at most 1,000,000) and the output of
// repeat, but not text joined with +, replace or join, nor the digits of
// exact decimals, so a let chain that doubles a text or squares a number
// at each step would grow exponentially. Past these bounds the evaluation
// fails with an error instead.
const (
	// MaxExprText is the longest text, in bytes, that +, replace and join
	// may build in an expression.
	MaxExprText = 1 << 20
	// MaxExprDigits is the longest decimal, in characters, that arithmetic
	// in an expression may produce.
	MaxExprDigits = 1000
)

// boundedNumber refuses a decimal result longer than MaxExprDigits.
func boundedNumber(v any, err error) (any, error) {
	if d, ok := v.(decimal.Decimal); ok && err == nil && d.Size() > MaxExprDigits {
		return nil, fmt.Errorf("the number has more than %d digits", MaxExprDigits)
	}
	return v, err
}

func errTextTooLong() error {
	return fmt.Errorf("the text would be longer than %d bytes", MaxExprText)
}

// boundedText is text + and the built-ins replace and join with the bound
// MaxExprText.
func boundedText() []expr.Option {
	return []expr.Option{
		expr.Function("__textcat", func(p ...any) (any, error) {
			a, b := p[0].(string), p[1].(string)
			if len(a)+len(b) > MaxExprText {
				return nil, errTextTooLong()
			}
			return a + b, nil
		}, new(func(string, string) string)),
		expr.Operator("+", "__textcat"),
		expr.DisableBuiltin("replace"),
		expr.Function("replace", func(p ...any) (any, error) {
			s, old, nw := p[0].(string), p[1].(string), p[2].(string)
			if n := strings.Count(s, old); len(s)+n*(len(nw)-len(old)) > MaxExprText {
				return nil, errTextTooLong()
			}
			return strings.ReplaceAll(s, old, nw), nil
		}, new(func(string, string, string) string)),
		expr.DisableBuiltin("join"),
		expr.Function("join", func(p ...any) (any, error) {
			sep := ""
			if len(p) > 1 {
				sep = p[1].(string)
			}
			var parts []string
			switch list := p[0].(type) {
			case []string:
				parts = list
			case []any:
				for _, v := range list {
					s, ok := v.(string)
					if !ok {
						return nil, fmt.Errorf("join: %T is not text", v)
					}
					parts = append(parts, s)
				}
			}
			size := len(sep) * max(len(parts)-1, 0)
			for _, s := range parts {
				if size += len(s); size > MaxExprText {
					return nil, errTextTooLong()
				}
			}
			return strings.Join(parts, sep), nil
		}, new(func([]string, string) string), new(func([]any, string) string), new(func([]string) string), new(func([]any) string)),
	}
}
