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
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
	"github.com/yerp/yerp/templates"
)

// benchCmd runs "yerp bench": load scenarios against a yerp server on
// loopback over a fresh SQLite store with the catalog's sales package, each
// next to the floor of the raw store operations it needs. It prints
// throughput and latency percentiles per scenario (and, with --json, one JSON
// object), so docs/performance.md can be reproduced with one command.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenario", "create,list,ship,import", "scenarios to run, comma-separated: create, list, ship, import")
	clients := fs.Int("clients", 16, "concurrent clients of the create scenario (list runs one at a time, as a person browses)")
	duration := fs.Duration("duration", 10*time.Second, "how long each scenario runs")
	lines := fs.Int("lines", 10, "lines of each order the create scenario posts")
	orders := fs.Int("orders", 100000, "orders in the list scenario's data set")
	shipClients := fs.Int("ship-clients", 32, "concurrent clients of the ship scenario")
	importRows := fs.Int("import-rows", 20000, "customers in the import scenario's CSV file")
	dir := fs.String("data", "", "folder of the benchmark's SQLite store (default: a temporary folder, removed afterwards)")
	asJSON := fs.Bool("json", false, "print the results as one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *clients < 1 || *shipClients < 1 || *lines < 1 || *orders < 1000 || *importRows < 1 || *duration <= 0 {
		fmt.Fprintln(stderr, "usage: yerp bench [--scenario create,list,ship,import] [--clients N] [--ship-clients N] [--duration D] [--lines N] [--orders N] [--import-rows N] [--data DIR] [--json] [--cpuprofile FILE]")
		return 2
	}
	want := strings.Split(*scenarios, ",")
	for _, s := range want {
		if !slices.Contains([]string{"create", "list", "ship", "import"}, s) {
			fmt.Fprintf(stderr, "yerp bench: unknown scenario %q (create, list, ship, import)\n", s)
			return 2
		}
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "yerp-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "yerp bench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	server.TuneGC() // as yerp serve runs
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
	var results []benchResult
	for _, s := range want {
		b, err := newBenchSite(ctx, *dir+"/"+s+".db", *lines)
		if err != nil {
			fmt.Fprintf(stderr, "yerp bench: %s: %v\n", s, err)
			return 1
		}
		var rs []benchResult
		switch s {
		case "create":
			rs, err = b.create(ctx, *clients, *duration)
		case "list":
			rs, err = b.list(ctx, *orders, *duration)
		case "ship":
			rs, err = b.ship(ctx, *shipClients, *duration)
		case "import":
			rs, err = b.importCustomers(ctx, *importRows)
		}
		b.close()
		if err != nil {
			fmt.Fprintf(stderr, "yerp bench: %s: %v\n", s, err)
			return 1
		}
		results = append(results, rs...)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"results": results})
		return 0
	}
	fmt.Fprintf(stdout, "%-30s %9s %7s %11s %9s %9s %9s %9s\n", "scenario", "requests", "errors", "per second", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, r := range results {
		if r.Max == 0 { // one operation over all rows (import): no latencies
			fmt.Fprintf(stdout, "%-30s %9d %7d %11.0f %9s %9s %9s %9s\n", r.Name, r.Requests, r.Errors, r.PerSecond, "-", "-", "-", "-")
			continue
		}
		fmt.Fprintf(stdout, "%-30s %9d %7d %11.0f %9.2f %9.2f %9.2f %9.2f\n", r.Name, r.Requests, r.Errors, r.PerSecond, r.P50, r.P95, r.P99, r.Max)
	}
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(stdout, "%s: %s\n", r.Name, r.Note)
		}
	}
	for _, r := range results {
		if r.Floor != "" {
			fmt.Fprintf(stdout, "%s ÷ %s (time per operation): %.2f×\n", r.Name, r.Floor, r.Ratio)
		}
	}
	return 0
}

// benchResult is one scenario's measurement.
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
}

// benchSite is a store with the sales package installed, a customer, items,
// and a yerp server on loopback.
type benchSite struct {
	st       *sqlite.Store
	users    *auth.Service
	eng      *records.Engine
	app      *fiber.App
	base     string
	http     *http.Client
	customer string
	items    []string
}

