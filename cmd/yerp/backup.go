package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/yerp/yerp/engine/store/sqlite"
)

// backuper is a store that can write a consistent copy of itself (SQLite).
type backuper interface {
	Backup(ctx context.Context, path string) error
}

// scheduledBackup writes the backup of now into dir (yerp-YYYYMMDD-HHMMSS.db)
// and removes the oldest scheduled backups beyond keep. It returns the file
// written.
func scheduledBackup(ctx context.Context, b backuper, dir string, keep int, now time.Time) (string, error) {
	file := filepath.Join(dir, "yerp-"+now.UTC().Format("20060102-150405")+".db")
	if err := b.Backup(ctx, file); err != nil {
		return "", err
	}
	old, err := filepath.Glob(filepath.Join(dir, "yerp-[0-9]*-[0-9]*.db"))
	if err != nil {
		return file, err
	}
	slices.Sort(old) // the names sort by time
	for len(old) > keep {
		if err := os.Remove(old[0]); err != nil {
			return file, fmt.Errorf("remove an old backup: %w", err)
		}
		old = old[1:]
	}
	return file, nil
}

// backupCmd runs "yerp backup FILE": a consistent copy of the store, taken
// while servers keep writing to it. Either backend's backup is a SQLite
// store file.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: yerp backup [--data DIR | --store URI] FILE\n\n"+
			"Write a consistent copy of the store to the new file FILE while servers\n"+
			"keep running. The copy of a MongoDB store is a SQLite store file too.\n"+
			"Restore it with yerp restore.\n\n")
		fs.PrintDefaults()
	}
	data, storeURI := storeFlags(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	if *storeURI != "" {
		return mongoBackup(ctx, *storeURI, rest[0], stdout, stderr)
	}
	file, src := rest[0], filepath.Join(*data, "yerp.db")
	if _, err := os.Stat(src); err != nil {
		fmt.Fprintf(stderr, "yerp backup: no store in %s: %v\n", *data, err)
		return 1
	}
	start := time.Now()
	if err := sqlite.BackupFile(ctx, src, file); err != nil {
		fmt.Fprintf(stderr, "yerp backup: %v\n", err)
		return 1
	}
	fi, err := os.Stat(file)
	if err != nil {
		fmt.Fprintf(stderr, "yerp backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s (%d bytes) in %s\n", file, fi.Size(), time.Since(start).Round(time.Millisecond))
	return 0
}

// restoreCmd runs "yerp restore FILE": it checks the backup and puts it in
// place of the store in the data folder, which must be empty of a store
// unless --force (the store it replaces is kept beside it).
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: yerp restore [--data DIR] [--force] FILE\n"+
			"       yerp restore --store URI FILE\n\n"+
			"Check the backup FILE and make it the store in DIR. Stop the servers of DIR\n"+
			"first. An existing store is refused unless --force, which keeps it as\n"+
			"yerp.db.replaced-TIME. With --store, copy it into the MongoDB database of\n"+
			"URI, which must be empty (name a new database).\n\n")
		fs.PrintDefaults()
	}
	data, storeURI := storeFlags(fs)
	force := fs.Bool("force", false, "replace an existing store (kept beside it; not with --store)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	file := rest[0]
	if err := sqlite.CheckBackup(ctx, file); err != nil {
		fmt.Fprintf(stderr, "yerp restore: %v\n", err)
		return 1
	}
	if *storeURI != "" {
		if *force {
			fmt.Fprintln(stderr, "yerp restore: --force replaces a SQLite store; a MongoDB store is restored into an empty database (name a new one in --store)")
			return 2
		}
		return mongoRestore(ctx, *storeURI, file, stdout, stderr)
	}
	target := filepath.Join(*data, "yerp.db")
	if _, err := os.Stat(target); err == nil {
		if !*force {
			fmt.Fprintf(stderr, "yerp restore: %s holds a store; stop its servers and add --force to replace it (it is kept beside it)\n", target)
			return 1
		}
		old := target + ".replaced-" + time.Now().UTC().Format("20060102-150405")
		if err := os.Rename(target, old); err != nil {
			fmt.Fprintf(stderr, "yerp restore: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "the store it replaces is kept as %s\n", old)
	}
	// The old store's journal must not be applied to the restored file.
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(target + ext); err != nil && !os.IsNotExist(err) {
			fmt.Fprintf(stderr, "yerp restore: %v\n", err)
			return 1
		}
	}
	if err := os.MkdirAll(*data, 0o750); err != nil {
		fmt.Fprintf(stderr, "yerp restore: %v\n", err)
		return 1
	}
	if err := copyFile(file, target+".partial"); err != nil {
		fmt.Fprintf(stderr, "yerp restore: %v\n", err)
		return 1
	}
	if err := os.Rename(target+".partial", target); err != nil {
		fmt.Fprintf(stderr, "yerp restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s restored to %s; run yerp verify before starting the servers\n", file, target)
	return 0
}

// copyFile copies src to the new file dst and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}
