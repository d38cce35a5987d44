package sqlite

import (
	"context"
	"errors"
	"fmt"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/yerp/yerp/engine/store"
)

// classify marks the SQLite errors callers branch on: a full database
// (SQLITE_FULL: the disk, or max_page_count) is store.ErrFull; a database
// that cannot be reached (SQLITE_BUSY after the busy timeout, SQLITE_LOCKED,
// SQLITE_IOERR, SQLITE_CANTOPEN) is store.ErrUnavailable. Other errors are
// returned as they are.
func classify(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// classified is classify for a deferred call on a named error result.
func classified(err *error) { *err = classify(*err) }

// SetMaxPages caps the database at n pages (PRAGMA max_page_count) on every
// connection that writes, so that a write that would grow the file beyond
// it fails with store.ErrFull, as on a full disk; it returns the cap in
// effect (SQLite never sets it below the current size). Tests use it to
// provoke a full disk; a large n lifts the cap.
func (s *Store) SetMaxPages(ctx context.Context, n int64) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// The limit is per connection: hold every connection of the writer pool
	// at once (at most 2, see Open) so each gets it.
	var got int64
	for range 2 {
		conn, err := s.writer.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("sqlite: max pages: %w", err)
		}
		defer conn.Close()
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n)).Scan(&got); err != nil {
			return 0, fmt.Errorf("sqlite: max pages: %w", err)
		}
	}
	return got, nil
}
