package template

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/yerp/yerp/engine/query"
)

// Reports are declared per package in its reports.yaml (a "reports:" map), so
// that they never share a file with an entity. Each report is an aggregation
// over one source (an entity, or one of the ledgers the engine keeps), checked
// here like the rest of a template and run by package engine/reports.

// ReportsFileName is the file of a package that declares its reports.
const ReportsFileName = "reports.yaml"

// ReportsFile is a decoded reports.yaml.
type ReportsFile struct {
	File string // path for diagnostics: Dir/reports.yaml
	Decl *ReportsDecl
}

// ReportsDecl is reports.yaml.
type ReportsDecl struct {
	Reports Map[*ReportDecl] `yaml:"reports"`
}

// ReportDecl is one report as written.
type ReportDecl struct {
	Label       Label             `yaml:"label"`
	Description Label             `yaml:"description"`
	Source      Str               `yaml:"source"`
	Where       Expr              `yaml:"where"`
	Group       []GroupDecl       `yaml:"group"`
	Measures    Map[*MeasureDecl] `yaml:"measures"`
	Sort        Str               `yaml:"sort"`
	Limit       int               `yaml:"limit"`
	Filters     []Str             `yaml:"filters"`
	Buckets     *BucketsDecl      `yaml:"buckets"`
	Links       Map[Str]          `yaml:"links"`
	Roles       StrList           `yaml:"roles"`
}

