package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
)

// encodeJSON must write exactly what encoding/json writes.
func sameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := encodeJSON(v)
	if (werr != nil) != (gerr != nil) || string(got) != string(want) {
		t.Fatalf("encodeJSON(%#v)\n got %s (%v)\nwant %s (%v)", v, got, gerr, want, werr)
	}
}

var jsonStrings = []string{"", "plain", "华东百货 <b>&amp;</b>", `quote " backslash \ slash /`, "\x00\x01\x07\b\f\n\r\t\x1f\x7f",
	"bad \xff\xfe utf-8 \xc3", "line\u2028para\u2029end", "emoji 🙂 and ü", "<script>alert(1)</script>", "\u00e9\u0301"}

func TestEncodeJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonStrings {
		sameAsEncodingJSON(t, s)
		sameAsEncodingJSON(t, map[string]any{s: s})
	}
	rec := records.Record{"id": "01a2", "number": "SO-00001", "total": decimal.MustParse("1234.50"), "qty": decimal.MustParse("-0.001"),
		"state": "draft", "paid": false, "n": int64(-42), "i": 7, "f": 0.1, "none": nil, "at": time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
		"tags": []string{"a", "<b>"}, "noTags": []string(nil), "lines": []any{map[string]any{"item": "I1", "qty": decimal.MustParse("3")}, nil, "x"},
		"nested": map[string]any{"z": 1, "a": []any{}, "m": map[string]any(nil)}, "num": json.Number("12.5")}
	sameAsEncodingJSON(t, rec)
	sameAsEncodingJSON(t, fiber.Map{"records": []records.Record{rec, nil}, "next": "", "none": []records.Record(nil), "problem": Problem{Title: "<x>", Status: 400}})
	sameAsEncodingJSON(t, []any{rec, fiber.Map{"a": 1}, records.Record(nil)})
	sameAsEncodingJSON(t, map[string]any{"bad": func() {}}) // an error, as encoding/json's
}

func FuzzEncodeJSON(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		sameAsEncodingJSON(t, fiber.Map{k: v, "list": []any{v, k}, "rec": records.Record{v: decimal.FromInt(int64(len(k)))}})
	})
}
