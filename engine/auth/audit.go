package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yerp/yerp/engine/store"
)

// AuditCollection holds one entry per change an administrator made to a
// user (created, roles, language, disabled, enabled, password reset); the
// password itself is never written there.
const AuditCollection = "sys_user_audit"

// Audit actions.
const (
	AuditCreated       = "created"
	AuditRoles         = "roles"
	AuditLanguage      = "language"
	AuditDisabled      = "disabled"
	AuditEnabled       = "enabled"
	AuditPasswordReset = "password_reset"
)

// AuditEntry is one logged change to a user.
type AuditEntry struct {
	ID     string
	Action string // one of the Audit* actions
	Actor  string // id of the user who made the change
	Target string // id of the user changed
	From   string // the value before (roles joined with ","), when it has one
	To     string // the value after
	At     time.Time
}

// Audit logs a change actor made to target. The entry is written after the
// change it describes; a failure to write it is returned, not swallowed.
func (s *Service) Audit(ctx context.Context, e AuditEntry) error {
	if e.Action == "" || e.Target == "" {
		return fmt.Errorf("audit: %w: action and target are required", ErrInvalid)
	}
	at := s.clock()
	_, err := s.st.Insert(ctx, AuditCollection, store.Doc{
		"action": e.Action, "actor": e.Actor, "target": e.Target, "from": e.From, "to": e.To, "at": at,
	})
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
			From: str(d, "from"), To: str(d, "to"), At: timeOf(d, "at")})
	}
	return out, nil
}
