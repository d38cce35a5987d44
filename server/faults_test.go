package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

// storeCut is how long the store is unreachable in TestStoreCut (the issue
// speaks of 10 s in production; a few seconds show the same behaviour,
// since requests fail after the driver's server selection timeout, set to
// 1 s in the test's store URI).
const storeCut = 3 * time.Second

// unavailableTitle is the 503 problem's title in each language.
var unavailableTitle = map[string]string{
	"zh-CN": "数据存储暂不可用，请稍后重试",
	"en":    "The data store is unavailable; try again shortly",
}

// tcpProxy forwards loopback connections to target. Cut closes every
// connection and the listener (new connections are refused); Restore
// listens again on the same address.
type tcpProxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	go p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by Cut
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // cut meanwhile
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// Cut makes the store unreachable.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore makes it reachable again, on the same address.
func (p *tcpProxy) Restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}

// answer is one HTTP answer of the load.
type answer struct {
	status     int
	body       []byte
	retryAfter string
	duringCut  bool // it arrived before the store came back
}

// send sends a request as c with language l and returns the answer; a
// transport error fails the test.
func send(t testing.TB, base string, c *client, method, path, body, l string, hdr map[string]string) answer {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return answer{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", l)
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return answer{}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: data, retryAfter: resp.Header.Get("Retry-After")}
}

// checkUnavailable checks a 503 answer: the problem's title in language l
// and a Retry-After.
func checkUnavailable(a answer, l string) error {
	var p Problem
	if err := json.Unmarshal(a.body, &p); err != nil {
		return fmt.Errorf("503 body %q: %v", a.body, err)
	}
	if p.Status != 503 || p.Title != unavailableTitle[l] {
		return fmt.Errorf("503 problem in %s: %+v", l, p)
	}
	if a.retryAfter == "" {
		return errors.New("503 without Retry-After")
	}
	return nil
}

