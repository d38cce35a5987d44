package sqlite

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// TestEncodeWritesWhatJSONMarshalWrites compares encode with json.Marshal of
// the same values (the way documents were encoded before): the stored text
// must not change.
func TestEncodeWritesWhatJSONMarshalWrites(t *testing.T) {
	var every strings.Builder
	for b := 0; b < 128; b++ {
		every.WriteByte(byte(b))
	}
	docs := []store.Doc{
		{},
		{store.IDField: "x", store.VersionField: int64(3)},
		{"name": "华东贸易 <b>&</b>", "quote": `say "hi" \ back`, "every": every.String()},
		{"bad": "ok \xff\xfe end \xe4\xb8", "seps": "a\u2028b\u2029c", "emoji": "📦 箱"},
		{"n": decimal.MustParse("12.5"), "neg": decimal.MustParse("-0.07"), "zero": decimal.Zero, "big": decimal.MustParse("123456789012.3456")},
		{"t": true, "f": false, "none": nil, "empty": "", "list": []any{}, "map": map[string]any{}},
		{"lines": []any{
			map[string]any{"_row": "r1", "item": "i-1", "qty": decimal.MustParse("3"), "price": decimal.MustParse("12.50")},
			map[string]any{"z": []any{"a", nil, true, decimal.MustParse("1.5"), map[string]any{"<k>": "v"}}},
		}, "b": "2", "a": "1", "A": "0", "é": "accent"},
	}
	for i, doc := range docs {
		got, err := encode(doc)
		if err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		m := map[string]any{}
		for k, v := range doc {
			if k == store.IDField || k == store.VersionField {
				continue
			}
			ev, err := encodeValue(v)
			if err != nil {
				t.Fatal(err)
			}
			m[k] = ev
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("doc %d:\nencode       %s\njson.Marshal %s", i, got, want)
		}
	}
	if _, err := encode(store.Doc{"n": decimal.MustParse("1000000000000000000000000000000")}); err == nil {
		t.Error("a number out of the stored range was encoded")
	}
}
