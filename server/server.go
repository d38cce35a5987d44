// Package server is yerp's HTTP side (Fiber): it decodes requests, calls the
// engine and encodes answers. It knows nothing of SQL or BSON: storage is reached
// only through the engine and the store contract.
package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v3"
)

// Pinger is what the health check needs of the store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Info describes the running server for the health endpoint.
type Info struct {
	Version string // the binary's version
	Store   string // which backend: "sqlite" or "mongodb"
}

// New returns the HTTP application.
//
//	GET /healthz  200 {"status":"ok",...} when the store answers within 2 s, 503 otherwise
func New(st Pinger, info Info) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:      "yerp",
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  2 * time.Minute,
	})
	app.Get("/healthz", func(c fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.Context(), 2*time.Second)
		defer cancel()
		body := fiber.Map{"version": info.Version, "store": info.Store}
		if err := st.Ping(ctx); err != nil {
			body["status"] = "unavailable"
			body["error"] = err.Error()
			return c.Status(fiber.StatusServiceUnavailable).JSON(body)
		}
		body["status"] = "ok"
		return c.JSON(body)
	})
	return app
}
