package template

import (
	"fmt"
	"github.com/yerp/yerp/engine/query"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Model is a checked, compiled set of packages: what the engine runs. It is
// immutable once built; a new version of a template makes a new Model.
type Model struct {
	Packages map[string]*Package
	Entities map[string]*Entity
	Roles    map[string]Label
	Reports  map[string]*Report // by package/name (see reports.go)
}

// Package is one installed package.
type Package struct {
	Name     string
	Version  *semver.Version
	Decl     *PackageDecl
	Entities []string
}

// Entity is one checked entity with its compiled expressions.
type Entity struct {
	Name     string
	Package  string
	File     string
	Decl     *EntityDecl
	Env      reflect.Type        // environment type of its record expressions
	Programs map[string]*Program // by place, e.g. "fields.total.compute"
	Layouts  map[string]*Layout  // print layouts by print name, parsed (print.go)
}

// reservedNames cannot be field names: expressions use them for other things.
// In a table row, "parent" (the record) is reserved too.
// The engine's functions (stock, balance...) are reserved too.
var reservedNames = append([]string{"id", "version", "number", "state", "owner", "created_at", "created_by", "updated_at", "updated_by", "posting", "user", "input", "before"}, engineFunctionNames()...)

func engineFunctionNames() []string {
	var names []string
	for _, f := range engineFunctions {
		names = append(names, f.Tag.Get("expr"))
	}
	return names
}

var textTypes = []string{"text", "longtext", "email", "phone", "barcode"}
var numericTypes = []string{"int", "decimal", "money", "quantity", "percent"}

// uniqueColumnTypes are the types of table columns that unique applies to:
// values that one row can repeat of another.
var uniqueColumnTypes = []string{"text", "email", "phone", "barcode", "int", "decimal", "money", "quantity", "percent", "date", "datetime", "select", "link", "user"}

// Check checks packages together (links and requires resolve among them) and
// returns the Model when there is no error. Every problem is in the
// diagnostics, sorted by file and position.
func Check(sources []*Source) (*Model, Diagnostics) {
	var ds Diagnostics
	c := &checker{
		out:      &ds,
		model:    &Model{Packages: map[string]*Package{}, Entities: map[string]*Entity{}, Roles: map[string]Label{}, Reports: map[string]*Report{}},
		decls:    map[string]*EntityDecl{},
		entityOf: map[string]*Source{},
		broken:   map[string]bool{},
	}
	for _, src := range sources {
		for _, b := range src.Broken {
			c.broken[b] = true
		}
	}
	c.packages(sources)
	c.collectEntities(sources)
	c.types = newTypeBuilder(c.decls)
	for _, src := range sources {
		for _, ef := range src.Entities {
			if c.model.Entities[ef.Decl.Entity.V] != nil && c.model.Entities[ef.Decl.Entity.V].File == ef.File {
				c.entity(src, ef)
			}
		}
	}
	c.reports(sources)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return c.model, ds
}

type checker struct {
	broken   map[string]bool // entities whose files failed to load (already reported)
	out      *Diagnostics
	model    *Model
	decls    map[string]*EntityDecl
	entityOf map[string]*Source
	types    *typeBuilder
}

func (c *checker) at(file string) diags { return diags{file: file, out: c.out} }

// label warns when a label lacks one of the two languages.
func (c *checker) label(d diags, l Label, what string) {
	if !l.set {
		return
	}
	for _, lang := range []string{"zh-CN", "en"} {
		if strings.TrimSpace(l.Text[lang]) == "" {
			d.warnf(l.Pos, "every label needs zh-CN and en", "%s has no %s label", what, lang)
		}
	}
}

func (c *checker) packages(sources []*Source) {
	for _, src := range sources {
		p := src.Package
		d := c.at(src.Dir + "/package.yaml")
		if prev, dup := c.model.Packages[p.Package.V]; dup {
			d.errorf(p.Package.Pos, "rename one of them", "package %q is defined twice (also in %s)", p.Package.V, prev.Decl.Package.V)
			continue
		}
		v, err := semver.StrictNewVersion(p.Version.V)
		if err != nil {
			d.errorf(p.Version.Pos, "write MAJOR.MINOR.PATCH, e.g. 1.0.0", "version %q is not a semantic version", p.Version.V)
			v = semver.New(0, 0, 0, "", "")
		}
		c.model.Packages[p.Package.V] = &Package{Name: p.Package.V, Version: v, Decl: p}
		c.label(d, p.Label, "package "+p.Package.V)
		c.label(d, p.Description, "the description of package "+p.Package.V)
		for _, r := range p.Roles {
			c.model.Roles[r.Key.V] = r.Val
			c.label(d, r.Val, "role "+r.Key.V)
		}
	}
	for _, src := range sources {
		p := src.Package
		d := c.at(src.Dir + "/package.yaml")
		for _, req := range p.Requires {
			con, err := semver.NewConstraint(req.Val.V)
			if err != nil {
				d.errorf(req.Val.Pos, "e.g. ^1.0 or \">=1.2 <2\"", "requires %s: %q is not a version range", req.Key.V, req.Val.V)
				continue
			}
			dep, ok := c.model.Packages[req.Key.V]
			if !ok {
				d.errorf(req.Key.Pos, didYouMean(req.Key.V, mapKeys(c.model.Packages)), "requires package %q, which is not installed", req.Key.V)
				continue
			}
			if !con.Check(dep.Version) {
				d.errorf(req.Val.Pos, "install a version of "+req.Key.V+" that matches, or change the range", "requires %s %s, but version %s is installed", req.Key.V, req.Val.V, dep.Version)
			}
		}
	}
}

func (c *checker) collectEntities(sources []*Source) {
	for _, src := range sources {
		for _, ef := range src.Entities {
			e := ef.Decl
			d := c.at(ef.File)
			base := strings.TrimSuffix(ef.File[strings.LastIndex(ef.File, "/")+1:], ".yaml")
			if base != e.Entity.V {
				d.errorf(e.Entity.Pos, "name the file "+e.Entity.V+".yaml, or the entity "+base, "entity %q is in file %s.yaml", e.Entity.V, base)
			}
			if strings.HasPrefix(e.Entity.V, "sys_") {
				d.errorf(e.Entity.Pos, "names starting with sys_ belong to the system's own collections", "entity name %q is reserved", e.Entity.V)
				continue
			}
			if prev, dup := c.model.Entities[e.Entity.V]; dup {
				d.errorf(e.Entity.Pos, "entity names are global across packages; rename one", "entity %q is already defined in %s", e.Entity.V, prev.File)
				continue
			}
			c.decls[e.Entity.V] = e
			c.entityOf[e.Entity.V] = src
			c.model.Entities[e.Entity.V] = &Entity{Name: e.Entity.V, Package: src.Package.Package.V, File: ef.File, Decl: e, Programs: map[string]*Program{}}
			pkg := c.model.Packages[src.Package.Package.V]
			if pkg != nil {
				pkg.Entities = append(pkg.Entities, e.Entity.V)
			}
		}
	}
}

// entityCheck carries what the checks of one entity share.
type entityCheck struct {
	*checker
	d   diags
	src *Source
	e   *EntityDecl
	m   *Entity
}

func (c *checker) entity(src *Source, ef *EntityFile) {
	ec := &entityCheck{checker: c, d: c.at(ef.File), src: src, e: ef.Decl, m: c.model.Entities[ef.Decl.Entity.V]}
	e := ec.e
	c.label(ec.d, e.Label, "entity "+e.Entity.V)
	ec.m.Env = c.types.env(e, scope{before: true})
	ec.fields(e.Fields, "fields", nil)
	ec.number()
	if e.Title.IsSet() {
		ec.compile(e.Title, scope{}, want{what: "text", typ: tString}, "title")
	}
	for i, r := range e.Rules {
		ec.compile(r.Check, scope{before: true}, wantBool, fmt.Sprintf("rules[%d].check", i))
		c.label(ec.d, r.Message, "the message of a rule")
	}
	ec.states()
	ec.transitions()
	ec.access()
	ec.views()
	ec.tracking()
}

// compile compiles one expression of the entity and files it under place.
func (ec *entityCheck) compile(x Expr, s scope, w want, place string) *Program {
	p := compileExpr(ec.d, x, ec.types.env(ec.e, s), w, place, "", "")
	if p != nil {
		ec.m.Programs[place] = p
	}
	return p
}

// fields checks a field list: the entity's, a table's columns (row != nil) or a
// transition's input (path "transitions.x.input").
func (ec *entityCheck) fields(fields Map[*FieldDecl], path string, row *FieldDecl) {
	seen := map[string]bool{}
	for _, fe := range fields {
		name, f := fe.Key, fe.Val
		if f == nil {
			ec.d.errorf(name.Pos, "give at least its type, e.g. {type: text}", "field %q has no definition", name.V)
			continue
		}
		place := path + "." + name.V
		if seen[name.V] {
			ec.d.errorf(name.Pos, "", "field %q is defined twice", name.V)
		}
		seen[name.V] = true
		reserved := reservedNames
		if row != nil {
			reserved = append(reserved[:len(reserved):len(reserved)], "parent")
		}
		if slices.Contains(reserved, name.V) && !strings.Contains(path, "input") {
			ec.d.errorf(name.Pos, "pick another name", "%q is a reserved name (%s)", name.V, strings.Join(reserved, ", "))
		}
		if row == nil && !strings.Contains(path, "input") {
			ec.label(ec.d, f.Label, "field "+name.V)
		}
		ec.field(name, f, place, row)
	}
}

func (ec *entityCheck) field(name Str, f *FieldDecl, place string, row *FieldDecl) {
	d := ec.d
	t := f.Type.V
	only := func(set bool, pos Pos, opt string, types ...string) {
		if set && !slices.Contains(types, t) {
			d.errorf(pos, "it applies to "+strings.Join(types, ", "), "field %q: %s does not apply to a %s field", name.V, opt, t)
		}
	}
	only(f.Min != nil || f.Max != nil, f.Type.Pos, "min/max", numericTypes...)
	only(f.MinLength != nil || f.MaxLength != nil, f.Type.Pos, "min_length/max_length", textTypes...)
	only(f.Pattern.V != "", f.Pattern.Pos, "pattern", textTypes...)
	only(f.Scale != nil, f.Type.Pos, "scale", "decimal")
	only(len(f.Options) > 0, f.Type.Pos, "options", "select", "multiselect")
	only(f.To.V != "", f.To.Pos, "to", "link")
	only(f.Filter.IsSet(), f.Filter.Pos, "filter", "link")
	only(f.Role.V != "", f.Role.Pos, "role", "user")
	only(len(f.Fields) > 0, f.Type.Pos, "fields", "table")
	only(f.MinRows != nil || f.MaxRows != nil, f.Type.Pos, "min_rows/max_rows", "table")
	only(f.MaxSize != nil || len(f.Accept) > 0, f.Type.Pos, "max_size/accept", "attachment")
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		d.errorf(f.Type.Pos, "", "field %q: min %v is above max %v", name.V, *f.Min, *f.Max)
	}
	if f.Unique {
		switch {
		case strings.HasPrefix(place, "transitions.") && strings.Contains(place, ".input."):
			d.errorf(f.Type.Pos, "remove it: an input is asked for once, there is nothing to compare it with", "transition input %q: unique does not apply to transition input", name.V)
		case t == "table":
			d.errorf(f.Type.Pos, "put unique: true on the column whose value must differ from row to row, e.g. the item", "field %q: unique does not apply to a table field", name.V)
		case row != nil:
			only(true, f.Type.Pos, "unique", uniqueColumnTypes...)
		}
	}
	if f.Pattern.V != "" {
		if _, err := regexp.Compile(f.Pattern.V); err != nil {
			d.errorf(f.Pattern.Pos, "patterns use RE2 syntax", "field %q: pattern does not compile: %v", name.V, err)
		}
	}
	switch t {
	case "link":
		ec.linkTarget(name, f)
	case "select", "multiselect":
		if len(f.Options) == 0 {
			d.errorf(f.Type.Pos, "list the choices: options: [a, b]", "field %q: a %s field needs options", name.V, t)
		}
		opts := map[string]bool{}
		for _, o := range f.Options {
			if opts[o.V] {
				d.errorf(o.Pos, "", "field %q: option %q is listed twice", name.V, o.V)
			}
			opts[o.V] = true
		}
		for _, ol := range f.OptionLabels {
			if !opts[ol.Key.V] {
				d.errorf(ol.Key.Pos, didYouMean(ol.Key.V, strs(f.Options)), "field %q: option_labels names %q, which is not an option", name.V, ol.Key.V)
			}
			ec.label(d, ol.Val, "option "+ol.Key.V)
		}
	case "user":
		if f.Role.V != "" {
			ec.role(f.Role)
		}
	case "table":
		if row != nil {
			d.errorf(f.Type.Pos, "use a link to another entity instead", "field %q: a table cannot hold another table", name.V)
		} else if strings.Contains(place, "input") {
			d.errorf(f.Type.Pos, "", "transition input %q: a table cannot be asked for", name.V)
		} else {
			if len(f.Fields) == 0 {
				d.errorf(f.Type.Pos, "give its columns under fields:", "table %q has no fields", name.V)
			}
			ec.fields(f.Fields, place+".fields", f)
		}
	}
	if f.Compute.IsSet() && f.Default.IsSet() {
		d.errorf(f.Compute.Pos, "a computed field always holds its computed value; remove default", "field %q has both compute and default", name.V)
	}
	if f.Compute.IsSet() && strings.Contains(place, "input") {
		d.errorf(f.Compute.Pos, "", "transition input %q cannot be computed", name.V)
	}
	// Expressions of the field: on a table column they see the row's fields.
	s := scope{}
	if row != nil {
		s.row = ec.types.row(row.Fields, 0)
	}
	if strings.HasPrefix(place, "transitions.") {
		return // input expressions are checked with the transition
	}
	w := ec.types.fieldWant(f)
	ec.compile(f.Default, s, w, place+".default")
	ec.compile(f.Compute, s, w, place+".compute")
	ec.compile(f.RequiredWhen, s, wantBool, place+".required_when")
	ec.compile(f.VisibleWhen, s, wantBool, place+".visible_when")
	ec.compile(f.ReadonlyWhen, s, wantBool, place+".readonly_when")
	if f.Migrate.IsSet() {
		// migrate reads the value stored under the old type, unknown here: the
		// field is untyped for it; publishing compiles it against the old model.
		if p := compileExpr(ec.d, f.Migrate, withAnyField(ec.types.env(ec.e, s), name.V), ec.types.fieldWant(f), place+".migrate", "", ""); p != nil {
			ec.m.Programs[place+".migrate"] = p
		}
	}
	if f.Filter.IsSet() {
		if target, ok := ec.decls[f.To.V]; ok {
			p := compileExpr(ec.d, f.Filter, ec.types.env(target, scope{}), wantBool, place+".filter", "", "")
			if p != nil {
				ec.m.Programs[place+".filter"] = p
			}
		}
	}
}

