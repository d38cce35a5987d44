package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/store"
)

// Kind tells how a request was authenticated.
type Kind string

// Kinds of Session.
const (
	// KindSession: a browser session from Login, sent in a cookie; requests
	// that change something must carry its CSRF token.
	KindSession Kind = "session"
	// KindAPIToken: an API token from CreateToken, sent as a bearer token;
	// browsers never send it on their own, so it needs no CSRF token.
	KindAPIToken Kind = "api_token"
)

// tokenBytes is the entropy of session, CSRF and API tokens.
const tokenBytes = 32

// Session is an authenticated caller.
type Session struct {
	// Token is the plain session token; only Login sets it, to be sent to the
	// browser once (in an HttpOnly cookie). It is never stored.
	Token string
	// ID is the stored id (hex SHA-256 of the token): safe to log and show.
	ID string
	// Kind is how the caller authenticated.
	Kind Kind
	// CSRF is the session's anti-CSRF token; "" for API tokens.
	CSRF string
	// User is the user, as read at login or authentication.
	User *User
	// ExpiresAt is when the session or token ends unless used (sessions slide
	// up to their absolute limit); zero for an API token without expiry.
	ExpiresAt time.Time
}

// tokenID is the stored id of a token: hex SHA-256. Tokens carry 256 random
// bits, so an unsalted fast hash is enough to make a stolen database useless
// for logging in.
func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Login checks a username and password and starts a session. ip is the
// client's address for the per-IP rate limit ("" skips it).
//
// An unknown username, a wrong password and a disabled user all fail with
// ErrBadCredentials after the same amount of hashing. Too many failures for
// the username or the IP fail with a *RateLimitError (ErrRateLimited), even
// with the right password; see the rate-limit notes in ratelimit.go.
func (s *Service) Login(ctx context.Context, username, password, ip string) (*Session, error) {
	username = NormalizeUsername(username)
	if len(username) > 256 {
		username = username[:256] // bounds the work on the key; no user is that long
	}
	ls := s.limiters(username, ip)
	if err := s.take(ctx, ls); err != nil {
		var rl *RateLimitError
		if errors.As(err, &rl) {
			// Logged once per full counter and window, not per refusal: a
			// flood of refused guesses must not become a flood of writes.
			for _, l := range ls {
				if l.kind == rl.Key {
					s.auditEvent(ctx, AuditEntry{ID: "limited-" + l.id, Action: AuditLoginLimited, Target: s.knownUserID(ctx, username), Username: username, IP: ip})
				}
			}
		}
		return nil, fmt.Errorf("login: %w", err)
	}
	u, err := s.checkCredentials(ctx, username, password)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			s.auditEvent(ctx, AuditEntry{Action: AuditLoginFailed, Target: s.knownUserID(ctx, username), Username: username, IP: ip})
		} else {
			// Not a failed guess (the store failed, or the caller hung up):
			// the attempt does not count.
			if gerr := s.giveBack(context.WithoutCancel(ctx), ls); gerr != nil {
				err = errors.Join(err, gerr)
			}
		}
		return nil, fmt.Errorf("login: %w", err)
	}
	// A success is not a failure: give the slots back (even if the caller
	// hangs up now, or the counters would over-count).
	if err := s.giveBack(context.WithoutCancel(ctx), ls); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	token, err := randomToken(tokenBytes)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	csrf, err := randomToken(tokenBytes)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	now := s.clock()
	absolute := now.Add(s.opts.AbsoluteTimeout)
	expires := minTime(now.Add(s.opts.IdleTimeout), absolute)
	id := tokenID(token)
	_, err = s.st.Insert(ctx, SessionsCollection, store.Doc{
		store.IDField: id,
		"user_id":     u.ID,
		"csrf":        csrf,
		"ip":          ip,
		"created_at":  now,
		"seen_at":     now,
		"expires_at":  expires,
		"absolute_at": absolute,
	})
	if err != nil {
		return nil, fmt.Errorf("login: start session: %w", err)
	}
	s.auditEvent(ctx, AuditEntry{Action: AuditLogin, Actor: u.ID, Target: u.ID, Username: username, IP: ip})
	return &Session{Token: token, ID: id, Kind: KindSession, CSRF: csrf, User: u, ExpiresAt: expires}, nil
}

// knownUserID is the id of the user named username, or "" when there is
// none (or it cannot be read: the audit entry keeps the username anyway).
func (s *Service) knownUserID(ctx context.Context, username string) string {
	d, err := s.userDoc(ctx, username)
	if err != nil {
		return ""
	}
	return d.ID()
}