func newBenchSite(ctx context.Context, path string, lines int) (*benchSite, error) {
	os.Remove(path)
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	b := &benchSite{st: st}
	fail := func(err error) (*benchSite, error) { st.Close(); return nil, err }
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		return fail(err)
	}
	if _, err := svc.Install(ctx, "sales", packages.Options{By: "bench"}); err != nil {
		return fail(err)
	}
	if b.users, err = auth.New(st, auth.Options{}); err != nil {
		return fail(err)
	}
	b.eng = records.New(st, svc.Model, records.Options{Users: b.users, ModelAt: svc.ModelAt})
	admin := records.User{ID: "bench", Name: "bench", Roles: []string{records.AdminRole}}
	wh, err := b.eng.Create(ctx, admin, "warehouse", map[string]any{"code": "WH1", "name": "杭州主仓"})
	if err != nil {
		return fail(err)
	}
	c, err := b.eng.Create(ctx, admin, "customer", map[string]any{"code": "C1", "name": "华东百货", "credit_limit": "100000000", "default_warehouse": wh.ID(), "address": "杭州市解放路 1 号"})
	if err != nil {
		return fail(err)
	}
	b.customer = c.ID()
	for i := range lines {
		it, err := b.eng.Create(ctx, admin, "item", map[string]any{"code": fmt.Sprintf("A%03d", 100+i), "name": fmt.Sprintf("商品 %d", i), "unit": "pcs",
			"price": decimal.FromScaled(int64(1250+25*i), 2).String(), "cost": decimal.FromScaled(int64(810+20*i), 2).String()})
		if err != nil {
			return fail(err)
		}
		b.items = append(b.items, it.ID())
	}
	b.app = server.New(server.Deps{Store: st, Auth: b.users, Records: b.eng, Packages: svc, Info: server.Info{Version: "bench", Store: "sqlite"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go func() { _ = b.app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	b.base = "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	b.http = &http.Client{Transport: tr, Timeout: time.Minute}
	return b, nil
}

func (b *benchSite) close() {
	_ = b.app.Shutdown()
	b.http.CloseIdleConnections()
	b.st.Close()
}

// seller creates a salesperson and returns it with an API token.
func (b *benchSite) seller(ctx context.Context, name string) (records.User, string, error) {
	u, err := b.users.CreateUser(ctx, auth.NewUser{Username: name, Roles: []string{"sales"}, Password: "bench-password-" + uuid.NewString()})
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
	lat, errs, took, ferr := runLoad(ctx, clients, d, func(int64) error {
		return b.request("POST", endpoint, token, body, http.StatusCreated, nil)
	})
	if errs > 0 {
		return nil, fmt.Errorf("%d creates failed, the first: %w", errs, ferr)
	}
	viaHTTP := summarize("create (HTTP)", clients, lat, errs, took)

	tmpl, err := b.st.Get(ctx, "sales_order", fmt.Sprint(first["id"]))
	if err != nil {
		return nil, err
	}
	lat, errs, took, ferr = runLoad(ctx, clients, d, func(i int64) error {
		doc := maps.Clone(tmpl)
		doc[store.IDField] = uuid.NewString()
		doc["number"] = fmt.Sprintf("RAW-%09d", i)
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
	return []benchResult{viaHTTP, raw}, nil
}

// list builds n orders of 200 salespeople (copies of one order the engine
// created, one in five a draft, a minute apart) and has one salesperson ask
// for the first page of their drafts in the list's order (newest order date
// first), one request at a time, as a person browses; the floor is the
// store's Find of the same page with the same filter.
func (b *benchSite) list(ctx context.Context, n int, d time.Duration) ([]benchResult, error) {
	const owners = 200
	type seller struct {
		u     records.User
		token string
	}
	var sellers []seller
	for i := range owners {
		u, tok, err := b.seller(ctx, fmt.Sprintf("sales%03d", i))
		if err != nil {
			return nil, err
		}
		sellers = append(sellers, seller{u, tok})
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
	who := sellers[7]
	endpoint := b.base + "/api/v1/records/sales_order?limit=50&sort=-order_date&filter=" + url.QueryEscape("state == 'draft'")
	var page struct {
		Records []map[string]any `json:"records"`
	}
	if err := b.request("GET", endpoint, who.token, nil, http.StatusOK, &page); err != nil {
		return nil, err
	}
	drafts := 0 // of seller 7, as built above
	for i := 7; i < n; i += owners {
		if (i/owners)%5 == 0 {
			drafts++
		}
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

// ship has clients each take an order of 5 lines over 20 items through
// confirm and allocate (a posting reserving stock), scan and pack its
// shipping notice, and ship it (a posting taking the stock out and moving
// the order): 32 clients contend for the same 20 bins. Each step is timed as
// one request; afterwards the books must agree with the ledgers (Verify).
func (b *benchSite) ship(ctx context.Context, clients int, d time.Duration) ([]benchResult, error) {
	admin := records.User{ID: "bench", Name: "bench", Roles: []string{records.AdminRole}}
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
	var steps atomic.Int64
	lat, errs, took, ferr := runLoad(ctx, clients, d, func(n int64) error {
		lines := make([]any, 5)
		for i := range lines {
			lines[i] = map[string]any{"item": items[(int(n)*7+i*3)%len(items)], "qty": "1"}
		}
		order := map[string]any{"customer": b.customer, "warehouse": wh.ID(), "lines": lines}
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
	r.Note = fmt.Sprintf("%d orders shipped; %.0f transitions/s (confirm, allocate, pack, ship); verify: %d differences", len(lat), float64(steps.Load())/took.Seconds(), len(ms))
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
// given) and checks the status; out, if given, receives the JSON body.
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
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: status %d, want %d: %.300s", method, target, resp.StatusCode, want, msg)
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
func (b *benchSite) importCustomers(ctx context.Context, n int) ([]benchResult, error) {
	var csv strings.Builder
	csv.WriteString("code,name,customer_group,contact_person,phone,address,credit_limit,payment_terms\n")
	for i := range n {
		fmt.Fprintf(&csv, "B-%07d,压测客户 %d 商贸有限公司,wholesale,王经理,1380000%04d,杭州市解放路 %d 号,50000,net_30\n", i, i, i%10000, 1+i%400)
	}
	admin := records.User{ID: "bench", Name: "bench", Roles: []string{records.AdminRole}}
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
	page, err := b.st.Find(ctx, "customer", store.Query{Filter: store.Eq("code", "B-0000000"), Limit: 1})
	if err != nil || len(page.Docs) != 1 {
		return nil, fmt.Errorf("the first imported customer: %v", err)
	}
	tmpl := page.Docs[0]
	docs := make([]store.Doc, 0, n)
	for i := range n {
		doc := maps.Clone(tmpl)
		doc[store.IDField], doc["code"] = uuid.NewString(), fmt.Sprintf("F-%07d", i)
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
