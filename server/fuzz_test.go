package server

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// FuzzRecordBody feeds request bodies through what a create does with
// them: decodeRecord (the body of POST/PATCH /records, batch and
// transitions), then the records engine's validation of a sales order on a
// real SQLite store. Nothing panics; a refused body has field problems whose
// codes have messages; an accepted body round-trips through JSON unchanged;
// and the engine either accepts the values or refuses them with field
// errors (a 422), never with another error (a 500).
//
// The seeds run in plain go test; go test -fuzz FuzzRecordBody explores.
func FuzzRecordBody(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"note":"hi"}`, `{"customer":"x","lines":[{"item":"y","qty":"3"}]}`,
		`{"lines":[{"qty":1e999999999}]}`, `{"lines":[{"qty":"0.` + strings.Repeat("0", 500) + `1"}]}`,
		`{"note":{"$gt":""}}`, `{"$where":"1"}`, `{"a.b":1}`, `{"":1}`, `{"__proto__":{"x":1}}`,
		`{"lines":[{"_row":"r1","qty":"1"}]}`, `{"lines":"x"}`, `{"lines":[1,2]}`, `{"total":"5"}`,
		`{"note":null}`, `{"note":"a\u0000b"}`, `{"note":"a\nb"}`, "{\"note\":\"\xff\"}", `{"note":"x"} 1`,
		`[` + nested(100) + `]`, `{"contract":"f1"}`, `{"owner":"u"}`, `{"state":"done"}`, `{"note":["x"]}`,
		`{"lines":[{"qty":"-0"}]}`, `{"lines":[{"qty":"1.2345"}]}`, `{"lines":[{"price":"NaN"}]}`,
	} {
		f.Add([]byte(s))
	}
	st, err := sqlite.Open(filepath.Join(f.TempDir(), "yerp.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	svc, err := packages.New(ctx, st, catalog(f))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sales", packages.Options{}); err != nil {
		f.Fatal(err)
	}
	eng := records.New(st, svc.Model, records.Options{})
	admin := records.User{ID: "u-admin", Roles: []string{records.AdminRole}}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, bad := decodeRecord(data)
		if m == nil {
			if len(bad) == 0 {
				t.Fatalf("decodeRecord(%q): refused without a problem", data)
			}
			for _, fe := range bad {
				if _, ok := messages[fe.Code]; !ok {
					t.Fatalf("decodeRecord(%q): code %q has no message", data, fe.Code)
				}
			}
			return
		}
		if len(bad) > 0 {
			t.Fatalf("decodeRecord(%q): values and problems %v", data, bad)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("decodeRecord(%q) = %v does not encode: %v", data, m, err)
		}
		m2, bad := decodeRecord(again)
		if len(bad) > 0 || !reflect.DeepEqual(m, m2) {
			t.Fatalf("decodeRecord(%q) = %v does not round-trip: %s -> %v %v", data, m, again, m2, bad)
		}
		_, err = eng.ValidateCreate(ctx, admin, "sales_order", m)
		var ve *records.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("ValidateCreate(%s): %v is not a field error", again, err)
		}
		if ve != nil {
			for _, fe := range ve.Errors {
				if fe.Path == "" || fe.Code == "" {
					t.Fatalf("ValidateCreate(%s): a problem without a field or code: %+v", again, fe)
				}
			}
		}
	})
}