// linkTarget checks that a link's entity exists and that its package is this
// package or one it requires.
func (ec *entityCheck) linkTarget(name Str, f *FieldDecl) {
	if f.To.V == "" {
		ec.d.errorf(f.Type.Pos, "say which entity: to: customer", "link field %q has no target", name.V)
		return
	}
	target, ok := ec.model.Entities[f.To.V]
	if !ok && ec.broken[f.To.V] {
		return // its file is broken, and that is reported
	}
	if !ok {
		ec.d.errorf(f.To.Pos, didYouMean(f.To.V, mapKeys(ec.model.Entities)), "field %q links to entity %q, which does not exist", name.V, f.To.V)
		return
	}
	own := ec.src.Package.Package.V
	if target.Package != own && !ec.requires(own, target.Package) {
		ec.d.errorf(f.To.Pos, "add "+target.Package+" to requires in package.yaml", "field %q links to %s of package %s, which package %s does not require", name.V, f.To.V, target.Package, own)
	}
}

// requires reports whether package a requires b, directly or through others.
func (ec *entityCheck) requires(a, b string) bool {
	seen := map[string]bool{}
	var walk func(p string) bool
	walk = func(p string) bool {
		if seen[p] {
			return false
		}
		seen[p] = true
		pkg := ec.model.Packages[p]
		if pkg == nil {
			return false
		}
		for _, r := range pkg.Decl.Requires {
			if r.Key.V == b || walk(r.Key.V) {
				return true
			}
		}
		return false
	}
	return walk(a)
}

