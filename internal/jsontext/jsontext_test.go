package jsontext

import (
	"encoding/json"
	"testing"
)

func check(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := AppendString(nil, s); string(got) != string(want) {
		t.Fatalf("AppendString(%q) = %s, json.Marshal %s", s, got, want)
	}
}

func TestAppendStringIsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "华东百货 <b>&amp;</b>", `quote " backslash \ slash /`, "\x00\x01\x07\b\f\n\r\t\x1f\x7f",
		"bad \xff\xfe utf-8 \xc3", "line\u2028para\u2029end", "emoji 🙂"} {
		check(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("<script>\xff\u2028")
	f.Fuzz(check)
}
