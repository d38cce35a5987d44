package sqlite

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/storetest"
)

// reference decodes with encoding/json and converts numbers, the slow and
// obviously right way parseJSON must agree with.
func reference(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errTrailing
	}
	return convertNumbers(v)
}

var errTrailing = &json.SyntaxError{}

func convertNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return nil, err
		}
		return decimal.FromScaled(n, store.Scale), nil
	case map[string]any:
		for k, e := range x {
			c, err := convertNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
	case []any:
		for i, e := range x {
			c, err := convertNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
	}
	return v, nil
}

var jsonSeeds = []string{
	`{}`,
	`{"a":1,"b":-25000000,"c":"x","d":true,"e":false,"f":null}`,
	`{"lines":[{"item":"A","qty":1500000},{"item":"B","qty":0}],"empty":[],"obj":{}}`,
	`{"zh":"华东贸易","esc":"quote \" backslash \\ slash \/ nl \n tab \t u \u00e9 \ud83d\ude00","ctl":"\u0000"}`,
	` { "spaced" : [ 1 , 2 ] , "n" : -9223372036854775808 } `,
	`{"deep":[[[[{"a":[[]]}]]]]}`,
	`[1,2]`,
	`"text"`,
	`{"f":1.5}`,
	`{"e":1e3}`,
	`{"big":9223372036854775808}`,
	`{"a":1,}`,
	`{"a" 1}`,
	`{"a":tru}`,
	`{"a":"unterminated}`,
	`{"a":1} x`,
	`{`,
	``,
}

func TestParseJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkParse(t, []byte(s))
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParse)
}

func checkParse(t *testing.T, data []byte) {
	want, wantErr := reference(data)
	got, gotErr := parseJSON(data)
	if wantErr != nil {
		if gotErr == nil {
			t.Fatalf("%q: parsed as %#v, but it is not a document of scaled integers (%v)", data, got, wantErr)
		}
		return
	}
	if gotErr != nil {
		if hasNonInteger(data) {
			return // encoding/json let a later duplicate key hide it
		}
		t.Fatalf("%q: %v, want %#v", data, gotErr, want)
	}
	if !storetest.Equal(got, want) {
		t.Fatalf("%q: got %#v, want %#v", data, got, want)
	}
}

// hasNonInteger reports whether any number token in data is not an integer.
func hasNonInteger(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
				return true
			}
		}
	}
}