func (ec *entityCheck) role(r Str) {
	if _, ok := ec.model.Roles[r.V]; !ok && r.V != "admin" {
		ec.d.errorf(r.Pos, didYouMean(r.V, mapKeys(ec.model.Roles)), "role %q is not declared by any package", r.V)
	}
}

var seqRE = regexp.MustCompile(`\{[^}]*\}`)

func (ec *entityCheck) number() {
	n := ec.e.Number
	if n.V == "" {
		return
	}
	seqs := 0
	for _, ph := range seqRE.FindAllString(n.V, -1) {
		switch {
		case ph == "{yyyy}" || ph == "{yy}" || ph == "{mm}" || ph == "{dd}":
		case strings.HasPrefix(ph, "{seq:"):
			w, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(ph, "{seq:"), "}"))
			if err != nil || w < 1 || w > 12 {
				ec.d.errorf(n.Pos, "e.g. {seq:5} for 00001", "number: %s needs a width from 1 to 12", ph)
			}
			seqs++
		default:
			ec.d.errorf(n.Pos, "use {yyyy} {yy} {mm} {dd} {seq:N}", "number: unknown placeholder %s", ph)
		}
	}
	if seqs != 1 {
		ec.d.errorf(n.Pos, "e.g. \"SO-{yyyy}{mm}-{seq:5}\"", "number: the pattern needs exactly one {seq:N}, it has %d", seqs)
	}
}

