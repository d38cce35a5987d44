package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchLogTo receives the bench command's progress (data sets built, runs
// done); benchCmd points it at stderr.
var benchLogTo io.Writer = io.Discard

func benchLog(format string, args ...any) {
	fmt.Fprintf(benchLogTo, "yerp bench: "+format+"\n", args...)
}

// sampleRSS samples a process's resident memory (its status file, see
// residentKB) every interval until the returned function is called, which
// returns the peak in MB (0 where the file is not available).
func sampleRSS(every time.Duration, status string) func() float64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb := residentKB(status); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		wg.Wait()
		if kb := residentKB(status); kb > peak.Load() {
			peak.Store(kb)
		}
		return float64(peak.Load()) / 1024
	}
}

// residentKB is VmRSS of a process's status file (/proc/self/status,
// /proc/PID/status), in kB (0 when unknown).
func residentKB(status string) int64 {
	f, err := os.Open(status)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// medians folds the results of every run into one result per scenario: the
// median of each figure, the runs' throughputs and p95, errors added up, the
// most differences any run's Verify found and the highest memory peak. The
// ratio to the floor is computed from the medians.
func medians(runs [][]benchResult) []benchResult {
	var order []string
	byName := map[string][]benchResult{}
	for _, rs := range runs {
		for _, r := range rs {
			if _, seen := byName[r.Name]; !seen {
				order = append(order, r.Name)
			}
			byName[r.Name] = append(byName[r.Name], r)
		}
	}
	out := make([]benchResult, 0, len(order))
	for _, name := range order {
		rs := byName[name]
		pick := func(f func(benchResult) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			return median(xs)
		}
		m := rs[len(rs)-1] // name, clients, floor, note of the last run
		m.Requests = int(pick(func(r benchResult) float64 { return float64(r.Requests) }))
		m.Seconds = pick(func(r benchResult) float64 { return r.Seconds })
		m.PerSecond = pick(func(r benchResult) float64 { return r.PerSecond })
		m.P50 = pick(func(r benchResult) float64 { return r.P50 })
		m.P95 = pick(func(r benchResult) float64 { return r.P95 })
		m.P99 = pick(func(r benchResult) float64 { return r.P99 })
		m.Max = pick(func(r benchResult) float64 { return r.Max })
		m.Steps = pick(func(r benchResult) float64 { return r.Steps })
		m.Errors, m.Runs, m.RunsP95 = 0, nil, nil
		for _, r := range rs {
			m.Errors += r.Errors
			m.Runs = append(m.Runs, r.PerSecond)
			m.RunsP95 = append(m.RunsP95, r.P95)
			m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
			if r.Differences != nil && (m.Differences == nil || *r.Differences > *m.Differences) {
				d := *r.Differences
				m.Differences = &d
			}
		}
		out = append(out, m)
	}
	for i := range out {
		if out[i].Floor == "" {
			continue
		}
		out[i].Ratio = 0
		if j := slices.IndexFunc(out, func(r benchResult) bool { return r.Name == out[i].Floor }); j >= 0 && out[i].PerSecond > 0 {
			out[i].Ratio = out[j].PerSecond / out[i].PerSecond
		}
	}
	return out
}

// benchTarget is one of issue #9's targets and how the median met it.
type benchTarget struct {
	What     string  `json:"what"`     // e.g. "p95 ≤ 15 ms"
	Unit     string  `json:"unit"`     // of Goal and Measured: "/s", "ms", "MB", "×" or ""
	Goal     float64 `json:"goal"`     // the target's number
	Measured float64 `json:"measured"` // the median figure compared with it
	AtMost   bool    `json:"at_most"`  // the figure must not exceed Goal (else reach it)
	Ratio    float64 `json:"ratio"`    // Measured ÷ Goal
	Met      bool    `json:"met"`
}

func target(what, unit string, goal, measured float64, atMost bool) benchTarget {
	t := benchTarget{What: what, Unit: unit, Goal: goal, Measured: measured, AtMost: atMost}
	if goal != 0 {
		t.Ratio = measured / goal
	}
	if atMost {
		t.Met = measured <= goal
	} else {
		t.Met = measured >= goal
	}
	return t
}

// judge adds issue #9's targets to the results they apply to (on this
// 2-core machine, embedded SQLite).
func judge(results []benchResult) {
	for i := range results {
		r := &results[i]
		var ts []benchTarget
		switch {
		case r.Name == "create (HTTP)":
			ts = append(ts, target("≥ 2,000 per second", "/s", 2000, r.PerSecond, false))
			if r.Floor != "" {
				ts = append(ts, target("engine ÷ floor ≤ 3×", "×", 3, r.Ratio, true))
			}
		case r.Name == "create (HTTP, yerp serve process)":
			// Its throughput is shown, not judged: the two processes' runtimes
			// contend for the machine's two cores, as one process's do not.
			if r.PeakRSS > 0 {
				ts = append(ts, target("server RSS ≤ 150 MB", "MB", 150, r.PeakRSS, true))
			}
		case strings.HasPrefix(r.Name, "list (HTTP"):
			ts = append(ts, target("p95 ≤ 15 ms", "ms", 15, r.P95, true))
			if r.Floor != "" {
				ts = append(ts, target("engine ÷ floor ≤ 3×", "×", 3, r.Ratio, true))
			}
		case strings.HasPrefix(r.Name, "ship (HTTP"):
			ts = append(ts, target("≥ 500 transitions with postings per second", "/s", 500, r.Steps, false))
			if r.Differences != nil {
				ts = append(ts, target("0 verify differences", "", 0, float64(*r.Differences), true))
			}
		case strings.HasPrefix(r.Name, "inbox (HTTP"):
			ts = append(ts, target("p95 ≤ 20 ms", "ms", 20, r.P95, true))
		case strings.HasPrefix(r.Name, "report (HTTP"):
			ts = append(ts, target("p95 ≤ 1 s per report", "ms", 1000, r.P95, true))
		case strings.HasPrefix(r.Name, "stocktake post (HTTP"):
			ts = append(ts, target("≤ 2 s per sheet", "ms", 2000, r.P50, true))
			if r.Differences != nil {
				ts = append(ts, target("0 verify differences", "", 0, float64(*r.Differences), true))
			}
		case strings.HasPrefix(r.Name, "import ("):
			ts = append(ts, target("≥ 10,000 rows per second", "/s", 10000, r.PerSecond, false))
		}
		r.Targets = ts
	}
}
