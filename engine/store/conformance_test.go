package store_test

import (
	"path/filepath"
	"testing"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/store/storetest"
)

// openSQLite opens a fresh SQLite store in a temporary directory.
func openSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the whole contract against every backend: SQLite in a
// temporary directory, and the MongoDB backend against FerretDB started
// in-process. With -short (the race-detector run in CI) the two data-heavy tests
// use less data.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { storetest.Run(t, openSQLite) })
	t.Run("mongo", func(t *testing.T) { storetest.Run(t, mongotest.Open) })
}
