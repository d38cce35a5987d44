// Package server is yerp's HTTP side (Fiber): it decodes requests, calls the
// engine and encodes answers. It knows nothing of SQL or BSON: storage is reached
// only through the engine and the store contract.
package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
)

// Pinger is what the readiness check needs of the store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Info describes the running server for the health endpoints.
type Info struct {
	Version string // the binary's version
	Store   string // which backend: "sqlite" or "mongodb"
}

// Deps are the services the server calls. Store is required; without Auth,
// Records and Packages only the health endpoints are served.
type Deps struct {
	Store    Pinger
	Auth     *auth.Service
	Records  *records.Engine
	Packages *packages.Service
	// Reports runs the packages' reports; without it the report routes are
	// not served.
	Reports *reports.Engine
	Info    Info
	// SecureCookies marks the session cookie Secure (set when serving TLS or
	// behind a TLS proxy). Cookies of a request that came over HTTPS (directly
	// or, per a trusted proxy, to the proxy) are Secure regardless.
	SecureCookies bool
	// Log receives one line per request (observe.go); nil: no request log
	// (tests, benchmarks).
	Log *slog.Logger
	// Metrics collects what /metrics shows; nil: New makes its own (without
	// the store's measurements, which need engine/store/metered).
	Metrics *Metrics
	// MetricsPublic serves /metrics to anyone who reaches it; otherwise only
	// to an admin (bearer token or session).
	MetricsPublic bool
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto headers are believed.
	TrustedProxies []string
}

// New returns the HTTP application.
//
//	GET /healthz  200 while the process serves (liveness)
//	GET /readyz   200 when the store answers within 2 s, 503 otherwise
//	GET /metrics  Prometheus metrics (metrics.go), to an admin unless MetricsPublic
//	/debug/pprof/ the Go profiler, to an admin only
//	/api/v1/...   the REST API (see api.go)
//
// Every answer carries an X-Request-ID and the security headers, and is
// logged in one line (observe.go).
func New(d Deps) *fiber.App {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := d.Metrics
	if m == nil {
		m = NewMetrics()
	}
	var backlog Backlog
	if d.Records != nil {
		backlog = d.Records
	}
	m.setSource(backlog, d.Info)
	app := fiber.New(fiber.Config{
		AppName:      "yerp",
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  2 * time.Minute,
		// The largest default attachment (records.DefaultMaxFile) and its
		// multipart framing fit; a larger body is refused with 413.
		BodyLimit: records.DefaultMaxFile + 1<<20,
		// The request line and headers may take 32 KiB (fasthttp's default is
		// 4 KiB): a list's filter travels in the query string, and one naming
		// a few dozen customers by id is longer than 4 KiB. Beyond it the
		// server answers 431 and closes the connection.
		ReadBufferSize: 32 << 10,
		ErrorHandler:   errorHandler,
		JSONEncoder:    encodeJSON, // encoding/json's bytes, faster (jsonenc.go)
		// Params, queries and headers are otherwise views into a buffer that
		// the next request reuses; the engine and the stores keep some of them
		// (a collection name from :entity in the SQLite catalog).
		Immutable: true,
		// Behind a reverse proxy, c.IP() and c.Scheme() believe its
		// X-Forwarded-For and X-Forwarded-Proto, and only its.
		TrustProxy:         len(d.TrustedProxies) > 0,
		TrustProxyConfig:   fiber.TrustProxyConfig{Proxies: d.TrustedProxies},
		ProxyHeader:        proxyHeader(d.TrustedProxies),
		EnableIPValidation: true,
	})
	app.Use(observe(d, log, m))
	app.Get("/healthz", func(c fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok", "version": d.Info.Version, "store": d.Info.Store})
	})
	app.Get("/readyz", func(c fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.Context(), 2*time.Second)
		defer cancel()
		body := fiber.Map{"version": d.Info.Version, "store": d.Info.Store}
		if err := d.Store.Ping(ctx); err != nil {
			body["status"] = "unavailable"
			body["error"] = err.Error()
			return c.Status(fiber.StatusServiceUnavailable).JSON(body)
		}
		body["status"] = "ok"
		return c.JSON(body)
	})
	mountObservability(app, d, m)
	if d.Auth != nil && d.Records != nil && d.Packages != nil {
		mountAPI(app, d)
	}
	return app
}

// proxyHeader is the header that names the client when proxies are trusted.
func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}
