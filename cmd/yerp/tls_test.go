package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, made now, and
// returns their files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "yerp test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startServe runs "yerp serve" with args on a loopback port until the test
// ends, and returns the URL it serves and its log.
func startServe(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	t.Setenv("YERP_ADMIN_PASSWORD", "first-admin-password")
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data")}, args...)
	go func() { code <- run(ctx, args, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("serve exited with %d after shutdown: %s", c, stderr.String())
		}
	})
	urlRE := regexp.MustCompile(`https?://127\.0\.0\.1:[0-9]+`)
	for {
		if base := urlRE.FindString(stderr.String()); base != "" {
			return base, &stderr
		}
		select {
		case c := <-code:
			code <- c
			t.Fatalf("serve exited with %d: %s", c, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestServeTLS serves HTTPS with a certificate made for the test: the
// session cookie is Secure, and every answer (API, error, health, UI page)
// carries HSTS and the security headers.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	base, _ := startServe(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serving %s", base)
	}
	hc := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	do := func(method, path, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	login := do("POST", "/api/v1/auth/login", `{"username":"admin","password":"first-admin-password"}`)
	if login.StatusCode != 200 || login.TLS == nil {
		t.Fatalf("login over TLS: %d", login.StatusCode)
	}
	var session *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == "yerp_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Fatalf("session cookie over TLS: %+v (Set-Cookie %q)", session, login.Header.Values("Set-Cookie"))
	}

	for _, c := range []struct {
		name, method, path string
		status             int
		csp                []string
	}{
		{"login", "POST", "/api/v1/auth/login", 401, []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{"an API error", "GET", "/api/v1/auth/me", 401, []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{"liveness", "GET", "/healthz", 200, []string{"default-src 'none'", "frame-ancestors 'none'"}},
		{"the UI's login page", "GET", "/login", 200, []string{"script-src 'self'", "frame-ancestors 'none'"}},
		{"a UI page for someone signed out", "GET", "/", 303, []string{"frame-ancestors 'none'"}},
	} {
		resp := do(c.method, c.path, `{"username":"admin","password":"wrong"}`)
		if resp.StatusCode != c.status {
			t.Fatalf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
		}
		h := resp.Header
		if h.Get("Strict-Transport-Security") != "max-age=31536000" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "same-origin" || h.Get("X-Request-ID") == "" {
			t.Errorf("%s: headers %v", c.name, h)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range c.csp {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", c.name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") && strings.Contains(csp, "script-src") {
			t.Errorf("%s: inline scripts allowed: %q", c.name, csp)
		}
	}
}

// TestServeBehindAProxy: forwarded headers are believed from a trusted proxy
// only (here the test itself, on loopback).
func TestServeBehindAProxy(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		secure  bool
		spoofed bool // the log shows the forwarded address
	}{
		{"trusted", []string{"--trusted-proxies", "10.0.0.0/8,127.0.0.1", "--log-format", "json"}, true, true},
		{"not trusted", []string{"--trusted-proxies", "10.1.2.3", "--log-format", "json"}, false, false},
		{"no proxies, Secure cookies forced", []string{"--secure-cookies", "--log-format", "json"}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, log := startServe(t, c.args...)
			req, _ := http.NewRequest("POST", base+"/api/v1/auth/login", strings.NewReader(`{"username":"admin","password":"first-admin-password"}`))
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("X-Request-ID", "proxied-login")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || len(resp.Cookies()) == 0 {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			if secure := resp.Cookies()[0].Secure; secure != c.secure {
				t.Errorf("cookie Secure %v, want %v", secure, c.secure)
			}
			if hsts := resp.Header.Get("Strict-Transport-Security") != ""; hsts != (c.secure && c.spoofed) {
				t.Errorf("HSTS %v", hsts)
			}
			var line string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, `"request_id":"proxied-login"`) {
					line = l
				}
			}
			wantIP := `"ip":"127.0.0.1"`
			if c.spoofed {
				wantIP = `"ip":"203.0.113.7"`
			}
			if !strings.Contains(line, wantIP) {
				t.Errorf("log line %q lacks %s", line, wantIP)
			}
		})
	}
}

func TestServeFlagErrors(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tls-cert", certFile}, 1, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", certFile, "--tls-key", certFile}, 1, "--tls-cert/--tls-key"},
		{[]string{"--tls-cert", keyFile + ".missing", "--tls-key", keyFile}, 1, "no such file"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, 2, `"proxy.local" is neither an IP address nor a CIDR range`},
		{[]string{"--log-format", "xml"}, 2, "--log-format must be text or json"},
	} {
		var stdout, stderr syncBuffer
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data")}, c.args...)
		if got := run(context.Background(), args, &stdout, &stderr); got != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("yerp %v: exit %d, stderr %q; want exit %d mentioning %q", args, got, stderr.String(), c.code, c.want)
		}
	}
}