// fieldNames are the names lists, forms and access may use: the fields and,
// for lists and access, the system fields.
func (ec *entityCheck) hasField(name string, system bool) bool {
	if _, ok := ec.e.Fields.Get(name); ok {
		return true
	}
	return system && slices.Contains([]string{"id", "number", "state", "owner", "created_at"}, name)
}

func (ec *entityCheck) fieldRef(s Str, system bool, where string) {
	if ec.hasField(s.V, system) {
		return
	}
	cands := ec.e.Fields.Keys()
	if system {
		cands = append(cands, "number", "state", "owner", "created_at")
	}
	ec.d.errorf(s.Pos, didYouMean(s.V, cands), "%s: unknown field %q", where, s.V)
}

func (ec *entityCheck) views() {
	e := ec.e
	if e.List != nil {
		for _, col := range e.List.Columns {
			ec.fieldRef(col, true, "list.columns")
		}
		for _, f := range e.List.Filters {
			ec.fieldRef(f, true, "list.filters")
		}
		if e.List.Sort.V != "" {
			ec.fieldRef(Str{strings.TrimPrefix(e.List.Sort.V, "-"), e.List.Sort.Pos}, true, "list.sort")
		}
	}
	onForm := map[string]bool{}
	for i, sec := range e.Form {
		ec.label(ec.d, sec.Section, fmt.Sprintf("form section %d", i+1))
		for _, f := range sec.Fields {
			ec.fieldRef(f, false, "form")
			if onForm[f.V] {
				ec.d.errorf(f.Pos, "show each field once", "form: field %q is already on the form", f.V)
			}
			onForm[f.V] = true
		}
	}
	ec.prints()
	for _, ix := range e.Indexes {
		for _, k := range ix {
			ec.fieldRef(Str{strings.TrimPrefix(k.V, "-"), k.Pos}, true, "indexes")
		}
	}
}

