package server

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/pprof"

	"github.com/yerp/yerp/engine/auth"
)

// HeaderRequestID carries a request's id, in and out.
const HeaderRequestID = "X-Request-ID"

// maxRequestID bounds an incoming request id; a longer one, or one with
// other characters than requestIDChar allows, is replaced by a fresh id.
const maxRequestID = 128

// requestIDKey is the Locals key of the request id.
const requestIDKey = "request_id"

// RequestID returns the id of the request (set by the first middleware).
func RequestID(c fiber.Ctx) string { s, _ := c.Locals(requestIDKey).(string); return s }

// validRequestID reports whether an incoming id may be kept: 1 to
// maxRequestID letters, digits or ._:- (nothing a log line or a header could
// be broken with).
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !requestIDChar(id[i]) {
			return false
		}
	}
	return true
}

func requestIDChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == ':' || b == '-'
}

// Content security policies. An API answer is data, never a document to
// render: nothing may load, nothing may frame it. A page that sets its own
// policy (the UI, print layouts) keeps it, with frame-ancestors 'none' added
// when it says nothing about framing.
const (
	apiCSP     = "default-src 'none'; frame-ancestors 'none'"
	hstsMaxAge = "max-age=31536000" // one year; sent on HTTPS answers only
)

// observe is the first middleware of every request: it gives the request an
// id, answers errors (so that the log and the metrics see the final status),
// sets the security headers, marks cookies Secure over HTTPS, and writes one
// log line and the request metrics.
func observe(d Deps, log *slog.Logger, m *Metrics) fiber.Handler {
	return func(c fiber.Ctx) error {
		start := time.Now()
		own := c.Route() // this middleware's route: still current if nothing else matched
		id := c.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = rand.Text()
		}
		c.Locals(requestIDKey, id)
		c.Set(HeaderRequestID, id)
		m.inFlight.Add(1)
		defer m.inFlight.Add(-1)

		if err := c.Next(); err != nil {
			if herr := errorHandler(c, err); herr != nil {
				log.Error("error answer failed", "request_id", id, "err", herr)
				c.Status(fiber.StatusInternalServerError)
			}
		}

		https := c.Scheme() == "https"
		securityHeaders(c, https)
		if https || d.SecureCookies {
			secureCookies(c)
		}

		status := c.Response().StatusCode()
		route := c.Route().Path
		if c.Route() == own && !c.Matched() {
			route = "unmatched" // no route: a 404 or 405 of any path, one series
		}
		took := time.Since(start)
		m.observeRequest(c.Method(), route, status, took)

		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		size := len(c.Response().Body())
		if c.Response().IsBodyStream() { // the length, if known in advance, else -1
			size = c.Response().Header.ContentLength()
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", c.Method()),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.Int("bytes", size),
			slog.String("ip", c.IP()),
		}
		if s := session(c); s != nil && s.User != nil {
			attrs = append(attrs, slog.String("user", s.User.ID))
		}
		// Never the raw path or query: tracking links carry their token in
		// the path, and queries may carry anything.
		log.LogAttrs(c.Context(), level, "request", attrs...)
		return nil
	}
}

// securityHeaders sets the headers every answer carries unless its handler
// chose a stricter or more specific value.
func securityHeaders(c fiber.Ctx, https bool) {
	h := &c.Response().Header
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	csp := string(h.Peek(fiber.HeaderContentSecurityPolicy))
	switch {
	case csp == "":
		csp = apiCSP
		h.Set(fiber.HeaderContentSecurityPolicy, csp)
	case !strings.Contains(csp, "frame-ancestors"):
		csp += "; frame-ancestors 'none'"
		h.Set(fiber.HeaderContentSecurityPolicy, csp)
	}
	if len(h.Peek(fiber.HeaderXFrameOptions)) == 0 {
		// A print layout may be framed by the UI's own pages (frame-ancestors 'self').
		if strings.Contains(csp, "frame-ancestors 'self'") {
			h.Set(fiber.HeaderXFrameOptions, "SAMEORIGIN")
		} else {
			h.Set(fiber.HeaderXFrameOptions, "DENY")
		}
	}
	if len(h.Peek(fiber.HeaderReferrerPolicy)) == 0 {
		h.Set(fiber.HeaderReferrerPolicy, "same-origin")
	}
	if https {
		h.Set(fiber.HeaderStrictTransportSecurity, hstsMaxAge)
	}
}

// secureCookies marks every cookie of the answer Secure: the browser then
// never sends them over plain HTTP.
func secureCookies(c fiber.Ctx) {
	h := &c.Response().Header
	var names, cookies []string
	for name, cookie := range h.Cookies() {
		if !hasAttr(string(cookie), "secure") {
			names, cookies = append(names, string(name)), append(cookies, string(cookie))
		}
	}
	for i, name := range names {
		h.DelCookie(name)
		h.Add(fiber.HeaderSetCookie, cookies[i]+"; secure")
	}
}

// hasAttr reports whether a Set-Cookie value has the attribute attr.
func hasAttr(cookie, attr string) bool {
	parts := strings.Split(cookie, ";")
	for _, p := range parts[1:] {
		if strings.EqualFold(strings.TrimSpace(p), attr) {
			return true
		}
	}
	return false
}

// admin lets only an authenticated admin through: a bearer token (an API
// token or a session token) or the browser session cookie. 401 without valid
// credentials, 403 for a user without the admin role.
func admin(d Deps) fiber.Handler {
	return func(c fiber.Ctx) error {
		if d.Auth == nil {
			return problem(c, fiber.StatusNotFound, "", nil)
		}
		token := c.Cookies(sessionCookie)
		if h := c.Get(fiber.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") {
			token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		}
		if token == "" {
			return problem(c, fiber.StatusUnauthorized, "", nil)
		}
		s, err := d.Auth.Authenticate(c.Context(), token)
		if err != nil {
			if errors.Is(err, auth.ErrUnauthenticated) {
				return problem(c, fiber.StatusUnauthorized, "", nil)
			}
			return err
		}
		c.Locals("session", s)
		if !s.User.HasRole(auth.AdminRole) {
			return problem(c, fiber.StatusForbidden, "", nil)
		}
		return c.Next()
	}
}

// mountObservability registers /metrics and /debug/pprof.
func mountObservability(app *fiber.App, d Deps, m *Metrics) {
	metrics := func(c fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, metricsContentType)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Send(m.expose(c.Context()))
	}
	if d.MetricsPublic {
		app.Get("/metrics", metrics)
	} else {
		app.Get("/metrics", admin(d), metrics)
	}
	app.Use("/debug/pprof", admin(d), pprof.New())
}
