package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// httpFlags are serve's flags for HTTPS, reverse proxies, /metrics and the
// log (docs/operations.md).
type httpFlags struct {
	tlsCert, tlsKey *string
	proxies         *string
	secureCookies   *bool
	metricsPublic   *bool
	logFormat       *string
}

func addHTTPFlags(fs *flag.FlagSet) httpFlags {
	return httpFlags{
		tlsCert:       fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM file; with --tls-key)"),
		tlsKey:        fs.String("tls-key", "", "private key of --tls-cert (PEM file)"),
		proxies:       fs.String("trusted-proxies", "", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed"),
		secureCookies: fs.Bool("secure-cookies", false, "mark cookies Secure on every request (behind a TLS proxy that does not send X-Forwarded-Proto)"),
		metricsPublic: fs.Bool("metrics-public", false, "serve /metrics without authentication (otherwise only to an admin's bearer token or session)"),
		logFormat:     fs.String("log-format", "text", "format of the log on stderr: text (key=value) or json (one object a line)"),
	}
}

// trusted returns the trusted proxies, each checked to be an address or a
// CIDR range.
func (f httpFlags) trusted() ([]string, error) {
	var out []string
	for _, p := range strings.Split(*f.proxies, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is neither an IP address nor a CIDR range (like 10.0.0.0/8)", p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// tlsConfig is the TLS configuration of --tls-cert and --tls-key, nil when
// HTTPS is not served by yerp itself.
func (f httpFlags) tlsConfig() (*tls.Config, error) {
	if *f.tlsCert == "" && *f.tlsKey == "" {
		return nil, nil
	}
	if *f.tlsCert == "" || *f.tlsKey == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(*f.tlsCert, *f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// listen wraps ln in TLS when cfg is set, and returns the base URL served.
func listen(ln net.Listener, cfg *tls.Config) (net.Listener, string) {
	if cfg == nil {
		return ln, "http://" + ln.Addr().String()
	}
	return tls.NewListener(ln, cfg), "https://" + ln.Addr().String()
}

// logger is the server's log on w, in the format of --log-format.
func (f httpFlags) logger(w io.Writer) (*slog.Logger, error) {
	switch *f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", *f.logFormat)
}
