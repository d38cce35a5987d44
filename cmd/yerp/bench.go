package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/google/uuid"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/dataio"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/templates"
)

// benchCmd runs "yerp bench": load scenarios against a yerp server on
// loopback over a SQLite store with the catalog's packages, each next to the
// floor of the raw store operations it needs. Every scenario runs --runs
// times on data sets built once; it prints the median of each figure with
// the runs' figures, each target and whether it was met (and, with --json or
// --markdown, the same as JSON or as tables for docs/performance.md), so
// docs/performance.md can be reproduced with one command.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenario", "create,list,ship,inbox,report,stocktake,import,pocketbase", "scenarios to run, comma-separated: create, list, ship, inbox, report, stocktake, import, pocketbase (PocketBase's create and list, built from bench/pocketbase: needs the Go toolchain and the repository checkout)")
	clients := fs.Int("clients", 16, "concurrent clients of the create scenario (list, inbox and report run one at a time, as a person browses)")
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario runs")
	lines := fs.Int("lines", 10, "lines of each order the create scenario posts")
	orders := fs.Int("orders", 1000000, "orders in the list scenario's data set")
	shipClients := fs.Int("ship-clients", 32, "concurrent clients of the ship scenario")
	importRows := fs.Int("import-rows", 100000, "customers in the import scenario's CSV file")
	approvals := fs.Int("approvals", 10000, "pending approvals in the manager's inbox (inbox scenario)")
	reportLines := fs.Int("report-lines", 1000000, "order lines in the report scenario's data set (orders of 10 lines)")
	countLines := fs.Int("stocktake-lines", 5000, "lines of the stocktake scenario's count sheet")
	stocktakeEntry := fs.Bool("stocktake-entry", false, "enter the first count sheet through the API with all its lines, timed (minutes at 5,000 lines); by default its first 20 lines, and the sheets posted are copies of it with a line per item")
	runs := fs.Int("runs", 5, "runs of every scenario; the figures printed are the medians")
	dir := fs.String("data", "", "folder of the benchmark's stores and cached data sets (default: a temporary folder, removed afterwards, and the data sets cached in yerp-bench-cache under the temporary directory)")
	asJSON := fs.Bool("json", false, "print the results as one JSON object")
	asMarkdown := fs.Bool("markdown", false, "print the results as Markdown tables (for docs/performance.md)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	self, _ := os.Executable()
	serveBin := fs.String("serve-bin", self, "the yerp binary whose \"yerp serve\" the create scenario also loads in a process of its own, to measure the server's memory alone (\"\": not measured)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *clients < 1 || *shipClients < 1 || *lines < 1 || *orders < 1000 || *importRows < 1 || *approvals < 1 ||
		*reportLines < 10 || *countLines < 1 || *runs < 1 || *duration <= 0 || *asJSON && *asMarkdown {
		fmt.Fprintln(stderr, "usage: yerp bench [--scenario create,list,ship,inbox,report,stocktake,import,pocketbase] [--runs N] [--clients N] [--ship-clients N] [--duration D] [--lines N] [--orders N] [--approvals N] [--report-lines N] [--stocktake-lines N] [--stocktake-entry] [--import-rows N] [--data DIR] [--json | --markdown] [--cpuprofile FILE]")
		return 2
	}
	known := []string{"create", "list", "ship", "inbox", "report", "stocktake", "import", "pocketbase"}
	want := strings.Split(*scenarios, ",")
	for _, s := range want {
		if !slices.Contains(known, s) {
			fmt.Fprintf(stderr, "yerp bench: unknown scenario %q (%s)\n", s, strings.Join(known, ", "))
			return 2
		}
	}
	work, cache := *dir, *dir
	if work == "" {
		tmp, err := os.MkdirTemp("", "yerp-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "yerp bench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		work, cache = tmp, filepath.Join(os.TempDir(), "yerp-bench-cache")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		fmt.Fprintf(stderr, "yerp bench: %v\n", err)
		return 1
	}
	server.TuneGC() // as yerp serve runs
	benchLogTo = stderr
	defer func() { benchLogTo = io.Discard }()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "yerp bench: %v\n", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// The stores of the scenarios with large data sets are cached (keyed by
	// their size) and reused by later commands; the others start fresh.
	sites := map[string]siteOptions{
		"create":    {Path: filepath.Join(work, "create.db"), Lines: *lines, ServeBin: *serveBin},
		"list":      {Path: filepath.Join(cache, fmt.Sprintf("list-%d-orders-%d-lines-v%d.db", *orders, *lines, benchDataVersion)), Lines: *lines, Cached: true},
		"ship":      {Path: filepath.Join(work, "ship.db"), Lines: *lines},
		"inbox":     {Path: filepath.Join(work, "inbox.db"), Lines: *lines},
		"report":    {Path: filepath.Join(cache, fmt.Sprintf("report-%d-lines-v%d.db", *reportLines, benchDataVersion)), Lines: 10, Cached: true},
		"stocktake": {Path: filepath.Join(work, "stocktake.db"), Lines: 1, Packages: []string{"inventory"}},
		"import":    {Path: filepath.Join(work, "import.db"), Lines: *lines},
	}
	var all [][]benchResult // per run, the results of every scenario
	for _, s := range want {
		var b *benchSite
		if opt, ok := sites[s]; ok {
			var err error
			if b, err = newBenchSite(ctx, opt); err != nil {
				fmt.Fprintf(stderr, "yerp bench: %s: %v\n", s, err)
				return 1
			}
		}
		for run := range *runs {
			var rs []benchResult
			var err error
			switch s {
			case "create":
				rs, err = b.create(ctx, *clients, *duration)
			case "list":
				rs, err = b.list(ctx, *orders, *duration)
			case "ship":
				rs, err = b.ship(ctx, *shipClients, *duration)
			case "inbox":
				rs, err = b.inbox(ctx, *approvals, *duration)
			case "report":
				rs, err = b.report(ctx, *reportLines, *duration)
			case "stocktake":
				rs, err = b.stocktake(ctx, *countLines, *stocktakeEntry)
			case "import":
				rs, err = b.importCustomers(ctx, *importRows, run)
			case "pocketbase":
				rs, err = pocketBaseScenarios(ctx, pbOptions{Dir: cache, Clients: *clients, Duration: *duration, Lines: *lines, Orders: *orders})
			}
			if err != nil {
				if b != nil {
					b.close()
				}
				fmt.Fprintf(stderr, "yerp bench: %s: %v\n", s, err)
				return 1
			}
			if run == len(all) {
				all = append(all, nil)
			}
			all[run] = append(all[run], rs...)
			fmt.Fprintf(stderr, "yerp bench: %s run %d of %d done\n", s, run+1, *runs)
		}
		if b != nil {
			b.close()
		}
	}
	results := medians(all)
	judge(results)
	switch {
	case *asJSON:
		printJSON(stdout, results, *runs)
	case *asMarkdown:
		printMarkdown(stdout, results, *runs)
	default:
		printTable(stdout, results, *runs)
	}
	return 0
}

// benchDataVersion is part of a cached data set's file name: raise it when
// the data sets change shape, so that older caches are not reused.
const benchDataVersion = 1

// benchResult is one scenario's measurement (of one run, or the medians of
// several).
type benchResult struct {
	Name      string  `json:"name"`
	Clients   int     `json:"clients"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	// Floor names the raw store scenario this one is compared with, and
	// Ratio is this one's time per operation ÷ the floor's.
	Floor string  `json:"floor,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
	// Note says what else was checked (the ship scenario's books).
	Note string `json:"note,omitempty"`
	// Steps is the rate of transitions with postings (ship scenario).
	Steps float64 `json:"transitions_per_second,omitempty"`
	// Differences is what Verify found after the scenario (ship, stocktake).
	Differences *int `json:"verify_differences,omitempty"`
	// PeakRSS is the process's peak resident memory during the load, MB.
	PeakRSS float64 `json:"peak_rss_mb,omitempty"`
	// Runs are the throughputs and RunsP95 the p95 of every run (medians
	// only).
	Runs    []float64 `json:"runs_per_second,omitempty"`
	RunsP95 []float64 `json:"runs_p95_ms,omitempty"`
	// Targets are issue #9's targets for this figure, judged on the medians.
	Targets []benchTarget `json:"targets,omitempty"`
}

// siteOptions say where a scenario's store is and what it holds.
type siteOptions struct {
	Path     string
	Lines    int      // items created for the orders' lines
	Packages []string // installed besides sales
	// Cached keeps the store at Path between commands: a store whose data set
	// a previous command completed is reused as it is.
	Cached bool
	// ServeBin is the yerp binary the create scenario starts "yerp serve"
	// from, to measure the server's memory alone; "": not measured.
	ServeBin string
}

// benchSite is a store with the sales package installed, a customer, items,
// and a yerp server on loopback.
type benchSite struct {
	st        *sqlite.Store
	users     *auth.Service
	eng       *records.Engine
	app       *fiber.App
	base      string
	http      *http.Client
	customer  string
	warehouse string
	items     []string
	// floorAgg is the last aggregation the report engine gave the store.
	floorAgg *recordingStore
	// state of the scenarios between runs (data sets built once)
	listSet  *listSet
	inboxSet *inboxSet
	rptSet   *reportSet
	stSet    *stocktakeSet
	shipSet  *shipSet
	// createRuns numbers the create scenario's runs (the floor's numbers).
	createRuns int
	serveBin   string // see siteOptions.ServeBin
}

// benchMeta is the collection holding what a cached store's fixtures are.
const benchMeta = "bench_meta"

func newBenchSite(ctx context.Context, opt siteOptions) (*benchSite, error) {
	reuse := false
	if opt.Cached {
		if st, err := sqlite.Open(opt.Path); err == nil {
			_, err := st.Get(ctx, benchMeta, "site")
			st.Close()
			reuse = err == nil
		}
	}
	if !reuse {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(opt.Path + suffix)
		}
	}
	st, err := sqlite.Open(opt.Path)
	if err != nil {
		return nil, err
	}
	b := &benchSite{st: st, serveBin: opt.ServeBin}
	fail := func(err error) (*benchSite, error) { st.Close(); return nil, err }
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		return fail(err)
	}
	pkgs := append([]string{"sales"}, opt.Packages...)
	if reuse {
		pkgs = append([]string{"core"}, pkgs...) // what sales requires, first
	}
	for _, p := range pkgs {
		if !reuse {
			_, err = svc.Install(ctx, p, packages.Options{By: "bench"})
		} else {
			// A cached data set runs the catalog's templates as they are now
			// (a new report, a changed rule); nothing is published when
			// they have not changed.
			_, err = svc.Upgrade(ctx, p, packages.Options{By: "bench"})
		}
		if err != nil {
			return fail(err)
		}
	}
	if b.users, err = auth.New(st, auth.Options{}); err != nil {
		return fail(err)
	}
	b.eng = records.New(st, svc.Model, records.Options{Users: b.users, ModelAt: svc.ModelAt})
	if reuse {
		meta, err := st.Get(ctx, benchMeta, "site")
		if err != nil {
			return fail(err)
		}
		b.customer, _ = meta["customer"].(string)
		b.warehouse, _ = meta["warehouse"].(string)
		for _, it := range meta["items"].([]any) {
			b.items = append(b.items, it.(string))
		}
	} else if err := b.fixtures(ctx, opt.Lines); err != nil {
		return fail(err)
	}
	b.floorAgg = &recordingStore{Store: st}
	rep := reports.New(b.floorAgg, b.eng, svc.Model, nil)
	b.app = server.New(server.Deps{Store: st, Auth: b.users, Records: b.eng, Packages: svc, Reports: rep, Info: server.Info{Version: "bench", Store: "sqlite"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go func() { _ = b.app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	b.base = "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	b.http = &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	return b, nil
}

// fixtures creates a warehouse, a customer and n items through the engine;
// a cached store's data set is reused only after the scenario marks it done
// (done), so the fixtures are written to the meta collection there.
func (b *benchSite) fixtures(ctx context.Context, n int) error {
	admin := benchAdmin
	wh, err := b.eng.Create(ctx, admin, "warehouse", map[string]any{"code": "WH1", "name": "杭州主仓"})
	if err != nil {
		return err
	}
	b.warehouse = wh.ID()
	c, err := b.eng.Create(ctx, admin, "customer", map[string]any{"code": "C1", "name": "华东百货", "credit_limit": "100000000", "default_warehouse": wh.ID(), "address": "杭州市解放路 1 号"})
	if err != nil {
		return err
	}
	b.customer = c.ID()
	for i := range n {
		it, err := b.eng.Create(ctx, admin, "item", map[string]any{"code": fmt.Sprintf("A%03d", 100+i), "name": fmt.Sprintf("商品 %d", i), "unit": "pcs",
			"price": decimal.FromScaled(int64(1250+25*i), 2).String(), "cost": decimal.FromScaled(int64(810+20*i), 2).String()})
		if err != nil {
			return err
		}
		b.items = append(b.items, it.ID())
	}
	return nil
}

// done marks a cached store's data set complete: the next command reuses it.
func (b *benchSite) done(ctx context.Context, extra store.Doc) error {
	doc := store.Doc{store.IDField: "site", "customer": b.customer, "warehouse": b.warehouse, "items": toAny(b.items)}
	maps.Copy(doc, extra)
	_, err := b.st.Insert(ctx, benchMeta, doc)
	return err
}

// meta returns what done recorded (nil when the data set is new).
func (b *benchSite) meta(ctx context.Context) store.Doc {
	doc, err := b.st.Get(ctx, benchMeta, "site")
	if err != nil {
		return nil
	}
	return doc
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// benchAdmin is the administrator the scenarios set up their data as.
var benchAdmin = records.User{ID: "bench", Name: "bench", Roles: []string{records.AdminRole}}

// recordingStore is the store as the report engine sees it: it keeps the
// last aggregation, which the report scenario then runs on the raw store.
type recordingStore struct {
	store.Store
	mu   sync.Mutex
	coll string
	agg  store.Aggregation
}

func (r *recordingStore) Aggregate(ctx context.Context, coll string, a store.Aggregation) ([]store.Doc, error) {
	r.mu.Lock()
	r.coll, r.agg = coll, a
	r.mu.Unlock()
	return r.Store.Aggregate(ctx, coll, a)
}

func (r *recordingStore) last() (string, store.Aggregation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.coll, r.agg
}

func (b *benchSite) close() {
	_ = b.app.Shutdown()
	b.http.CloseIdleConnections()
	b.st.Close()
}

// seller creates a salesperson and returns it with an API token; a
// salesperson a cached store holds already gets a new token.
func (b *benchSite) seller(ctx context.Context, name string) (records.User, string, error) {
	return b.userWith(ctx, name, []string{"sales"})
}

// userWith returns the user name with roles (created when missing) and a new
// API token of theirs.
func (b *benchSite) userWith(ctx context.Context, name string, roles []string) (records.User, string, error) {
	u, err := b.users.UserByName(ctx, name)
	if errors.Is(err, auth.ErrNotFound) {
		u, err = b.users.CreateUser(ctx, auth.NewUser{Username: name, Roles: roles, Password: "bench-password-" + uuid.NewString()})
	}
	if err != nil {
		return records.User{}, "", err
	}
	tok, err := b.users.CreateToken(ctx, u.ID, "bench", 0)
	if err != nil {
		return records.User{}, "", err
	}
	return records.User{ID: u.ID, Name: u.Name, Roles: u.Roles}, tok, nil
}

// order is the body of a new order with one line per item.
func (b *benchSite) order(note string) map[string]any {
	lines := make([]any, len(b.items))
	for i, it := range b.items {
		lines[i] = map[string]any{"item": it, "qty": fmt.Sprint(1 + i%9)}
	}
	return map[string]any{"customer": b.customer, "lines": lines, "note": note}
}

// runLoad calls op from clients goroutines for d and returns the latencies of
// the calls that succeeded and the number that failed (the first error too).
func runLoad(ctx context.Context, clients int, d time.Duration, op func(i int64) error) ([]time.Duration, int, time.Duration, error) {
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    int
		first   error
		counter atomic.Int64
	)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(counter.Add(1))
				if err != nil {
					mu.Lock()
					errs++
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, errs, time.Since(start), first
}

// summarize turns latencies into a result: exact percentiles of every call.
func summarize(name string, clients int, lat []time.Duration, errs int, took time.Duration) benchResult {
	slices.Sort(lat)
	ms := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := min(len(lat)-1, int(q*float64(len(lat))))
		return float64(lat[i].Microseconds()) / 1000
	}
	r := benchResult{Name: name, Clients: clients, Requests: len(lat), Errors: errs, Seconds: took.Seconds(),
		P50: ms(0.50), P95: ms(0.95), P99: ms(0.99), Max: ms(1)}
	if took > 0 {
		r.PerSecond = float64(len(lat)) / took.Seconds()
	}
	return r
}

// create posts orders over HTTP from clients at once, then inserts the
// document the engine stored for such an order straight into the store
// (same clients, same time): the floor under the engine and HTTP.
func (b *benchSite) create(ctx context.Context, clients int, d time.Duration) ([]benchResult, error) {
	_, token, err := b.seller(ctx, "sales000")
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(b.order("bench"))
	if err != nil {
		return nil, err
	}
	endpoint := b.base + "/api/v1/records/sales_order"
	var first map[string]any
	if err := b.request("POST", endpoint, token, body, http.StatusCreated, &first); err != nil {
		return nil, err
	}
	if ls, _ := first["lines"].([]any); len(ls) != len(b.items) || first["total"] == nil {
		return nil, fmt.Errorf("the first order came back as %v", first)
	}
	rss := sampleRSS(100*time.Millisecond, "/proc/self/status")
	lat, errs, took, ferr := runLoad(ctx, clients, d, func(int64) error {
		return b.request("POST", endpoint, token, body, http.StatusCreated, nil)
	})
	peak := rss()
	if errs > 0 {
		return nil, fmt.Errorf("%d creates failed, the first: %w", errs, ferr)
	}
	viaHTTP := summarize("create (HTTP)", clients, lat, errs, took)
	viaHTTP.PeakRSS = peak

	b.createRuns++
	tmpl, err := b.st.Get(ctx, "sales_order", fmt.Sprint(first["id"]))
	if err != nil {
		return nil, err
	}
	lat, errs, took, ferr = runLoad(ctx, clients, d, func(i int64) error {
		doc := maps.Clone(tmpl)
		doc[store.IDField] = uuid.NewString()
		doc["number"] = fmt.Sprintf("RAW%d-%09d", b.createRuns, i)
		_, err := b.st.Insert(ctx, "sales_order", doc)
		return err
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d raw inserts failed, the first: %w", errs, ferr)
	}
	raw := summarize("create (raw insert)", clients, lat, errs, took)
	if raw.PerSecond > 0 && viaHTTP.PerSecond > 0 {
		viaHTTP.Floor, viaHTTP.Ratio = raw.Name, raw.PerSecond/viaHTTP.PerSecond
	}
	if b.serveBin == "" {
		return []benchResult{viaHTTP, raw}, nil
	}
	served, err := b.createOnServer(ctx, clients, d, token, body)
	if err != nil {
		return nil, err
	}
	return []benchResult{viaHTTP, raw, served}, nil
}

// list builds n orders of 200 salespeople (20 below 100,000 orders) (copies of one order the engine
// created, one in five a draft, a minute apart) and has one salesperson ask
// for the first page of their drafts in the list's order (newest order date
// first), one request at a time, as a person browses; the floor is the
// store's Find of the same page with the same filter.
func (b *benchSite) list(ctx context.Context, n int, d time.Duration) ([]benchResult, error) {
	if b.listSet == nil {
		set, err := b.buildList(ctx, n)
		if err != nil {
			return nil, err
		}
		b.listSet = set
	}
	who, drafts := b.listSet.who, b.listSet.drafts
	endpoint := b.base + "/api/v1/records/sales_order?limit=50&sort=-order_date&filter=" + url.QueryEscape("state == 'draft'")
	var page struct {
		Records []map[string]any `json:"records"`
	}
	if err := b.request("GET", endpoint, who.token, nil, http.StatusOK, &page); err != nil {
		return nil, err
	}
	if len(page.Records) != min(50, drafts) || slices.ContainsFunc(page.Records, func(r map[string]any) bool { return r["owner"] != who.u.ID || r["state"] != "draft" }) {
		return nil, fmt.Errorf("the list page is not %d of the seller's own drafts: %d records", min(50, drafts), len(page.Records))
	}
	lat, errs, took, ferr := runLoad(ctx, 1, d, func(int64) error {
		return b.request("GET", endpoint, who.token, nil, http.StatusOK, nil)
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d list requests failed, the first: %w", errs, ferr)
	}
	list := summarize(fmt.Sprintf("list (HTTP, %d)", n), 1, lat, errs, took)
	q := store.Query{Filter: store.And(store.Eq("owner", who.u.ID), store.Eq("state", "draft")),
		Sort: []store.SortKey{{Path: "order_date", Desc: true}}, Limit: 50}
	lat, errs, took, ferr = runLoad(ctx, 1, d, func(int64) error {
		p, err := b.st.Find(ctx, "sales_order", q)
		if err == nil && len(p.Docs) != min(50, drafts) {
			err = errors.New("the raw page is short")
		}
		return err
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d raw finds failed, the first: %w", errs, ferr)
	}
	raw := summarize(fmt.Sprintf("list (raw find, %d)", n), 1, lat, errs, took)
	if raw.PerSecond > 0 && list.PerSecond > 0 {
		list.Floor, list.Ratio = raw.Name, raw.PerSecond/list.PerSecond
	}
	return []benchResult{list, raw}, nil
}

// listSet is the list scenario's data set: the salesperson who browses and
// how many drafts they have.
type listSet struct {
	who    benchUser
	drafts int
}

// benchUser is a user with an API token.
type benchUser struct {
	u     records.User
	token string
}

// buildList writes the list scenario's n orders, unless the cached store
// holds them already.
func (b *benchSite) buildList(ctx context.Context, n int) (*listSet, error) {
	owners := 200
	if n < 100000 {
		owners = 20 // small data sets (tests): fewer logins to create
	}
	drafts := 0 // of seller 7, as built below
	for i := 7; i < n; i += owners {
		if (i/owners)%5 == 0 {
			drafts++
		}
	}
	if b.meta(ctx) != nil {
		u, tok, err := b.seller(ctx, "sales007")
		if err != nil {
			return nil, err
		}
		return &listSet{who: benchUser{u, tok}, drafts: drafts}, nil
	}
	start := time.Now()
	var sellers []benchUser
	for i := range owners {
		u, tok, err := b.seller(ctx, fmt.Sprintf("sales%03d", i))
		if err != nil {
			return nil, err
		}
		sellers = append(sellers, benchUser{u, tok})
	}
	rec, err := b.eng.Create(ctx, sellers[0].u, "sales_order", b.order("bench"))
	if err != nil {
		return nil, err
	}
	tmpl, err := b.st.Get(ctx, "sales_order", rec.ID())
	if err != nil {
		return nil, err
	}
	base := time.Now().Add(-time.Duration(n) * time.Minute) // a few orders a minute
	batch := make([]store.Doc, 0, 5000)
	for i := range n {
		doc := maps.Clone(tmpl)
		doc[store.IDField] = uuid.NewString()
		doc["number"] = fmt.Sprintf("L-%09d", i)
		doc["owner"] = sellers[i%owners].u.ID
		doc["state"] = "confirmed"
		if (i/owners)%5 == 0 { // one in five of each seller's orders
			doc["state"] = "draft"
		}
		at := base.Add(time.Duration(i) * time.Minute).UTC()
		doc["created_at"] = at.Format(template.DateTimeLayout)
		doc["order_date"] = at.Format(template.DateLayout)
		if batch = append(batch, doc); len(batch) == cap(batch) || i == n-1 {
			if _, err := b.st.InsertMany(ctx, "sales_order", batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	if err := b.st.Optimize(ctx); err != nil {
		return nil, err
	}
	if err := b.done(ctx, store.Doc{"orders": n}); err != nil {
		return nil, err
	}
	benchLog("list: %d orders built in %s", n, time.Since(start).Round(time.Second))
	return &listSet{who: sellers[7], drafts: drafts}, nil
}

// shipSet is the ship scenario's warehouse, its 20 items with their codes
// and the token of the salesperson who ships.
type shipSet struct {
	warehouse string
	items     []string
	codes     map[string]string
	token     string
}

// buildShip creates the ship scenario's warehouse and 20 items with ample
// stock, and the salesperson who ships.
func (b *benchSite) buildShip(ctx context.Context) (*shipSet, error) {
	admin := benchAdmin
	wh, err := b.eng.Create(ctx, admin, "warehouse", map[string]any{"code": "WH9", "name": "压测仓"})
	if err != nil {
		return nil, err
	}
	var items []string
	codes := map[string]string{}
	for i := range 20 {
		it, err := b.eng.Create(ctx, admin, "item", map[string]any{"code": fmt.Sprintf("S%03d", i), "name": fmt.Sprintf("发货商品 %d", i), "unit": "pcs", "price": "10.00", "cost": "6.00"})
		if err != nil {
			return nil, err
		}
		if err := b.eng.OpeningStock(ctx, admin, it.ID(), wh.ID(), decimal.FromInt(10_000_000)); err != nil {
			return nil, err
		}
		items = append(items, it.ID())
		codes[it.ID()] = fmt.Sprint(it["code"])
	}
	seller, token, err := b.seller(ctx, "shipper")
	if err != nil {
		return nil, err
	}
	// The seller allocates too: the warehouse role would do it; one token
	// keeps the scenario about the postings, not about logins.
	if err := b.users.SetRoles(ctx, seller.ID, []string{"sales", "sales_manager", "warehouse"}); err != nil {
		return nil, err
	}
	return &shipSet{warehouse: wh.ID(), items: items, codes: codes, token: token}, nil
}

// ship has clients each take an order of 5 lines over 20 items through
// confirm and allocate (a posting reserving stock), scan and pack its
// shipping notice, and ship it (a posting taking the stock out and moving
// the order): 32 clients contend for the same 20 bins. Each step is timed as
// one request; afterwards the books must agree with the ledgers (Verify).
func (b *benchSite) ship(ctx context.Context, clients int, d time.Duration) ([]benchResult, error) {
	if b.shipSet == nil {
		set, err := b.buildShip(ctx)
		if err != nil {
			return nil, err
		}
		b.shipSet = set
	}
	wh, items, codes, token := b.shipSet.warehouse, b.shipSet.items, b.shipSet.codes, b.shipSet.token
	var steps atomic.Int64
	lat, errs, took, ferr := runLoad(ctx, clients, d, func(n int64) error {
		lines := make([]any, 5)
		for i := range lines {
			lines[i] = map[string]any{"item": items[(int(n)*7+i*3)%len(items)], "qty": "1"}
		}
		order := map[string]any{"customer": b.customer, "warehouse": wh, "lines": lines}
		var rec map[string]any
		if err := b.call("POST", "/api/v1/records/sales_order", token, "", order, http.StatusCreated, &rec); err != nil {
			return err
		}
		id := fmt.Sprint(rec["id"])
		for _, t := range []string{"confirm", "allocate"} {
			var out struct{ Record map[string]any }
			if err := b.call("POST", "/api/v1/records/sales_order/"+id+"/transitions/"+t, token, fmt.Sprint(rec["version"]), map[string]any{}, http.StatusOK, &out); err != nil {
				return err
			}
			rec = out.Record
			steps.Add(1)
		}
		note := fmt.Sprint(rec["delivery_note"])
		var dn map[string]any
		if err := b.call("GET", "/api/v1/records/delivery_note/"+note, token, "", nil, http.StatusOK, &dn); err != nil {
			return err
		}
		rows, _ := dn["lines"].([]any)
		for _, r := range rows {
			row := r.(map[string]any)
			row["scanned"], row["packed_qty"] = codes[fmt.Sprint(row["item"])], row["qty"] // typed item code
		}
		if err := b.call("PATCH", "/api/v1/records/delivery_note/"+note, token, fmt.Sprint(dn["version"]), map[string]any{"lines": rows}, http.StatusOK, &dn); err != nil {
			return err
		}
		for _, t := range []struct {
			name  string
			input map[string]any
		}{{"pack", nil}, {"ship", map[string]any{"carrier": "顺丰速运", "tracking_no": fmt.Sprintf("SF%010d", n), "ship_date": time.Now().Format(template.DateLayout)}}} {
			var out struct{ Record map[string]any }
			if err := b.call("POST", "/api/v1/records/delivery_note/"+note+"/transitions/"+t.name, token, fmt.Sprint(dn["version"]), map[string]any{"input": t.input}, http.StatusOK, &out); err != nil {
				return err
			}
			dn = out.Record
			steps.Add(1)
		}
		return nil
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d orders failed, the first: %w", errs, ferr)
	}
	r := summarize("ship (HTTP, whole order)", clients, lat, errs, took)
	ms, err := b.eng.Verify(ctx)
	if err != nil {
		return nil, err
	}
	r.Steps = float64(steps.Load()) / took.Seconds()
	diffs := len(ms)
	r.Differences = &diffs
	r.Note = fmt.Sprintf("%d orders shipped; %.0f transitions/s (confirm, allocate, pack, ship); verify: %d differences", len(lat), r.Steps, len(ms))
	if len(ms) > 0 {
		return []benchResult{r}, fmt.Errorf("the books disagree after the ship scenario: %v", ms[0])
	}
	return []benchResult{r}, nil
}

// call sends body as JSON to path on the site; see send.
func (b *benchSite) call(method, path, token, version string, body any, want int, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return b.send(method, b.base+path, token, version, data, want, out)
}

// request sends a request without If-Match; see send.
func (b *benchSite) request(method, target, token string, body []byte, want int, out any) error {
	return b.send(method, target, token, "", body, want, out)
}

// send sends one request with a bearer token (and If-Match when version is
// given) and checks the status (want 0: any 2xx); out, if given, receives
// the JSON body.
func (b *benchSite) send(method, target, token, version string, body []byte, want int, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if version != "" {
		req.Header.Set("If-Match", `"`+version+`"`)
	}
	return doJSON(b.http, req, method+" "+target, want, out)
}

// doJSON sends req and checks the status (want 0: any 2xx); out, if given,
// receives the JSON body. what names the request in errors.
func doJSON(hc *http.Client, req *http.Request, what string, want int, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want && (want != 0 || resp.StatusCode >= 300) { // want 0: any success
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: status %d, want %d: %.300s", what, resp.StatusCode, want, msg)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// importCustomers imports a CSV file of n new customers through the import
// path users take (dataio: every row checked by the records engine, audit
// entries written), then inserts the same customer documents with the
// store's InsertMany: the floor under the import.
func (b *benchSite) importCustomers(ctx context.Context, n, run int) ([]benchResult, error) {
	var csv strings.Builder
	csv.WriteString("code,name,customer_group,contact_person,phone,address,credit_limit,payment_terms\n")
	for i := range n {
		fmt.Fprintf(&csv, "B%d-%07d,压测客户 %d 商贸有限公司,wholesale,王经理,1380000%04d,杭州市解放路 %d 号,50000,net_30\n", run, i, i, i%10000, 1+i%400)
	}
	admin := benchAdmin
	start := time.Now()
	res, err := dataio.Import(ctx, b.eng, admin, "customer", strings.NewReader(csv.String()), dataio.Options{Format: dataio.CSV, Lang: "en"})
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	if res.Created != n || res.Failed != 0 {
		return nil, fmt.Errorf("import: %d created, %d failed of %d, first error %+v", res.Created, res.Failed, n, res.Errors)
	}
	imp := benchResult{Name: fmt.Sprintf("import (%d customers)", n), Clients: 1, Requests: n, Seconds: took.Seconds(), PerSecond: float64(n) / took.Seconds()}

	// The floor: the stored customer documents, copied with new ids and
	// codes, written in batches as the import could at best.
	page, err := b.st.Find(ctx, "customer", store.Query{Filter: store.Eq("code", fmt.Sprintf("B%d-0000000", run)), Limit: 1})
	if err != nil || len(page.Docs) != 1 {
		return nil, fmt.Errorf("the first imported customer: %v", err)
	}
	tmpl := page.Docs[0]
	docs := make([]store.Doc, 0, n)
	for i := range n {
		doc := maps.Clone(tmpl)
		doc[store.IDField], doc["code"] = uuid.NewString(), fmt.Sprintf("F%d-%07d", run, i)
		docs = append(docs, doc)
	}
	start = time.Now()
	if _, err := b.st.InsertMany(ctx, "customer_floor", docs); err != nil {
		return nil, err
	}
	took = time.Since(start)
	floor := benchResult{Name: fmt.Sprintf("import floor (InsertMany, %d)", n), Clients: 1, Requests: n, Seconds: took.Seconds(), PerSecond: float64(n) / took.Seconds()}
	imp.Floor, imp.Ratio = floor.Name, floor.PerSecond/imp.PerSecond
	imp.Note = fmt.Sprintf("%.0f rows/s through the import path", imp.PerSecond)
	return []benchResult{imp, floor}, nil
}
