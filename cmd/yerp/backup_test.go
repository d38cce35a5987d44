package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// TestBackupUnderLoadRestores: a backup taken while receipts are posted
// restores into an empty store; yerp verify finds the books agree, every
// receipt finished before the backup began is there, and every restored
// document is the source's document as it was then (same version or older).
// A SQLite backup is restored into an empty data folder; a MongoDB backup
// (behind the backup fence) into an empty MongoDB database and into an
// empty data folder.
func TestBackupUnderLoadRestores(t *testing.T) {
	dir := t.TempDir()
	data, restored, file := filepath.Join(dir, "data"), filepath.Join(dir, "restored"), filepath.Join(dir, "backups", "yerp-1.db")
	backupUnderLoad(t, "", data, file, []string{"--data", restored})
	if t.Failed() {
		return
	}
	t.Run("mongo", func(t *testing.T) {
		base := mongotest.Start(t)
		dir := t.TempDir()
		mfile := filepath.Join(dir, "yerp-mongo.db")
		backupUnderLoad(t, base+"yerp_live", "", mfile, []string{"--store", base + "yerp_restored"}, []string{"--data", filepath.Join(dir, "restored")})
	})
	restoreRefusals(t, dir, restored, file)
}

// backupUnderLoad backs up the store of uri (or data) with yerp backup while
// receipts are posted, restores the file into each target (restore flags),
// and checks each restored store.
func backupUnderLoad(t *testing.T, uri, data, file string, targets ...[]string) {
	ctx := context.Background()
	fx := prepareStore(t, uri, data)
	var before []string
	withEngine(t, uri, data, func(_ store.Store, _ *packages.Service, _ *auth.Service, eng *records.Engine) {
		keeper := records.User{ID: fx.keeper, Name: keeperName, Roles: []string{"warehouse"}}
		var (
			mu    sync.Mutex
			done  []string
			stop  atomic.Bool
			wg    sync.WaitGroup
			fails atomic.Int64
		)
		receive := func(i int) {
			rec, err := eng.Create(ctx, keeper, "goods_receipt", map[string]any{"warehouse": fx.warehouse,
				"lines": []any{map[string]any{"item": fx.items[i%len(fx.items)], "qty": "2"}}})
			if err == nil {
				_, err = eng.Transition(ctx, keeper, "goods_receipt", rec.ID(), "receive", rec.Version(), nil)
			}
			if err != nil {
				fails.Add(1)
				t.Errorf("receipt: %v", err)
				return
			}
			mu.Lock()
			done = append(done, rec.ID())
			mu.Unlock()
		}
		for w := range 4 {
			wg.Go(func() {
				for i := w; !stop.Load() && fails.Load() == 0; i += 4 {
					receive(i)
				}
			})
		}
		for {
			mu.Lock()
			n := len(done)
			mu.Unlock()
			if n >= 40 || fails.Load() > 0 {
				break
			}
			receive(0)
		}
		mu.Lock()
		before = append([]string(nil), done...)
		mu.Unlock()
		code, out, errs := yerpCmd(ctx, append(append([]string{"backup"}, storeArgs(uri, data)...), file)...)
		for range 20 { // the writers go on after the backup too
			receive(1)
		}
		stop.Store(true)
		wg.Wait()
		if code != 0 || !strings.HasPrefix(out, "ok: "+file) {
			t.Fatalf("backup under load: exit %d\nstdout %q\nstderr %q", code, out, errs)
		}
		t.Logf("backup under load: %s%s", out, errs)
	})
	if code, _, errs := yerpCmd(ctx, append(append([]string{"backup"}, storeArgs(uri, data)...), file)...); code != 1 || !strings.Contains(errs, "exists") {
		t.Fatalf("a backup over an existing file: exit %d, %q", code, errs)
	}

	// The source as it is now: the receipts, their stock ledger and bins.
	source := map[string]map[string]store.Doc{}
	withEngine(t, uri, data, func(st store.Store, _ *packages.Service, _ *auth.Service, _ *records.Engine) {
		for _, coll := range []string{"goods_receipt", binsCollection, ledgerCollection} {
			source[coll] = map[string]store.Doc{}
			for _, d := range findAll(t, st, coll, nil) {
				source[coll][d.ID()] = d
			}
		}
	})
	for _, target := range targets {
		if code, out, errs := yerpCmd(ctx, append([]string{"restore"}, append(target, file)...)...); code != 0 {
			t.Fatalf("restore %v: exit %d\n%s%s", target, code, out, errs)
		}
		if code, out, errs := yerpCmd(ctx, append([]string{"verify"}, target...)...); code != 0 || out != verifyOK+"\n" {
			t.Fatalf("verify of the store restored by %v: exit %d\nstdout %q\nstderr %q", target, code, out, errs)
		}
		// Record by record: the restored store is the source as it was when
		// the backup began.
		tURI, tData := "", ""
		if target[0] == "--store" {
			tURI = target[1]
		} else {
			tData = target[1]
		}
		if tURI != "" {
			if code, _, errs := yerpCmd(ctx, "restore", "--store", tURI, file); code != 1 || !strings.Contains(errs, "empty database") {
				t.Fatalf("a restore into a database that holds documents: exit %d, %q", code, errs)
			}
		}
		withEngine(t, tURI, tData, func(st store.Store, _ *packages.Service, _ *auth.Service, _ *records.Engine) {
			for coll, docs := range source {
				got := findAll(t, st, coll, nil)
				if len(got) == 0 || len(got) > len(docs) {
					t.Errorf("%v: %s: %d documents restored, the source has %d now", target, coll, len(got), len(docs))
				}
				for _, d := range got {
					src, ok := docs[d.ID()]
					if !ok || src.Version() < d.Version() {
						t.Errorf("%v: %s/%s: restored at version %d, the source has %v", target, coll, d.ID(), d.Version(), src)
					}
				}
			}
			for _, id := range before {
				d, err := st.Get(ctx, "goods_receipt", id)
				if err != nil || d["state"] != "received" {
					t.Errorf("%v: receipt %s, received before the backup began: %v, %v", target, id, d, err)
				}
			}
		})
	}
	if len(before) < 40 {
		t.Fatalf("only %d receipts before the backup", len(before))
	}
}

