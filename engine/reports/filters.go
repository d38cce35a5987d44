package reports

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Filter is one filter a user may give a report, as offered to the UI.
type Filter struct {
	Name  string         // the field; the query parameter(s) are Params
	Kind  string         // "eq" or "range"
	Type  string         // the field type
	To    string         // a link's entity
	Label template.Label // the field's label
	// Options of a select field, with their labels.
	Options []Option
}

// Option is one choice of a select filter.
type Option struct {
	Value string
	Label template.Label
}

// Params are the query parameters of the filter: the field itself for
// equality, field_from and field_to for a range.
func (f Filter) Params() []string {
	if f.Kind == "range" {
		return []string{f.Name + "_from", f.Name + "_to"}
	}
	return []string{f.Name}
}

// AsOfParam is the parameter of the date ageing columns are counted at.
const AsOfParam = "as_of"

// Filters returns the filters of r.
func Filters(r *template.Report) []Filter {
	out := make([]Filter, 0, len(r.Filters))
	for _, f := range r.Filters {
		flt := Filter{Name: f.Path, Kind: template.FilterKind(f.Type), Type: f.Type, To: f.To, Label: f.Label}
		if f.Decl != nil && f.Type == "select" {
			for _, o := range f.Decl.Options {
				l, _ := f.Decl.OptionLabels.Get(o.V)
				flt.Options = append(flt.Options, Option{Value: o.V, Label: l})
			}
		}
		out = append(out, flt)
	}
	return out
}

// userFilters turns the parameters into store filters; every bad parameter is
// reported at once.
func (e *Engine) userFilters(r *template.Report, params map[string]string) ([]store.Filter, time.Time, error) {
	var out []store.Filter
	var bad []records.FieldError
	known := map[string]bool{}
	for _, f := range Filters(r) {
		for _, p := range f.Params() {
			known[p] = true
		}
		if f.Kind == "eq" {
			s, ok := params[f.Name]
			if !ok || s == "" {
				continue
			}
			v, fe := value(f.Type, f.Name, s, false)
			if fe != nil {
				bad = append(bad, *fe)
				continue
			}
			out = append(out, store.Eq(f.Name, v))
			continue
		}
		for i, p := range f.Params() {
			s := params[p]
			if s == "" {
				continue
			}
			v, fe := value(f.Type, p, s, i == 1)
			if fe != nil {
				bad = append(bad, *fe)
				continue
			}
			switch {
			case i == 0:
				out = append(out, store.Gte(f.Name, v))
			case f.Type == "datetime":
				out = append(out, store.Lt(f.Name, v)) // before the next day
			default:
				out = append(out, store.Lte(f.Name, v))
			}
		}
	}
	asOf := e.now().UTC()
	asOf = time.Date(asOf.Year(), asOf.Month(), asOf.Day(), 0, 0, 0, 0, time.UTC)
	if r.Buckets != nil {
		known[AsOfParam] = true
		if s := params[AsOfParam]; s != "" {
			t, err := time.Parse(template.DateLayout, s)
			if err != nil {
				bad = append(bad, records.FieldError{Path: AsOfParam, Code: "not_a_date", Params: map[string]any{"format": "YYYY-MM-DD"}})
			}
			asOf = t
		}
	}
	var unknown []string
	for p := range params {
		if !known[p] {
			unknown = append(unknown, p)
		}
	}
	sort.Strings(unknown)
	for _, p := range unknown {
		bad = append(bad, records.FieldError{Path: p, Code: "unknown_field"})
	}
	if len(bad) > 0 {
		return nil, asOf, &records.ValidationError{Errors: bad}
	}
	return out, asOf, nil
}

// value reads one parameter as a value of a field of type typ. For the end of
// a datetime range, a date means the whole day: the value is the next day.
func value(typ, param, s string, end bool) (any, *records.FieldError) {
	switch typ {
	case "bool":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, &records.FieldError{Path: param, Code: "not_a_bool"}
		}
		return b, nil
	case "int", "decimal", "money", "quantity", "percent":
		d, err := decimal.Parse(strings.TrimSpace(s))
		if err != nil {
			return nil, &records.FieldError{Path: param, Code: "not_a_number"}
		}
		return d, nil
	case "date", "datetime":
		t, err := time.Parse(template.DateLayout, s)
		if err != nil {
			return nil, &records.FieldError{Path: param, Code: "not_a_date", Params: map[string]any{"format": "YYYY-MM-DD"}}
		}
		if typ == "datetime" && end {
			t = t.AddDate(0, 0, 1)
		}
		return t.Format(template.DateLayout), nil
	}
	return s, nil
}
