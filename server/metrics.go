package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metricsContentType is the Prometheus text exposition format.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// Bucket upper bounds, in seconds: requests take milliseconds to seconds,
// store calls tenths of a millisecond to a second.
var (
	requestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	storeBuckets   = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
)

// backlogTTL is how long a counted backlog (outbox, approvals) is reused:
// scrapes every few seconds by several scrapers cost one count.
const backlogTTL = 15 * time.Second

// Backlog counts the work waiting in the store; the records engine is one.
type Backlog interface {
	OutboxPending(ctx context.Context) (int64, error)
	ApprovalsOpen(ctx context.Context) (int64, error)
}

// Metrics holds the process's measurements and writes them in the Prometheus
// text format (docs/operations.md lists every metric). It is safe for
// concurrent use. Label values come from bounded sets only: route patterns
// (never raw paths), methods, status classes and store operation names.
type Metrics struct {
	start    time.Time
	inFlight atomic.Int64

	mu       sync.RWMutex
	requests map[requestKey]*histogram
	store    map[string]*histogram
	failures map[string]*atomic.Uint64

	postingsStarted, postingsDone, postingsRolledBack atomic.Uint64

	backlogMu sync.Mutex
	backlog   Backlog
	counted   time.Time
	outbox    int64
	approvals int64
	countErr  error
	info      Info
}

type requestKey struct{ method, route, class string }

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{start: time.Now(), requests: map[requestKey]*histogram{}, store: map[string]*histogram{}, failures: map[string]*atomic.Uint64{}}
}

// histogram counts observations per bucket (not cumulative; exposition adds
// them up) with their sum.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1: the last is +Inf
	sum    atomic.Uint64   // float64 bits
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // first bound >= v: le is inclusive
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// observeRequest records one answered request.
func (m *Metrics) observeRequest(method, route string, status int, took time.Duration) {
	k := requestKey{method: method, route: route, class: strconv.Itoa(status/100) + "xx"}
	m.mu.RLock()
	h := m.requests[k]
	m.mu.RUnlock()
	if h == nil {
		m.mu.Lock()
		if h = m.requests[k]; h == nil {
			h = newHistogram(requestBuckets)
			m.requests[k] = h
		}
		m.mu.Unlock()
	}
	h.observe(took.Seconds())
}

// ObserveStore records one store call (engine/store/metered calls it):
// failed is true for an error other than an expected answer such as not
// found or a version conflict.
func (m *Metrics) ObserveStore(op string, took time.Duration, failed bool) {
	m.mu.RLock()
	h, f := m.store[op], m.failures[op]
	m.mu.RUnlock()
	if h == nil {
		m.mu.Lock()
		if h = m.store[op]; h == nil {
			h, f = newHistogram(storeBuckets), &atomic.Uint64{}
			m.store[op], m.failures[op] = h, f
		}
		f = m.failures[op]
		m.mu.Unlock()
	}
	h.observe(took.Seconds())
	if failed {
		f.Add(1)
	}
}

// ObservePosting records a posting's step: "started", "done" or
// "rolled_back" (engine/store/metered calls it).
func (m *Metrics) ObservePosting(status string) {
	switch status {
	case "started":
		m.postingsStarted.Add(1)
	case "done":
		m.postingsDone.Add(1)
	case "rolled_back":
		m.postingsRolledBack.Add(1)
	}
}

// setSource gives the metrics what they count at scrape time.
func (m *Metrics) setSource(b Backlog, info Info) {
	m.backlogMu.Lock()
	defer m.backlogMu.Unlock()
	m.backlog, m.info = b, info
}

// counts returns the backlog, counted at most once per backlogTTL; ok is
// false when there is nothing to count or counting failed.
func (m *Metrics) counts(ctx context.Context) (outbox, approvals int64, ok bool) {
	m.backlogMu.Lock()
	defer m.backlogMu.Unlock()
	if m.backlog == nil {
		return 0, 0, false
	}
	if time.Since(m.counted) >= backlogTTL {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		o, err := m.backlog.OutboxPending(ctx)
		var a int64
		if err == nil {
			a, err = m.backlog.ApprovalsOpen(ctx)
		}
		m.counted, m.countErr = time.Now(), err
		if err != nil {
			slog.Warn("metrics: counting the backlog failed", "err", err)
		} else {
			m.outbox, m.approvals = o, a
		}
	}
	return m.outbox, m.approvals, m.countErr == nil
}

