// Package reports runs the reports that packages declare in their reports.yaml
// (checked and compiled by package template) as aggregations in the store:
// the report's where, the user's filters and the user's read scope become the
// match; group keys and measures become the store's group keys and
// accumulators, so the database does the summing, exactly. What is left for
// Go is small: the titles of linked group keys (one query per linked entity),
// sums multiplied by a field of a linked record (qty × item cost), ageing
// columns and the order of the few result rows. It knows no HTTP.
package reports

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/query"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Errors callers branch on (with errors.Is): the records engine's, so that
// the API answers 404 and 403 as for records.
var (
	ErrNotFound  = records.ErrNotFound
	ErrForbidden = records.ErrForbidden
)

// Engine runs reports against the active model.
type Engine struct {
	st    store.Store
	rec   *records.Engine
	model func() *template.Model
	now   func() time.Time
}

// New returns an engine over st that reads the active model from model and
// titles of linked records through rec. now is the clock of the default as_of
// date (nil: time.Now).
func New(st store.Store, rec *records.Engine, model func() *template.Model, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{st: st, rec: rec, model: model, now: now}
}

// Column is one column of a result.
type Column struct {
	Name  string         `json:"name"`
	Kind  string         `json:"kind"` // key, measure or bucket
	Type  string         `json:"type"` // the field type, "month", or "count"
	Label template.Label `json:"-"`
	// Options are the labels of a select or state key's values.
	Options map[string]template.Label `json:"-"`
}

// Result is a report's answer. Each row maps column names to values: group
// keys as stored (a month as yyyy-mm), counts as int64, sums and the like as
// exact decimals. A link key's title is under "<column>__title".
type Result struct {
	Report  *template.Report
	Columns []Column
	Rows    []store.Doc
	AsOf    string // the as_of date of ageing columns, "" without them
}

// TitleKey is the row key holding the title of link column col.
func TitleKey(col string) string { return col + "__title" }

// Available returns the reports u may run, in the model's order.
func (e *Engine) Available(u records.User) []*template.Report {
	m := e.model()
	if m == nil {
		return nil
	}
	var out []*template.Report
	for _, r := range m.ReportList() {
		if e.may(m, u, r) {
			out = append(out, r)
		}
	}
	return out
}

// may reports whether u may run r: admin always; otherwise one of r's roles
// (without roles: whoever may read the source entity; nobody else for a
// ledger), and every field r reads must be readable to u: a field hidden from
// u can be neither grouped, summed nor filtered on by u.
func (e *Engine) may(m *template.Model, u records.User, r *template.Report) bool {
	if u.IsAdmin() {
		return true
	}
	switch {
	case len(r.Roles) > 0:
		if !slices.ContainsFunc(u.Roles, func(role string) bool { return slices.Contains(r.Roles, role) }) {
			return false
		}
	case r.Ledger():
		return false
	}
	if r.Entity != nil {
		if !records.Readable(r.Entity, u) {
			return false
		}
		hidden := records.HiddenFields(r.Entity, u)
		for _, f := range readFields(r) {
			if hidden[f.Path] || f.Table != "" && hidden[f.Table] {
				return false
			}
		}
	}
	for _, me := range r.Measures {
		if me.Times == nil {
			continue
		}
		target := m.Entities[keyOf(r, me.TimesKey).Field.To]
		if target == nil || !records.Readable(target, u) || records.HiddenFields(target, u)[me.Times.Path] {
			return false
		}
	}
	return true
}

// readFields are the source fields a report reads.
func readFields(r *template.Report) []template.ReportField {
	var out []template.ReportField
	for _, k := range r.Keys {
		out = append(out, k.Field)
	}
	for _, me := range r.Measures {
		if me.Field != nil {
			out = append(out, *me.Field)
		}
	}
	out = append(out, r.Filters...)
	if b := r.Buckets; b != nil {
		out = append(out, b.Per)
		out = append(out, b.Dates...)
	}
	return out
}

func keyOf(r *template.Report, col string) *template.ReportKey {
	for i, k := range r.Keys {
		if k.Field.Path == col {
			return &r.Keys[i]
		}
	}
	return nil
}

// Find returns the report package/name if u may run it: ErrNotFound when it
// does not exist, ErrForbidden when u may not run it.
func (e *Engine) Find(u records.User, pkg, name string) (*template.Report, error) {
	m := e.model()
	if m == nil {
		return nil, fmt.Errorf("%w: no template is installed", ErrNotFound)
	}
	r := m.Reports[pkg+"/"+name]
	if r == nil {
		return nil, fmt.Errorf("%w: report %s/%s", ErrNotFound, pkg, name)
	}
	if !e.may(m, u, r) {
		return nil, fmt.Errorf("%w: you may not run report %s/%s", ErrForbidden, pkg, name)
	}
	return r, nil
}

