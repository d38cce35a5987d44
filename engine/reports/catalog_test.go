package reports_test

import (
	"testing"
	"time"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/templates"
)

// TestCatalogReportsRun checks that every report of the built-in catalog
// compiles to an aggregation the store accepts: each runs, as admin, over an
// empty SQLite store and answers no rows with its columns.
func TestCatalogReportsRun(t *testing.T) {
	m, ds := template.CheckDir(templates.FS, ".")
	if m == nil {
		t.Fatalf("catalog: %s", ds)
	}
	if len(m.Reports) < 13 {
		t.Fatalf("the catalog declares %d reports, want the 13 of its packages", len(m.Reports))
	}
	admin := records.User{ID: "a", Roles: []string{records.AdminRole}}
	st := openSQLite(t)
	model := func() *template.Model { return m }
	e := reports.New(st, records.New(st, model, records.Options{}), model, func() time.Time { return today })
	for _, r := range m.ReportList() {
		res, err := e.Run(ctx, admin, r.Package, r.Name, nil)
		if err != nil {
			t.Errorf("%s: %v", r.ID(), err)
			continue
		}
		if len(res.Rows) != 0 || len(res.Columns) < 2 {
			t.Errorf("%s over an empty store: %d rows, %d columns", r.ID(), len(res.Rows), len(res.Columns))
		}
	}
}
