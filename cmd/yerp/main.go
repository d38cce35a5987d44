// Command yerp is the one binary of yerp: the server and its operator tools.
//
//	yerp serve [--addr :8080] [--data ./data] [--store mongodb://host/db]
//	yerp check DIR
//	yerp test DIR
//	yerp template list|versions|install|upgrade|rollback|uninstall|export|import
//	yerp verify [--data ./data] [--store mongodb://host/db]
//	yerp version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/metered"
	"github.com/yerp/yerp/engine/store/mongo"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/templates"
	"github.com/yerp/yerp/ui"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `yerp: a template-driven ERP for wholesale and distribution.

Usage:
  yerp serve [flags]   run the server (embedded SQLite store in ./data by default)
  yerp check DIR       check a template package, or a catalog of packages
  yerp test DIR        run a package's tests/*.yaml against a fresh store
  yerp template ...    install, upgrade, roll back, export and import template packages
  yerp user ...        add users, set passwords and roles
  yerp verify          finish crashed postings, check stock and balances against the ledgers
  yerp import          import records from a CSV or XLSX file (--entity, --file, --dry-run, --as)
  yerp bench           the performance scenarios of docs/performance.md, each next to its floor
  yerp backup FILE     a consistent copy of the SQLite store, taken while servers run
  yerp restore FILE    check a backup and make it the store (--force replaces one)
  yerp version         print the version

Run "yerp serve -h" for the flags of serve.
`

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "test":
		return testCmd(ctx, args[1:], stdout, stderr)
	case "template":
		return templateCmd(ctx, args[1:], stdout, stderr)
	case "user":
		return userCmd(ctx, args[1:], stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args[1:], stdout, stderr)
	case "import":
		return importCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr)
	case "restore":
		return restoreCmd(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "yerp", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "yerp: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
	data, storeURI := storeFlags(fs)
	demo := fs.Bool("demo", false, "install the template catalog and a small demo data set (users for each role, with printed passwords)")
	backupDir := fs.String("backup-dir", "", "folder of scheduled backups of the store, SQLite store files (yerp-YYYYMMDD-HHMMSS.db); empty: none")
	backupEvery := fs.Duration("backup-every", 24*time.Hour, "time between scheduled backups (with --backup-dir)")
	backupKeep := fs.Int("backup-keep", 14, "scheduled backups kept; older ones are removed (with --backup-dir)")
	hf := addHTTPFlags(fs) // tls.go
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "yerp serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *backupDir != "" && (*backupEvery < time.Minute || *backupKeep < 1) {
		fmt.Fprintln(stderr, "yerp serve: --backup-dir backs up at most once a minute (--backup-every), keeping at least one (--backup-keep)")
		return 2
	}
	proxies, err := hf.trusted()
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: %v\n", err)
		return 2
	}
	tlsConfig, err := hf.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: %v\n", err)
		return 1
	}
	log, err := hf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: %v\n", err)
		return 2
	}
	server.TuneGC()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, kind, err := openStore(ctx, *storeURI, *data)
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: %v\n", err)
		return 1
	}
	defer st.Close()
	// The services use the store through mst, which measures every call
	// (/metrics); st itself stays for what only the backend offers.
	metrics := server.NewMetrics()
	mst := metered.New(st, metrics)

	svc, err := packages.New(ctx, mst, templates.FS)
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: templates: %v\n", err)
		return 1
	}
	users, err := auth.New(mst, auth.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: users: %v\n", err)
		return 1
	}
	created, password, err := users.EnsureAdmin(ctx, os.Getenv("YERP_ADMIN_PASSWORD"))
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: admin user: %v\n", err)
		return 1
	}
	if created && password != "" {
		fmt.Fprintf(stderr, "first start: created user admin with the one-time password %s (change it after logging in)\n", password)
	}
	eng := records.New(mst, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	// Postings a crash left pending are finished (or rolled back) before serving.
	if n, err := eng.Recover(ctx, 30*time.Second); err != nil {
		fmt.Fprintf(stderr, "yerp serve: recover postings: %v\n", err)
		return 1
	} else if n > 0 {
		log.Info("recovered postings", "count", n)
	}
	if *demo {
		if err := loadDemo(ctx, svc, users, eng, stderr); err != nil {
			fmt.Fprintf(stderr, "yerp serve: demo data: %v\n", err)
			return 1
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "yerp serve: listen on %s: %v (use --addr to pick another address)\n", *addr, err)
		return 1
	}
	deps := server.Deps{Store: mst, Auth: users, Records: eng, Packages: svc, Reports: reports.New(mst, eng, svc.Model, nil), Info: server.Info{Version: version, Store: kind},
		Log: log, Metrics: metrics, MetricsPublic: *hf.metricsPublic, TrustedProxies: proxies, SecureCookies: *hf.secureCookies || tlsConfig != nil}
	app := server.New(deps)
	if err := ui.Mount(app, deps); err != nil {
		fmt.Fprintf(stderr, "yerp serve: %v\n", err)
		return 1
	}
	ln, url := listen(ln, tlsConfig)
	// Building the models of the installed packages (and the demo data)
	// leaves a heap of garbage many times the live set: give it back to the
	// operating system now rather than carry it as resident memory.
	debug.FreeOSMemory()
	log.Info("yerp serving", "url", url, "store", kind, "version", version)

	// The query planner's statistics (SQLite): now, every hour, and at the end.
	optimize := func(ctx context.Context) {
		if o, ok := st.(interface{ Optimize(context.Context) error }); ok {
			if err := o.Optimize(ctx); err != nil {
				log.Warn("optimize failed", "err", err)
			}
		}
	}
	optimize(ctx)
	defer optimize(context.WithoutCancel(ctx))

	// Every minute: expired sessions, tokens and login counters are removed,
	// postings left pending by a crashed process are finished, and
	// idempotency keys past their retention are dropped; every hour the
	// planner's statistics are refreshed.
	minutes := 0
	go every(ctx, time.Minute, func() {
		if minutes++; minutes%60 == 0 {
			optimize(ctx)
		}
		if _, err := users.Cleanup(ctx); err != nil {
			log.Warn("cleanup of expired sessions failed", "err", err)
		}
		if _, err := eng.Recover(ctx, time.Minute); err != nil {
			log.Warn("recovery of pending postings failed", "err", err)
		}
		if _, err := eng.PurgeKeys(ctx); err != nil {
			log.Warn("purge of expired idempotency keys failed", "err", err)
		}
	})

	// Template versions published, rolled back, installed or uninstalled by
	// another process over the same store are served within a second.
	go every(ctx, time.Second, func() {
		if changed, err := svc.Refresh(ctx); err != nil {
			log.Warn("refresh of the active templates failed", "err", err)
		} else if changed {
			log.Info("templates changed by another process", "packages", len(svc.Model().Packages))
		}
	})

	// Scheduled backups: one every --backup-every, the newest --backup-keep
	// kept. A MongoDB store is copied behind the backup fence
	// (backup_mongo.go).
	if *backupDir != "" {
		var b backuper = fencedBackuper{st}
		if own, ok := st.(backuper); ok {
			b = own
		}
		go every(ctx, *backupEvery, func() {
			file, err := scheduledBackup(ctx, b, *backupDir, *backupKeep, time.Now())
			if err != nil {
				log.Error("scheduled backup failed", "err", err)
				return
			}
			log.Info("scheduled backup written", "file", file)
		})
	}

	// Webhooks queued by transitions are delivered every ten seconds, with retries.
	client := &http.Client{Timeout: 15 * time.Second}
	go every(ctx, 10*time.Second, func() {
		if _, err := eng.DeliverWebhooks(ctx, client); err != nil {
			log.Warn("webhook delivery failed", "err", err)
		}
	})

	done := make(chan error, 1)
	go func() {
		done <- app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})
	}()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(stderr, "yerp serve: %v\n", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(shutdown); err != nil {
		fmt.Fprintf(stderr, "yerp serve: shutdown: %v\n", err)
		return 1
	}
	log.Info("yerp stopped")
	return 0
}

