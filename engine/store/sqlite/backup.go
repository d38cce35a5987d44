package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to the new file path
// while the store keeps serving: SQLite's VACUUM INTO reads one snapshot
// (WAL readers do not block writers, nor writers them) and writes it as a
// compact database file. The copy is written next to path and renamed into
// place, so path never holds half a backup; an existing path is an error.
func (s *Store) Backup(ctx context.Context, path string) error {
	return BackupFile(ctx, s.path, path)
}

// BackupFile writes a consistent copy of the database file src, which
// servers may be using, to the new file path (see Store.Backup).
func BackupFile(ctx context.Context, src, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("sqlite: backup: %s exists (choose a new file)", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	tmp := path + ".partial"
	_ = os.Remove(tmp)
	// Its own connection: the reader pool is query_only, and the writer
	// must stay free for the writes that go on meanwhile.
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	return nil
}

// CheckBackup opens the database file at path read-only and checks that it
// is a yerp store that SQLite finds intact, before a restore puts it in
// place.
func CheckBackup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM _yerp_collections`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: %s is not a yerp store: %w", path, err)
	}
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("sqlite: %s: integrity check: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("sqlite: %s is damaged: %s", path, res)
	}
	return nil
}
