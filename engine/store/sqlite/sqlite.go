// Package sqlite is the embedded store backend: one SQLite database file in WAL
// mode (pure Go, modernc.org/sqlite), one table per collection holding each
// document as JSONB, declared indexes as expression indexes over the JSON, and
// side tables for indexes on nested paths (so that "lines.item" is indexed per
// array element).
//
// Writes run one at a time (a Go mutex), so writers never meet "database is
// locked"; reads use a pool of connections that see committed snapshots (WAL).
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/yerp/yerp/engine/store"
)

func init() {
	// yerp_path turns a json_tree fullkey into a store path: $.lines[3].item → $.lines.item.
	sqlite.MustRegisterDeterministicScalarFunction("yerp_path", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		s, ok := args[0].(string)
		if !ok {
			return nil, nil
		}
		return arrayIndexRE.ReplaceAllString(s, ""), nil
	})
}

var arrayIndexRE = regexp.MustCompile(`\[[0-9]+\]`)

// Store is the SQLite backend of store.Store.
type Store struct {
	path   string
	writer *sql.DB    // write transactions, one at a time (wmu)
	wmu    sync.Mutex // serializes writers in Go, so SQLite never answers "locked"
	reader *sql.DB

	readStmts, writeStmts *stmtCache

	mu    sync.RWMutex
	colls map[string]*collInfo
	// schemaV is the database's schema_version when colls was read. Another
	// process over the same file (several yerp serve) may create collections
	// and indexes; every write transaction and every read of a collection
	// not known here compares it with the file's and reloads the catalog
	// when they differ.
	schemaV atomic.Int64
}

