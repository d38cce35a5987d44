package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// A MongoDB store is backed up into a SQLite store file: the same kind of file
// as a SQLite backup, checked and restored the same way, and restorable into
// either backend. MongoDB without a replica set's snapshot reads cannot copy
// all collections at one instant, so the copy runs behind the backup fence
// (engine/records/fence.go): postings that start meanwhile wait, and every
// posting is in the copy whole or not applied at all.

// fenceLease is how long the fence holds without being renewed: if the backup
// dies, the postings it held go on after this.
const fenceLease = 2 * time.Minute

// copyOrder: the posting statuses are copied before their steps (a status in
// the copy always has its steps), and the numbering series after everything
// (never behind a number in use).
var (
	copyLast = []string{"sys_posting_steps", "sys_series"}
	copySkip = []string{records.FenceCollection}
)

func mongoBackup(ctx context.Context, uri, file string, stdout, stderr io.Writer) int {
	start := time.Now()
	src, _, err := openStore(ctx, uri, "")
	if err != nil {
		fmt.Fprintf(stderr, "yerp backup: %v\n", err)
		return 1
	}
	defer src.Close()
	stats, waited, err := fencedBackup(ctx, src, file)
	if err != nil {
		fmt.Fprintf(stderr, "yerp backup: %v\n", err)
		return 1
	}
	if waited > 0 {
		fmt.Fprintf(stderr, "waited for %d postings in progress before copying\n", waited)
	}
	fmt.Fprintf(stdout, "ok: %s (%d documents in %d collections) in %s\n", file, stats.Documents, stats.Collections, time.Since(start).Round(time.Millisecond))
	return 0
}

// fencedBackuper backs up a store that has no backup of its own (MongoDB)
// for yerp serve --backup-dir.
type fencedBackuper struct{ st store.Store }

func (b fencedBackuper) Backup(ctx context.Context, path string) error {
	_, _, err := fencedBackup(ctx, b.st, path)
	return err
}

// fencedBackup copies st into the new SQLite store file path, behind the
// backup fence, and checks it. It returns what it copied and how many
// postings in progress it waited for.
func fencedBackup(ctx context.Context, st store.Store, path string) (store.CopyStats, int, error) {
	if _, err := os.Stat(path); err == nil {
		return store.CopyStats{}, 0, fmt.Errorf("%s exists (choose a new file)", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return store.CopyStats{}, 0, err
	}
	tmp := path + ".partial"
	clean := func() {
		for _, ext := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(tmp + ext)
		}
	}
	clean()
	stats, waited, err := copyFenced(ctx, st, tmp)
	if err == nil {
		err = sqlite.CheckBackup(ctx, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		clean()
	}
	return stats, waited, err
}

// copyFenced copies src into a new SQLite store at path behind the backup
// fence, and returns how many postings in progress it waited for.
func copyFenced(ctx context.Context, src store.Store, path string) (store.CopyStats, int, error) {
	var stats store.CopyStats
	from, ok := src.(store.Dumper)
	if !ok {
		return stats, 0, errors.New("the store cannot be copied")
	}
	host, _ := os.Hostname()
	fence, err := records.RaiseFence(ctx, src, fmt.Sprintf("yerp backup on %s, pid %d", host, os.Getpid()), fenceLease)
	if err != nil {
		return stats, 0, err
	}
	defer func() { _ = fence.Lower(context.WithoutCancel(ctx)) }()
	waited, err := fence.Settle(ctx)
	if err != nil {
		return stats, waited, err
	}
	dst, err := sqlite.Open(path)
	if err != nil {
		return stats, waited, err
	}
	// The fence is renewed while the copy runs.
	copyCtx, stop := context.WithCancel(ctx)
	renewed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(fenceLease / 4)
		defer tick.Stop()
		for {
			select {
			case <-copyCtx.Done():
				renewed <- nil
				return
			case <-tick.C:
				if err := fence.Renew(copyCtx); err != nil && copyCtx.Err() == nil {
					stop() // a copy the fence no longer covers is not a backup
					renewed <- err
					return
				}
			}
		}
	}()
	stats, err = store.Copy(copyCtx, dst, from, copyLast, copySkip, nil)
	stop()
	err = errors.Join(err, <-renewed, dst.Close())
	return stats, waited, err
}

func mongoRestore(ctx context.Context, uri, file string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "yerp restore: %v\n", err)
		return 1
	}
	start := time.Now()
	dst, _, err := openStore(ctx, uri, "")
	if err != nil {
		return fail(err)
	}
	defer dst.Close()
	to, ok := dst.(store.Dumper)
	if !ok {
		return fail(errors.New("the store cannot be loaded"))
	}
	colls, err := to.Collections(ctx)
	if err != nil {
		return fail(err)
	}
	for _, c := range colls {
		if n, err := dst.Count(ctx, c, nil); err != nil {
			return fail(err)
		} else if n > 0 {
			return fail(fmt.Errorf("the database holds documents (%s: %d); restore into a new, empty database", c, n))
		}
	}
	src, err := sqlite.Open(file)
	if err != nil {
		return fail(err)
	}
	defer src.Close()
	stats, err := store.Copy(ctx, to, src, copyLast, copySkip, nil)
	if err != nil {
		return fail(fmt.Errorf("%w (the database is partly restored: drop it before trying again)", err))
	}
	fmt.Fprintf(stdout, "ok: %s restored into the MongoDB database (%d documents in %d collections) in %s; run yerp verify before starting the servers\n",
		file, stats.Documents, stats.Collections, time.Since(start).Round(time.Millisecond))
	return 0
}
