package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// A short yerp bench run of every yerp scenario, twice: every scenario
// completes without errors, reports latencies in order, compares itself with
// its raw floor where it has one, folds the two runs into medians with both
// runs listed, judges its targets, and the ship and stocktake scenarios leave
// books that agree with the ledgers.
func TestBenchCommand(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"bench", "--scenario", "create,list,ship,inbox,report,stocktake,import", "--runs", "2",
		"--duration", "200ms", "--orders", "2000", "--clients", "4", "--ship-clients", "4", "--lines", "3", "--approvals", "60",
		"--report-lines", "600", "--stocktake-lines", "30", "--import-rows", "200", "--json", "--data", t.TempDir(),
		"--serve-bin", buildYerp(t)}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("yerp bench: exit %d\n%s", code, stderr.String())
	}
	var out struct {
		Runs    int
		Results []benchResult
	}
	if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if out.Runs != 2 {
		t.Errorf("runs: %d", out.Runs)
	}
	names := map[string]benchResult{}
	for _, r := range out.Results {
		names[r.Name] = r
		if r.Requests == 0 || r.Errors != 0 || r.PerSecond <= 0 || !(r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) || !strings.HasPrefix(r.Name, "import") && r.Max == 0 {
			t.Errorf("%s: %+v", r.Name, r)
		}
		runs := 2
		if strings.HasPrefix(r.Name, "stocktake entry") { // the first run enters the sheet through the API
			runs = 1
		}
		if len(r.Runs) != runs || len(r.RunsP95) != runs || r.PerSecond < slices.Min(r.Runs) || r.PerSecond > slices.Max(r.Runs) {
			t.Errorf("%s: the median %v is not of the runs %v", r.Name, r.PerSecond, r.Runs)
		}
	}
	for _, want := range []string{"create (HTTP)", "create (raw insert)", "create (HTTP, yerp serve process)", "list (HTTP, 2000)", "list (raw find, 2000)", "ship (HTTP, whole order)",
		"inbox (HTTP, 60 pending)", "inbox (raw find, 60 pending)",
		"report (HTTP, sales_by_customer_month)", "report (raw aggregate, sales_by_customer_month)",
		"report (HTTP, sales_by_customer)", "report (raw aggregate, sales_by_customer)", "report (HTTP, sales_by_month)", "report (raw aggregate, sales_by_month)",
		"report (HTTP, sales_by_item)", "report (raw aggregate, sales_by_item)",
		"stocktake entry (HTTP, 20 lines)", "stocktake post (HTTP, 30 lines)", "stocktake floor (30 lines)",
		"import (200 customers)", "import floor (InsertMany, 200)"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no result %q in %v", want, out.Results)
		}
	}
	for name, floor := range map[string]string{"create (HTTP)": "create (raw insert)", "list (HTTP, 2000)": "list (raw find, 2000)",
		"inbox (HTTP, 60 pending)": "inbox (raw find, 60 pending)", "report (HTTP, sales_by_item)": "report (raw aggregate, sales_by_item)",
		"stocktake post (HTTP, 30 lines)": "stocktake floor (30 lines)", "import (200 customers)": "import floor (InsertMany, 200)"} {
		r := names[name]
		if r.Floor != floor || r.Ratio <= 0 || r.Ratio != names[floor].PerSecond/r.PerSecond {
			t.Errorf("%s compared with its floor %s: %+v", name, floor, r)
		}
	}
	if r := names["create (HTTP)"]; r.PeakRSS <= 0 || len(r.Targets) != 2 {
		t.Errorf("create: peak RSS %v MB, targets %+v", r.PeakRSS, r.Targets)
	}
	if r := names["create (HTTP, yerp serve process)"]; r.PeakRSS <= 0 || len(r.Targets) != 1 || r.Targets[0].What != "server RSS ≤ 150 MB" {
		t.Errorf("create on yerp serve: peak RSS %v MB, targets %+v", r.PeakRSS, r.Targets)
	}
	for _, name := range []string{"ship (HTTP, whole order)", "stocktake post (HTTP, 30 lines)"} {
		if r := names[name]; r.Differences == nil || *r.Differences != 0 {
			t.Errorf("%s: the books after it: %+v", name, r)
		}
	}
	if r := names["ship (HTTP, whole order)"]; r.Steps <= 0 || !strings.HasSuffix(r.Note, "verify: 0 differences") {
		t.Errorf("ship scenario: %+v", r)
	}
	if r := names["inbox (HTTP, 60 pending)"]; !strings.Contains(r.Note, "50 approvals of 60") {
		t.Errorf("inbox scenario: %q", r.Note)
	}
	for _, r := range out.Results {
		for _, tg := range r.Targets {
			if met := tg.AtMost && tg.Measured <= tg.Goal || !tg.AtMost && tg.Measured >= tg.Goal; met != tg.Met {
				t.Errorf("%s: target %+v judged wrongly", r.Name, tg)
			}
		}
		if isEngine := strings.Contains(r.Name, "(HTTP") || strings.HasPrefix(r.Name, "import ("); isEngine && !strings.HasPrefix(r.Name, "stocktake entry") && len(r.Targets) == 0 {
			t.Errorf("%s has no target", r.Name)
		}
	}

	// The same results as a table and as Markdown, with PocketBase's beside
	// them as bench_pocketbase.go names them.
	results := append(slices.Clone(out.Results),
		benchResult{Name: pbCreate, Requests: 10, PerSecond: names["create (HTTP)"].PerSecond / 2, P50: 1, P95: names["create (HTTP)"].P95 * 2, P99: 3, Max: 4},
		benchResult{Name: pbList, Requests: 10, PerSecond: names["list (HTTP, 2000)"].PerSecond * 4, P50: 1, P95: names["list (HTTP, 2000)"].P95 / 4, P99: 3, Max: 4})
	cs := compareWithPocketBase(results)
	if len(cs) != 2 || cs[0].Throughput != 2 || cs[0].P95 != 0.5 || !cs[0].Met || cs[1].Throughput != 0.25 || cs[1].P95 != 4 || cs[1].Met {
		t.Errorf("yerp ÷ PocketBase: %+v", cs)
	}
	var table, md strings.Builder
	printTable(&table, results, 2)
	printMarkdown(&md, results, 2)
	for _, want := range []string{"medians of 2 run(s)", "target inbox (HTTP, 60 pending): p95 ≤ 20 ms:", "yerp ÷ PocketBase", "create  throughput 2.00×, p95 0.50×: met", "list    throughput 0.25×, p95 4.00×: missed", "peak RSS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	for _, want := range []string{"| scenario | per second | p50 | p95 | p99 | target | ratio against target | engine ÷ floor | runs (per second; p95) |",
		"| inbox (HTTP, 60 pending) |", "p95 ≤ 20 ms", "| create | 2.00× | 0.50× | met |", "| list | 0.25× | 4.00× | missed |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md.String())
		}
	}

	if code := run(context.Background(), []string{"bench", "--scenario", "delete"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown scenario "delete"`) {
		t.Errorf("an unknown scenario: exit %d, %s", code, stderr.String())
	}
}

// Medians of runs: each figure's median (the mean of the middle two for an
// even count), errors added up, the worst Verify, and the ratio to the floor
// from the medians, not the median of the ratios.
func TestBenchMedians(t *testing.T) {
	two, zero := 2, 0
	runs := [][]benchResult{
		{{Name: "a", PerSecond: 100, P95: 9, Floor: "f", Ratio: 7, Differences: &zero}, {Name: "f", PerSecond: 400}},
		{{Name: "a", PerSecond: 300, P95: 1, Errors: 1, Differences: &two, Floor: "f"}, {Name: "f", PerSecond: 500}},
		{{Name: "a", PerSecond: 200, P95: 5, Floor: "f"}, {Name: "f", PerSecond: 900}},
	}
	ms := medians(runs)
	if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "f" {
		t.Fatalf("medians: %+v", ms)
	}
	a := ms[0]
	if a.PerSecond != 200 || a.P95 != 5 || a.Errors != 1 || *a.Differences != 2 || a.Ratio != 2.5 || !slices.Equal(a.Runs, []float64{100, 300, 200}) || !slices.Equal(a.RunsP95, []float64{9, 1, 5}) {
		t.Errorf("a: %+v", a)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of an even count: %v", m)
	}
}
