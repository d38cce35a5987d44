// Package mongotest runs the MongoDB backend against an in-process FerretDB v1
// with its SQLite handler, for tests.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo"
)

// newMu serializes ferretdb.New, which writes package state of FerretDB.
var newMu sync.Mutex

// Start runs a FerretDB server on a free loopback port with its data in a
// temporary directory of t, waits until it accepts connections, and returns
// its MongoDB URI. The server stops when t ends.
func Start(t testing.TB) (uri string) {
	t.Helper()
	var (
		f    *ferretdb.FerretDB
		addr string
		err  error
	)
	for attempt := 0; attempt < 5; attempt++ {
		// The port is free when picked but may be taken before FerretDB
		// listens on it: try another one.
		if addr, err = freeAddr(); err != nil {
			continue
		}
		newMu.Lock()
		f, err = ferretdb.New(&ferretdb.Config{
			Listener:  ferretdb.ListenerConfig{TCP: addr},
			Handler:   "sqlite",
			SQLiteURL: "file:" + t.TempDir() + "/",
			Logger:    slog.New(slog.DiscardHandler),
		})
		newMu.Unlock()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("mongotest: start FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mongotest: FerretDB does not accept connections on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "mongodb://" + addr + "/"
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	return addr, nil
}

// Open starts a FerretDB server for t and returns a store on a database of its
// own, closed when t ends.
func Open(t testing.TB) store.Store {
	t.Helper()
	uri := Start(t)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, uri, "yerp_"+hex.EncodeToString(b))
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("mongotest: %v", err)
		}
	})
	return s
}