// every calls fn every d until ctx ends; a call that takes longer than d
// delays the next one.
func every(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// storeFlags adds the flags that choose the store: --data and --store.
func storeFlags(fs *flag.FlagSet) (data, storeURI *string) {
	data = fs.String("data", "data", "data directory of the embedded SQLite store")
	storeURI = fs.String("store", "", "MongoDB connection string (mongodb://host:27017/yerp); empty: embedded SQLite in --data")
	return data, storeURI
}

// openStore opens MongoDB when uri is set, otherwise SQLite under dataDir.
func openStore(ctx context.Context, uri, dataDir string) (interface {
	store.Store
	server.Pinger
}, string, error) {
	if uri == "" {
		s, err := sqlite.Open(filepath.Join(dataDir, "yerp.db"))
		return s, "sqlite", err
	}
	if !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://") {
		return nil, "", errors.New("--store must be a mongodb:// or mongodb+srv:// connection string")
	}
	db := "yerp"
	if rest := uri[strings.Index(uri, "//")+2:]; strings.Contains(rest, "/") {
		if name := strings.SplitN(strings.SplitN(rest, "/", 2)[1], "?", 2)[0]; name != "" {
			db = name
		}
	}
	s, err := mongo.Open(ctx, uri, db)
	return s, "mongodb", err
}
