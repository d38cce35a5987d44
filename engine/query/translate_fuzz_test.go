package query

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// FuzzTranslate feeds filters to the whole path a list request takes: the
// translation to a store filter, then the SQLite SQL builder and the query
// (Count on a real store), and store.Match on the same documents. It holds
// that nothing panics, that a refused filter is an *Error (a 400, never a
// 500), that the store never fails on a filter Parse accepted, and that
// SQLite and Match agree on which documents match.
//
// The seeds run in plain go test; go test -fuzz FuzzTranslate explores.
func FuzzTranslate(f *testing.F) {
	for _, c := range acceptCases {
		f.Add(c.src)
	}
	for _, s := range hostileFilters() {
		f.Add(s)
	}
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	docs := e2eDocs()
	if _, err := st.InsertMany(ctx, "orders", docs); err != nil {
		f.Fatal(err)
	}
	var norm []store.Doc
	for _, d := range docs {
		nd, err := store.Normalize(d)
		if err != nil {
			f.Fatal(err)
		}
		norm = append(norm, nd)
	}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := Parse(src, testSchema, testVars)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Parse(%q): error %T is not an *Error matching store.ErrInvalid: %v", src, err, err)
			}
			return
		}
		n, err := st.Count(ctx, "orders", flt)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, accepted, but the store fails: %v", src, show(flt), err)
		}
		var ref int64
		for _, d := range norm {
			if store.Match(d, flt) {
				ref++
			}
		}
		if n != ref {
			t.Fatalf("Parse(%q) = %s: SQLite counts %d, Match %d", src, show(flt), n, ref)
		}
	})
}

// hostileFilters are filters an attacker would try: operator and path
// injection, prototype-style names, bombs of depth, length and breadth,
// invalid UTF-8 and NUL bytes. Each must be refused (or, for the few that
// are well-formed, be translated and run) at bounded cost.
func hostileFilters() []string {
	return []string{
		`{"$where": "1"}`, `{"$gt": ""}`, `$where == 1`, `state == {"$gt": ""}`, `state["$ne"] == 1`,
		`__proto__ == 1`, `constructor.prototype == 1`, `lines.__proto__ == 'x'`, `lines.$gt == 1`,
		`state == 'a' || 1 == 1`, `state == "'; DROP TABLE c_orders; --"`, `state == 'x\' OR 1=1 --'`,
		`number startsWith '%'`, `number startsWith '_'`, `number startsWith '\\'`,
		"state == '\xff\xfe'", "state\x00 == 'a'", "state == 'a\x00b'",
		strings.Repeat("(", 2000) + "active" + strings.Repeat(")", 2000),
		strings.Repeat("!", 3999) + "active",
		strings.Repeat("not ", 999) + "active",
		strings.Repeat("active || ", 399) + "active",
		strings.Repeat("(active && (", 300) + "active" + strings.Repeat("))", 300),
		"state in [" + strings.Repeat("'a',", 990) + "'a']",
		"qty == " + strings.Repeat("9", 3990),
		"qty == 1e999999999", "qty == -0.0000000000000000000000000000001",
		"created_at > '" + strings.Repeat("9", 3000) + "'",
		strings.Repeat("a", MaxLen+1),
		"let x = 1; " + strings.Repeat("x && ", 500) + "x",
		"map(1..100000000, #) == 1", "len(repeat('a', 1000000000)) > 1",
	}
}

// The hostile filters are refused or run quickly, without a panic: run in
// plain go test as a table as well as seeds of the fuzzer.
func TestHostileFilters(t *testing.T) {
	for _, src := range hostileFilters() {
		flt, err := Parse(src, testSchema, testVars)
		if err == nil {
			if _, err := store.CheckFilter(flt, false); err != nil {
				t.Errorf("Parse(%.60q) accepted a filter the store refuses: %v", src, err)
			}
			continue
		}
		var qe *Error
		if !errors.As(err, &qe) || qe.Col < 1 {
			t.Errorf("Parse(%.60q): %v is not an *Error with a column", src, err)
		}
	}
}
