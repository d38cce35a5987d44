package server

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/engine/template"
)

// The benchmarks measure the REST API end to end on the SQLite store: a real
// HTTP client on loopback, bearer-token authentication, the records engine
// and the store. Figures and the command that produced them are in
// docs/performance.md ("REST API").
//
// The list data sets are built once and kept in the temporary directory
// (yerp-bench/http-orders-N.db, with a .done marker), so repeated runs
// (-count) measure, not load.

const (
	benchClients    = 16  // concurrent HTTP clients of the create benchmarks
	benchOwners     = 200 // salespeople owning the orders of the list data sets
	benchBatch      = 5000
	benchPassword   = "bench-password-1"
	benchOrderLines = 10 // lines of an order created by the create benchmarks
)

var benchAdmin = records.User{ID: "bench-admin", Name: "Bench", Roles: []string{records.AdminRole}}

// benchCatalog is the test catalog with an index for the list page: a
// salesperson's orders in one state, newest first.
func benchCatalog(b *testing.B) fs.FS {
	cat := maps.Clone(catalog(b).(fstest.MapFS))
	text := string(cat["sales/sales_order.yaml"].Data)
	if strings.Contains(text, "\nindexes:") {
		b.Fatal("the test package declares indexes now: merge the benchmark's index into them")
	}
	text = strings.TrimRight(text, "\n") + "\nindexes: [[owner, state, -created_at]]\n"
	cat["sales/sales_order.yaml"] = &fstest.MapFile{Data: []byte(text)}
	return cat
}

// benchEnv is an installed store with the master data orders link to.
type benchEnv struct {
	st       *sqlite.Store
	svc      *packages.Service
	users    *auth.Service
	eng      *records.Engine
	customer string
	items    []string
}

// benchInstall installs the sales package into st and creates one customer and
// nItems items.
func benchInstall(b *testing.B, st *sqlite.Store, nItems int) *benchEnv {
	b.Helper()
	svc, err := packages.New(ctx, st, benchCatalog(b))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sales", packages.Options{}); err != nil {
		b.Fatal(err)
	}
	env := benchServices(b, st, svc)
	c, err := env.eng.Create(ctx, benchAdmin, "customer", map[string]any{"code": "C1", "name": "华东贸易", "credit_limit": "100000"})
	if err != nil {
		b.Fatal(err)
	}
	env.customer = c.ID()
	for i := range nItems {
		it, err := env.eng.Create(ctx, benchAdmin, "item", map[string]any{
			"code": fmt.Sprintf("A%03d", 100+i), "name": fmt.Sprintf("Widget %d", i), "unit": "pcs",
			"price": decimal.FromScaled(int64(1250+25*i), 2).String(), "cost": decimal.FromScaled(int64(810+20*i), 2).String(),
		})
		if err != nil {
			b.Fatal(err)
		}
		env.items = append(env.items, it.ID())
	}
	return env
}

// benchServices returns the services over an installed store.
func benchServices(b *testing.B, st *sqlite.Store, svc *packages.Service) *benchEnv {
	b.Helper()
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{st: st, svc: svc, users: users, eng: records.New(st, svc.Model, records.Options{})}
}

// salesUser creates a salesperson.
func (env *benchEnv) salesUser(b *testing.B, username string) records.User {
	b.Helper()
	u, err := env.users.CreateUser(ctx, auth.NewUser{Username: username, Roles: []string{"sales"}, Password: benchPassword})
	if err != nil {
		b.Fatal(err)
	}
	return records.User{ID: u.ID, Name: u.Name, Roles: u.Roles, Lang: u.Language}
}

