package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/templates"
)

// verifyOK is the line "yerp verify" prints when the books agree.
const verifyOK = "ok: stock bins and party balances agree with their ledgers"

// verifyCmd runs "yerp verify": it finishes (or rolls back) every posting a
// crash left pending, then recomputes every stock bin and party balance from
// its ledger. Each difference is printed on its own line and the exit status
// is 1; with none it prints one "ok" line and exits 0.
//
// Run it with no server writing to the store: postings another process is
// applying right now would be taken for crashed ones.
func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: yerp verify [--data DIR | --store URI]\n\n"+
			"Finish the postings a crash left pending, then check that every stock bin and\n"+
			"party balance equals the sum of its ledger. Run it while no server writes.\n\n")
		fs.PrintDefaults()
	}
	data, storeURI := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "yerp verify: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	_, eng, done, ok := existingEngine(ctx, "verify", *storeURI, *data, stderr)
	if !ok {
		return 1
	}
	defer done()
	n, err := recoverAll(ctx, eng, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "yerp verify: recover postings: %v\n", err)
		return 1
	}
	if n > 0 {
		fmt.Fprintf(stderr, "yerp verify: recovered %d pending postings\n", n)
	}
	mismatches, err := eng.Verify(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "yerp verify: %v\n", err)
		return 1
	}
	for _, m := range mismatches {
		fmt.Fprintln(stdout, m)
	}
	if len(mismatches) > 0 {
		fmt.Fprintf(stderr, "yerp verify: %d balances differ from their ledgers\n", len(mismatches))
		return 1
	}
	fmt.Fprintln(stdout, verifyOK)
	return 0
}

// recoverAll finishes (or rolls back) every pending posting. Recover leaves
// alone a posting whose lease is still held by the process that began it; with
// no server running that process has died, so the lease is waited out, once,
// and Recover runs again. A posting still pending then belongs to a live
// process: a server is writing to the store.
func recoverAll(ctx context.Context, eng *records.Engine, stderr io.Writer) (int, error) {
	n, err := eng.Recover(ctx, 0)
	if err != nil {
		return n, err
	}
	left, until, err := eng.PendingPostings(ctx)
	if err != nil || left == 0 {
		return n, err
	}
	if wait := time.Until(until); wait > 0 {
		fmt.Fprintf(stderr, "yerp verify: %d postings are held until %s by the process that began them; waiting %s for their lease to run out\n",
			left, until.Format(time.RFC3339), wait.Round(time.Second))
		t := time.NewTimer(wait + time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, ctx.Err()
		case <-t.C:
		}
	}
	m, err := eng.Recover(ctx, 0)
	n += m
	if err != nil {
		return n, err
	}
	if left, _, err = eng.PendingPostings(ctx); err != nil {
		return n, err
	}
	if left > 0 {
		return n, fmt.Errorf("%d postings are still pending: is a server running on this store?", left)
	}
	return n, nil
}

// existingEngine opens, for command cmd, a store that must already exist
// (opening an SQLite folder creates an empty store, so a mistyped --data
// would verify or import into nothing), with its packages, users and
// records engine. It prints what went wrong as "yerp CMD: ..." and reports
// ok false; done closes the store.
func existingEngine(ctx context.Context, cmd, storeURI, data string, stderr io.Writer) (users *auth.Service, eng *records.Engine, done func(), ok bool) {
	if storeURI == "" {
		if _, err := os.Stat(filepath.Join(data, "yerp.db")); err != nil {
			fmt.Fprintf(stderr, "yerp %s: no store in %s: %v\n", cmd, data, err)
			return nil, nil, nil, false
		}
	}
	st, _, err := openStore(ctx, storeURI, data)
	if err != nil {
		fmt.Fprintf(stderr, "yerp %s: %v\n", cmd, err)
		return nil, nil, nil, false
	}
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		st.Close()
		fmt.Fprintf(stderr, "yerp %s: templates: %v\n", cmd, err)
		return nil, nil, nil, false
	}
	if users, err = auth.New(st, auth.Options{}); err != nil {
		st.Close()
		fmt.Fprintf(stderr, "yerp %s: users: %v\n", cmd, err)
		return nil, nil, nil, false
	}
	eng = records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	return users, eng, func() { st.Close() }, true
}