// collection is the store collection a report reads.
func collection(r *template.Report) string {
	switch r.Source {
	case template.LedgerBins:
		return records.BinsCollection
	case template.LedgerStock:
		return records.StockLedgerCollection
	case template.LedgerParty:
		return records.PartyLedgerCollection
	}
	return r.Source
}

// Run runs report package/name for u with the user's filters in params
// (field=value for equality filters, field_from and field_to for ranges,
// as_of for ageing columns). A malformed or unknown parameter is a
// *records.ValidationError naming it; nothing else is read then.
func (e *Engine) Run(ctx context.Context, u records.User, pkg, name string, params map[string]string) (*Result, error) {
	m := e.model()
	r, err := e.Find(u, pkg, name)
	if err != nil {
		return nil, err
	}
	match, asOf, err := e.match(r, u, params)
	if err != nil {
		return nil, err
	}
	a := store.Aggregation{Match: match, Unwind: r.Unwind, Truncate: map[string]int{}}
	for _, k := range r.Keys {
		a.GroupBy = append(a.GroupBy, k.Field.Path)
		if k.Month {
			a.Truncate[k.Field.Path] = 7 // yyyy-mm of a date or a time
		}
	}
	for _, me := range r.Measures {
		if me.Op == "ratio" {
			continue // computed from two other measures after grouping
		}
		acc := store.Accumulator{Op: store.AccOp(me.Op), As: me.Name}
		if me.Field != nil {
			acc.Path = me.Field.Path
		}
		a.Accumulators = append(a.Accumulators, acc)
	}
	inGo := r.Buckets != nil // ageing folds units into groups: order and cut after
	if r.Sort != "" {
		if me := measure(r, r.Sort); me != nil && (me.Times != nil || me.Op == "ratio") {
			inGo = true // the sort key is computed after grouping
		}
	}
	if b := r.Buckets; b != nil {
		if !slices.Contains(a.GroupBy, b.Per.Path) {
			a.GroupBy = append(a.GroupBy, b.Per.Path)
		}
		for i, d := range b.Dates {
			a.Accumulators = append(a.Accumulators, store.Accumulator{Op: store.Min, Path: d.Path, As: dateAcc(i)})
		}
	}
	if !inGo {
		if r.Sort != "" {
			a.Sort = []store.SortKey{{Path: r.Sort, Desc: r.Desc}}
		}
		a.Limit = r.Limit
	}
	rows, err := e.st.Aggregate(ctx, collection(r), a)
	if err != nil {
		return nil, fmt.Errorf("reports: %s: %w", r.ID(), err)
	}
	res := &Result{Report: r, Columns: Columns(r), Rows: rows}
	if r.Buckets != nil {
		res.AsOf = asOf.Format(template.DateLayout)
		res.Rows = age(r, rows, asOf)
	}
	if err := e.times(ctx, m, r, res.Rows); err != nil {
		return nil, err
	}
	ratios(r, res.Rows)
	if inGo {
		keys := make([]string, len(r.Keys))
		for i, k := range r.Keys {
			keys[i] = k.Field.Path
		}
		order := store.Aggregation{GroupBy: keys}
		if r.Sort != "" {
			order.Sort = []store.SortKey{{Path: r.Sort, Desc: r.Desc}}
		}
		store.SortRows(res.Rows, order)
		if r.Limit > 0 && len(res.Rows) > r.Limit {
			res.Rows = res.Rows[:r.Limit]
		}
	}
	if err := e.titles(ctx, u, r, res.Rows); err != nil {
		return nil, err
	}
	return res, nil
}

func measure(r *template.Report, name string) *template.ReportMeasure {
	for i, me := range r.Measures {
		if me.Name == name {
			return &r.Measures[i]
		}
	}
	return nil
}

