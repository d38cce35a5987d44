package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	mongooptions "go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/templates"
)

// The crash test installs the package in testdata/crash (goods receipts and
// deliveries whose transitions move stock) and kills "yerp serve" with SIGKILL
// while clients receive and ship over HTTP; after the last round the store
// must be consistent again.

// Collections of the stock ledger and the posting journal as the engine
// stores them (engine/records/ledger.go and posting.go): the test reads them
// to check every posting step by step.
const (
	binsCollection     = "sys_stock_bins"
	ledgerCollection   = "sys_stock_ledger"
	postingsCollection = "sys_postings"
	postingSteps       = "sys_posting_steps" // the steps, when not in the posting's own document
	postingPending     = "pending"
)

const (
	keeperName     = "keeper"
	keeperPassword = "crash-test keeper password"
	crashRounds    = 30 // per backend; the acceptance asks for at least 20
	crashWorkers   = 6  // concurrent HTTP clients per round: half receive, half ship
	crashItems     = 4
	openingStock   = 60 // per item
)

// crashFixture is the master data prepared before the server first starts.
type crashFixture struct {
	warehouse string
	items     []string
	keeper    string // the user id of the warehouse keeper
}

// crashCatalog is the built-in catalog plus the test package as "crash".
func crashCatalog(t *testing.T) fs.FS {
	t.Helper()
	cat := fstest.MapFS{}
	add := func(fsys fs.FS, prefix string) {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			cat[prefix+p] = &fstest.MapFile{Data: data}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(templates.FS, "")
	add(os.DirFS(filepath.Join("testdata", "crash")), "crash/")
	return cat
}

// storeArgs are the flags of a command that opens the store.
func storeArgs(uri, data string) []string {
	if uri != "" {
		return []string{"--store", uri}
	}
	return []string{"--data", data}
}

// withEngine opens the store the way the commands do, with the records engine
// over the catalog that holds the test package, and closes it after fn.
func withEngine(t *testing.T, uri, data string, fn func(st store.Store, svc *packages.Service, users *auth.Service, eng *records.Engine)) {
	t.Helper()
	ctx := context.Background()
	st, _, err := openStore(ctx, uri, data)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	}()
	svc, err := packages.New(ctx, st, crashCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn(st, svc, users, records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt}))
}

// prepareStore installs the test package (and core, which it requires), the
// warehouse keeper, a warehouse, items and their opening stock.
func prepareStore(t *testing.T, uri, data string) crashFixture {
	t.Helper()
	ctx := context.Background()
	var fx crashFixture
	withEngine(t, uri, data, func(_ store.Store, svc *packages.Service, users *auth.Service, eng *records.Engine) {
		if _, err := svc.Install(ctx, "crash", packages.Options{By: "crash test"}); err != nil {
			t.Fatalf("install the test package: %v", err)
		}
		u, err := users.CreateUser(ctx, auth.NewUser{Username: keeperName, Name: "吴仓管", Roles: []string{"warehouse"}, Password: keeperPassword})
		if err != nil {
			t.Fatal(err)
		}
		fx.keeper = u.ID
		admin := records.User{ID: "setup", Roles: []string{records.AdminRole}}
		wh, err := eng.Create(ctx, admin, "warehouse", map[string]any{"code": "WH1", "name": "杭州主仓"})
		if err != nil {
			t.Fatal(err)
		}
		fx.warehouse = wh.ID()
		for i := range crashItems {
			it, err := eng.Create(ctx, admin, "item", map[string]any{"code": fmt.Sprintf("IT-%d", i+1), "name": fmt.Sprintf("商品 %d", i+1), "unit": "box"})
			if err != nil {
				t.Fatal(err)
			}
			fx.items = append(fx.items, it.ID())
			if err := eng.OpeningStock(ctx, admin, it.ID(), wh.ID(), decimal.FromInt(openingStock)); err != nil {
				t.Fatal(err)
			}
		}
	})
	return fx
}

// findAll reads every document of coll that matches f.
func findAll(t *testing.T, st store.Store, coll string, f store.Filter) []store.Doc {
	t.Helper()
	var out []store.Doc
	q := store.Query{Filter: f, Limit: store.MaxLimit}
	for {
		page, err := st.Find(context.Background(), coll, q)
		if err != nil {
			t.Fatalf("find in %s: %v", coll, err)
		}
		out = append(out, page.Docs...)
		if page.Next == "" {
			return out
		}
		q.After = page.Next
	}
}

