package records

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/template"
)

// FieldError is one problem with one field: Path reaches into tables
// ("lines[2].qty"), Code is stable ("required", "min", "unknown_field", ...),
// Params carry what the message needs. Messages are rendered in the user's
// language at the edge, from the code.
type FieldError struct {
	Path   string         `json:"field"`
	Code   string         `json:"code"`
	Params map[string]any `json:"params,omitempty"`
}

// Fill puts fe's params into a message's {param} placeholders.
func (fe FieldError) Fill(text string) string {
	for k, v := range fe.Params {
		text = strings.ReplaceAll(text, "{"+k+"}", fmt.Sprint(v))
	}
	return text
}

// RuleMessage is the template's own message, in language l, of a rule or a
// check that did not hold ("" for other codes, or without a text in l).
func (fe FieldError) RuleMessage(l string) string {
	if fe.Code != "rule" && fe.Code != "check" {
		return ""
	}
	m, _ := fe.Params["message"].(map[string]string)
	return m[l]
}

// ValidationError lists every problem of a write; nothing was written.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Path + ": " + fe.Code
	}
	return "records: invalid: " + strings.Join(parts, ", ")
}

func (e *ValidationError) add(path, code string, params map[string]any) {
	e.Errors = append(e.Errors, FieldError{Path: path, Code: code, Params: params})
}

func (e *ValidationError) orNil() error {
	if e == nil || len(e.Errors) == 0 {
		return nil
	}
	return e
}

// scaleOf is how many fractional digits a numeric field keeps.
func scaleOf(f *template.FieldDecl) int {
	switch f.Type.V {
	case "int":
		return 0
	case "money", "percent":
		return 2
	case "quantity":
		return 3
	}
	if f.Scale != nil {
		return *f.Scale
	}
	return 2
}

var (
	emailRE = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	phoneRE = regexp.MustCompile(`^\+?[0-9][0-9 ()\-]{3,30}$`)
)

// coerce converts a value given by a client into what field f stores, or
// records why it cannot. nil clears the field.
func coerce(ve *ValidationError, path string, f *template.FieldDecl, v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	bad := func(code string, params map[string]any) (any, bool) {
		ve.add(path, code, params)
		return nil, false
	}
	switch t := f.Type.V; t {
	case "int", "decimal", "money", "quantity", "percent":
		d, ok := toDecimal(v)
		if !ok {
			return bad("not_a_number", nil)
		}
		scale := scaleOf(f)
		if !d.Equal(d.Round(scale)) {
			return bad("scale", map[string]any{"scale": scale})
		}
		if f.Min != nil {
			if min, _ := decimal.FromFloat(*f.Min); d.Cmp(min) < 0 {
				return bad("min", map[string]any{"min": min.String()})
			}
		}
		if f.Max != nil {
			if max, _ := decimal.FromFloat(*f.Max); d.Cmp(max) > 0 {
				return bad("max", map[string]any{"max": max.String()})
			}
		}
		if _, err := d.Scaled(6); err != nil {
			return bad("out_of_range", nil)
		}
		return d, true
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return bad("not_a_bool", nil)
		}
		return b, true
	case "date":
		s, ok := v.(string)
		if _, err := time.Parse(template.DateLayout, s); !ok || err != nil {
			return bad("not_a_date", map[string]any{"format": "YYYY-MM-DD"})
		}
		return s, true
	case "datetime":
		s, ok := v.(string)
		tm, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil {
			return bad("not_a_datetime", map[string]any{"format": "RFC 3339"})
		}
		return tm.UTC().Format(template.DateTimeLayout), true
	case "select":
		s, ok := v.(string)
		if !ok || !slices.ContainsFunc(f.Options, func(o template.Str) bool { return o.V == s }) {
			return bad("not_an_option", map[string]any{"options": optionNames(f)})
		}
		return s, true
	case "multiselect":
		items, ok := v.([]any)
		if !ok {
			return bad("not_a_list", nil)
		}
		out := make([]any, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok || !slices.ContainsFunc(f.Options, func(o template.Str) bool { return o.V == s }) {
				return bad("not_an_option", map[string]any{"options": optionNames(f)})
			}
			out = append(out, s)
		}
		return out, true
	case "table":
		return nil, false // handled by the caller, row by row
	case "json":
		return v, true
	default: // text, longtext, email, phone, barcode, link, user, attachment
		s, ok := v.(string)
		if !ok {
			return bad("not_text", nil)
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return bad("not_text", nil)
		}
		if t != "longtext" && strings.ContainsAny(s, "\r\n") {
			return bad("single_line", nil)
		}
		n := utf8.RuneCountInString(s)
		if f.MinLength != nil && n < *f.MinLength {
			return bad("min_length", map[string]any{"min": *f.MinLength})
		}
		max := 10000
		if t == "longtext" {
			max = 100000
		}
		if f.MaxLength != nil {
			max = *f.MaxLength
		}
		if n > max {
			return bad("max_length", map[string]any{"max": max})
		}
		if f.Pattern.V != "" {
			if re := fieldPattern(f.Pattern.V); re != nil && !re.MatchString(s) {
				return bad("pattern", map[string]any{"pattern": f.Pattern.V})
			}
		}
		if t == "email" && s != "" && !emailRE.MatchString(s) {
			return bad("not_an_email", nil)
		}
		if t == "phone" && s != "" && !phoneRE.MatchString(s) {
			return bad("not_a_phone", nil)
		}
		if s == "" {
			return nil, true
		}
		return s, true
	}
}

func optionNames(f *template.FieldDecl) []string {
	out := make([]string, len(f.Options))
	for i, o := range f.Options {
		out[i] = o.V
	}
	return out
}

// toDecimal reads a number from JSON: a json.Number, a float64, an int, a
// decimal, or a numeric string (what browsers send to keep digits).
func toDecimal(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, true
	case json.Number:
		d, err := decimal.Parse(string(x))
		return d, err == nil
	case string:
		d, err := decimal.Parse(x)
		return d, err == nil
	case float64:
		d, err := decimal.FromFloat(x)
		return d, err == nil
	case int:
		return decimal.FromInt(int64(x)), true
	case int64:
		return decimal.FromInt(x), true
	}
	return decimal.Zero, false
}

// patterns caches the compiled patterns of fields (pattern → *regexp.Regexp,
// nil when it does not compile): a field's pattern is compiled once, not for
// every value checked.
var patterns sync.Map

// fieldPattern returns the compiled pattern src, or nil if it does not
// compile (the template checker reports that).
func fieldPattern(src string) *regexp.Regexp {
	if re, ok := patterns.Load(src); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		re = nil
	}
	patterns.Store(src, re)
	return re
}