// checkCredentials verifies the password of username, hashing a dummy when
// the user is unknown so that both failures cost the same.
func (s *Service) checkCredentials(ctx context.Context, username, password string) (*User, error) {
	d, err := s.userDoc(ctx, username)
	if errors.Is(err, ErrNotFound) {
		if _, err := s.verifyPassword(ctx, s.dummy, password); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, err := s.verifyPassword(ctx, str(d, "password"), password)
	if err != nil {
		return nil, err
	}
	u := userOf(d)
	if !ok || u.Disabled {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// Authenticate returns the caller of a session token or an API token (the
// "yerp_" prefix tells them apart). An unknown, expired or revoked token, or
// one whose user is disabled or gone, fails with ErrUnauthenticated; so does
// a session that began before its user's last password change.
//
// Using a session slides its idle expiry, up to its absolute limit; the new
// expiry is written at most once per Options.RefreshEvery, and when several
// processes refresh at once the version guard lets one write win.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, error) {
	if isAPIToken(token) {
		return s.authenticateToken(ctx, token)
	}
	if len(token) != sessionTokenLen {
		return nil, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	id := tokenID(token)
	d, err := s.st.Get(ctx, SessionsCollection, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.clock()
	expires, absolute := timeOf(d, "expires_at"), timeOf(d, "absolute_at")
	if !now.Before(expires) || !now.Before(absolute) {
		return nil, fmt.Errorf("authenticate: session expired: %w", ErrUnauthenticated)
	}
	u, err := s.activeUser(ctx, str(d, "user_id"))
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if timeOf(d, "created_at").Before(u.PasswordChangedAt) {
		return nil, fmt.Errorf("authenticate: password changed since login: %w", ErrUnauthenticated)
	}
	if now.Sub(timeOf(d, "seen_at")) >= s.opts.RefreshEvery {
		next := minTime(now.Add(s.opts.IdleTimeout), absolute)
		d["seen_at"] = now
		d["expires_at"] = next
		_, err := s.st.Replace(ctx, SessionsCollection, d)
		switch {
		case err == nil:
			expires = next
		case errors.Is(err, store.ErrConflict):
			// Another request refreshed it just now: as good.
			expires = next
		case errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("authenticate: session ended: %w", ErrUnauthenticated)
		default:
			return nil, fmt.Errorf("authenticate: refresh session: %w", err)
		}
	}
	return &Session{ID: id, Kind: KindSession, CSRF: str(d, "csrf"), User: u, ExpiresAt: expires}, nil
}

// sessionTokenLen is the length of a session token: 32 bytes in base64url.
const sessionTokenLen = 43

// activeUser returns the user with id unless it is gone or disabled
// (ErrUnauthenticated).
func (s *Service) activeUser(ctx context.Context, id string) (*User, error) {
	d, err := s.st.Get(ctx, UsersCollection, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	u := userOf(d)
	if u.Disabled {
		return nil, fmt.Errorf("user disabled: %w", ErrUnauthenticated)
	}
	return u, nil
}

// Logout ends the session of token, on the server: the token is refused from
// then on, whoever holds it. ip is the client's address for the audit log.
// Ending an unknown or ended session is not an error (and not logged). API
// tokens are not ended here: revoke them with RevokeToken.
func (s *Service) Logout(ctx context.Context, token, ip string) error {
	if isAPIToken(token) || len(token) != sessionTokenLen {
		return nil
	}
	id := tokenID(token)
	for attempt := 0; attempt < 10; attempt++ {
		d, err := s.st.Get(ctx, SessionsCollection, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		err = s.st.Delete(ctx, SessionsCollection, id, d.Version())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil {
			uid := str(d, "user_id")
			name := ""
			if u, err := s.User(ctx, uid); err == nil {
				name = u.Username
			}
			s.auditEvent(ctx, AuditEntry{Action: AuditLogout, Actor: uid, Target: uid, Username: name, IP: ip})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) { // refreshed meanwhile: read again
			return fmt.Errorf("logout: %w", err)
		}
	}
	return fmt.Errorf("logout: %w", store.ErrConflict)
}

// CheckCSRF reports whether header (the X-CSRF-Token a state-changing request
// carries) is the CSRF token of a browser session, in constant time. It is
// false for a nil session, an empty header and for API-token callers, which
// have no CSRF token: the server should not ask them for one.
func (s *Service) CheckCSRF(sess *Session, header string) bool {
	if sess == nil || sess.CSRF == "" || header == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(header)), []byte(sess.CSRF)) == 1
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
