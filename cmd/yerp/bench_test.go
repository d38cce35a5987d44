package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// A short yerp bench run: every scenario completes without errors, reports
// latencies in order, compares itself with its raw floor where it has one,
// and the ship scenario leaves books that agree with the ledgers.
func TestBenchCommand(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"bench", "--duration", "300ms", "--orders", "2000", "--clients", "4", "--ship-clients", "4", "--lines", "3", "--import-rows", "500", "--json", "--data", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("yerp bench: exit %d\n%s", code, stderr.String())
	}
	var out struct{ Results []benchResult }
	if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	names := map[string]benchResult{}
	for _, r := range out.Results {
		names[r.Name] = r
		if r.Requests == 0 || r.Errors != 0 || r.PerSecond <= 0 || !(r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) || !strings.HasPrefix(r.Name, "import") && r.Max == 0 {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	for _, want := range []string{"create (HTTP)", "create (raw insert)", "list (HTTP, 2000)", "list (raw find, 2000)", "ship (HTTP, whole order)", "import (500 customers)", "import floor (InsertMany, 500)"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no result %q in %v", want, out.Results)
		}
	}
	if r := names["create (HTTP)"]; r.Floor != "create (raw insert)" || r.Ratio <= 1 {
		t.Errorf("create compared with its floor: %+v", r)
	}
	if r := names["ship (HTTP, whole order)"]; !strings.HasSuffix(r.Note, "verify: 0 differences") {
		t.Errorf("ship scenario's books: %q", r.Note)
	}
	if code := run(context.Background(), []string{"bench", "--scenario", "delete"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown scenario "delete"`) {
		t.Errorf("an unknown scenario: exit %d, %s", code, stderr.String())
	}
}
