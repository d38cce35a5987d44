package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pbOptions sizes the PocketBase comparison: the same clients, duration,
// lines per order and list data set as yerp's create and list scenarios.
type pbOptions struct {
	Dir      string
	Clients  int
	Duration time.Duration
	Lines    int
	Orders   int
}

// pbUsers is how many salespeople own the orders (as in yerp's list data set).
const pbUsers = 200

// pocketBaseScenarios measures PocketBase on this machine, in this run, on
// the two scenarios the comparison is about: creating an order with its
// lines and listing a salesperson's drafts. It builds the helper program in
// bench/pocketbase (PocketBase's own server with a collection equivalent to
// yerp's order), runs it as a child process on loopback, and loads it with
// the same runLoad and summarize as yerp's scenarios.
func pocketBaseScenarios(ctx context.Context, o pbOptions) ([]benchResult, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	bin, version, err := buildPocketBase(ctx, dir)
	if err != nil {
		return nil, err
	}
	built := time.Since(start)

	create, err := pocketBaseCreate(ctx, bin, filepath.Join(dir, "pocketbase-create"), o)
	if err != nil {
		return nil, fmt.Errorf("pocketbase create: %w", err)
	}
	create.Note = fmt.Sprintf("PocketBase %s (built in %.1f s; GOGC as yerp's server), its owner rule on; ", version, built.Seconds()) + create.Note
	list, err := pocketBaseList(ctx, bin, pbListDir(dir, o), o)
	if err != nil {
		return nil, fmt.Errorf("pocketbase list: %w", err)
	}
	return []benchResult{create, list}, nil
}

// pbListDir is the data folder of the list data set of o's size in dir.
func pbListDir(dir string, o pbOptions) string {
	return filepath.Join(dir, fmt.Sprintf("pocketbase-list-%d-orders-%d-lines-v1", o.Orders, o.Lines))
}

// pbBuilt remembers the programs built by this process (yerp bench calls
// pocketBaseScenarios once per run): folder → program and version.
var (
	pbBuiltMu sync.Mutex
	pbBuilt   = map[string][2]string{}
)

// buildPocketBase builds bench/pocketbase into dir with the Go toolchain,
// from the repository checkout yerp bench runs in, and returns the program
// and the PocketBase version its go.mod names.
func buildPocketBase(ctx context.Context, dir string) (string, string, error) {
	pbBuiltMu.Lock()
	defer pbBuiltMu.Unlock()
	if b, ok := pbBuilt[dir]; ok {
		return b[0], b[1], nil
	}
	const need = "the PocketBase comparison builds bench/pocketbase: it needs the Go toolchain and yerp's repository checkout (run yerp bench from inside it)"
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", need, err)
	}
	out, err := exec.CommandContext(ctx, goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("%s: go env GOMOD: %w", need, err)
	}
	// Inside bench/pocketbase itself GOMOD is that module's go.mod.
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if filepath.Base(root) == "pocketbase" && filepath.Base(filepath.Dir(root)) == "bench" {
		root = filepath.Dir(filepath.Dir(root))
	}
	src := filepath.Join(root, "bench", "pocketbase")
	mod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", need, err)
	}
	version := "?"
	for l := range strings.Lines(string(mod)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "github.com/pocketbase/pocketbase" {
			version = f[1]
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	bin := filepath.Join(dir, "pocketbase-bench")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
	cmd.Dir = src
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s: go build in %s: %w\n%s", need, src, err, msg)
	}
	pbBuilt[dir] = [2]string{bin, version}
	return bin, version, nil
}