// yerpCmd runs a yerp command in this process.
func yerpCmd(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr syncBuffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// restoreRefusals: a store in place is not replaced without --force; with
// it, it is kept; a file that is not a yerp store is refused before
// anything moves.
func restoreRefusals(t *testing.T, dir, restored, file string) {
	ctx := context.Background()
	cmd := func(args ...string) (int, string, string) { return yerpCmd(ctx, args...) }
	// A store in place is not replaced without --force; with it, it is kept.
	if code, _, errs := cmd("restore", "--data", restored, file); code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("restore over a store: exit %d, %q", code, errs)
	}
	if code, out, errs := cmd("restore", "--data", restored, "--force", file); code != 0 || !strings.Contains(out, "kept as") {
		t.Fatalf("restore --force: exit %d, %q, %q", code, out, errs)
	}
	kept, _ := filepath.Glob(filepath.Join(restored, "yerp.db.replaced-*"))
	if len(kept) != 1 {
		t.Fatalf("the replaced store is not kept: %v", kept)
	}
	// A file that is not a yerp store is refused before anything moves.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := cmd("restore", "--data", restored, "--force", junk); code != 1 {
		t.Fatalf("restore of a junk file: exit %d", code)
	}
	if kept2, _ := filepath.Glob(filepath.Join(restored, "yerp.db.replaced-*")); len(kept2) != 1 {
		t.Fatalf("a refused restore moved the store: %v", kept2)
	}
}

// TestScheduledBackupsKeepTheNewest: each scheduled backup is a checked
// store file named by its time, and only the newest --backup-keep stay;
// other files in the folder are left alone.
func TestScheduledBackupsKeepTheNewest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "data", "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	backups := filepath.Join(dir, "backups")
	if err := os.MkdirAll(backups, 0o750); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(backups, "yerp-before-upgrade.db")
	if err := os.WriteFile(other, []byte("kept by hand"), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	var written []string
	for i := range 3 {
		if _, err := st.Insert(ctx, "orders", store.Doc{"n": i}); err != nil {
			t.Fatal(err)
		}
		file, err := scheduledBackup(ctx, st, backups, 2, t0.Add(time.Duration(i)*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := sqlite.CheckBackup(ctx, file); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		written = append(written, file)
	}
	if filepath.Base(written[2]) != "yerp-20261128-020000.db" {
		t.Errorf("third backup named %s", filepath.Base(written[2]))
	}
	left, _ := filepath.Glob(filepath.Join(backups, "*"))
	want := []string{other, written[1], written[2]}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("files after three backups, keeping 2: %v, want %v", left, want)
	}
	last, err := sqlite.Open(written[2])
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	if n, err := last.Count(ctx, "orders", nil); err != nil || n != 3 {
		t.Fatalf("the last backup holds %d orders (%v), want 3", n, err)
	}
}
