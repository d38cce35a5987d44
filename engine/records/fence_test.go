package records

import (
	"errors"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/store"
)

// TestFenceParksPostings: under a backup's fence a transition's posting is
// stored but parks with nothing applied, Settle returns once it is parked,
// Recover leaves it alone, a second backup is refused; once the fence is
// lowered the posting goes on and the books agree.
func TestFenceParksPostings(t *testing.T) {
	f := newLedgerFixture(t, "A100")
	f.open(t, "A100", "20")
	rec := f.doc(t, "goods_issue", f.wh, "A100", "3")

	fence, err := RaiseFence(ctx, f.st, "test backup", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RaiseFence(ctx, f.st, "second backup", time.Minute); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second fence: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.eng.Transition(ctx, f.ken, "goods_issue", rec.ID(), "issue", rec.Version(), nil)
		done <- err
	}()
	// Settle waits for the posting to park (or it was not staged yet).
	var parked store.Doc
	for parked == nil {
		if _, err := fence.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		page, err := f.st.Find(ctx, postingsColl, store.Query{Filter: store.Eq("status", postingPending), Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Docs {
			if d["parked"] == true {
				parked = d
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the transition ended under the fence: %v", err)
		default:
		}
	}
	f.wantStock(t, map[string]string{"A100": "20"}) // nothing applied
	if d, _ := f.st.Get(ctx, "goods_issue", rec.ID()); d["state"] != "draft" {
		t.Fatalf("the record moved under the fence: %v", d["state"])
	}
	// Recover does not claim a posting under the fence, even an old one.
	later := New(f.st, f.eng.model, Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if n, err := later.Recover(ctx, 0); err != nil || n != 0 {
		t.Fatalf("Recover under the fence: %d, %v", n, err)
	}

	if err := fence.Lower(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the transition after the fence: %v", err)
	}
	f.wantStock(t, map[string]string{"A100": "17"})
	if d, _ := f.st.Get(ctx, postingsColl, parked.ID()); d["status"] != postingDone || d["parked"] != nil {
		t.Fatalf("the parked posting after the fence: %v", d)
	}
	f.verify(t)
	// The fence is gone: a new backup may raise it.
	again, err := RaiseFence(ctx, f.st, "next backup", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Lower(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFenceOfADeadBackupIsTakenOver: a fence whose lease ran out does not
// hold postings and is taken over by the next backup.
func TestFenceOfADeadBackupIsTakenOver(t *testing.T) {
	f := newLedgerFixture(t, "A100")
	f.open(t, "A100", "20")
	if _, err := RaiseFence(ctx, f.st, "dead backup", -time.Second); err != nil {
		t.Fatal(err)
	}
	rec := f.doc(t, "goods_issue", f.wh, "A100", "2")
	if _, err := f.eng.Transition(ctx, f.ken, "goods_issue", rec.ID(), "issue", rec.Version(), nil); err != nil {
		t.Fatalf("a transition under a dead fence: %v", err)
	}
	fence, err := RaiseFence(ctx, f.st, "next backup", time.Minute)
	if err != nil {
		t.Fatalf("taking over a dead fence: %v", err)
	}
	if err := fence.Lower(ctx); err != nil {
		t.Fatal(err)
	}
	f.wantStock(t, map[string]string{"A100": "18"})
}