// GroupDecl is one group key: a field path, or {month: field}.
type GroupDecl struct {
	Path  Str
	Month bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (g *GroupDecl) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		g.Path = Str{n.Value, Pos{n.Line, n.Column}}
		return nil
	}
	var m struct {
		Month Str `yaml:"month"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	g.Path, g.Month = m.Month, true
	return nil
}

// MeasureDecl is one measure: one of count, sum, avg, min, max.
type MeasureDecl struct {
	Label Label `yaml:"label"`
	Count bool  `yaml:"count"`
	Sum   Str   `yaml:"sum"`
	Avg   Str   `yaml:"avg"`
	Min   Str   `yaml:"min"`
	Max   Str   `yaml:"max"`
	Times Str   `yaml:"times"`
	// Ratio is [numerator, denominator]: two other measures of the report;
	// the measure is 100 × numerator / denominator (a percentage).
	Ratio StrList `yaml:"ratio"`
}

// BucketsDecl are the ageing columns of a report.
type BucketsDecl struct {
	Per     Str     `yaml:"per"`
	Date    StrList `yaml:"date"`
	Edges   []int   `yaml:"edges"`
	Measure Str     `yaml:"measure"`
}

// The ledgers a report may read besides entities.
const (
	LedgerStock = "stock_ledger" // one entry per stock move of an item in a warehouse
	LedgerParty = "party_ledger" // one entry per receivable, payable or provisional posting
	LedgerBins  = "bins"         // the stock per item and warehouse
)

// ReportField is a field a report reads: of the source entity (or a column of
// one of its tables), or of a ledger.
type ReportField struct {
	Path  string // as written and as stored: customer, lines.item
	Type  string // a field type of the template language
	To    string // the entity a link points to
	Label Label
	Table string     // the table of a column, "" at the top level
	Decl  *FieldDecl // nil for ledger and system fields
}

// ReportKey is one group key of a compiled report. Its column in the result
// is Field.Path.
type ReportKey struct {
	Field ReportField
	Month bool // the key is the yyyy-mm of a date
}

// ReportMeasure is one measure of a compiled report.
type ReportMeasure struct {
	Name  string
	Op    string       // count, sum, avg, min, max, ratio
	Field *ReportField // nil for count
	// Times multiplies a sum by a field of the record that the group key
	// TimesKey links to.
	Times    *ReportField
	TimesKey string
	// Of and Per name the measures a ratio divides (Op "ratio").
	Of, Per string
	Label   Label
}

// ReportBuckets are the ageing columns of a compiled report.
type ReportBuckets struct {
	Per     ReportField
	Dates   []ReportField
	Edges   []int
	Measure string
}

// Report is one checked report.
type Report struct {
	Package  string
	Name     string
	File     string
	Decl     *ReportDecl
	Label    Label
	Source   string // an entity, or LedgerStock, LedgerParty, LedgerBins
	Entity   *Entity
	Where    string // filter syntax over Schema; "" for none
	Schema   query.Schema
	Unwind   string // the table whose rows are grouped, "" for none
	Keys     []ReportKey
	Measures []ReportMeasure
	Sort     string // a measure or key column, "" for the keys' order
	Desc     bool
	Limit    int
	Filters  []ReportField
	Buckets  *ReportBuckets
	Roles    []string
}

// ID is the report's id across packages: package/name.
func (r *Report) ID() string { return r.Package + "/" + r.Name }

// Ledger reports whether the report reads a ledger.
func (r *Report) Ledger() bool { return r.Entity == nil }

// ReportList returns the model's reports ordered by package, then as written.
func (m *Model) ReportList() []*Report {
	out := make([]*Report, 0, len(m.Reports))
	for _, r := range m.Reports {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Decl.Label.Line < out[j].Decl.Label.Line
	})
	return out
}

func lbl(zh, en string) Label {
	return Label{Text: map[string]string{"zh-CN": zh, "en": en}, set: true}
}

// ledgerFields are the fields of each ledger a report may read.
var ledgerFields = map[string][]ReportField{
	LedgerBins: {
		{Path: "item", Type: "link", To: "item", Label: lbl("商品", "Item")},
		{Path: "warehouse", Type: "link", To: "warehouse", Label: lbl("仓库", "Warehouse")},
		{Path: "on_hand", Type: "quantity", Label: lbl("库存数量", "On hand")},
		{Path: "reserved", Type: "quantity", Label: lbl("已预留", "Reserved")},
		{Path: "alerted", Type: "bool", Label: lbl("低于安全库存", "Below minimum")},
		{Path: "min_stock", Type: "quantity", Label: lbl("安全库存", "Minimum stock")},
	},
	LedgerStock: {
		{Path: "item", Type: "link", To: "item", Label: lbl("商品", "Item")},
		{Path: "warehouse", Type: "link", To: "warehouse", Label: lbl("仓库", "Warehouse")},
		{Path: "kind", Type: "text", Label: lbl("变动类型", "Movement")},
		{Path: "qty", Type: "quantity", Label: lbl("数量", "Quantity")},
		{Path: "reserved", Type: "quantity", Label: lbl("预留变动", "Reserved change")},
		{Path: "balance", Type: "quantity", Label: lbl("结存", "Balance")},
		{Path: "voucher_entity", Type: "text", Label: lbl("单据类型", "Voucher type")},
		{Path: "voucher", Type: "text", Label: lbl("单据", "Voucher")},
		{Path: "voucher_number", Type: "text", Label: lbl("单据编号", "Voucher number")},
		{Path: "user", Type: "user", Label: lbl("经办人", "User")},
		{Path: "at", Type: "datetime", Label: lbl("时间", "Time")},
	},
	LedgerParty: {
		{Path: "account", Type: "text", Label: lbl("科目", "Account")},
		{Path: "party", Type: "link", Label: lbl("往来单位", "Party")},
		{Path: "debit", Type: "money", Label: lbl("借方", "Debit")},
		{Path: "credit", Type: "money", Label: lbl("贷方", "Credit")},
		{Path: "amount", Type: "money", Label: lbl("金额", "Amount")},
		{Path: "balance", Type: "money", Label: lbl("余额", "Balance")},
		{Path: "voucher", Type: "text", Label: lbl("单据", "Voucher")},
		{Path: "voucher_entity", Type: "text", Label: lbl("单据类型", "Voucher type")},
		{Path: "record_number", Type: "text", Label: lbl("单据编号", "Record number")},
		{Path: "provisional", Type: "bool", Label: lbl("暂估", "Provisional")},
		{Path: "due", Type: "date", Label: lbl("到期日", "Due date")},
		{Path: "user", Type: "user", Label: lbl("经办人", "User")},
		{Path: "at", Type: "datetime", Label: lbl("时间", "Time")},
	},
}

// systemReportFields are the system fields of every entity a report may read.
var systemReportFields = []ReportField{
	{Path: "number", Type: "text", Label: lbl("编号", "Number")},
	{Path: "state", Type: "text", Label: lbl("状态", "State")},
	{Path: "owner", Type: "user", Label: lbl("负责人", "Owner")},
	{Path: "created_at", Type: "datetime", Label: lbl("创建时间", "Created at")},
}

func ledgerNames() []string {
	return []string{LedgerBins, LedgerParty, LedgerStock}
}

// reportCheck carries what the checks of one report share.
type reportCheck struct {
	*checker
	d    diags
	pkg  string
	r    *Report
	top  map[string]ReportField // the source's top-level fields
	cols map[string]map[string]ReportField
}

// reports checks the reports.yaml of every source.
func (c *checker) reports(sources []*Source) {
	for _, src := range sources {
		if src.Reports == nil {
			continue
		}
		for _, e := range src.Reports.Decl.Reports {
			if e.Val == nil {
				c.at(src.Reports.File).errorf(e.Key.Pos, "give at least label, source and measures", "report %q has no definition", e.Key.V)
				continue
			}
			rc := &reportCheck{checker: c, d: c.at(src.Reports.File), pkg: src.Package.Package.V,
				r: &Report{Package: src.Package.Package.V, Name: e.Key.V, File: src.Reports.File, Decl: e.Val, Label: e.Val.Label}}
			if rc.check(e.Key) {
				c.model.Reports[rc.r.ID()] = rc.r
			}
		}
	}
}

// check checks one report and fills r; it reports whether r is usable.
func (rc *reportCheck) check(name Str) bool {
	decl, r := rc.r.Decl, rc.r
	errs := len(*rc.out)
	rc.label(rc.d, decl.Label, "report "+name.V)
	rc.label(rc.d, decl.Description, "the description of report "+name.V)
	if !rc.source(decl.Source) {
		return false
	}
	if decl.Where.IsSet() {
		vars := query.Vars{"user": map[string]any{"id": "", "name": "", "roles": []string{}}}
		if _, err := query.Parse(decl.Where.Src, r.Schema, vars); err != nil {
			p := decl.Where.Pos
			msg := err.Error()
			if qe, ok := err.(*query.Error); ok {
				p.Col += qe.Col - 1
				msg = qe.Msg
			}
			rc.d.errorf(p, "a report's where must become a store filter", "report %q: where: %s", name.V, msg)
		}
		r.Where = decl.Where.Src
	}
	for _, ln := range decl.Links {
		rc.link(ln)
	}
	seen := map[string]bool{}
	for _, g := range decl.Group {
		f := rc.field(g.Path, "group", true)
		if f == nil {
			continue
		}
		if seen[f.Path] {
			rc.d.errorf(g.Path.Pos, "group by each field once", "report %q: group: %q is listed twice", name.V, f.Path)
			continue
		}
		seen[f.Path] = true
		switch {
		case g.Month && f.Type != "date" && f.Type != "datetime":
			rc.d.errorf(g.Path.Pos, "month applies to date and datetime fields", "report %q: group: %s is a %s field, it has no month", name.V, f.Path, f.Type)
		case slices.Contains([]string{"table", "json", "attachment", "multiselect", "longtext"}, f.Type):
			rc.d.errorf(g.Path.Pos, "group by a link, select, user, text, bool, number or date", "report %q: group: cannot group by %s, a %s field", name.V, f.Path, f.Type)
		}
		rc.unwind(f, g.Path)
		r.Keys = append(r.Keys, ReportKey{Field: *f, Month: g.Month})
	}
	for _, me := range decl.Measures {
		rc.measure(name.V, me.Key, me.Val)
	}
	rc.ratios(name.V, decl)
	if r.Unwind != "" {
		for i, m := range r.Measures {
			if (m.Op == "sum" || m.Op == "avg") && m.Field != nil && m.Field.Table == "" {
				me := decl.Measures[i]
				rc.d.errorf(measurePath(me.Val).Pos, "sum a column of "+r.Unwind+" instead, or make a separate report", "report %q: measure %s: %s of %s would count each record once per row of %s", name.V, m.Name, m.Op, m.Field.Path, r.Unwind)
			}
		}
	}
	if s := decl.Sort.V; s != "" {
		col := strings.TrimPrefix(s, "-")
		r.Sort, r.Desc = col, strings.HasPrefix(s, "-")
		if !slices.Contains(rc.columns(), col) {
			rc.d.errorf(decl.Sort.Pos, didYouMean(col, rc.columns()), "report %q: sort: %q is neither a measure nor a group key", name.V, col)
		}
	}
	r.Limit = decl.Limit
	for _, fs := range decl.Filters {
		f := rc.field(fs, "filters", false)
		if f == nil {
			continue
		}
		if filterKind(f.Type) == "" {
			rc.d.errorf(fs.Pos, "filter by a link, select, user, text, bool, number or date", "report %q: filters: cannot filter by %s, a %s field", name.V, f.Path, f.Type)
			continue
		}
		r.Filters = append(r.Filters, *f)
	}
	if decl.Buckets != nil {
		rc.buckets(name.V, decl.Buckets)
	}
	for _, role := range decl.Roles {
		if _, ok := rc.model.Roles[role.V]; !ok && role.V != "admin" {
			rc.d.errorf(role.Pos, didYouMean(role.V, mapKeys(rc.model.Roles)), "role %q is not declared by any package", role.V)
		}
		r.Roles = append(r.Roles, role.V)
	}
	return len(*rc.out) == errs || !Diagnostics((*rc.out)[errs:]).HasErrors()
}

// FilterKind is how a user narrows a report by a field of type typ: "eq"
// (one value), "range" (from and to), or "" when it cannot.
func FilterKind(typ string) string { return filterKind(typ) }

func filterKind(typ string) string {
	switch typ {
	case "link", "select", "user", "text", "email", "phone", "barcode", "bool":
		return "eq"
	case "date", "datetime", "int", "decimal", "money", "quantity", "percent":
		return "range"
	}
	return ""
}

// ratios checks that each ratio divides two other measures that are not
// ratios themselves.
func (rc *reportCheck) ratios(report string, decl *ReportDecl) {
	for _, m := range rc.r.Measures {
		if m.Op != "ratio" || m.Of == "" {
			continue
		}
		d, _ := decl.Measures.Get(m.Name)
		var names []string
		for _, o := range rc.r.Measures {
			if o.Op != "ratio" {
				names = append(names, o.Name)
			}
		}
		for j, part := range []string{m.Of, m.Per} {
			if !slices.Contains(names, part) {
				rc.d.errorf(d.Ratio[j].Pos, didYouMean(part, names), "report %q: measure %s: %q is not a measure of this report (a ratio divides two count, sum, avg, min or max measures)", report, m.Name, part)
			}
		}
	}
}

func measurePath(m *MeasureDecl) Str {
	for _, s := range []Str{m.Sum, m.Avg, m.Min, m.Max} {
		if s.V != "" {
			return s
		}
	}
	return Str{}
}

// columns are the names a sort may use: measures and group keys.
func (rc *reportCheck) columns() []string {
	var out []string
	for _, k := range rc.r.Keys {
		out = append(out, k.Field.Path)
	}
	for _, m := range rc.r.Measures {
		out = append(out, m.Name)
	}
	return out
}

// source resolves the report's source and the fields it offers.
func (rc *reportCheck) source(s Str) bool {
	r := rc.r
	r.Source = s.V
	rc.top, rc.cols = map[string]ReportField{}, map[string]map[string]ReportField{}
	schema := query.Schema{}
	if fields, ok := ledgerFields[s.V]; ok {
		for _, f := range fields {
			rc.top[f.Path] = f
			schema[f.Path] = query.Field{Type: f.Type}
		}
		r.Schema = schema
		return true
	}
	ent, ok := rc.model.Entities[s.V]
	if !ok {
		if rc.broken[s.V] {
			return false
		}
		var cands []string
		for name, e := range rc.model.Entities {
			if e.Package == rc.pkg || rc.requiresPkg(rc.pkg, e.Package) {
				cands = append(cands, name)
			}
		}
		rc.d.errorf(s.Pos, didYouMean(s.V, append(cands, ledgerNames()...)), "report %q: source %q is neither an entity nor a ledger (%s)", r.Name, s.V, strings.Join(ledgerNames(), ", "))
		return false
	}
	if ent.Package != rc.pkg && !rc.requiresPkg(rc.pkg, ent.Package) {
		rc.d.errorf(s.Pos, "add "+ent.Package+" to requires in package.yaml", "report %q: source %s is an entity of package %s, which package %s does not require", r.Name, s.V, ent.Package, rc.pkg)
		return false
	}
	r.Entity = ent
	for _, f := range systemReportFields {
		rc.top[f.Path] = f
		schema[f.Path] = query.Field{Type: f.Type}
	}
	schema["id"] = query.Field{Type: "text"}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		rc.top[fe.Key.V] = ReportField{Path: fe.Key.V, Type: f.Type.V, To: f.To.V, Label: f.Label, Decl: f}
		qf := query.Field{Type: f.Type.V}
		if f.Type.V == "table" {
			cols := map[string]ReportField{}
			qf.Fields = map[string]query.Field{}
			for _, ce := range f.Fields {
				if ce.Val == nil {
					continue
				}
				l := ce.Val.Label
				if !l.set {
					l = f.Label
				}
				cols[ce.Key.V] = ReportField{Path: fe.Key.V + "." + ce.Key.V, Type: ce.Val.Type.V, To: ce.Val.To.V, Label: l, Table: fe.Key.V, Decl: ce.Val}
				qf.Fields[ce.Key.V] = query.Field{Type: ce.Val.Type.V}
			}
			rc.cols[fe.Key.V] = cols
		}
		schema[fe.Key.V] = qf
	}
	r.Schema = schema
	return true
}

// requiresPkg reports whether package a requires b, directly or not.
func (c *checker) requiresPkg(a, b string) bool {
	return (&entityCheck{checker: c}).requires(a, b)
}

// field resolves a field path of the source; columns says whether a table
// column (table.column) is allowed.
func (rc *reportCheck) field(s Str, where string, columns bool) *ReportField {
	name, col, nested := strings.Cut(s.V, ".")
	f, ok := rc.top[name]
	if !ok {
		rc.d.errorf(s.Pos, didYouMean(name, mapKeys(rc.top)), "report %q: %s: %s has no field %q", rc.r.Name, where, rc.r.Source, name)
		return nil
	}
	if !nested {
		return &f
	}
	cols, isTable := rc.cols[name]
	switch {
	case !isTable:
		rc.d.errorf(s.Pos, "", "report %q: %s: %q is not a table, so %q names nothing", rc.r.Name, where, name, s.V)
		return nil
	case !columns:
		rc.d.errorf(s.Pos, "name a field of "+rc.r.Source+" itself", "report %q: %s: a table column (%s) cannot be used here", rc.r.Name, where, s.V)
		return nil
	}
	c, ok := cols[col]
	if !ok {
		rc.d.errorf(s.Pos, didYouMean(col, mapKeys(cols)), "report %q: %s: table %q has no field %q", rc.r.Name, where, name, col)
		return nil
	}
	return &c
}

// unwind notes that the report reads the rows of f's table: one table at most.
func (rc *reportCheck) unwind(f *ReportField, at Str) {
	if f.Table == "" {
		return
	}
	if rc.r.Unwind != "" && rc.r.Unwind != f.Table {
		rc.d.errorf(at.Pos, "a report reads the rows of one table; make a report per table", "report %q: %s is a column of %s, but the report already reads the rows of %s", rc.r.Name, f.Path, f.Table, rc.r.Unwind)
		return
	}
	rc.r.Unwind = f.Table
}

var numericReportTypes = []string{"int", "decimal", "money", "quantity", "percent"}

func (rc *reportCheck) measure(report string, name Str, m *MeasureDecl) {
	if m == nil {
		rc.d.errorf(name.Pos, "e.g. {sum: total} or {count: true}", "report %q: measure %q has no definition", report, name.V)
		return
	}
	rc.label(rc.d, m.Label, "measure "+name.V)
	out := ReportMeasure{Name: name.V, Label: m.Label}
	for _, k := range rc.r.Keys {
		if k.Field.Path == name.V {
			rc.d.errorf(name.Pos, "rename the measure", "report %q: measure %q has the name of a group key", report, name.V)
		}
	}
	if strings.Contains(name.V, "__") {
		rc.d.errorf(name.Pos, "use single underscores", "report %q: measure %q: __ is reserved for ageing columns", report, name.V)
	}
	var p Str
	switch {
	case m.Count:
		out.Op = "count"
		if !out.Label.set {
			out.Label = lbl("数量", "Count")
		}
	case m.Sum.V != "":
		out.Op, p = "sum", m.Sum
	case m.Avg.V != "":
		out.Op, p = "avg", m.Avg
	case m.Min.V != "":
		out.Op, p = "min", m.Min
	case m.Max.V != "":
		out.Op, p = "max", m.Max
	case len(m.Ratio) > 0:
		out.Op = "ratio"
		if len(m.Ratio) != 2 {
			rc.d.errorf(m.Ratio[0].Pos, "e.g. ratio: [on_time, receipts]", "report %q: measure %s: ratio takes two measures, a numerator and a denominator", report, name.V)
		} else {
			out.Of, out.Per = m.Ratio[0].V, m.Ratio[1].V
		}
		rc.r.Measures = append(rc.r.Measures, out) // the names are checked once all measures are known
		return
	}
	if out.Op != "count" {
		f := rc.field(p, "measure "+name.V, true)
		if f == nil {
			rc.r.Measures = append(rc.r.Measures, out) // named, for the checks that follow
			return
		}
		ok := slices.Contains(numericReportTypes, f.Type)
		if out.Op == "min" || out.Op == "max" {
			ok = ok || slices.Contains([]string{"date", "datetime", "text"}, f.Type)
		}
		if !ok {
			rc.d.errorf(p.Pos, "sum and avg need a number field; min and max also take dates and text", "report %q: measure %s: cannot %s %s, a %s field", report, name.V, out.Op, f.Path, f.Type)
			rc.r.Measures = append(rc.r.Measures, out)
			return
		}
		rc.unwind(f, p)
		out.Field = f
		if !out.Label.set {
			out.Label = f.Label
		}
	}
	if m.Times.V != "" {
		rc.times(report, &out, m.Times)
	}
	rc.r.Measures = append(rc.r.Measures, out)
}

// times checks "link.field" of a sum: the link is a group key.
func (rc *reportCheck) times(report string, m *ReportMeasure, t Str) {
	if m.Op != "sum" {
		rc.d.errorf(t.Pos, "times multiplies a sum", "report %q: measure %s: times applies to sum only", report, m.Name)
		return
	}
	link, field, _ := strings.Cut(t.V, ".")
	var key *ReportKey
	var keys []string
	for i, k := range rc.r.Keys {
		if k.Field.Type == "link" {
			keys = append(keys, k.Field.Path)
		}
		if k.Field.Path == link || k.Field.Table != "" && k.Field.Path == rc.r.Unwind+"."+link {
			key = &rc.r.Keys[i]
		}
	}
	if key == nil || key.Field.Type != "link" || key.Month {
		rc.d.errorf(t.Pos, didYouMean(link, keys), "report %q: measure %s: times: %q is not a link the report groups by", report, m.Name, link)
		return
	}
	target := rc.decls[key.Field.To]
	if target == nil {
		return
	}
	f, ok := target.Fields.Get(field)
	if !ok || f == nil {
		rc.d.errorf(t.Pos, didYouMean(field, target.Fields.Keys()), "report %q: measure %s: times: %s has no field %q", report, m.Name, key.Field.To, field)
		return
	}
	if !slices.Contains(numericReportTypes, f.Type.V) {
		rc.d.errorf(t.Pos, "multiply by a number field", "report %q: measure %s: times: %s.%s is a %s field", report, m.Name, key.Field.To, field, f.Type.V)
		return
	}
	m.Times = &ReportField{Path: field, Type: f.Type.V, Label: f.Label, Decl: f}
	m.TimesKey = key.Field.Path
}

func (rc *reportCheck) link(ln Entry[Str]) {
	r := rc.r
	f, ok := rc.top[ln.Key.V]
	if !r.Ledger() || !ok || f.Type != "link" || f.To != "" {
		var cands []string
		for _, lf := range ledgerFields[r.Source] {
			if lf.Type == "link" && lf.To == "" {
				cands = append(cands, lf.Path)
			}
		}
		rc.d.errorf(ln.Key.Pos, didYouMean(ln.Key.V, cands), "report %q: links: %q is not a ledger field whose entity is open (party of party_ledger)", r.Name, ln.Key.V)
		return
	}
	ent, ok := rc.model.Entities[ln.Val.V]
	if !ok {
		rc.d.errorf(ln.Val.Pos, didYouMean(ln.Val.V, mapKeys(rc.model.Entities)), "report %q: links: entity %q does not exist", r.Name, ln.Val.V)
		return
	}
	if ent.Package != rc.pkg && !rc.requiresPkg(rc.pkg, ent.Package) {
		rc.d.errorf(ln.Val.Pos, "add "+ent.Package+" to requires in package.yaml", "report %q: links: %s is an entity of package %s, which package %s does not require", r.Name, ln.Val.V, ent.Package, rc.pkg)
		return
	}
	f.To = ln.Val.V
	rc.top[ln.Key.V] = f
}

func (rc *reportCheck) buckets(report string, b *BucketsDecl) {
	out := &ReportBuckets{Edges: b.Edges, Measure: b.Measure.V}
	if f := rc.field(b.Per, "buckets.per", false); f != nil {
		out.Per = *f
	}
	for _, d := range b.Date {
		f := rc.field(d, "buckets.date", false)
		if f == nil {
			continue
		}
		if f.Type != "date" && f.Type != "datetime" {
			rc.d.errorf(d.Pos, "age is counted from a date or datetime field", "report %q: buckets.date: %s is a %s field", report, f.Path, f.Type)
			continue
		}
		out.Dates = append(out.Dates, *f)
	}
	for i := 1; i < len(b.Edges); i++ {
		if b.Edges[i] <= b.Edges[i-1] {
			rc.d.errorf(b.Measure.Pos, "e.g. [30, 60, 90]", "report %q: buckets.edges must ascend", report)
			break
		}
	}
	var sums []string
	found := false
	for _, m := range rc.r.Measures {
		if m.Op == "avg" {
			rc.d.errorf(b.Measure.Pos, "use sum and count with buckets", "report %q: buckets cannot be used with an avg measure (%s)", report, m.Name)
		}
		if m.Op == "sum" && m.Times == nil {
			sums = append(sums, m.Name)
			found = found || m.Name == b.Measure.V
		}
	}
	if !found {
		rc.d.errorf(b.Measure.Pos, didYouMean(b.Measure.V, sums), "report %q: buckets.measure: %q is not a sum measure of the report", report, b.Measure.V)
	}
	if rc.r.Unwind != "" {
		rc.d.errorf(b.Per.Pos, "age records, not table rows", "report %q: buckets cannot be used when the report reads the rows of %s", report, rc.r.Unwind)
	}
	rc.r.Buckets = out
}

// Columns are the ageing columns of b: their names (measure__suffix)
// and labels, in order: not yet due, then one per edge, then over the last.
func (b *ReportBuckets) Columns() (names []string, labels []Label) {
	names = append(names, b.Measure+"__not_due")
	labels = append(labels, lbl("未到期", "Not due"))
	lo := 0
	for _, e := range b.Edges {
		names = append(names, fmt.Sprintf("%s__%d_%d", b.Measure, lo, e))
		labels = append(labels, lbl(fmt.Sprintf("%d–%d 天", lo, e), fmt.Sprintf("%d–%d days", lo, e)))
		lo = e + 1
	}
	last := b.Edges[len(b.Edges)-1]
	names = append(names, fmt.Sprintf("%s__over_%d", b.Measure, last))
	labels = append(labels, lbl(fmt.Sprintf("%d 天以上", last), fmt.Sprintf("Over %d days", last)))
	return names, labels
}

// In returns the label in lang, falling back to the other language.
func (l Label) In(lang string) string {
	if s := l.Text[lang]; s != "" {
		return s
	}
	for _, other := range []string{"zh-CN", "en"} {
		if s := l.Text[other]; s != "" {
			return s
		}
	}
	return ""
}

// MonthLabel is the header of a month group key.
var MonthLabel = lbl("月份", "Month")
