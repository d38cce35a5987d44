package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The names of the PocketBase results (cmd/yerp/bench_pocketbase.go) and of
// the yerp results they are compared with.
const (
	pbCreate = "pocketbase create (HTTP)"
	pbList   = "pocketbase list (HTTP)"
)

// pbComparison is yerp ÷ PocketBase for one scenario: throughput (higher is
// better for yerp) and p95 (lower is better); the target is yerp ≥
// PocketBase, so throughput ratio ≥ 1 and p95 ratio ≤ 1.
type pbComparison struct {
	Scenario   string  `json:"scenario"`
	Yerp       string  `json:"yerp"`
	PocketBase string  `json:"pocketbase"`
	Throughput float64 `json:"throughput_ratio"`
	P95        float64 `json:"p95_ratio"`
	Met        bool    `json:"met"`
}

// compareWithPocketBase pairs yerp's create and list with PocketBase's when
// both ran.
func compareWithPocketBase(results []benchResult) []pbComparison {
	find := func(match func(string) bool) *benchResult {
		for i := range results {
			if match(results[i].Name) {
				return &results[i]
			}
		}
		return nil
	}
	var out []pbComparison
	for _, p := range []struct {
		scenario string
		yerp     func(string) bool
		pb       string
	}{
		{"create", func(n string) bool { return n == "create (HTTP)" }, pbCreate},
		{"list", func(n string) bool { return strings.HasPrefix(n, "list (HTTP") }, pbList},
	} {
		y, pb := find(p.yerp), find(func(n string) bool { return n == p.pb })
		if y == nil || pb == nil || pb.PerSecond <= 0 || pb.P95 <= 0 {
			continue
		}
		c := pbComparison{Scenario: p.scenario, Yerp: y.Name, PocketBase: pb.Name, Throughput: y.PerSecond / pb.PerSecond, P95: y.P95 / pb.P95}
		c.Met = c.Throughput >= 1 && c.P95 <= 1
		out = append(out, c)
	}
	return out
}

func printJSON(w io.Writer, results []benchResult, runs int) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	out := map[string]any{"runs": runs, "results": results}
	if cs := compareWithPocketBase(results); cs != nil {
		out["pocketbase"] = cs
	}
	_ = enc.Encode(out)
}

func printTable(w io.Writer, results []benchResult, runs int) {
	fmt.Fprintf(w, "medians of %d run(s)\n", runs)
	fmt.Fprintf(w, "%-34s %9s %7s %11s %9s %9s %9s %9s\n", "scenario", "requests", "errors", "per second", "p50 ms", "p95 ms", "p99 ms", "max ms")
	for _, r := range results {
		if r.Max == 0 { // one operation over all rows (import): no latencies
			fmt.Fprintf(w, "%-34s %9d %7d %11.0f %9s %9s %9s %9s\n", r.Name, r.Requests, r.Errors, r.PerSecond, "-", "-", "-", "-")
			continue
		}
		fmt.Fprintf(w, "%-34s %9d %7d %11.0f %9.2f %9.2f %9.2f %9.2f\n", r.Name, r.Requests, r.Errors, r.PerSecond, r.P50, r.P95, r.P99, r.Max)
	}
	for _, r := range results {
		if runs > 1 {
			fmt.Fprintf(w, "%s: runs %s\n", r.Name, runList(r))
		}
	}
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Name, r.Note)
		}
		if r.PeakRSS > 0 {
			fmt.Fprintf(w, "%s: peak RSS %.0f MB (%s)\n", r.Name, r.PeakRSS, rssOf(r.Name))
		}
	}
	for _, r := range results {
		if r.Floor != "" {
			fmt.Fprintf(w, "%s ÷ %s (time per operation): %.2f×\n", r.Name, r.Floor, r.Ratio)
		}
	}
	for _, r := range results {
		for _, t := range r.Targets {
			fmt.Fprintf(w, "target %s: %s: %s%s (%.2f of the target): %s\n", r.Name, t.What, figure(t.Measured), unitSuffix(t.Unit), t.Ratio, metWord(t.Met))
		}
	}
	if cs := compareWithPocketBase(results); cs != nil {
		fmt.Fprintln(w, "yerp ÷ PocketBase (target: yerp ≥ PocketBase, throughput ratio ≥ 1 and p95 ratio ≤ 1):")
		for _, c := range cs {
			fmt.Fprintf(w, "  %-7s throughput %.2f×, p95 %.2f×: %s\n", c.Scenario, c.Throughput, c.P95, metWord(c.Met))
		}
	}
}

// printMarkdown prints the tables of docs/performance.md.
func printMarkdown(w io.Writer, results []benchResult, runs int) {
	fmt.Fprintf(w, "Medians of %d run(s) of `yerp bench`.\n\n", runs)
	fmt.Fprintln(w, "| scenario | per second | p50 | p95 | p99 | target | ratio against target | engine ÷ floor | runs (per second; p95) |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		lat := func(v float64) string {
			if r.Max == 0 {
				return "—"
			}
			return millis(v)
		}
		var what, ratio []string
		for _, t := range r.Targets {
			what = append(what, t.What)
			ratio = append(ratio, fmt.Sprintf("%s (%s%s, %s)", figure(t.Ratio), figure(t.Measured), unitSuffix(t.Unit), metWord(t.Met)))
		}
		floor := "—"
		if r.Floor != "" {
			floor = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name, figure(r.PerSecond), lat(r.P50), lat(r.P95), lat(r.P99),
			orDash(strings.Join(what, "; ")), orDash(strings.Join(ratio, "; ")), floor, runList(r))
	}
	var notes []string
	for _, r := range results {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.Name, r.Note))
		}
		if r.PeakRSS > 0 {
			notes = append(notes, fmt.Sprintf("- %s: peak RSS %.0f MB (%s)", r.Name, r.PeakRSS, rssOf(r.Name)))
		}
	}
	if notes != nil {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
	if cs := compareWithPocketBase(results); cs != nil {
		fmt.Fprintln(w, "\nyerp ÷ PocketBase (target: yerp ≥ PocketBase):")
		fmt.Fprintln(w, "\n| scenario | yerp ÷ PocketBase throughput | yerp ÷ PocketBase p95 | target met |")
		fmt.Fprintln(w, "| --- | --- | --- | --- |")
		for _, c := range cs {
			fmt.Fprintf(w, "| %s | %.2f× | %.2f× | %s |\n", c.Scenario, c.Throughput, c.P95, metWord(c.Met))
		}
	}
}

func runList(r benchResult) string {
	var ps, p95 []string
	for i, v := range r.Runs {
		ps = append(ps, figure(v))
		if r.Max > 0 && i < len(r.RunsP95) {
			p95 = append(p95, strconv.FormatFloat(r.RunsP95[i], 'f', 2, 64))
		}
	}
	s := strings.Join(ps, ", ")
	if p95 != nil {
		s += "; p95 " + strings.Join(p95, ", ") + " ms"
	}
	return s
}

// unitSuffix is how a target's unit follows its figure.
func unitSuffix(unit string) string {
	switch unit {
	case "", "×", "/s":
		return unit
	}
	return " " + unit
}

func metWord(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func millis(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " ms" }

// figure formats a number for people: thousands separated, two decimals
// below 10, none above.
func figure(v float64) string {
	if math.Abs(v) < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// rssOf says whose memory a result's peak RSS is.
func rssOf(name string) string {
	if strings.Contains(name, "yerp serve process") {
		return "the yerp serve process alone"
	}
	return "the whole process: server and in-process client"
}
