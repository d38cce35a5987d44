package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// Login rate limiting.
//
// Each username and each IP has one counter document per fixed window
// (Options.LimitWindow, 15 minutes by default), shared by every process
// through the store. A login attempt first takes a slot in both counters with
// a guarded, upserting increment (attempts < limit); when a counter is full
// the attempt is refused with a *RateLimitError before any password is
// checked, even a right one. A successful login gives its slots back, so the
// counters count failed (and in-flight) attempts. Nothing is ever reset: a
// success does not clear earlier failures of the username or the IP; the
// window's end does.
//
// Because a slot is taken before the password is checked, N concurrent wrong
// attempts against a limit L count exactly min(N, L) failures and the other
// attempts are refused without being tried.
//
// An empty IP (the CLI, tests) is not limited per IP. IPv6 addresses count per
// /64, the block one host usually holds.

// limiter is one counter of a login attempt: a key in its window.
type limiter struct {
	kind  string // "username" or "ip"
	id    string // document id
	limit int
	end   time.Time // end of the window
}

// limiters returns the counters a login by username from ip must pass.
func (s *Service) limiters(username, ip string) []limiter {
	now := s.clock()
	start := now.Truncate(s.opts.LimitWindow)
	end := start.Add(s.opts.LimitWindow)
	mk := func(kind, key string, limit int) limiter {
		sum := sha256.Sum256([]byte(kind + "\x00" + key))
		// The key may be any user input: hashing it keeps the id short and safe.
		id := fmt.Sprintf("%s-%d-%s", kind, start.Unix(), hex.EncodeToString(sum[:16]))
		return limiter{kind: kind, id: id, limit: limit, end: end}
	}
	var ls []limiter
	if key := IPKey(ip); key != "" {
		ls = append(ls, mk("ip", key, s.opts.IPLimit))
	}
	return append(ls, mk("username", username, s.opts.UserLimit))
}

// IPKey is the rate-limit key of an IP: the address, an IPv6 one cut to its
// /64 (the block one host usually holds); an unparsable non-empty IP is used
// as given.
func IPKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

var one = decimal.FromInt(1)

// take takes a slot in every counter, or none: when one is full it gives back
// those taken and returns a *RateLimitError.
func (s *Service) take(ctx context.Context, ls []limiter) error {
	for i, l := range ls {
		_, err := s.st.Increment(ctx, AttemptsCollection, store.Inc{
			ID:          l.id,
			Deltas:      map[string]decimal.Decimal{"attempts": one},
			If:          store.Lt("attempts", l.limit),
			Upsert:      true,
			SetOnInsert: store.Doc{"kind": l.kind, "expires_at": l.end},
		})
		if err == nil {
			continue
		}
		if gerr := s.giveBack(ctx, ls[:i]); gerr != nil {
			return gerr
		}
		if errors.Is(err, store.ErrCondition) {
			retry := l.end.Sub(s.now()).Round(time.Second)
			return &RateLimitError{Key: l.kind, RetryAfter: max(retry, time.Second)}
		}
		return fmt.Errorf("login rate limit: %w", err)
	}
	return nil
}

// giveBack returns slots taken by take.
func (s *Service) giveBack(ctx context.Context, ls []limiter) error {
	for _, l := range ls {
		_, err := s.st.Increment(ctx, AttemptsCollection, store.Inc{
			ID:     l.id,
			Deltas: map[string]decimal.Decimal{"attempts": one.Neg()},
			If:     store.Gt("attempts", 0),
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCondition) {
			// Missing or empty: cleaned up meanwhile, nothing to give back.
			return fmt.Errorf("login rate limit: %w", err)
		}
	}
	return nil
}
