package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/store"
)

// AuditCollection holds one entry per change an administrator made to a
// user (created, roles, language, disabled, enabled, password reset), per
// sign-in event (success, bad credentials, rate-limited, sign-out) and per
// API token created or revoked. A password or a token is never written
// there.
const AuditCollection = "sys_user_audit"

// Audit actions.
const (
	AuditCreated       = "created"
	AuditRoles         = "roles"
	AuditLanguage      = "language"
	AuditDisabled      = "disabled"
	AuditEnabled       = "enabled"
	AuditPasswordReset = "password_reset"

	// Sign-in events, written by Login and Logout themselves.
	AuditLogin        = "login"              // signed in
	AuditLoginFailed  = "login_failed"       // wrong username or password (or disabled user)
	AuditLoginLimited = "login_rate_limited" // refused by the rate limit, password not checked; once per counter and window
	AuditLogout       = "logout"             // signed out

	// API tokens, written by CreateToken and RevokeToken themselves; To is
	// the token's name, never the token.
	AuditTokenCreated = "token_created"
	AuditTokenRevoked = "token_revoked"
)

// ActorCLI is the actor of changes made with the yerp user command.
const ActorCLI = "cli"

// maxAuditUsername bounds the username kept in a sign-in entry: a failed
// login may carry any text the client sent.
const maxAuditUsername = 64

// AuditEntry is one logged change to a user.
type AuditEntry struct {
	// ID is the entry's id; set by Audit's caller only for an entry to be
	// logged at most once (a rate-limit refusal per counter and window).
	ID     string
	Action string // one of the Audit* actions
	Actor  string // id of the user who made the change
	Target string // id of the user changed (signed in); "" when no user has the username tried
	From   string // the value before (roles joined with ","), when it has one
	To     string // the value after
	// Username is the normalized username tried, for sign-in events (known
	// user or not).
	Username string
	// IP is the client's address, for sign-in events and API tokens.
	IP string
	At time.Time
}

// Audit logs a change actor made to target. The entry is written after the
// change it describes; a failure to write it is returned, not swallowed.
func (s *Service) Audit(ctx context.Context, e AuditEntry) error {
	if e.Action == "" || (e.Target == "" && e.Username == "") {
		return fmt.Errorf("audit: %w: action and target (or username) are required", ErrInvalid)
	}
	at := s.clock()
	doc := store.Doc{"action": e.Action, "actor": e.Actor, "target": e.Target, "from": e.From, "to": e.To, "at": at}
	if e.ID != "" {
		// An entry logged at most once: a second one with the id is dropped.
		doc[store.IDField] = e.ID
	}
	if e.Username != "" {
		doc["username"] = auditUsername(e.Username)
	}
	if e.IP != "" {
		doc["ip"] = e.IP
	}
	_, err := s.st.Insert(ctx, AuditCollection, doc)
	if e.ID != "" && errors.Is(err, store.ErrDuplicate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit %s of %s: %w", e.Action, e.Target, err)
	}
	return nil
}

// AuditLog returns up to limit entries, newest first: those of user target,
// or of every user when target is "".
func (s *Service) AuditLog(ctx context.Context, target string, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	q := store.Query{Sort: []store.SortKey{store.Desc("at")}, Limit: limit}
	if target != "" {
		q.Filter = store.Eq("target", target)
	}
	page, err := s.st.Find(ctx, AuditCollection, q)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	out := make([]AuditEntry, 0, len(page.Docs))
	for _, d := range page.Docs {
		out = append(out, AuditEntry{ID: d.ID(), Action: str(d, "action"), Actor: str(d, "actor"), Target: str(d, "target"),
			From: str(d, "from"), To: str(d, "to"), Username: str(d, "username"), IP: str(d, "ip"), At: timeOf(d, "at")})
	}
	return out, nil
}

// auditUsername is the username kept in an entry: valid UTF-8 and at most
// maxAuditUsername characters.
func auditUsername(u string) string {
	u = strings.ToValidUTF8(u, "\uFFFD")
	if r := []rune(u); len(r) > maxAuditUsername {
		u = string(r[:maxAuditUsername]) + "…"
	}
	return u
}

// auditEvent logs an event the service itself records (sign-in, API
// tokens). It is best effort towards the caller: the event happened whether
// or not the log could be written, so a failure to write it is logged (not
// returned) and never turns a sign-in into an error or a refused one into a
// success.
func (s *Service) auditEvent(ctx context.Context, e AuditEntry) {
	if err := s.Audit(context.WithoutCancel(ctx), e); err != nil {
		slog.Error("auth: audit event", "action", e.Action, "user", e.Target, "err", err)
	}
}