// collInfo is what the store knows of a collection: its declared indexes. It
// is immutable once published in Store.colls (EnsureIndexes replaces it).
type collInfo struct {
	indexes map[string]store.Index
	side    map[string]string // nested path → side table of its multikey index
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and its directory.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Each connection has its own page cache (six connections: two writers,
	// four readers), 16 MiB each: 64 MiB each held a server's resident
	// memory near 200 MB under the create load for no gain in speed (the
	// operating system caches the file as well; the list over 1,000,000
	// orders and the reports over 1,000,000 lines ran as fast).
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(0)", "cache_size(-16384)", "temp_store(MEMORY)"} {
			q.Add("_pragma", p)
		}
		if extra != "" {
			q.Add("_pragma", extra)
		}
		return "file:" + path + "?" + q.Encode()
	}
	// Write transactions take the write lock when they begin (BEGIN
	// IMMEDIATE): one that read first and then wrote would fail at once with
	// SQLITE_BUSY when another process had written meanwhile; waiting for the
	// lock at the start lets the busy timeout do its work.
	w, err := sql.Open("sqlite", dsn("")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Two connections: one runs the write transaction, the other lets the
	// statement cache prepare a statement while that transaction is open.
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &Store{path: path, writer: w, reader: r, colls: map[string]*collInfo{},
		readStmts: newStmtCache(r), writeStmts: newStmtCache(w)}
	if err := s.init(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	s.readStmts.close()
	s.writeStmts.close()
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

const metaDDL = `
CREATE TABLE IF NOT EXISTS _yerp_collections (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _yerp_indexes (
	coll TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL,
	PRIMARY KEY (coll, name)) WITHOUT ROWID;`

func (s *Store) init(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, metaDDL); err != nil {
		return fmt.Errorf("sqlite: create catalog: %w", err)
	}
	return s.loadCatalog(ctx, s.writer)
}

// querier is a connection pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// refreshCatalog reloads the catalog through q when the database's schema
// changed since it was read (another process created a collection or an
// index).
func (s *Store) refreshCatalog(ctx context.Context, q querier) error {
	var v int64
	if err := q.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if v == s.schemaV.Load() {
		return nil
	}
	return s.loadCatalog(ctx, q)
}

// lookup returns what is known of coll, first reloading the catalog if coll
// is unknown and the schema changed: another process may have created it.
// It is nil if the collection does not exist.
func (s *Store) lookup(ctx context.Context, coll string) (*collInfo, error) {
	if ci := s.info(coll); ci != nil {
		return ci, nil
	}
	if err := s.refreshCatalog(ctx, s.reader); err != nil {
		return nil, err
	}
	return s.info(coll), nil
}

// begin starts a write transaction, holding the database's write lock, over
// an up-to-date catalog.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := s.refreshCatalog(ctx, tx); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// loadCatalog reads the collections and indexes from the database into memory.
func (s *Store) loadCatalog(ctx context.Context, q querier) error {
	var version int64
	if err := q.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	colls := map[string]*collInfo{}
	rows, err := q.QueryContext(ctx, `SELECT name FROM _yerp_collections`)
	if err != nil {
		return fmt.Errorf("sqlite: read catalog: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: read catalog: %w", err)
		}
		colls[name] = newCollInfo()
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT coll, spec FROM _yerp_indexes`)
	if err != nil {
		return fmt.Errorf("sqlite: read catalog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var coll, spec string
		if err := rows.Scan(&coll, &spec); err != nil {
			return fmt.Errorf("sqlite: read catalog: %w", err)
		}
		var ix store.Index
		if err := json.Unmarshal([]byte(spec), &ix); err != nil {
			return fmt.Errorf("sqlite: index of %s: %w", coll, err)
		}
		ci := colls[coll]
		if ci == nil {
			ci = newCollInfo()
			colls[coll] = ci
		}
		ci.add(coll, ix)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read catalog: %w", err)
	}
	s.mu.Lock()
	s.colls = colls
	s.schemaV.Store(version)
	s.mu.Unlock()
	return nil
}

func newCollInfo() *collInfo {
	return &collInfo{indexes: map[string]store.Index{}, side: map[string]string{}}
}

func (ci *collInfo) add(coll string, ix store.Index) {
	ci.indexes[ix.Name] = ix
	if len(ix.Keys) == 1 && store.IsNested(ix.Keys[0].Path) {
		ci.side[ix.Keys[0].Path] = sideTable(coll, ix.Name)
	}
}

// info returns what is known of coll, or nil if the collection does not exist.
func (s *Store) info(coll string) *collInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.colls[coll]
}

func table(coll string) string           { return `"c_` + coll + `"` }
func sqlIndex(coll, name string) string  { return `"ix_` + coll + `$` + name + `"` }
func sideTable(coll, name string) string { return `"mk_` + coll + `$` + name + `"` }

// ensureCollection creates the collection's table inside the write transaction
// tx if it does not exist. It returns the collection's info and whether it is
// new (to be published to the catalog after the commit).
func (s *Store) ensureCollection(ctx context.Context, tx *sql.Tx, coll string) (*collInfo, bool, error) {
	if err := store.CheckCollection(coll); err != nil {
		return nil, false, err
	}
	if ci := s.info(coll); ci != nil {
		return ci, false, nil
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + table(coll) + ` (
		rid INTEGER PRIMARY KEY,
		id  TEXT NOT NULL UNIQUE,
		v   INTEGER NOT NULL,
		doc BLOB NOT NULL);
		INSERT OR IGNORE INTO _yerp_collections(name) VALUES (?)`
	if _, err := tx.ExecContext(ctx, ddl, coll); err != nil {
		return nil, false, fmt.Errorf("sqlite: create collection %s: %w", coll, err)
	}
	return newCollInfo(), true, nil
}

// write runs fn in a transaction on the writer connection, for the collection
// coll (created first if needed), and commits it. A new collection becomes
// known to readers only after the commit, so a failed write leaves no trace.
func (s *Store) write(ctx context.Context, coll string, fn func(tx *sql.Tx, ci *collInfo) error) (err error) {
	defer classified(&err)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	ci, created, err := s.ensureCollection(ctx, tx, coll)
	if err == nil {
		err = fn(tx, ci)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	if created {
		s.mu.Lock()
		if s.colls[coll] == nil {
			s.colls[coll] = ci
		}
		s.mu.Unlock()
	}
	return nil
}

// uniqueViolation turns a SQLite unique-constraint error into a *store.DuplicateError.
func uniqueViolation(coll string, ci *collInfo, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return err
	}
	msg := se.Error()
	if strings.Contains(msg, " c_"+coll+".id") {
		return &store.DuplicateError{Collection: coll, Index: "_id", Fields: []string{store.IDField}}
	}
	for name, ix := range ci.indexes {
		if strings.Contains(msg, "'ix_"+coll+"$"+name+"'") || strings.Contains(msg, " mk_"+coll+"$"+name+".") {
			fields := make([]string, len(ix.Keys))
			for i, k := range ix.Keys {
				fields[i] = k.Path
			}
			return &store.DuplicateError{Collection: coll, Index: name, Fields: fields}
		}
	}
	return &store.DuplicateError{Collection: coll, Index: "?", Fields: nil}
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer classified(&err)
	var n int
	err = s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM _yerp_collections LIMIT 1)`).Scan(&n)
	if err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", s.path, err)
	}
	return nil
}

// Optimize lets SQLite gather the statistics its query planner chooses
// indexes by (PRAGMA optimize, which runs ANALYZE on the tables that have
// none or changed much since). Without them the planner guesses; with them
// the first page of a salesperson's drafts among 100,000 orders of the
// catalog went from p50 16 ms to 4.5 ms (yerp bench, docs/performance.md).
// yerp serve calls it at start, every hour and before closing.
func (s *Store) Optimize(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("sqlite: optimize: %w", err)
	}
	return nil
}
