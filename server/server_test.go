package server

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/store/sqlite"
)

// serve runs app on a loopback port for the test and returns its base URL.
func serve(t testing.TB, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestReadyz(t *testing.T) {
	open := func(t *testing.T) *sqlite.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	up := open(t)
	defer up.Close()
	down := open(t)
	down.Close() // a store that no longer answers

	for _, c := range []struct {
		name   string
		st     Pinger
		code   int
		status string
	}{
		{"store answers", up, http.StatusOK, "ok"},
		{"store closed", down, http.StatusServiceUnavailable, "unavailable"},
	} {
		base := serve(t, New(Deps{Store: c.st, Info: Info{Version: "test", Store: "sqlite"}}))
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.code || body["status"] != c.status || body["version"] != "test" {
			t.Errorf("%s: %d %v; want %d status %s", c.name, resp.StatusCode, body, c.code, c.status)
		}
		if c.code != http.StatusOK && body["error"] == "" {
			t.Errorf("%s: no error text in %v", c.name, body)
		}
	}
}
