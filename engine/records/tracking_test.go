package records

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/store"
)

const trackedOrder = salesOrder + `tracking:
  fields: [state, customer, lines, total]
  feedback: true
`

// trackClock is a settable clock for engines under test.
type trackClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *trackClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *trackClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestTrackingLinkExpiresAndRevokesEverywhere(t *testing.T) {
	f := setupWith(t, trackedOrder)
	clk := &trackClock{t: time.Now()}
	one := New(f.st, f.svc.Model, Options{Now: clk.now})
	other := New(f.st, f.svc.Model, Options{Now: clk.now}) // another server process
	order := f.order(t, f.alice, map[string]any{"item": f.ids["A100"], "qty": "2"})

	_, expiring, err := one.CreateTrackingLink(ctx, f.alice, "sales_order", order.ID(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	link, token, err := one.CreateTrackingLink(ctx, f.alice, "sales_order", order.ID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Engine{one, other} {
		page, err := e.OpenTracking(ctx, expiring, "en")
		if err != nil || page.Number != order[fNumber] {
			t.Fatalf("open: %v %+v", err, page)
		}
	}
	// Hidden from sales, the cost is no column of the page's table.
	page, _ := other.OpenTracking(ctx, token, "zh-CN")
	for _, fl := range page.Fields {
		for _, c := range fl.Columns {
			if c.Name == "cost" {
				t.Fatalf("the page shows the cost: %+v", fl)
			}
		}
	}

	clk.add(2 * time.Hour)
	for _, e := range []*Engine{one, other} {
		if _, err := e.OpenTracking(ctx, expiring, "en"); !errors.Is(err, ErrLinkGone) {
			t.Fatalf("expired link: %v", err)
		}
		if _, err := e.OpenTracking(ctx, token, "en"); err != nil {
			t.Fatalf("link without expiry: %v", err)
		}
	}
	if err := one.RevokeTrackingLink(ctx, f.alice, "sales_order", order.ID(), link.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.OpenTracking(ctx, token, "en"); !errors.Is(err, ErrLinkGone) {
		t.Fatalf("revoked link on the other process: %v", err)
	}
	if err := other.Feedback(ctx, token, "10.0.0.1", "hello"); !errors.Is(err, ErrLinkGone) {
		t.Fatalf("feedback on a revoked link: %v", err)
	}

	// What the store holds gives no working link: neither the token nor a
	// token made of a stored hash.
	page2, err := f.st.Find(ctx, trackingLinksColl, store.Query{Limit: 10})
	if err != nil || len(page2.Docs) != 2 {
		t.Fatalf("links %v %v", page2.Docs, err)
	}
	for _, d := range page2.Docs {
		if s := fmt.Sprint(d); strings.Contains(s, token) || strings.Contains(s, expiring) || strings.Contains(s, token[:40]) {
			t.Fatalf("a stored link holds its token: %v", d)
		}
		if _, err := one.OpenTracking(ctx, fmt.Sprint(d["hash"]), "en"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a stored hash opens a page: %v", err)
		}
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, c := range []struct {
		in     string
		places int
		group  bool
		want   string
	}{
		{"0", 2, true, "0.00"},
		{"1234.5", 2, true, "1,234.50"},
		{"-1234567.891", 2, true, "-1,234,567.89"},
		{"999.995", 2, true, "1,000.00"},
		{"3.000", -1, true, "3"},
		{"2.500", -1, true, "2.5"},
		{"12.5", -1, false, "12.5"},
		{"100", 0, false, "100"},
	} {
		if got := formatDecimal(dec(c.in), c.places, c.group); got != c.want {
			t.Errorf("formatDecimal(%s, %d, %v) = %q, want %q", c.in, c.places, c.group, got, c.want)
		}
	}
}
