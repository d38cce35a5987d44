package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The PocketBase comparison at a tiny size: PocketBase built from
// bench/pocketbase, run on loopback, creates and lists without errors, and
// its owner rule holds (a salesperson sees, reads and creates only their own
// orders); a second run reuses the list data set.
func TestPocketBaseComparison(t *testing.T) {
	ctx := context.Background()
	o := pbOptions{Dir: t.TempDir(), Clients: 2, Duration: time.Second, Lines: 3, Orders: 2000}
	rs, err := pocketBaseScenarios(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Name != pbCreate || rs[1].Name != pbList {
		t.Fatalf("results: %+v", rs)
	}
	for _, r := range rs {
		t.Logf("%s: %d requests, %.0f/s, p50 %.2f ms, p95 %.2f ms; %s", r.Name, r.Requests, r.PerSecond, r.P50, r.P95, r.Note)
		if r.Requests < 10 || r.Errors != 0 || r.PerSecond <= 0 || !(0 < r.P50 && r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if rs[0].Clients != 2 || !strings.Contains(rs[0].Note, "orders stored") {
		t.Errorf("create: %+v", rs[0])
	}

	// The list data set is kept: serve it again and check the rule for
	// other salespeople than the one the scenario measured.
	bin := filepath.Join(o.Dir, "pocketbase-bench")
	data := pbListDir(o.Dir, o)
	b, err := os.ReadFile(filepath.Join(data, pbSeedFile))
	if err != nil {
		t.Fatal(err)
	}
	var seed *pbSeed
	if err := json.Unmarshal(b, &seed); err != nil {
		t.Fatal(err)
	}
	s, err := startPocketBase(ctx, bin, data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if err := s.login(seed); err != nil {
		t.Fatal(err)
	}
	for _, who := range []int{0, 1, 199} {
		// 2,000 orders of 200 users: 10 each, the 1st and 6th drafts.
		if err := s.checkPage(seed, who, 2); err != nil {
			t.Errorf("user %d: %v", who, err)
		}
		var all struct {
			Items []struct{ ID, Owner string }
		}
		if err := s.send("GET", "/api/collections/sales_orders/records?perPage=500&skipTotal=1", s.tokens[who], nil, http.StatusOK, &all); err != nil {
			t.Fatal(err)
		}
		if len(all.Items) != 10 {
			t.Errorf("user %d sees %d orders, want their 10", who, len(all.Items))
		}
		for _, it := range all.Items {
			if it.Owner != seed.Users[who].ID {
				t.Errorf("user %d sees order %s of %s", who, it.ID, it.Owner)
			}
		}
		// Another's order by its id: not found for this user.
		other := (who + 1) % pbUsers
		if err := s.send("GET", "/api/collections/sales_orders/records/"+all.Items[0].ID, s.tokens[other], nil, http.StatusNotFound, nil); err != nil {
			t.Errorf("user %d reads an order of user %d: %v", other, who, err)
		}
	}
	s.stop()

	again, err := pocketBaseList(ctx, bin, data, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Requests == 0 || !strings.Contains(again.Note, "reused") {
		t.Errorf("second list run: %+v", again)
	}
}