// token returns an API token of the user.
func (env *benchEnv) token(b *testing.B, userID string) string {
	b.Helper()
	tok, err := env.users.CreateToken(ctx, userID, "bench", 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// serve starts the HTTP server over env.
func (env *benchEnv) serve(b *testing.B) string {
	return serve(b, New(Deps{Store: env.st, Auth: env.users, Records: env.eng, Packages: env.svc, Info: Info{Version: "bench", Store: "sqlite"}}))
}

// orderInput is the body of a new order with one line per item.
func (env *benchEnv) orderInput() map[string]any {
	lines := make([]any, len(env.items))
	for i, it := range env.items {
		lines[i] = map[string]any{"item": it, "qty": strconv.Itoa(1 + i%9)}
	}
	return map[string]any{"customer": env.customer, "lines": lines, "note": "bench"}
}

// engineOrder creates an order through the engine as u and returns it as
// stored: the shape every raw document of the benchmarks copies.
func (env *benchEnv) engineOrder(b *testing.B, u records.User) store.Doc {
	b.Helper()
	rec, err := env.eng.Create(ctx, u, "sales_order", env.orderInput())
	if err != nil {
		b.Fatal(err)
	}
	d, err := env.st.Get(ctx, "sales_order", rec.ID())
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func benchStore(b *testing.B, path string) *sqlite.Store {
	b.Helper()
	st, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchHTTP is one keep-alive client for all goroutines of a benchmark.
func benchHTTP(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConns: 4 * benchClients, MaxIdleConnsPerHost: 4 * benchClients, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// benchRequest sends one request and checks the status; out, if given, receives
// the JSON body, which is otherwise read and dropped.
func benchRequest(hc *http.Client, method, url, token string, body []byte, want int, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		data, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: status %d, want %d: %.300s", method, url, resp.StatusCode, want, data)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// benchParallel makes RunParallel use benchClients goroutines.
func benchParallel(b *testing.B) {
	b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
}

// BenchmarkCreateOrderHTTP: POST one order with 10 lines, 16 clients at once.
func BenchmarkCreateOrderHTTP(b *testing.B) {
	TuneGC() // as yerp serve runs
	env := benchInstall(b, benchStore(b, filepath.Join(b.TempDir(), "yerp.db")), benchOrderLines)
	u := env.salesUser(b, "sales000")
	token := env.token(b, u.ID)
	url := env.serve(b) + "/api/v1/records/sales_order"
	hc := benchHTTP(b)
	body, err := json.Marshal(env.orderInput())
	if err != nil {
		b.Fatal(err)
	}
	var first map[string]any
	if err := benchRequest(hc, "POST", url, token, body, http.StatusCreated, &first); err != nil {
		b.Fatal(err)
	}
	if lines, _ := first["lines"].([]any); len(lines) != benchOrderLines || first["total"] == nil || first["owner"] != u.ID {
		b.Fatalf("created order: %v", first)
	}
	benchParallel(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := benchRequest(hc, "POST", url, token, body, http.StatusCreated, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCreateOrderRawInsert writes the document the engine stores for the
// order of BenchmarkCreateOrderHTTP (computed amounts and total, number, state,
// owner, stamps, row keys) with store.Insert, 16 goroutines at once: the floor
// under the engine and HTTP.
func BenchmarkCreateOrderRawInsert(b *testing.B) {
	TuneGC() // as yerp serve runs
	env := benchInstall(b, benchStore(b, filepath.Join(b.TempDir(), "yerp.db")), benchOrderLines)
	tmpl := env.engineOrder(b, env.salesUser(b, "sales000"))
	var seq atomic.Int64
	seq.Store(1) // the engine took number 1
	benchParallel(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now().UTC().Format(template.DateTimeLayout)
			d := rawOrder(tmpl, fmt.Sprintf("SO-%05d", seq.Add(1)), now)
			if _, err := env.st.Insert(ctx, "sales_order", d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// rawOrder copies an order as stored for a new insert: no id or version, a
// new number, new row keys and stamps.
func rawOrder(tmpl store.Doc, number, stamp string) store.Doc {
	d := store.Doc(benchClone(map[string]any(tmpl)).(map[string]any))
	delete(d, store.IDField)
	delete(d, store.VersionField)
	d["number"] = number
	d["created_at"], d["updated_at"] = stamp, stamp
	for _, r := range d["lines"].([]any) {
		r.(map[string]any)["_row"] = benchRowID()
	}
	return d
}

func benchClone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = benchClone(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = benchClone(e)
		}
		return s
	}
	return v
}

// benchRowID is a row key like the engine's: 9 random bytes, base64url.
func benchRowID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// BenchmarkListPageHTTP: one salesperson (read rule owner == user.id) lists
// their drafts, newest first, 50 per page, over 100,000 and 1,000,000 orders
// of 200 salespeople. One client, one request at a time: the latencies are
// those of an unloaded server.
func BenchmarkListPageHTTP(b *testing.B) {
	TuneGC() // as yerp serve runs
	for _, n := range []int{100000, 1000000} {
		b.Run(fmt.Sprintf("orders=%d", n), func(b *testing.B) { benchList(b, n) })
	}
}

const listQuery = "/api/v1/records/sales_order?filter=state%20%3D%3D%20%27draft%27&sort=-created_at&limit=50"

func benchList(b *testing.B, n int) {
	st := benchStore(b, listStore(b, n))
	svc, err := packages.New(ctx, st, benchCatalog(b))
	if err != nil {
		b.Fatal(err)
	}
	env := benchServices(b, st, svc)
	u, err := env.users.UserByName(ctx, "sales000")
	if err != nil {
		b.Fatal(err)
	}
	token := env.token(b, u.ID)
	url := env.serve(b) + listQuery
	hc := benchHTTP(b)

	// The page is right, and the store serves it from the index.
	var page struct {
		Records []map[string]any
		Next    string
	}
	if err := benchRequest(hc, "GET", url, token, nil, http.StatusOK, &page); err != nil {
		b.Fatal(err)
	}
	if len(page.Records) != 50 || page.Next == "" {
		b.Fatalf("page: %d records, next %q", len(page.Records), page.Next)
	}
	for i, r := range page.Records {
		if r["owner"] != u.ID || r["state"] != "draft" || (i > 0 && r["created_at"].(string) > page.Records[i-1]["created_at"].(string)) {
			b.Fatalf("record %d of the page: %v", i, r)
		}
	}
	plan, err := st.Explain(ctx, "sales_order", store.Query{
		Filter: store.And(store.Eq("owner", u.ID), store.Eq("state", "draft")),
		Sort:   []store.SortKey{store.Desc("created_at")}, Limit: 50,
	})
	if err != nil || !strings.Contains(plan, "t_0") || strings.Contains(plan, "TEMP B-TREE") {
		b.Fatalf("plan of the list page (%v):\n%s", err, plan)
	}
	for range 20 {
		if err := benchRequest(hc, "GET", url, token, nil, http.StatusOK, nil); err != nil {
			b.Fatal(err)
		}
	}

	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := benchRequest(hc, "GET", url, token, nil, http.StatusOK, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	for _, p := range []float64{50, 95, 99} {
		i := max(0, int(math.Ceil(p/100*float64(len(lat))))-1)
		b.ReportMetric(float64(lat[i])/float64(time.Millisecond), fmt.Sprintf("p%.0f-ms", p))
	}
}

var listMu sync.Mutex

// listStore returns the database file holding n orders of benchOwners
// salespeople (sales000 ...), building it on first use.
func listStore(b *testing.B, n int) string {
	b.Helper()
	listMu.Lock()
	defer listMu.Unlock()
	path := filepath.Join(os.TempDir(), "yerp-bench", "http-orders-"+strconv.Itoa(n)+".db")
	done := path + ".done"
	if _, err := os.Stat(done); err == nil {
		return path
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	st, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	env := benchInstall(b, st, 3)
	owners := make([]records.User, benchOwners)
	for i := range owners {
		owners[i] = env.salesUser(b, fmt.Sprintf("sales%03d", i))
	}
	// One order through the engine (it also declares the indexes); the rest
	// are copies of it written in batches.
	tmpl := env.engineOrder(b, owners[0])
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	docs := make([]store.Doc, 0, benchBatch)
	for i := 1; i < n; i++ {
		docs = append(docs, listOrder(tmpl, i, owners[i%benchOwners].ID, base.Add(time.Duration(i)*20*time.Second)))
		if len(docs) == benchBatch || i == n-1 {
			if _, err := st.InsertMany(ctx, "sales_order", docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	if got, err := st.Count(ctx, "sales_order", nil); err != nil || got != int64(n) {
		b.Fatalf("%d orders stored, want %d (%v)", got, n, err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.Exec("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)")
	db.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// listOrder is order i of a list data set: a copy of the engine's order with
// its own owner, number, state, stamps, quantities, amounts and total. One
// order in five of each owner is a draft.
func listOrder(tmpl store.Doc, i int, owner string, at time.Time) store.Doc {
	stamp := at.Format(template.DateTimeLayout)
	d := rawOrder(tmpl, fmt.Sprintf("SO-%07d", i+1), stamp)
	d["owner"], d["created_by"], d["updated_by"] = owner, owner, owner
	d["state"] = "done"
	if (i/benchOwners)%5 == 0 {
		d["state"] = "draft"
	}
	total := decimal.FromInt(0)
	for j, r := range d["lines"].([]any) {
		row := r.(map[string]any)
		qty := decimal.FromInt(int64(1 + (i+j)%9))
		amount := qty.Mul(row["price"].(decimal.Decimal))
		row["qty"], row["amount"] = qty, amount
		total = total.Add(amount)
	}
	d["total"] = total
	return d
}