// pbSeed is what the helper's seed command prints.
type pbSeed struct {
	Customer  string `json:"customer"`
	Warehouse string `json:"warehouse"`
	Users     []struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"users"`
	Orders   int            `json:"orders"`
	Password string         `json:"password"`
	Seconds  float64        `json:"seconds"`
	Order    map[string]any `json:"order"`
}

// seedPocketBase loads users (and orders) into the data folder with the
// helper's seed command, before the server runs.
func seedPocketBase(ctx context.Context, bin, data string, orders, lines int) (*pbSeed, error) {
	cmd := exec.CommandContext(ctx, bin, "seed", "--dir", data, "--users", fmt.Sprint(pbUsers), "--orders", fmt.Sprint(orders), "--lines", fmt.Sprint(lines))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("seed: %w: %s", err, stderr.Bytes())
	}
	var s pbSeed
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("seed printed %.300q: %w", out, err)
	}
	if len(s.Users) != pbUsers || s.Order == nil {
		return nil, fmt.Errorf("seed: %d users, order %v", len(s.Users), s.Order)
	}
	return &s, nil
}

// pbServer is the helper program serving one data folder on loopback.
type pbServer struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has ended
	exit   error         // its Wait error, once done
	base   string
	log    string
	http   *http.Client
	tokens []string // one per seed user, in order
}

// startPocketBase runs "pocketbase-bench serve" on a free loopback port and
// waits until its health endpoint answers.
func startPocketBase(ctx context.Context, bin, data string) (*pbServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(data + ".log")
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--http", addr, "--dir", data)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = pbChildAttr()
	cmd.Env = os.Environ()
	if os.Getenv("GOGC") == "" {
		cmd.Env = append(cmd.Env, "GOGC=200") // the collector setting yerp's server runs with (server.TuneGC)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &pbServer{cmd: cmd, done: make(chan struct{}), base: "http://" + addr, log: logFile.Name(),
		http: &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}, Timeout: time.Minute}}
	go func() { s.exit = cmd.Wait(); close(s.done) }()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		resp, err := s.http.Get(s.base + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("PocketBase stopped before answering (%v): %s", s.exit, s.logTail())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("PocketBase did not answer on %s: %s", addr, s.logTail())
		}
	}
}

// stop interrupts the server (PocketBase shuts down gracefully on SIGINT)
// and kills it if it has not ended after 10 s. Stopping twice is harmless.
func (s *pbServer) stop() {
	s.http.CloseIdleConnections()
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// logTail is the end of the server's output, for error messages.
func (s *pbServer) logTail() string {
	b, _ := os.ReadFile(s.log)
	return string(b[max(0, len(b)-1000):])
}

// login authenticates every seed user with their password and keeps their
// tokens.
func (s *pbServer) login(seed *pbSeed) error {
	s.tokens = make([]string, len(seed.Users))
	for i, u := range seed.Users {
		body, _ := json.Marshal(map[string]string{"identity": u.Email, "password": seed.Password})
		var out struct {
			Token  string `json:"token"`
			Record struct {
				ID string `json:"id"`
			} `json:"record"`
		}
		if err := s.send("POST", "/api/collections/users/auth-with-password", "", body, http.StatusOK, &out); err != nil {
			return err
		}
		if out.Token == "" || out.Record.ID != u.ID {
			return fmt.Errorf("login of %s: token %q for %q", u.Email, out.Token, out.Record.ID)
		}
		s.tokens[i] = out.Token
	}
	return nil
}

// send sends one request (with the token, if any) and checks the status;
// out, if given, receives the JSON body.
func (s *pbServer) send(method, path, token string, body []byte, want int, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return doJSON(s.http, req, method+" "+path, want, out)
}

// pbOrderBody returns a function giving the JSON body of order i: the seed's
// order with its own number, owned by user i mod 200 (who posts it). The
// template is encoded once; each request only joins its parts.
func pbOrderBody(seed *pbSeed) (func(i int64) []byte, error) {
	tmpl := maps.Clone(seed.Order)
	tmpl["number"], tmpl["owner"] = "\x01", "\x02"
	body, err := json.Marshal(tmpl) // keys sorted: number before owner
	if err != nil {
		return nil, err
	}
	a, rest, ok1 := bytes.Cut(body, []byte(`"\u0001"`))
	b, c, ok2 := bytes.Cut(rest, []byte(`"\u0002"`))
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("order template %s", body)
	}
	return func(i int64) []byte {
		out := make([]byte, 0, len(body)+40)
		out = append(out, a...)
		out = fmt.Appendf(out, `"PB-%09d"`, i)
		out = append(out, b...)
		out = strconv.AppendQuote(out, seed.Users[i%pbUsers].ID)
		return append(out, c...)
	}, nil
}

// pocketBaseCreate posts orders with o.Lines lines in their JSON field from
// o.Clients clients for o.Duration into a fresh data folder, each request
// authenticated as the order's owner. Before it, the rule is checked: an
// order owned by someone else is refused. After it, the orders stored must
// be those created.
func pocketBaseCreate(ctx context.Context, bin, data string, o pbOptions) (benchResult, error) {
	if err := os.RemoveAll(data); err != nil {
		return benchResult{}, err
	}
	defer os.Remove(data + ".log")
	defer os.RemoveAll(data) // after the server has stopped (deferred below)
	seed, err := seedPocketBase(ctx, bin, data, 0, o.Lines)
	if err != nil {
		return benchResult{}, err
	}
	s, err := startPocketBase(ctx, bin, data)
	if err != nil {
		return benchResult{}, err
	}
	defer s.stop()
	if err := s.login(seed); err != nil {
		return benchResult{}, err
	}
	body, err := pbOrderBody(seed)
	if err != nil {
		return benchResult{}, err
	}
	const endpoint = "/api/collections/sales_orders/records"
	var first struct {
		ID    string `json:"id"`
		Owner string `json:"owner"`
		Lines []any  `json:"lines"`
	}
	if err := s.send("POST", endpoint, s.tokens[0], body(0), http.StatusOK, &first); err != nil {
		return benchResult{}, err
	}
	if first.ID == "" || first.Owner != seed.Users[0].ID || len(first.Lines) != o.Lines {
		return benchResult{}, fmt.Errorf("the first order came back as %+v", first)
	}
	// The create rule holds: user 1 cannot post an order owned by user 0.
	if err := s.send("POST", endpoint, s.tokens[1], body(pbUsers), http.StatusBadRequest, nil); err != nil {
		return benchResult{}, fmt.Errorf("an order for someone else: %w", err)
	}
	lat, errs, took, ferr := runLoad(ctx, o.Clients, o.Duration, func(i int64) error {
		return s.send("POST", endpoint, s.tokens[i%pbUsers], body(i), http.StatusOK, nil)
	})
	if errs > 0 {
		return benchResult{}, fmt.Errorf("%d creates failed, the first: %w", errs, ferr)
	}
	r := summarize(pbCreate, o.Clients, lat, errs, took)
	stored, err := s.count(seed)
	if err != nil {
		return benchResult{}, err
	}
	if stored != len(lat)+1 {
		return benchResult{}, fmt.Errorf("%d orders created, %d stored", len(lat)+1, stored)
	}
	r.Note = fmt.Sprintf("%d users, each request authenticated as the order's owner; %d orders stored", pbUsers, stored)
	return r, nil
}

// count is the number of stored orders, as a superuser sees them.
func (s *pbServer) count(seed *pbSeed) (int, error) {
	body, _ := json.Marshal(map[string]string{"identity": "bench@example.com", "password": "yerp-bench-superuser"})
	var auth struct{ Token string }
	if err := s.send("POST", "/api/collections/_superusers/auth-with-password", "", body, http.StatusOK, &auth); err != nil {
		return 0, err
	}
	var page struct {
		TotalItems int `json:"totalItems"`
	}
	err := s.send("GET", "/api/collections/sales_orders/records?perPage=1", auth.Token, nil, http.StatusOK, &page)
	return page.TotalItems, err
}

// pbSeedFile, in a list data folder, holds what its seed printed; it is
// written once the data set is complete, and a run finding it reuses the
// data set.
const pbSeedFile = "yerp-bench-seed.json"

// pbListPath is the page a salesperson asks for: their drafts, newest order
// date first, 50 of them, without counting all (skipTotal=1: yerp's list
// does not count either; it pages with a cursor).
var pbListPath = "/api/collections/sales_orders/records?page=1&perPage=50&skipTotal=1&sort=-order_date&filter=" + url.QueryEscape("state='draft'")

// pocketBaseList loads (or reuses) o.Orders orders of 200 users and has one
// salesperson ask for the first page of their drafts, one request at a time.
func pocketBaseList(ctx context.Context, bin, data string, o pbOptions) (benchResult, error) {
	var seed *pbSeed
	marker := filepath.Join(data, pbSeedFile)
	built := "reused"
	if b, err := os.ReadFile(marker); err == nil {
		seed = &pbSeed{}
		if err := json.Unmarshal(b, seed); err != nil {
			return benchResult{}, fmt.Errorf("%s: %w", marker, err)
		}
		if seed.Orders != o.Orders || len(seed.Users) != pbUsers {
			return benchResult{}, fmt.Errorf("%s: a data set of %d orders and %d users, not %d and %d", marker, seed.Orders, len(seed.Users), o.Orders, pbUsers)
		}
	} else {
		if err := os.RemoveAll(data); err != nil {
			return benchResult{}, err
		}
		if seed, err = seedPocketBase(ctx, bin, data, o.Orders, o.Lines); err != nil {
			return benchResult{}, err
		}
		b, _ := json.Marshal(seed)
		if err := os.WriteFile(marker, b, 0o644); err != nil {
			return benchResult{}, err
		}
		built = fmt.Sprintf("loaded in %.1f s", seed.Seconds)
	}
	s, err := startPocketBase(ctx, bin, data)
	if err != nil {
		return benchResult{}, err
	}
	defer s.stop()
	if err := s.login(seed); err != nil {
		return benchResult{}, err
	}
	const who = 7
	drafts := 0 // of user 7, as the seed builds them
	for i := who; i < o.Orders; i += pbUsers {
		if (i/pbUsers)%5 == 0 {
			drafts++
		}
	}
	if err := s.checkPage(seed, who, min(50, drafts)); err != nil {
		return benchResult{}, err
	}
	lat, errs, took, ferr := runLoad(ctx, 1, o.Duration, func(int64) error {
		return s.send("GET", pbListPath, s.tokens[who], nil, http.StatusOK, nil)
	})
	if errs > 0 {
		return benchResult{}, fmt.Errorf("%d list requests failed, the first: %w", errs, ferr)
	}
	r := summarize(pbList, 1, lat, errs, took)
	r.Note = fmt.Sprintf("%d orders (%s) of %d users; filter state='draft', sort -order_date, perPage=50, skipTotal=1 (no count: yerp's list does not count); list rule owner = @request.auth.id || transfer_to = @request.auth.id (as yerp's sales read rule)", o.Orders, built, pbUsers)
	return r, nil
}

// checkPage asks for the list page as seed user who and checks it holds
// want orders, all theirs, all drafts, newest order date first.
func (s *pbServer) checkPage(seed *pbSeed, who, want int) error {
	var page struct {
		Items []struct {
			ID        string `json:"id"`
			Owner     string `json:"owner"`
			State     string `json:"state"`
			OrderDate string `json:"order_date"`
			Lines     []any  `json:"lines"`
		} `json:"items"`
	}
	if err := s.send("GET", pbListPath, s.tokens[who], nil, http.StatusOK, &page); err != nil {
		return err
	}
	if len(page.Items) != want {
		return fmt.Errorf("the list page holds %d orders, want %d", len(page.Items), want)
	}
	for i, it := range page.Items {
		if it.Owner != seed.Users[who].ID || it.State != "draft" || len(it.Lines) == 0 {
			return fmt.Errorf("the list page of user %d holds an order of %s in state %q with %d lines", who, it.Owner, it.State, len(it.Lines))
		}
		if i > 0 && it.OrderDate > page.Items[i-1].OrderDate {
			return errors.New("the list page is not sorted by order date, newest first")
		}
	}
	return nil
}