// dec reads a stored number.
func dec(v any) decimal.Decimal {
	switch x := v.(type) {
	case decimal.Decimal:
		return x
	case int64:
		return decimal.FromInt(x)
	case string:
		d, _ := decimal.Parse(x)
		return d
	}
	return decimal.Zero
}

// TestVerifyCommand runs "yerp verify" on books that agree (exit 0), then on a
// store where a stock bin was changed behind the ledger's back (exit 1, and
// the bin named with both values).
func TestVerifyCommand(t *testing.T) {
	for _, backend := range []string{"sqlite", "mongo"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			uri, data := "", filepath.Join(t.TempDir(), "data")
			if backend == "mongo" {
				uri = mongotest.Start(t) + "yerp_verify"
			}
			verify := func() (int, string, string) {
				var stdout, stderr syncBuffer
				code := run(ctx, append([]string{"verify"}, storeArgs(uri, data)...), &stdout, &stderr)
				return code, stdout.String(), stderr.String()
			}
			fx := prepareStore(t, uri, data)
			withEngine(t, uri, data, func(_ store.Store, _ *packages.Service, _ *auth.Service, eng *records.Engine) {
				keeper := records.User{ID: fx.keeper, Name: keeperName, Roles: []string{"warehouse"}}
				take := func(entity, transition string, lines ...any) {
					rec, err := eng.Create(ctx, keeper, entity, map[string]any{"warehouse": fx.warehouse, "lines": lines})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := eng.Transition(ctx, keeper, entity, rec.ID(), transition, rec.Version(), nil); err != nil {
						t.Fatalf("%s %s: %v", transition, entity, err)
					}
				}
				take("goods_receipt", "receive", map[string]any{"item": fx.items[0], "qty": "12"}, map[string]any{"item": fx.items[1], "qty": "3.5"})
				take("delivery", "ship", map[string]any{"item": fx.items[0], "qty": "30"})
				bin, err := eng.Stock(ctx, fx.items[0], fx.warehouse)
				if err != nil || !bin.OnHand.Equal(decimal.FromInt(openingStock+12-30)) {
					t.Fatalf("stock of item 1 after receipt and delivery: %+v, %v", bin, err)
				}
			})
			if code, out, errs := verify(); code != 0 || out != verifyOK+"\n" {
				t.Fatalf("verify of consistent books: exit %d\nstdout %q\nstderr %q", code, out, errs)
			}

			// Change the bin of item 1 in place: the ledger still sums to 42.
			var binID string
			withEngine(t, uri, data, func(st store.Store, _ *packages.Service, _ *auth.Service, _ *records.Engine) {
				bins := findAll(t, st, binsCollection, store.And(store.Eq("item", fx.items[0]), store.Eq("warehouse", fx.warehouse)))
				if len(bins) != 1 {
					t.Fatalf("bins of item 1: %v", bins)
				}
				bin := bins[0]
				binID = bin.ID()
				bin["on_hand"] = decimal.FromInt(999)
				if _, err := st.Replace(ctx, binsCollection, bin); err != nil {
					t.Fatal(err)
				}
			})
			code, out, errs := verify()
			want := fmt.Sprintf("%s %s: on_hand is 999, the ledger sums to %d\n", binsCollection, binID, openingStock+12-30)
			if code != 1 || out != want || !strings.Contains(errs, "1 balances differ") {
				t.Fatalf("verify of a corrupted bin: exit %d\nstdout %q\nstderr %q\nwant exit 1 and stdout %q", code, out, errs, want)
			}
		})
	}
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"verify", "--data", filepath.Join(t.TempDir(), "missing")}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no store in") {
		t.Fatalf("verify of a folder without a store: exit %d, %q", code, stderr.String())
	}
}

// goTool finds the go command that builds the server binary.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("no go command in PATH or in $GOROOT/bin: the crash test needs it to build yerp")
	return ""
}

// buildYerp builds the yerp binary into a temporary folder.
func buildYerp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "yerp")
	cmd := exec.Command(goTool(t), "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/yerp: %v\n%s", err, out)
	}
	return bin
}

// child is "yerp serve" running as a child process.
type child struct {
	cmd    *exec.Cmd
	out    *syncBuffer // stdout and stderr
	exited chan struct{}
	base   string
}

var servingRE = regexp.MustCompile(`url=(http://127\.0\.0\.1:[0-9]+)`)