func (ec *entityCheck) access() {
	for _, a := range ec.e.Access {
		ec.role(a.Key)
		acc := a.Val
		if acc == nil {
			continue
		}
		for op, rule := range map[string]*BoolOrExpr{"read": acc.Read, "create": acc.Create, "update": acc.Update, "delete": acc.Delete} {
			if rule != nil && rule.Const == nil {
				if ec.compile(rule.Expr, scope{}, wantBool, "access."+a.Key.V+"."+op) != nil && op == "read" {
					ec.filterRule(a.Key.V, rule.Expr)
				}
			}
		}
		if acc.Fields != nil {
			for _, list := range [][]Str{acc.Fields.Hide, acc.Fields.Readonly} {
				for _, f := range list {
					ec.fieldPath(f, "access."+a.Key.V+".fields")
				}
			}
		}
	}
}

// filterRule checks that a read rule can become a store filter, as it does
// on every list: it may only compare the record's own fields with values and
// user.id, user.name, user.roles.
func (ec *entityCheck) filterRule(role string, x Expr) {
	vars := query.Vars{"user": map[string]any{"id": "", "name": "", "roles": []string{}}}
	if _, err := query.Parse(x.Src, EntitySchema(ec.e, nil), vars); err != nil {
		p, msg := x.Pos, err.Error()
		if qe, ok := err.(*query.Error); ok {
			p.Col += qe.Col - 1
			msg = qe.Msg
		}
		ec.d.errorf(p, "a read rule filters every list in the store: compare this record's own fields with values or user.id", "access.%s.read must become a store filter: %s", role, msg)
	}
}

