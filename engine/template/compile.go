package template

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Program is one compiled expression of a template, ready to run against an
// environment built by the engine.
type Program struct {
	Src     string
	File    string
	Pos     Pos
	Type    reflect.Type // the type the checker inferred for its result
	EnvType reflect.Type // the struct type Run expects a value of
	Names   []string     // the top-level names the expression reads
	// Members are, for each top-level name that the expression reads only
	// through its fields (parent.scope, parent.warehouse.name), the fields it
	// reads; a name used whole (a record passed to a function, let p =
	// parent) has none here. The engine builds only those fields.
	Members map[string][]string
	// UsesFunctions: the expression calls stock, balance or outstanding,
	// which the engine provides when it runs it.
	UsesFunctions bool
	prog          *vm.Program
}

func newProgram(src, file string, pos Pos, env reflect.Type, prog *vm.Program) *Program {
	p := &Program{Src: src, File: file, Pos: pos, EnvType: env, prog: prog, Type: prog.Node().Type()}
	seen := map[string]bool{}
	node := prog.Node()
	ast.Walk(&node, identifiers(func(name string) {
		if !seen[name] {
			seen[name] = true
			p.Names = append(p.Names, name)
			for _, f := range engineFunctions {
				p.UsesFunctions = p.UsesFunctions || f.Tag.Get("expr") == name
			}
		}
	}))
	if p.Names == nil {
		p.Names = []string{}
	}
	p.Members = members(node)
	return p
}

// members lists, for each identifier of node read only as the record of a
// field access (x.f or x["f"]), the fields read of it.
func members(node ast.Node) map[string][]string {
	through := map[*ast.IdentifierNode]string{} // identifier → the field read of it
	ast.Walk(&node, visitor(func(n ast.Node) {
		m, ok := n.(*ast.MemberNode)
		if !ok || m.Method {
			return
		}
		id, ok := m.Node.(*ast.IdentifierNode)
		prop, isName := m.Property.(*ast.StringNode)
		if ok && isName {
			through[id] = prop.Value
		}
	}))
	out := map[string][]string{}
	whole := map[string]bool{}
	ast.Walk(&node, visitor(func(n ast.Node) {
		id, ok := n.(*ast.IdentifierNode)
		if !ok || whole[id.Value] {
			return
		}
		f, ok := through[id]
		if !ok {
			whole[id.Value] = true
			delete(out, id.Value)
			return
		}
		if !slices.Contains(out[id.Value], f) {
			out[id.Value] = append(out[id.Value], f)
		}
	}))
	return out
}

// visitor calls fn for every node of an expression.
type visitor func(ast.Node)

func (f visitor) Visit(n *ast.Node) { f(*n) }

// identifiers calls fn for every identifier of an expression.
type identifiers func(string)

func (f identifiers) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		f(id.Value)
	}
}

// Run evaluates the program against env (a value of its environment type).
func (p *Program) Run(env any) (any, error) { return expr.Run(p.prog, env) }

// want is what a place expects of an expression's result.
type want struct {
	what string       // "a boolean", "the field's type", ...
	typ  reflect.Type // nil: any type
	link string       // for a link field: the target entity (a record of it or its id is fine)
}

var wantBool = want{what: "true or false", typ: tBool}

