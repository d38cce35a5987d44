package sqlite

import (
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/storetest"
)

// TestJSONBReadsWhatJSONRenders: reading a stored document's JSONB directly
// gives what parsing SQLite's json() text of it gives, for every kind of
// value and every header size.
func TestJSONBReadsWhatJSONRenders(t *testing.T) {
	s := openTemp(t)
	long := strings.Repeat("长文本 long text ", 400) // a 2-byte size
	rows := make([]any, 0, 3000)
	for i := range 3000 { // an array over 65,535 bytes: a 4-byte size
		rows = append(rows, map[string]any{"i": i, "item": "茶叶", "qty": "12.500"})
	}
	docs := []store.Doc{
		{"s": "plain", "zh": "丽水万家商贸有限公司", "emoji": "🍵", "quote": `say "hi"`, "slash": `a\b/c`, "ctl": "tab\there\nline", "nul": "a\u0000b", "html": "<script>&</script>"},
		{"n": 0, "neg": -42, "big": 922337203685, "dec": "0.0001", "t": true, "f": false, "null": nil},
		{"empty": map[string]any{}, "none": []any{}, "nested": map[string]any{"a": []any{1, "x", nil, map[string]any{"deep": []any{[]any{}}}}}},
		{"long": long, "lines": rows},
		{"键": "值", "key \"q\"": "v"},
	}
	for _, d := range docs {
		in, err := s.Insert(ctx, "j", d)
		if err != nil {
			t.Fatal(err)
		}
		var text string
		if err := s.queryRow(ctx, `SELECT json(doc) FROM `+table("j")+` WHERE id = ?`, in.ID()).Scan(&text); err != nil {
			t.Fatal(err)
		}
		v, err := parseJSON([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		want := v.(map[string]any)
		want[store.IDField], want[store.VersionField] = in.ID(), int64(1)
		got, err := s.Get(ctx, "j", in.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !storetest.Equal(got, store.Doc(want)) {
			t.Errorf("JSONB read %v\nwant (from json()) %v", got, want)
		}
	}
	for _, bad := range [][]byte{{}, {0x1c}, {0x2c, 0x17, 0x00}, {0xcc, 0x05, 0x17}, {0x16, 'x'}, {0x13, '1', '.', '5'}} {
		if _, err := parseJSONBDoc(bad); err == nil {
			t.Errorf("damaged JSONB % x was read", bad)
		}
	}
}