// expose writes every metric in the Prometheus text format, families and
// series in a fixed order.
func (m *Metrics) expose(ctx context.Context) []byte {
	var b bytes.Buffer
	w := expo{&b}

	m.mu.RLock()
	reqKeys := make([]requestKey, 0, len(m.requests))
	for k := range m.requests {
		reqKeys = append(reqKeys, k)
	}
	ops := make([]string, 0, len(m.store))
	for op := range m.store {
		ops = append(ops, op)
	}
	m.mu.RUnlock()
	slices.SortFunc(reqKeys, func(a, b requestKey) int {
		return strings.Compare(a.route+"\x00"+a.method+"\x00"+a.class, b.route+"\x00"+b.method+"\x00"+b.class)
	})
	slices.Sort(ops)
	hist := func(k requestKey) *histogram { m.mu.RLock(); defer m.mu.RUnlock(); return m.requests[k] }
	labels := func(k requestKey) []string { return []string{"method", k.method, "route", k.route, "status", k.class} }

	w.family("yerp_http_requests_total", "counter", "HTTP requests answered, by method, route pattern and status class.")
	for _, k := range reqKeys {
		w.sample("yerp_http_requests_total", labels(k), float64(hist(k).total()))
	}
	w.family("yerp_http_request_duration_seconds", "histogram", "Time to answer HTTP requests, by method, route pattern and status class.")
	for _, k := range reqKeys {
		w.histogram("yerp_http_request_duration_seconds", labels(k), hist(k))
	}
	w.family("yerp_http_requests_in_flight", "gauge", "HTTP requests being answered now.")
	w.sample("yerp_http_requests_in_flight", nil, float64(m.inFlight.Load()))

	m.mu.RLock()
	storeHists := make([]*histogram, len(ops))
	storeFails := make([]uint64, len(ops))
	for i, op := range ops {
		storeHists[i], storeFails[i] = m.store[op], m.failures[op].Load()
	}
	m.mu.RUnlock()
	w.family("yerp_store_operation_duration_seconds", "histogram", "Time of store calls, by operation.")
	for i, op := range ops {
		w.histogram("yerp_store_operation_duration_seconds", []string{"operation", op}, storeHists[i])
	}
	w.family("yerp_store_operation_errors_total", "counter", "Store calls that failed (not counting not found, version conflicts, duplicates and unmet conditions), by operation.")
	for i, op := range ops {
		w.sample("yerp_store_operation_errors_total", []string{"operation", op}, float64(storeFails[i]))
	}

	w.family("yerp_postings_started_total", "counter", "Postings (the all-or-nothing writes of a transition) started by this process.")
	w.sample("yerp_postings_started_total", nil, float64(m.postingsStarted.Load()))
	w.family("yerp_postings_done_total", "counter", "Postings completed by this process, including ones it recovered.")
	w.sample("yerp_postings_done_total", nil, float64(m.postingsDone.Load()))
	w.family("yerp_postings_rolled_back_total", "counter", "Postings rolled back by this process, including ones it recovered.")
	w.sample("yerp_postings_rolled_back_total", nil, float64(m.postingsRolledBack.Load()))

	outbox, approvals, ok := m.counts(ctx)
	if ok {
		w.family("yerp_outbox_pending", "gauge", "Webhook deliveries waiting in the outbox (counted at most every 15 s).")
		w.sample("yerp_outbox_pending", nil, float64(outbox))
		w.family("yerp_approvals_pending", "gauge", "Open approvals waiting for a decision (counted at most every 15 s).")
		w.sample("yerp_approvals_pending", nil, float64(approvals))
	}

	m.backlogMu.Lock()
	info := m.info
	m.backlogMu.Unlock()
	w.family("yerp_build_info", "gauge", "Always 1; the labels name the version and the store backend.")
	w.sample("yerp_build_info", []string{"version", info.Version, "store", info.Store}, 1)
	w.family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.")
	w.sample("process_start_time_seconds", nil, float64(m.start.UnixNano())/1e9)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.family("go_goroutines", "gauge", "Number of goroutines that currently exist.")
	w.sample("go_goroutines", nil, float64(runtime.NumGoroutine()))
	w.family("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.")
	w.sample("go_memstats_heap_alloc_bytes", nil, float64(ms.HeapAlloc))
	w.family("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from the system.")
	w.sample("go_memstats_sys_bytes", nil, float64(ms.Sys))
	w.family("go_gc_cycles_total", "counter", "Completed garbage collection cycles.")
	w.sample("go_gc_cycles_total", nil, float64(ms.NumGC))
	return b.Bytes()
}

// total is the number of observations.
func (h *histogram) total() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// expo writes the text exposition format, version 0.0.4.
type expo struct{ b *bytes.Buffer }

func (w expo) family(name, kind, help string) {
	fmt.Fprintf(w.b, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, kind)
}

// sample writes one line; labels are name, value pairs.
func (w expo) sample(name string, labels []string, v float64) {
	w.b.WriteString(name)
	if len(labels) > 0 {
		w.b.WriteByte('{')
		for i := 0; i < len(labels); i += 2 {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(labels[i])
			w.b.WriteString(`="`)
			w.b.WriteString(escapeLabel(labels[i+1]))
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(formatFloat(v))
	w.b.WriteByte('\n')
}

// histogram writes the cumulative buckets, the sum and the count of h.
func (w expo) histogram(name string, labels []string, h *histogram) {
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		w.sample(name+"_bucket", append(slices.Clip(labels), "le", le), float64(cum))
	}
	w.sample(name+"_sum", labels, math.Float64frombits(h.sum.Load()))
	w.sample(name+"_count", labels, float64(cum))
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