// compileExpr compiles e in env, reports any error at its place in the file,
// and checks the result against w. prefix is text wrapped around the source
// before compiling (for row expressions: "map(lines, "), whose length is
// taken off error columns.
func compileExpr(d diags, e Expr, env reflect.Type, w want, place string, prefix, suffix string) *Program {
	if !e.IsSet() {
		return nil
	}
	if strings.TrimSpace(e.Src) == "" {
		d.errorf(e.Pos, "write an expression, e.g. \"true\" or \"qty > 0\"", "%s: the expression is empty", place)
		return nil
	}
	opts := append([]expr.Option{expr.Env(reflect.New(env).Elem().Interface())}, exprOptions...)
	prog, err := expr.Compile(prefix+e.Src+suffix, opts...)
	if err != nil {
		msg, p := exprError(err, e.Pos, len(prefix))
		hint := exprHint(msg, env)
		if m := noFieldRE.FindStringSubmatch(msg); m != nil {
			// "type struct { F_qty ... `expr:"qty"` ... } has no field qtty": name
			// the field, and suggest one of the record's own.
			var names []string
			for _, t := range tagRE.FindAllStringSubmatch(m[1], -1) {
				names = append(names, t[1])
			}
			msg, hint = fmt.Sprintf("unknown field %s", m[2]), didYouMean(m[2], names)
		}
		d.errorf(p, hint, "%s: %s", place, msg)
		return nil
	}
	out := newProgram(e.Src, d.file, e.Pos, env, prog)
	t := out.Type
	if t != nil && prefix != "" && t.Kind() == reflect.Slice {
		t = t.Elem() // map(rows, x) gives []T: the row expression is a T
		// expr types map's result []any; the closure knows the row's type.
		if b, ok := prog.Node().(*ast.BuiltinNode); ok && len(b.Arguments) == 2 {
			if c, ok := b.Arguments[1].(*ast.PredicateNode); ok && c.Node.Type() != nil {
				t = c.Node.Type()
			}
		}
	}
	out.Type = t
	if !assignable(t, w) {
		d.errorf(e.Pos, "", "%s: the expression gives %s, want %s", place, typeName(t), w.what)
		return nil
	}
	return out
}

var (
	noFieldRE = regexp.MustCompile(`^type (struct \{.*\}) has no field (\w+)`)
	tagRE     = regexp.MustCompile(`expr:\\?"(\w+)\\?"`)
)

// exprError turns an expr-lang error into a message and a file position.
func exprError(err error, at Pos, prefixLen int) (string, Pos) {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err.Error(), at
	}
	p := at
	col := fe.Column - prefixLen
	if fe.Line > 1 {
		p.Line += fe.Line - 1
		p.Col = 1
	}
	if col > 0 {
		p.Col += col
	}
	return fe.Message, p
}

// exprHint suggests a field name for "unknown name" errors.
func exprHint(msg string, env reflect.Type) string {
	const unknown = "unknown name "
	if !strings.HasPrefix(msg, unknown) {
		return ""
	}
	name := strings.Fields(strings.TrimPrefix(msg, unknown))[0]
	var names []string
	for i := 0; i < env.NumField(); i++ {
		if tag := env.Field(i).Tag.Get("expr"); tag != "" {
			names = append(names, tag)
		}
	}
	return didYouMean(name, names)
}

// assignable reports whether a result of type t fits the place w.
func assignable(t reflect.Type, w want) bool {
	if w.typ == nil || t == nil || t.Kind() == reflect.Interface {
		return true
	}
	if t == w.typ {
		return true
	}
	switch {
	case w.typ == tDecimal:
		return t.Kind() == reflect.Int || t.Kind() == reflect.Float64
	case w.typ == tDate:
		return t == tTime
	case w.typ == tTime:
		return t == tDate
	case w.link != "":
		return t == tString || t.Kind() == reflect.Struct || t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
	case w.typ.Kind() == reflect.Slice && t.Kind() == reflect.Slice:
		return true // table copied from table: row by row, matching columns
	}
	return false
}

// typeName names a Go type in the words of the template language.
func typeName(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	switch {
	case t == tDecimal:
		return "a decimal number"
	case t == tString:
		return "text"
	case t == tBool:
		return "true or false"
	case t == tTime || t == tDate:
		return "a date"
	case t.Kind() == reflect.Int:
		return "a whole number"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		return "a record"
	}
	return fmt.Sprint(t)
}

// fieldWant is what a value expression for field f must give.
func (b *typeBuilder) fieldWant(f *FieldDecl) want {
	t := b.fieldType(f, 0)
	w := want{what: fieldTypeWords(f), typ: t}
	if f.Type.V == "link" {
		w.link = f.To.V
		w.typ = tString
	}
	return w
}

func fieldTypeWords(f *FieldDecl) string {
	switch f.Type.V {
	case "int":
		return "a whole number (int field)"
	case "decimal", "money", "quantity", "percent":
		return "a number (" + f.Type.V + " field)"
	case "bool":
		return "true or false (bool field)"
	case "date", "datetime":
		return "a date (" + f.Type.V + " field)"
	case "link":
		return "a record of " + f.To.V + " or its id (link field)"
	case "table":
		return "a list of rows (table field)"
	case "multiselect":
		return "a list of options (multiselect field)"
	}
	return "text (" + f.Type.V + " field)"
}
