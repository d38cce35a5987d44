package records

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/template"
)

// fuzzFields are fields of every type a client may send a value for, with
// the limits a template can set.
func fuzzFields() map[string]*template.FieldDecl {
	str := func(s string) template.Str { return template.Str{V: s} }
	n := func(v int) *int { return &v }
	fl := func(v float64) *float64 { return &v }
	opts := []template.Str{str("a"), str("b")}
	return map[string]*template.FieldDecl{
		"text":        {Type: str("text")},
		"short":       {Type: str("text"), MinLength: n(2), MaxLength: n(5)},
		"code":        {Type: str("text"), Pattern: str(`^[A-Z][0-9]+$`)},
		"longtext":    {Type: str("longtext")},
		"email":       {Type: str("email")},
		"phone":       {Type: str("phone")},
		"barcode":     {Type: str("barcode")},
		"link":        {Type: str("link"), To: str("customer")},
		"user":        {Type: str("user")},
		"attachment":  {Type: str("attachment")},
		"int":         {Type: str("int"), Min: fl(-5), Max: fl(1000)},
		"decimal":     {Type: str("decimal"), Scale: n(4)},
		"money":       {Type: str("money")},
		"quantity":    {Type: str("quantity"), Min: fl(0.001)},
		"percent":     {Type: str("percent")},
		"bool":        {Type: str("bool")},
		"date":        {Type: str("date")},
		"datetime":    {Type: str("datetime")},
		"select":      {Type: str("select"), Options: opts},
		"multiselect": {Type: str("multiselect"), Options: opts},
		"json":        {Type: str("json")},
	}
}

// knownCodes are the field error codes coerce may give.
var knownCodes = map[string]bool{
	"not_a_number": true, "scale": true, "min": true, "max": true, "out_of_range": true, "not_a_bool": true,
	"not_a_date": true, "not_a_datetime": true, "not_an_option": true, "not_a_list": true, "not_text": true,
	"single_line": true, "min_length": true, "max_length": true, "pattern": true, "not_an_email": true,
	"not_a_phone": true, "not_an_object": true, "unknown_field": true, "max_rows": true,
}

// FuzzCoerce feeds any JSON value, decoded as the server decodes a body
// (numbers kept exact), to every field type's conversion. Nothing panics; a
// refused value has field errors at the field with known codes; an accepted
// value is what the type stores, and converting it again gives the same
// value (what was stored reads back the same).
//
// The seeds run in plain go test; go test -fuzz FuzzCoerce explores.
func FuzzCoerce(f *testing.F) {
	for _, s := range []string{
		`null`, `""`, `"x"`, `"a\nb"`, `"a\u0000b"`, `"\ud800"`, `0`, `-0`, `1.5`, `1e3`, `1e999999999`, `"1e3"`,
		`"12.3456"`, `"-0.001"`, `"999999999999999999999999999"`, `true`, `"true"`, `"2024-02-30"`, `"2024-06-01"`,
		`"2024-06-01T10:00:00+08:00"`, `"2024-06-01T10:00:00.123456789Z"`, `"a"`, `["a","b"]`, `["a","c"]`, `[1]`,
		`{"$gt":""}`, `{"__proto__":1}`, `[[[[]]]]`, `"A1"`, `"a@b.co"`, `"+86 138 0000 0000"`, `"` + strings.Repeat("x", 10001) + `"`,
		`"` + strings.Repeat("9", 5000) + `"`, `"0.` + strings.Repeat("0", 5000) + `1"`, `"NaN"`, `"Infinity"`, `" 1 "`, `"0x10"`,
	} {
		f.Add([]byte(s))
	}
	fields := fuzzFields()
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
		for name, fd := range fields {
			ve := &ValidationError{}
			out, ok := coerce(ve, name, fd, v)
			if !ok {
				if len(ve.Errors) == 0 {
					t.Fatalf("%s %s: refused without an error", name, data)
				}
				for _, fe := range ve.Errors {
					if fe.Path != name || !knownCodes[fe.Code] {
						t.Fatalf("%s %s: error %+v", name, data, fe)
					}
				}
				continue
			}
			if len(ve.Errors) > 0 {
				t.Fatalf("%s %s: accepted with errors %v", name, data, ve.Errors)
			}
			if out == nil {
				continue
			}
			switch fd.Type.V {
			case "int", "decimal", "money", "quantity", "percent":
				if _, isDec := out.(decimal.Decimal); !isDec {
					t.Fatalf("%s %s: stored %T", name, data, out)
				}
			case "bool":
				if _, isBool := out.(bool); !isBool {
					t.Fatalf("%s %s: stored %T", name, data, out)
				}
			case "multiselect":
				if _, isList := out.([]any); !isList {
					t.Fatalf("%s %s: stored %T", name, data, out)
				}
			case "json":
			default:
				if _, isText := out.(string); !isText {
					t.Fatalf("%s %s: stored %T", name, data, out)
				}
			}
			again, ok := coerce(&ValidationError{}, name, fd, out)
			if !ok || !reflect.DeepEqual(out, again) {
				t.Fatalf("%s %s: stored %#v, which converts again to %#v (%v)", name, data, out, again, ok)
			}
		}
	})
}