// startServer runs yerp serve on a free loopback port and waits until /readyz
// answers 200.
func startServer(t *testing.T, bin string, storeArgs []string) *child {
	t.Helper()
	s := &child{out: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, storeArgs...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait() // the state is read from cmd.ProcessState
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill() // in case the test failed before it stopped
		<-s.exited
	})
	pause := func() {
		select {
		case <-s.exited:
			t.Fatalf("yerp serve exited (%v) before it was ready:\n%s", s.cmd.ProcessState, s.out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	for {
		if m := servingRE.FindStringSubmatch(s.out.String()); m != nil {
			s.base = m[1]
			break
		}
		pause()
	}
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		pause()
	}
}

// kill sends SIGKILL and checks that the signal, not anything else, ended it.
func (s *child) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill yerp serve: %v\n%s", err, s.out.String())
	}
	<-s.exited
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("yerp serve ended with %v, not by SIGKILL:\n%s", s.cmd.ProcessState, s.out.String())
	}
}

// stop asks the server to shut down and checks that it exits cleanly.
func (s *child) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("yerp serve exited with %d after SIGTERM:\n%s", code, s.out.String())
	}
}

// recovered is how many postings the server finished at start-up.
var recoveredRE = regexp.MustCompile(`recovered postings"? count=([0-9]+)`)

func (s *child) recovered() int {
	n := 0
	for _, m := range recoveredRE.FindAllStringSubmatch(s.out.String(), -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// client calls the REST API as the warehouse keeper.
type client struct {
	http  *http.Client
	base  string
	token string
}

// call sends a request and decodes a JSON answer into out (when not nil). A
// transport error (the server is gone) is returned as is.
func (c *client) call(method, path, ifMatch string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, nil
}

// loadStats counts what the clients got.
type loadStats struct {
	created, taken, refused, conflicts, retaken, retried atomic.Int64
}

// unanswered holds the records whose transition was sent when the server was
// killed: the clients do not know whether it was taken, and try again in the
// next round, as a user would.
type unanswered struct {
	mu  sync.Mutex
	ids map[string][]string // entity → record ids
}

func (u *unanswered) push(entity, id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ids[entity] = append(u.ids[entity], id)
}

func (u *unanswered) pop(entity string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	l := u.ids[entity]
	if len(l) == 0 {
		return ""
	}
	u.ids[entity] = l[1:]
	return l[0]
}

// worker creates records of entity and takes their transition, until the
// server is gone or killed is set. Now and then it takes the transition of an older draft
// instead: its earlier attempt may have been cut by a kill.
func worker(t *testing.T, c *client, fx crashFixture, rng *rand.Rand, entity, transition string, maxQty int, killed *atomic.Bool, stats *loadStats, retry *unanswered) {
	type ref struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
		State   string `json:"state"`
	}
	gone := func(what string, err error) {
		if !killed.Load() {
			t.Errorf("%s before the kill: %v", what, err)
		}
	}
	for !killed.Load() { // the kill follows; the two-server test just stops
		var rec ref
		retried := false
		if id := retry.pop(entity); id != "" {
			// Its transition was sent when the server died: was it taken?
			status, err := c.call("GET", "/api/v1/records/"+entity+"/"+id, "", nil, &rec)
			if err != nil {
				retry.push(entity, id)
				gone("read "+entity, err)
				return
			}
			if status != http.StatusOK {
				t.Errorf("read %s %s after the kill: status %d", entity, id, status)
				return
			}
			if rec.State != "draft" {
				continue // it was
			}
			retried = true
			stats.retried.Add(1)
		}
		retake := !retried && rng.IntN(5) == 0
		if retake {
			var page struct{ Records []ref }
			q := url.Values{"filter": {"state == 'draft'"}, "limit": {"20"}, "fields": {"state"}}
			status, err := c.call("GET", "/api/v1/records/"+entity+"?"+q.Encode(), "", nil, &page)
			if err != nil {
				gone("list drafts", err)
				return
			}
			if status != http.StatusOK {
				t.Errorf("list draft %s: status %d", entity, status)
				return
			}
			if len(page.Records) > 0 {
				rec = page.Records[rng.IntN(len(page.Records))]
			}
		}
		if rec.ID == "" {
			retake = false
			rec = ref{}
			var lines []any
			for _, i := range rng.Perm(len(fx.items))[:1+rng.IntN(3)] {
				lines = append(lines, map[string]any{"item": fx.items[i], "qty": 1 + rng.IntN(maxQty)})
			}
			status, err := c.call("POST", "/api/v1/records/"+entity, "", map[string]any{"warehouse": fx.warehouse, "lines": lines}, &rec)
			if err != nil {
				gone("create "+entity, err)
				return
			}
			if status != http.StatusCreated || rec.ID == "" {
				t.Errorf("create %s: status %d", entity, status)
				return
			}
			stats.created.Add(1)
		}
		status, err := c.call("POST", "/api/v1/records/"+entity+"/"+rec.ID+"/transitions/"+transition, `"`+strconv.FormatInt(rec.Version, 10)+`"`, nil, nil)
		if err != nil {
			retry.push(entity, rec.ID)
			gone(transition+" "+entity, err)
			return
		}
		switch {
		case status == http.StatusOK:
			stats.taken.Add(1)
			if retake {
				stats.retaken.Add(1)
			}
		case status == http.StatusConflict:
			stats.conflicts.Add(1) // another client took it first
		case status == http.StatusUnprocessableEntity && transition == "ship":
			stats.refused.Add(1) // not enough stock
		default:
			t.Errorf("%s %s %s: status %d", transition, entity, rec.ID, status)
			return
		}
	}
}

// pendingIDs returns the ids of the postings left pending.
func pendingIDs(t *testing.T, uri, data string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	withEngine(t, uri, data, func(st store.Store, _ *packages.Service, _ *auth.Service, _ *records.Engine) {
		for _, d := range findAll(t, st, postingsCollection, store.Eq("status", postingPending)) {
			ids[d.ID()] = true
		}
	})
	return ids
}

// orphanedClaims removes the claims a killed server left in a MongoDB
// database and returns how many there were. The MongoDB store serializes
// guarded writes through claims when the server does not apply a filtered
// update atomically (FerretDB v1); a claim held by a process that died is
// broken by the next writer of that document only once it is 30 seconds old
// (engine/store/mongo/claim.go), and until then every write of that document
// waits. No process writes while the server is down, so every claim is
// orphaned: removing them is what the lease would do 30 seconds later. On a
// server with atomic updates there are none.
func orphanedClaims(t *testing.T, uri, db string) func() int64 {
	t.Helper()
	ctx := context.Background()
	mc, err := mongodriver.Connect(mongooptions.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(ctx) })
	claims := mc.Database(db).Collection("_yerp_claims")
	return func() int64 {
		res, err := claims.DeleteMany(ctx, bson.D{})
		if err != nil {
			t.Fatalf("remove orphaned claims: %v", err)
		}
		return res.DeletedCount
	}
}