// fieldPath checks "field" or "table.column".
func (ec *entityCheck) fieldPath(s Str, where string) {
	name, col, nested := strings.Cut(s.V, ".")
	f, ok := ec.e.Fields.Get(name)
	if !ok {
		ec.d.errorf(s.Pos, didYouMean(name, ec.e.Fields.Keys()), "%s: unknown field %q", where, name)
		return
	}
	if !nested {
		return
	}
	if f == nil || f.Type.V != "table" {
		ec.d.errorf(s.Pos, "", "%s: %q is not a table, so %q names nothing", where, name, s.V)
		return
	}
	if _, ok := f.Fields.Get(col); !ok {
		ec.d.errorf(s.Pos, didYouMean(col, f.Fields.Keys()), "%s: table %q has no field %q", where, name, col)
	}
}

func mapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func strs(ss []Str) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.V
	}
	return out
}

// EntitySchema is what filters over records of e may name: the system
// fields and every field (with its table columns) that hidden does not
// report (nil hides nothing).
func EntitySchema(e *EntityDecl, hidden func(path string) bool) query.Schema {
	if hidden == nil {
		hidden = func(string) bool { return false }
	}
	s := query.Schema{
		"id": {Type: "text"}, "number": {Type: "text"}, "state": {Type: "text"},
		"owner": {Type: "user"}, "created_at": {Type: "datetime"}, "updated_at": {Type: "datetime"},
	}
	for _, fe := range e.Fields {
		if fe.Val == nil || hidden(fe.Key.V) {
			continue
		}
		qf := query.Field{Type: fe.Val.Type.V}
		if fe.Val.Type.V == "table" {
			qf.Fields = map[string]query.Field{}
			for _, c := range fe.Val.Fields {
				if c.Val != nil && !hidden(fe.Key.V+"."+c.Key.V) {
					qf.Fields[c.Key.V] = query.Field{Type: c.Val.Type.V}
				}
			}
		}
		s[fe.Key.V] = qf
	}
	return s
}
