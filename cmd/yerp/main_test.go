package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeHealthAndShutdown runs "yerp serve" on a loopback port with the
// embedded store, asks /healthz over real HTTP, and stops it.
func TestServeHealthAndShutdown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	t.Setenv("YERP_ADMIN_PASSWORD", "first-admin-password")
	go func() {
		code <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", data}, &stdout, &stderr)
	}()

	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited with %d: %s", c, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		base = urlRE.FindString(stderr.String())
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body["status"] != "ok" || body["store"] != "sqlite" {
		t.Fatalf("healthz: %d %v", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(data, "yerp.db")); err != nil {
		t.Fatalf("embedded store file not created in --data: %v", err)
	}
	// The demo: log in as admin and find the demo customers; the demo users
	// were printed with their passwords.
	resp, err = http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"first-admin-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/api/v1/records/customer?count=true", nil)
	req.Header.Set("Authorization", "Bearer "+login.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Total int }
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || page.Total < 50 {
		t.Fatalf("demo customers: status %d, %d customers", resp.StatusCode, page.Total)
	}
	if !strings.Contains(stderr.String(), "sales1") || !strings.Contains(stderr.String(), "sales_manager") {
		t.Fatalf("demo users not printed: %s", stderr.String())
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("serve exited with %d after shutdown: %s", c, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestCommandLineErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"serve", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"serve", "--store", "postgres://x", "--addr", "127.0.0.1:0"}, 1, "mongodb://"},
	}
	for _, c := range cases {
		var stdout, stderr syncBuffer
		got := run(context.Background(), c.args, &stdout, &stderr)
		if got != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("yerp %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, got, stderr.String(), c.code, c.want)
		}
	}
	var stdout, stderr syncBuffer
	if run(context.Background(), []string{"version"}, &stdout, &stderr) != 0 || !strings.HasPrefix(stdout.String(), "yerp ") {
		t.Errorf("version: %q", stdout.String())
	}
}

