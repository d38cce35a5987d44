package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// servingURL finds the address in yerp serve's start-up line.
var servingURL = regexp.MustCompile(`url=(https?://[0-9.:]+)`)

// createOnServer runs the create load against "yerp serve" in a process of
// its own, over a copy of the create store, and samples that process's
// resident memory: the server's, without the load generator's, which the
// in-process figures include.
func (b *benchSite) createOnServer(ctx context.Context, clients int, d time.Duration, token string, body []byte) (benchResult, error) {
	var r benchResult
	dir, err := os.MkdirTemp(filepath.Dir(b.st.Path()), "serve-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if err := b.st.Backup(ctx, filepath.Join(dir, "yerp.db")); err != nil {
		return r, err
	}
	cmd := exec.Command(b.serveBin, "serve", "--data", dir, "--addr", "127.0.0.1:0")
	cmd.Env = os.Environ() // GOGC and GOMEMLIMIT as the operator sets them
	out, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start yerp serve: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(out)
	base := ""
	for base == "" && lines.Scan() {
		if m := servingURL.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		return r, fmt.Errorf("yerp serve did not say where it listens: %v", lines.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // its request log
	for {
		resp, err := b.http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	endpoint := base + "/api/v1/records/sales_order"
	rss := sampleRSS(100*time.Millisecond, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/status")
	lat, errs, took, ferr := runLoad(ctx, clients, d, func(int64) error {
		return b.request("POST", endpoint, token, body, http.StatusCreated, nil)
	})
	peak := rss()
	if errs > 0 {
		return r, fmt.Errorf("%d creates on yerp serve failed, the first: %w", errs, ferr)
	}
	r = summarize("create (HTTP, yerp serve process)", clients, lat, errs, took)
	r.PeakRSS = peak
	return r, nil
}