// TestCrashRecovery kills the server with SIGKILL at random moments while
// clients receive and ship goods concurrently, restarts it, and after the
// last round checks that "yerp verify" is clean, that every posting is
// complete or absent, and that every record's state agrees with its postings
// and the stock. On MongoDB the database (FerretDB) runs in the test process,
// so it survives the kills of the server.
func TestCrashRecovery(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("YERP_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("YERP_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (YERP_CRASH_SEED=%d repeats the kill delays and the requests)", seed, seed)
	bin := buildYerp(t)
	for i, backend := range []string{"sqlite", "mongo"} {
		t.Run(backend, func(t *testing.T) {
			crashBackend(t, bin, backend, seed+uint64(i))
		})
	}
}

func crashBackend(t *testing.T, bin, backend string, seed uint64) {
	uri, data := "", filepath.Join(t.TempDir(), "data")
	breakClaims := func() int64 { return 0 }
	if backend == "mongo" {
		const db = "yerp_crash"
		uri = mongotest.Start(t) + db
		breakClaims = orphanedClaims(t, uri, db)
	}
	fx := prepareStore(t, uri, data)
	args := storeArgs(uri, data)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// The kill comes after a random delay, in milliseconds. A transition takes
	// a few milliseconds on SQLite and ten to a hundred times longer on the
	// FerretDB peer, whose rounds are longer so that some finish.
	minKill, maxKill := 50, 400
	if backend == "mongo" {
		minKill, maxKill = 150, 1200
	}

	var stats loadStats
	retry := &unanswered{ids: map[string][]string{}}
	kills, leftPending, startRecovered := 0, 0, 0
	var claims int64
	pending := map[string]bool{}
	for round := range crashRounds {
		srv := startServer(t, bin, args)
		startRecovered += srv.recovered()
		c := &client{http: &http.Client{Transport: &http.Transport{}}, base: srv.base}
		var login struct{ Token string }
		if status, err := c.call("POST", "/api/v1/auth/login", "", map[string]string{"username": keeperName, "password": keeperPassword}, &login); err != nil || status != http.StatusOK || login.Token == "" {
			t.Fatalf("round %d: login: status %d, %v\n%s", round, status, err, srv.out.String())
		}
		c.token = login.Token
		var killed atomic.Bool
		var wg sync.WaitGroup
		for w := range crashWorkers {
			entity, transition, maxQty := "goods_receipt", "receive", 8
			if w%2 == 1 {
				entity, transition, maxQty = "delivery", "ship", 12
			}
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
			wg.Go(func() { worker(t, c, fx, wrng, entity, transition, maxQty, &killed, &stats, retry) })
		}
		time.Sleep(time.Duration(minKill+rng.IntN(maxKill-minKill+1)) * time.Millisecond)
		killed.Store(true)
		srv.kill(t)
		kills++
		wg.Wait()
		c.http.CloseIdleConnections()
		now := pendingIDs(t, uri, data)
		for id := range now {
			if !pending[id] {
				leftPending++ // this kill cut the posting
				break
			}
		}
		pending = now
		if round < crashRounds-1 {
			// After the last kill the server and yerp verify meet the claims
			// as they are, and break them when their lease is over.
			claims += breakClaims()
		}
		if t.Failed() {
			t.Fatalf("round %d failed; server output:\n%s", round, srv.out.String())
		}
	}

	// Once more: the server starts over whatever the last kill left, and stops
	// cleanly.
	srv := startServer(t, bin, args)
	startRecovered += srv.recovered()
	srv.stop(t)

	// yerp verify finishes every posting still pending and checks the books.
	cmd := exec.Command(bin, append([]string{"verify"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || stdout.String() != verifyOK+"\n" {
		t.Errorf("yerp verify after the crashes: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	verifyRecovered := 0
	if m := regexp.MustCompile(`recovered ([0-9]+) pending postings`).FindStringSubmatch(stderr.String()); m != nil {
		verifyRecovered, _ = strconv.Atoi(m[1])
	}

	var postings, done, rolledBack int
	withEngine(t, uri, data, func(st store.Store, _ *packages.Service, _ *auth.Service, _ *records.Engine) {
		postings, done, rolledBack = checkPostings(t, st)
		checkRecords(t, st, fx)
	})
	if stats.taken.Load() == 0 || stats.created.Load() == 0 {
		t.Errorf("the clients created %d records and took %d transitions: no load", stats.created.Load(), stats.taken.Load())
	}
	t.Logf("crash test (%s): %d rounds, %d kills, %d postings (%d done, %d rolled back)", backend, crashRounds, kills, postings, done, rolledBack)
	t.Logf("crash test (%s): %d kills cut postings (%d pending after the last); recovered %d at server start-up and %d by yerp verify",
		backend, leftPending, len(pending), startRecovered, verifyRecovered)
	if backend == "mongo" {
		t.Logf("crash test (%s): the kills left %d orphaned claims, removed before the next start", backend, claims)
	}
	t.Logf("crash test (%s): clients created %d records and took %d transitions (%d on older drafts); %d refused for stock, %d conflicts; %d transitions cut by a kill were tried again",
		backend, stats.created.Load(), stats.taken.Load(), stats.retaken.Load(), stats.refused.Load(), stats.conflicts.Load(), stats.retried.Load())
}

// checkPostings checks that every posting is done with all of its steps in
// the store, or rolled back with none of them there.
func checkPostings(t *testing.T, st store.Store) (total, done, rolledBack int) {
	t.Helper()
	ctx := context.Background()
	all := findAll(t, st, postingsCollection, nil)
	for _, p := range all {
		pid := p.ID()
		status, _ := p["status"].(string)
		switch status {
		case "done":
			done++
		case "rolled_back":
			rolledBack++
		default:
			t.Errorf("posting %s is %q after recovery", pid, status)
			continue
		}
		steps, ok := p["steps"].([]any)
		if !ok {
			d, err := st.Get(ctx, postingSteps, pid)
			if err != nil {
				t.Errorf("posting %s: its steps: %v", pid, err)
				continue
			}
			steps, _ = d["steps"].([]any)
		}
		if len(steps) == 0 {
			t.Errorf("posting %s has no steps", pid)
		}
		for i, s := range steps {
			step, _ := s.(map[string]any)
			op, _ := step["op"].(string)
			coll, _ := step["coll"].(string)
			id, _ := step["id"].(string)
			if op == "bump" {
				doc, _ := step["doc"].(map[string]any)
				coll, _ = doc["entry_coll"].(string)
				id = fmt.Sprintf("%s:%d", pid, i)
			}
			d, err := st.Get(ctx, coll, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			present := err == nil && d["posting"] == pid
			switch {
			case status == "done" && !present:
				t.Errorf("posting %s is done but its step %d (%s %s %s) is not in the store (%v)", pid, i, op, coll, id, d)
			case status == "rolled_back" && present:
				t.Errorf("posting %s is rolled back but its step %d (%s %s %s) is in the store", pid, i, op, coll, id)
			}
		}
	}
	return len(all), done, rolledBack
}

// checkRecords checks every receipt and delivery against the stock ledger: a
// received or shipped one has one entry per line, of its item and quantity,
// written by the done posting that moved its state; a draft has none. The
// bins hold the opening stock plus what was received less what was shipped.
func checkRecords(t *testing.T, st store.Store, fx crashFixture) {
	t.Helper()
	ctx := context.Background()
	entries := map[string][]store.Doc{}
	for _, e := range findAll(t, st, ledgerCollection, nil) {
		if v, _ := e["voucher"].(string); v != "" {
			entries[v] = append(entries[v], e)
		}
	}
	want := map[string]decimal.Decimal{}
	for _, it := range fx.items {
		want[it] = decimal.FromInt(openingStock)
	}
	states := map[string]int{}
	for _, kind := range []struct {
		entity, moved string
		sign          int64
	}{{"goods_receipt", "received", 1}, {"delivery", "shipped", -1}} {
		for _, r := range findAll(t, st, kind.entity, nil) {
			state, _ := r["state"].(string)
			states[kind.entity+" "+state]++
			got := entries[r.ID()]
			lines, _ := r["lines"].([]any)
			if state == "draft" {
				if len(got) > 0 {
					t.Errorf("%s %s is a draft but has %d stock ledger entries: %v", kind.entity, r.ID(), len(got), got)
				}
				continue
			}
			if state != kind.moved {
				t.Errorf("%s %s is in state %q", kind.entity, r.ID(), state)
				continue
			}
			pid, _ := r["posting"].(string)
			if p, err := st.Get(ctx, postingsCollection, pid); err != nil || p["status"] != "done" {
				t.Errorf("%s %s is %s by posting %q, which is not done (%v, %v)", kind.entity, r.ID(), state, pid, p, err)
			}
			if len(got) != len(lines) {
				t.Errorf("%s %s is %s with %d lines but has %d stock ledger entries: %v", kind.entity, r.ID(), state, len(lines), len(got), got)
				continue
			}
			sort.Slice(got, func(i, j int) bool { return dec(got[i]["line"]).Cmp(dec(got[j]["line"])) < 0 })
			for i, l := range lines {
				line, _ := l.(map[string]any)
				item, _ := line["item"].(string)
				qty := dec(line["qty"]).Mul(decimal.FromInt(kind.sign))
				e := got[i]
				if e["item"] != item || !dec(e["qty"]).Equal(qty) || !dec(e["line"]).Equal(decimal.FromInt(int64(i))) || e["posting"] != pid {
					t.Errorf("%s %s line %d (%s %s): ledger entry %v (posting %s)", kind.entity, r.ID(), i, item, qty, e, pid)
				}
				want[item] = want[item].Add(qty)
			}
		}
	}
	for _, it := range fx.items {
		bins := findAll(t, st, binsCollection, store.And(store.Eq("item", it), store.Eq("warehouse", fx.warehouse)))
		if len(bins) != 1 {
			t.Errorf("item %s has %d bins", it, len(bins))
			continue
		}
		b := bins[0]
		onHand := dec(b["on_hand"])
		if !onHand.Equal(want[it]) || !dec(b["reserved"]).IsZero() {
			t.Errorf("bin %s: on_hand %s reserved %v; the opening stock and the records in their states make on_hand %s", b.ID(), onHand, b["reserved"], want[it])
		}
		// The items do not allow negative stock: every out move was checked
		// against what was there, so nothing can take the bin below zero.
		if onHand.Sign() < 0 {
			t.Errorf("bin %s: on_hand is %s, below zero, though item %s does not allow negative stock", b.ID(), onHand, it)
		}
	}
	t.Logf("records by state: %v", states)
}
