// Package auth holds yerp's users, passwords, sessions and API tokens, and the
// login rate limits. It knows no HTTP: the server reads the token from a cookie
// or an Authorization header and calls Authenticate, checks the CSRF header with
// CheckCSRF, and maps the errors below to responses.
//
// Everything lives in the store, so several server processes share users,
// sessions and rate-limit counters; every write is atomic on one document
// (unique indexes, version-guarded replaces and guarded increments), never a
// multi-document transaction.
//
// # Collections
//
//	sys_users           one document per user; unique index on username
//	sys_sessions        _id = hex SHA-256 of the session token
//	sys_tokens          _id = hex SHA-256 of the API token
//	sys_login_attempts  one fixed-window failure counter per username or IP
//
// Plain tokens and passwords are never stored, logged or put in an error.
package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/yerp/yerp/engine/store"
)

// Collections of the service.
const (
	UsersCollection    = "sys_users"
	SessionsCollection = "sys_sessions"
	TokensCollection   = "sys_tokens"
	AttemptsCollection = "sys_login_attempts"
)

// Defaults of Options.
const (
	DefaultIdleTimeout     = 12 * time.Hour
	DefaultAbsoluteTimeout = 7 * 24 * time.Hour
	DefaultRefreshEvery    = time.Minute
	DefaultLimitWindow     = 15 * time.Minute
	DefaultUserLimit       = 10
	DefaultIPLimit         = 50
)

// Errors callers branch on with errors.Is. They are returned wrapped with
// context; ErrRateLimited comes as a *RateLimitError carrying when to retry.
var (
	// ErrBadCredentials: unknown user, wrong password or disabled user at login
	// (one error for all three, so a caller cannot tell which usernames exist).
	ErrBadCredentials = errors.New("auth: wrong username or password")
	// ErrRateLimited: too many failed logins for the username or the IP.
	ErrRateLimited = errors.New("auth: too many failed logins")
	// ErrUnauthenticated: the token is unknown, expired or revoked, or its user
	// is disabled or gone.
	ErrUnauthenticated = errors.New("auth: not authenticated")
	// ErrExists: the username is taken.
	ErrExists = errors.New("auth: username already exists")
	// ErrWeakPassword: the password breaks the password policy.
	ErrWeakPassword = errors.New("auth: password too weak")
	// ErrInvalid: a malformed username, role, language, name or duration.
	ErrInvalid = errors.New("auth: invalid argument")
	// ErrNotFound: no such user or token.
	ErrNotFound = errors.New("auth: not found")
)

// RateLimitError is the error of a refused login: errors.Is(err,
// ErrRateLimited) holds, and RetryAfter says when the window ends.
type RateLimitError struct {
	// Key is what was limited: "username" or "ip".
	Key string
	// RetryAfter is how long until the counter's window ends (at least 1s).
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("auth: too many failed logins for this %s; retry in %s", e.Key, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Options tunes the service; the zero value gives the defaults above.
type Options struct {
	// Now is the clock (time.Now when nil); tests inject their own.
	Now func() time.Time
	// IdleTimeout ends a session not used for this long (sliding).
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, used or not.
	AbsoluteTimeout time.Duration
	// RefreshEvery is the least time between two writes that slide a session's
	// expiry, so that a busy session costs a write per minute, not per request.
	RefreshEvery time.Duration
	// LimitWindow is the length of a rate-limit window.
	LimitWindow time.Duration
	// UserLimit is how many failed logins a username may have per window.
	UserLimit int
	// IPLimit is how many failed logins an IP (an IPv6 /64) may have per window.
	IPLimit int

	// hash overrides the Argon2id parameters (tests lower them); zero: defaults.
	hash hashParams
}

// setupTimeout bounds the index creation of New.
const setupTimeout = time.Minute

// Service manages users, sessions and API tokens over a store. It is safe for
// concurrent use, and several processes may share one store.
type Service struct {
	st   store.Store
	opts Options
	now  func() time.Time
	// slots bounds concurrent password hashes, and so their memory.
	slots chan struct{}
	// dummy is a hash to verify against when the user is unknown, so that an
	// unknown user costs the same time as a wrong password.
	dummy string
}

// New returns a service over st, creating the indexes it needs (within
// setupTimeout).
func New(st store.Store, opts Options) (*Service, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.IdleTimeout, DefaultIdleTimeout)
	def(&opts.AbsoluteTimeout, DefaultAbsoluteTimeout)
	def(&opts.RefreshEvery, DefaultRefreshEvery)
	def(&opts.LimitWindow, DefaultLimitWindow)
	if opts.UserLimit <= 0 {
		opts.UserLimit = DefaultUserLimit
	}
	if opts.IPLimit <= 0 {
		opts.IPLimit = DefaultIPLimit
	}
	if opts.hash == (hashParams{}) {
		opts.hash = defaultHash
	}
	s := &Service{
		st:    st,
		opts:  opts,
		now:   opts.Now,
		slots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}
	indexes := []struct {
		coll string
		ix   []store.Index
	}{
		{UsersCollection, []store.Index{{Name: "username", Keys: []store.SortKey{store.Asc("username")}, Unique: true}}},
		{SessionsCollection, []store.Index{
			{Name: "user_id", Keys: []store.SortKey{store.Asc("user_id")}},
			{Name: "expires_at", Keys: []store.SortKey{store.Asc("expires_at")}},
		}},
		{TokensCollection, []store.Index{
			{Name: "user_id", Keys: []store.SortKey{store.Asc("user_id")}},
			{Name: "expires_at", Keys: []store.SortKey{store.Asc("expires_at")}},
		}},
		{AttemptsCollection, []store.Index{{Name: "expires_at", Keys: []store.SortKey{store.Asc("expires_at")}}}},
	}
	for _, ix := range indexes {
		if err := st.EnsureIndexes(ctx, ix.coll, ix.ix...); err != nil {
			return nil, fmt.Errorf("auth: indexes of %s: %w", ix.coll, err)
		}
	}
	dummy, err := s.hashPassword(ctx, "dummy password for unknown users")
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.dummy = dummy
	return s, nil
}

// Cleanup deletes expired sessions, API tokens and rate-limit counters, and
// returns how many it deleted. Expired documents are already refused, so this
// only keeps the collections small; call it now and then (say hourly) from one
// or all processes: concurrent runs are harmless.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	now := s.clock()
	total := 0
	for _, coll := range []string{SessionsCollection, TokensCollection, AttemptsCollection} {
		for {
			page, err := s.st.Find(ctx, coll, store.Query{Filter: store.Lt("expires_at", now), Limit: 500, Fields: []string{"expires_at"}})
			if err != nil {
				return total, fmt.Errorf("auth: cleanup %s: %w", coll, err)
			}
			deleted := 0
			for _, d := range page.Docs {
				err := s.st.Delete(ctx, coll, d.ID(), d.Version())
				switch {
				case err == nil:
					deleted++
				case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
					// Another process deleted or refreshed it meanwhile.
				default:
					return total, fmt.Errorf("auth: cleanup %s: %w", coll, err)
				}
			}
			total += deleted
			if page.Next == "" || deleted == 0 {
				break
			}
		}
	}
	return total, nil
}

// clock is the current time in UTC, cut to the microseconds the store keeps,
// so that times compare the same before and after a round trip.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