func TestCheckCommand(t *testing.T) {
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"check", "../../templates"}, &stdout, &stderr); code != 0 {
		t.Fatalf("yerp check templates: exit %d\n%s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "ok: ") || !strings.Contains(stdout.String(), "entities") {
		t.Fatalf("summary: %q", stdout.String())
	}

	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"package.yaml": "package: shop\nversion: 1.0.0\nlabel: {zh-CN: 商店, en: Shop}\n",
		"order.yaml":   "entity: order\nlabel: {zh-CN: 订单, en: Order}\nfields:\n  qty: {type: int, label: {zh-CN: 数量, en: Qty}, requird: true}\n  total: {type: money, label: {zh-CN: 合计, en: Total}, compute: \"qty * prce\"}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr = syncBuffer{}, syncBuffer{}
	code := run(context.Background(), []string{"check", dir}, &stdout, &stderr)
	want := dir + `/order.yaml:4:49: unknown key "requird" in fields.qty (did you mean "required"?)`
	if code != 1 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "1 errors, 0 warnings") {
		t.Fatalf("yerp check of a broken package: exit %d\n%s\nwant exit 1 and %q", code, stderr.String(), want)
	}
	// A package of one's own that requires core is checked against the built-in core.
	own := filepath.Join(t.TempDir(), "visits")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(own, "package.yaml"), []byte("package: visits\nversion: 0.1.0\nlabel: {zh-CN: 拜访, en: Visits}\nrequires: {core: ^1.0}\n"), 0o644)
	os.WriteFile(filepath.Join(own, "visit.yaml"), []byte("entity: visit\nlabel: {zh-CN: 拜访, en: Visit}\nfields:\n  customer: {type: link, to: customer, label: {zh-CN: 客户, en: Customer}}\n  note: {type: text, label: {zh-CN: 备注, en: Note}, default: \"customer.name\"}\n"), 0o644)
	stdout, stderr = syncBuffer{}, syncBuffer{}
	if code := run(context.Background(), []string{"check", own}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "ok: 2 packages") {
		t.Fatalf("own package on top of core: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout, stderr = syncBuffer{}, syncBuffer{}
	if code := run(context.Background(), []string{"check"}, &stdout, &stderr); code != 2 {
		t.Fatalf("yerp check without a folder: exit %d", code)
	}
}

// TestTemplateCommands installs, exports and imports through the command line,
// between two data directories (a test and a production installation).
func TestTemplateCommands(t *testing.T) {
	test, prod := filepath.Join(t.TempDir(), "test"), filepath.Join(t.TempDir(), "prod")
	yerp := func(args ...string) (int, string, string) {
		var stdout, stderr syncBuffer
		code := run(context.Background(), append([]string{"template"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := yerp("install", "core", "--data", test); code != 0 || !strings.Contains(out, "core: (not installed) -> 1.0.0") || !strings.Contains(out, "new entity customer") {
		t.Fatalf("install: %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := yerp("list", "--data", test); code != 0 || !strings.Contains(out, "installed 1.0.0") {
		t.Fatalf("list: %d %s", code, out)
	}
	bundle := filepath.Join(t.TempDir(), "core.json")
	if code, _, errs := yerp("export", "core", "--data", test, "-o", bundle); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	if code, out, _ := yerp("import", bundle, "--data", prod, "--dry-run"); code != 0 || !strings.Contains(out, "dry run: nothing was changed") || !strings.Contains(out, "file customer.yaml: added") {
		t.Fatalf("import dry run: %d %s", code, out)
	}
	if code, out, _ := yerp("list", "--data", prod); code != 0 || !strings.Contains(out, "not installed") {
		t.Fatalf("dry run installed something: %s", out)
	}
	if code, _, errs := yerp("import", bundle, "--data", prod); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	if code, out, _ := yerp("versions", "core", "--data", prod); code != 0 || !strings.Contains(out, "imported core 1.0.0") {
		t.Fatalf("versions: %d %s", code, out)
	}
	if code, _, errs := yerp("rollback", "core", "0.9.0", "--data", prod); code != 1 || !strings.Contains(errs, `core has no version "0.9.0" (published: 1.0.0 (#1))`) {
		t.Fatalf("rollback to a missing version: %d %s", code, errs)
	}
	if code, _, errs := yerp("install", "--data", prod); code != 2 || !strings.Contains(errs, "want 1 argument(s), got 0") {
		t.Fatalf("install without a name: %d %s", code, errs)
	}
	if code, out, errs := yerp("uninstall", "core", "--data", prod); code != 0 || !strings.Contains(out, "uninstalled core") {
		t.Fatalf("uninstall: %d %s %s", code, out, errs)
	}
}

func TestTestCommand(t *testing.T) {
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"test", "../../templates"}, &stdout, &stderr); code != 0 {
		t.Fatalf("yerp test templates: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	files, err := filepath.Glob("../../templates/*/tests/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("catalog test files: %d, %v", len(files), err)
	}
	if !strings.Contains(stdout.String(), "ok    templates/core/tests/master_data.yaml") || !strings.Contains(stdout.String(), fmt.Sprintf("\n%d passed, 0 failed", len(files))) {
		t.Fatalf("report: %s", stdout.String())
	}
	// A failing expectation: the step, what was expected and what came.
	dir := filepath.Join(t.TempDir(), "core")
	if err := os.CopyFS(dir, os.DirFS("../../templates/core")); err != nil {
		t.Fatal(err)
	}
	bad := "name: wrong\nusers: {sam: [sales]}\nsteps:\n  - as: sam\n    create: customer\n    values: {code: C-9, name: X}\n    expect: {credit_limit: 5}\n"
	if err := os.WriteFile(filepath.Join(dir, "tests", "wrong.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr = syncBuffer{}, syncBuffer{}
	if code := run(context.Background(), []string{"test", dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("failing test: exit %d\n%s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "step 1 (sam creates customer): credit_limit: want 5, got 0") || !strings.Contains(stdout.String(), "1 passed, 1 failed") {
		t.Fatalf("report of a failure: %s", stdout.String())
	}
}