// The store becomes unreachable under load (a TCP proxy between the Mongo
// driver and FerretDB closes every connection and refuses new ones for
// storeCut) and comes back. Requests during the cut fail fast with 503, a
// clear message and Retry-After (answers arrive while the store is still
// away); /readyz says 503 during the cut and 200 after; the server recovers
// without a restart; and after recovering the postings nothing is
// half-written: every create answered 2xx exists, every shipment answered
// 2xx is shipped, the deliveries that exist are exactly the created ones,
// and the stock bin agrees with its ledger and with the shipped count.
func TestStoreCut(t *testing.T) {
	uri := mongotest.Start(t)
	px := startProxy(t, strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/"))
	st, err := mongo.Open(ctx, "mongodb://"+px.addr+"/?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000", "yerp_cut")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sh := startStock(t, st)
	const opening = 1000
	sh.opening("A100", opening)
	order := fmt.Sprintf(`{"customer":%q,"warehouse":%q,"lines":[{"item":%q,"qty":"1"}]}`, sh.ids["C1"], sh.ids["WH1"], sh.ids["A100"])

	var (
		mu        sync.Mutex
		created   = map[string]string{} // idempotency key → record id answered 201
		failedKey = map[string]bool{}   // keys of creates answered with an error
		shipped   = map[string]bool{}   // answered 200
		failed    []answer              // every 5xx
		cutOver   atomic.Bool           // the store is back
		stop      atomic.Bool
		wg        sync.WaitGroup
		langs     = []string{"zh-CN", "en"}
		createErr int
	)
	worker := func(w int) {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			l := langs[(w+i)%2]
			key := fmt.Sprintf("cut-%d-%d", w, i)
			a := send(t, sh.base, sh.sam, "POST", "/api/v1/records/delivery", order, l, map[string]string{"Idempotency-Key": key})
			a.duringCut = !cutOver.Load()
			if a.status != 201 {
				mu.Lock()
				failed = append(failed, a)
				failedKey[key] = true
				createErr++
				mu.Unlock()
				if a.status < 500 {
					t.Errorf("create: %d %s", a.status, a.body)
				} else if err := checkUnavailable(a, l); err != nil {
					t.Error(err)
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal(a.body, &rec); err != nil {
				t.Error(err)
				continue
			}
			id, _ := rec["id"].(string)
			mu.Lock()
			created[key] = id
			mu.Unlock()
			b := send(t, sh.base, sh.ken, "POST", "/api/v1/records/delivery/"+id+"/transitions/ship", "", l, map[string]string{"If-Match": `"1"`})
			b.duringCut = !cutOver.Load()
			mu.Lock()
			if b.status == 200 {
				shipped[id] = true
			} else {
				failed = append(failed, b)
			}
			mu.Unlock()
			if b.status != 200 {
				if b.status < 500 {
					t.Errorf("ship: %d %s", b.status, b.body)
				} else if err := checkUnavailable(b, l); err != nil {
					t.Error(err)
				}
			}
		}
	}
	ready := func() int {
		resp, err := http.Get(sh.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != 200 {
		t.Fatalf("readyz before the cut: %d", code)
	}
	for w := range 4 {
		wg.Add(1)
		go worker(w)
	}
	// Some load with the store up, then the cut.
	for {
		mu.Lock()
		n := len(shipped)
		mu.Unlock()
		if n >= 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	px.Cut()
	cutAt := time.Now()
	readyDuringCut := ready()
	time.Sleep(time.Until(cutAt.Add(storeCut)))
	mu.Lock()
	var during int
	for _, a := range failed {
		if a.duringCut && a.status == 503 {
			during++
		}
	}
	mu.Unlock()
	cutOver.Store(true)
	px.Restore()
	if readyDuringCut != 503 {
		t.Errorf("readyz during the cut: %d, want 503", readyDuringCut)
	}
	if during == 0 {
		t.Errorf("no request failed with 503 while the store was away: requests hang instead of failing fast")
	}
	// The server recovers by itself.
	for ready() != 200 {
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	before := len(shipped)
	mu.Unlock()
	for {
		mu.Lock()
		n := len(shipped)
		mu.Unlock()
		if n >= before+5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	// Nothing half-written: finish or roll back what the cut interrupted (a
	// second process, as yerp verify would, after the leases ran out), then
	// compare.
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	later := records.New(st, svc.Model, records.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	recovered, err := later.Recover(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A write the store failed on has an unknown outcome (the reply may be
	// what was lost): the client sends it again with its idempotency key,
	// which applies it once or returns what the first attempt wrote.
	var me struct{ User struct{ ID string } }
	sh.call(sh.sam, "GET", "/api/v1/auth/me", "", nil, 200, &me)
	sam := records.User{ID: me.User.ID, Name: "Sam", Roles: []string{"sales"}}
	var values map[string]any
	if err := json.Unmarshal([]byte(order), &values); err != nil {
		t.Fatal(err)
	}
	firstWrote := 0
	for key := range failedKey {
		r := later.Once(ctx, sam, records.Op{Key: key, Op: records.OpCreate, Entity: "delivery", Values: values})
		if r.Err != nil {
			t.Fatalf("create %s sent again: %v", key, r.Err)
		}
		if r.Replayed {
			firstWrote++
		}
		created[key] = r.Record.ID()
	}
	if ms, err := later.Verify(ctx); err != nil || len(ms) > 0 {
		t.Fatalf("verify after the cut: %v %v", ms, err)
	}
	stored := map[string]string{} // id → state
	q := store.Query{Limit: 500}
	for {
		page, err := st.Find(ctx, "delivery", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Docs {
			stored[d.ID()], _ = d["state"].(string)
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	createdID := map[string]bool{}
	for key, id := range created {
		if createdID[id] {
			t.Errorf("two keys created delivery %s", id)
		}
		createdID[id] = true
		if _, ok := stored[id]; !ok {
			t.Errorf("delivery %s (key %s) was answered 201 but does not exist", id, key)
		}
		n, err := st.Count(ctx, "sys_audit", store.And(store.Eq("entity", "delivery"), store.Eq("record", id), store.Eq("action", "create")))
		if err != nil || n != 1 {
			t.Errorf("delivery %s has %d create audit entries (%v), want 1", id, n, err)
		}
	}
	for id := range shipped {
		if stored[id] != "shipped" {
			t.Errorf("delivery %s was answered 200 on ship but is %q", id, stored[id])
		}
	}
	nShipped := 0
	for id, state := range stored {
		if !createdID[id] {
			t.Errorf("delivery %s (%s) exists, but no create was answered with it", id, state)
		}
		if state == "shipped" {
			nShipped++
		}
	}
	bins := sh.bins(sh.ken, "/api/v1/stock?item="+url.QueryEscape(sh.ids["A100"])+"&warehouse="+url.QueryEscape(sh.ids["WH1"]))
	if len(bins) != 1 || bins[0].OnHand != fmt.Sprint(opening-nShipped) {
		t.Errorf("bin after the cut: %+v, want on hand %d (%d shipped)", bins, opening-nShipped, nShipped)
	}
	t.Logf("fault scenarios: 1 (store cut for %s under 4 workers): %d created, %d shipped, %d answers were 5xx (%d while the store was away; %d failed creates, of which %d had been written and were returned by their key), %d postings recovered",
		storeCut, len(created), len(shipped), len(failed), during, createErr, firstWrote, recovered)
}

// A full disk under the SQLite store, through the API: a create that does
// not fit is answered 507 with what to do, in the caller's language, and
// leaves no record and no number; reads go on; once there is room, the
// next create gets the next number.
func TestDiskFullAPI(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := start(t, st)
	alice := h.login("alice", "alice-password-1")
	note := strings.Repeat("备注", 400)
	order := func(i int) string {
		return fmt.Sprintf(`{"customer":%q,"lines":[{"item":%q,"qty":"1"}],"note":"%s %d"}`, h.ids["C1"], h.ids["A"], note, i)
	}
	var last string
	for i := range 30 {
		var rec map[string]any
		h.call(alice, "POST", "/api/v1/records/sales_order", order(i), nil, 201, &rec)
		last, _ = rec["number"].(string)
	}
	var pages int64
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if pages, err = st.SetMaxPages(ctx, 1); err != nil { // never below the current size: the file is full now
		t.Fatal(err)
	}
	titles := map[string]string{
		"zh-CN": "存储空间已满，未保存任何内容：请释放服务器磁盘空间或联系管理员后重试",
		"en":    "The disk is full and nothing was saved: free disk space on the server or ask your administrator, then try again",
	}
	full := 0
	for i := 30; i < 300 && full < 2; i++ {
		l := []string{"zh-CN", "en"}[full]
		a := send(t, h.base, alice, "POST", "/api/v1/records/sales_order", order(i), l, nil)
		switch a.status {
		case 201:
			var rec map[string]any
			if err := json.Unmarshal(a.body, &rec); err != nil {
				t.Fatal(err)
			}
			last, _ = rec["number"].(string)
			continue
		case 507:
		default:
			t.Fatalf("create on a full disk: %d %s", a.status, a.body)
		}
		var p Problem
		if err := json.Unmarshal(a.body, &p); err != nil || p.Status != 507 || p.Title != titles[l] {
			t.Fatalf("507 problem in %s: %+v %v", l, p, err)
		}
		full++
	}
	if full < 2 {
		t.Fatalf("the disk never filled (%d pages)", pages)
	}
	// Reads go on; the refused creates left nothing.
	var list struct{ Records []map[string]any }
	h.call(alice, "GET", "/api/v1/records/sales_order?limit=1&sort=-number", "", nil, 200, &list)
	if len(list.Records) != 1 || list.Records[0]["number"] != last {
		t.Fatalf("newest order while full: %v, want %s", list.Records, last)
	}
	n, err := st.Count(ctx, "sales_order", nil)
	if err != nil {
		t.Fatal(err)
	}
	var seq int
	if _, err := fmt.Sscanf(last, "SO-%d", &seq); err != nil || int64(seq) != n {
		t.Fatalf("%d orders stored, the last number is %s: a refused create left a record or used a number", n, last)
	}
	// Room again: the next create gets the next number.
	if _, err := st.SetMaxPages(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	h.call(alice, "POST", "/api/v1/records/sales_order", order(999), nil, 201, &rec)
	if want := fmt.Sprintf("SO-%05d", seq+1); rec["number"] != want {
		t.Fatalf("number after the full disk: %v, want %s", rec["number"], want)
	}
	t.Logf("fault scenarios: 1 (disk full under the API: %d orders stored, 2 creates refused with 507)", n)
}