// optionLabels returns the labels of f's values when f is a select field
// with option labels, or the state of r's entity; nil otherwise.
func optionLabels(r *template.Report, f template.ReportField) map[string]template.Label {
	out := map[string]template.Label{}
	switch {
	case f.Decl != nil:
		for _, o := range f.Decl.OptionLabels {
			out[o.Key.V] = o.Val
		}
	case f.Path == "state" && r.Entity != nil:
		for _, s := range r.Entity.Decl.States {
			if s.Val != nil {
				out[s.Key.V] = s.Val.Label
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func dateAcc(i int) string { return fmt.Sprintf("date__%d", i) }

// Columns lists the result columns of r: keys, measures, then ageing columns.
func Columns(r *template.Report) []Column {
	var out []Column
	for _, k := range r.Keys {
		c := Column{Name: k.Field.Path, Kind: "key", Type: k.Field.Type, Label: k.Field.Label}
		if k.Month {
			c.Type, c.Label = "month", template.MonthLabel
		}
		c.Options = optionLabels(r, k.Field)
		out = append(out, c)
	}
	for _, me := range r.Measures {
		typ := "count"
		if me.Field != nil {
			typ = me.Field.Type
		}
		if me.Times != nil {
			typ = me.Times.Type
		}
		if me.Op == "ratio" {
			typ = "percent"
		}
		out = append(out, Column{Name: me.Name, Kind: "measure", Type: typ, Label: me.Label})
	}
	if b := r.Buckets; b != nil {
		names, labels := b.Columns()
		for i, n := range names {
			out = append(out, Column{Name: n, Kind: "bucket", Type: "money", Label: labels[i]})
		}
	}
	return out
}

// times multiplies the sums that declare it by the field of the record their
// group key links to, read in one query per linked entity.
func (e *Engine) times(ctx context.Context, m *template.Model, r *template.Report, rows []store.Doc) error {
	for _, me := range r.Measures {
		if me.Times == nil {
			continue
		}
		target := keyOf(r, me.TimesKey).Field.To
		ids := distinct(rows, me.TimesKey)
		values := map[string]decimal.Decimal{}
		for start := 0; start < len(ids); start += store.MaxLimit {
			chunk := ids[start:min(start+store.MaxLimit, len(ids))]
			page, err := e.st.Find(ctx, target, store.Query{Filter: store.In(store.IDField, chunk...), Limit: len(chunk), Fields: []string{me.Times.Path}})
			if err != nil {
				return fmt.Errorf("reports: %s: %s of %s: %w", r.ID(), me.Times.Path, target, err)
			}
			for _, d := range page.Docs {
				values[d.ID()], _, _ = store.ToDecimal(d[me.Times.Path])
			}
		}
		for _, row := range rows {
			id, _ := row[me.TimesKey].(string)
			sum, _ := row[me.Name].(decimal.Decimal)
			row[me.Name] = sum.Mul(values[id]) // a missing record or value counts as 0
		}
	}
	return nil
}

// ratios computes each ratio measure as 100 × Of / Per, rounded to two
// places; a row whose denominator is zero or empty gets no value.
func ratios(r *template.Report, rows []store.Doc) {
	for _, me := range r.Measures {
		if me.Op != "ratio" {
			continue
		}
		for _, row := range rows {
			num, _, _ := store.ToDecimal(row[me.Of])
			den, _, _ := store.ToDecimal(row[me.Per])
			row[me.Name] = nil
			if den.IsZero() {
				continue
			}
			if q, err := num.Mul(decimal.FromInt(100)).Div(den, 2); err == nil {
				row[me.Name] = q
			}
		}
	}
}

// distinct returns the string values of col in rows, each once.
func distinct(rows []store.Doc, col string) []any {
	seen := map[string]bool{}
	var out []any
	for _, row := range rows {
		if id, ok := row[col].(string); ok && id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// titles adds the title of every link key, one query per linked entity.
func (e *Engine) titles(ctx context.Context, u records.User, r *template.Report, rows []store.Doc) error {
	for _, k := range r.Keys {
		if k.Field.Type != "link" || k.Field.To == "" || k.Month {
			continue
		}
		col := k.Field.Path
		var ids []string
		for _, id := range distinct(rows, col) {
			ids = append(ids, id.(string))
		}
		titles, err := e.rec.Titles(ctx, u, k.Field.To, ids)
		if err != nil {
			return fmt.Errorf("reports: %s: %w", r.ID(), err)
		}
		for _, row := range rows {
			if id, ok := row[col].(string); ok {
				if t, ok := titles[id]; ok {
					row[TitleKey(col)] = t
				} else {
					row[TitleKey(col)] = id
				}
			}
		}
	}
	return nil
}

// match builds the store filter: the user's read scope, the report's where
// and the user's filters.
func (e *Engine) match(r *template.Report, u records.User, params map[string]string) (store.Filter, time.Time, error) {
	var parts []store.Filter
	vars := query.Vars{"user": map[string]any{"id": u.ID, "name": u.Name, "roles": u.Roles}}
	if r.Entity != nil {
		scope, v, err := records.ReadScope(r.Entity, u)
		if err != nil {
			return nil, time.Time{}, err
		}
		parts, vars = append(parts, scope), v
	}
	if r.Where != "" {
		f, err := query.Parse(r.Where, r.Schema, vars)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("reports: %s: where: %w", r.ID(), err)
		}
		parts = append(parts, f)
	}
	uf, asOf, err := e.userFilters(r, params)
	if err != nil {
		return nil, time.Time{}, err
	}
	parts = append(parts, uf...)
	return store.And(parts...), asOf, nil
}
