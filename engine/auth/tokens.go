package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/store"
)

// APITokenPrefix starts every API token, telling it apart from a session
// token (and making a leaked one easy to find with secret scanners).
const APITokenPrefix = "yerp_"

// apiTokenLen is the length of an API token: the prefix and 32 bytes in
// base64url.
const apiTokenLen = len(APITokenPrefix) + sessionTokenLen

func isAPIToken(token string) bool {
	return len(token) == apiTokenLen && strings.HasPrefix(token, APITokenPrefix)
}

// Token describes an API token; the plain token is never kept.
type Token struct {
	// ID is the stored id (hex SHA-256 of the token), used to revoke it.
	ID        string
	UserID    string
	Name      string
	CreatedAt time.Time
	// ExpiresAt is zero for a token without expiry.
	ExpiresAt time.Time
	// LastUsedAt is zero until the first use, then updated at most once per
	// Options.RefreshEvery.
	LastUsedAt time.Time
}

// CreateToken creates an API token for scripts: a bearer token that acts as
// the user until it expires (ttl after now; 0 means never), is revoked, or the
// user is disabled. The plain token is returned only here; only its SHA-256 is
// stored.
func (s *Service) CreateToken(ctx context.Context, userID, name string, ttl time.Duration) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxNameLen || !utf8.ValidString(name) {
		return "", fmt.Errorf("create token: %w: a name of 1 to %d characters is required", ErrInvalid, maxNameLen)
	}
	if ttl < 0 {
		return "", fmt.Errorf("create token: %w: negative lifetime", ErrInvalid)
	}
	if _, err := s.activeUser(ctx, userID); errors.Is(err, ErrUnauthenticated) {
		return "", fmt.Errorf("create token for %s: %w: no such active user", userID, ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("create token for %s: %w", userID, err)
	}
	rnd, err := randomToken(tokenBytes)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	plain := APITokenPrefix + rnd
	now := s.clock()
	doc := store.Doc{
		store.IDField: tokenID(plain),
		"user_id":     userID,
		"name":        name,
		"created_at":  now,
	}
	if ttl > 0 {
		doc["expires_at"] = now.Add(ttl)
	}
	if _, err := s.st.Insert(ctx, TokensCollection, doc); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	s.auditEvent(ctx, AuditEntry{Action: AuditTokenCreated, Actor: userID, Target: userID, To: name})
	return plain, nil
}

// Tokens lists the API tokens of a user, oldest first, expired ones included
// until Cleanup removes them.
func (s *Service) Tokens(ctx context.Context, userID string) ([]Token, error) {
	var out []Token
	q := store.Query{Filter: store.Eq("user_id", userID), Sort: []store.SortKey{store.Asc("created_at")}, Limit: 500}
	for {
		page, err := s.st.Find(ctx, TokensCollection, q)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		for _, d := range page.Docs {
			out = append(out, tokenOf(d))
		}
		if page.Next == "" {
			return out, nil
		}
		q.After = page.Next
	}
}

// RevokeToken deletes the API token with the given id if userID owns it;
// otherwise (or if it is gone) it fails with ErrNotFound.
func (s *Service) RevokeToken(ctx context.Context, userID, tokenID string) error {
	for attempt := 0; attempt < 10; attempt++ {
		d, err := s.st.Get(ctx, TokensCollection, tokenID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && str(d, "user_id") != userID) {
			return fmt.Errorf("revoke token: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		err = s.st.Delete(ctx, TokensCollection, tokenID, d.Version())
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoke token: %w", ErrNotFound)
		}
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("revoke token: %w", err)
			}
			s.auditEvent(ctx, AuditEntry{Action: AuditTokenRevoked, Actor: userID, Target: userID, From: str(d, "name")})
			return nil
		}
	}
	return fmt.Errorf("revoke token: %w", store.ErrConflict)
}

// authenticateToken is Authenticate for an API token.
func (s *Service) authenticateToken(ctx context.Context, token string) (*Session, error) {
	id := tokenID(token)
	d, err := s.st.Get(ctx, TokensCollection, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.clock()
	t := tokenOf(d)
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, fmt.Errorf("authenticate: API token expired: %w", ErrUnauthenticated)
	}
	u, err := s.activeUser(ctx, t.UserID)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if now.Sub(t.LastUsedAt) >= s.opts.RefreshEvery {
		d["used_at"] = now
		_, err := s.st.Replace(ctx, TokensCollection, d)
		switch {
		case err == nil, errors.Is(err, store.ErrConflict):
			// A conflict: another request recorded the use just now.
		case errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("authenticate: API token revoked: %w", ErrUnauthenticated)
		default:
			return nil, fmt.Errorf("authenticate: record token use: %w", err)
		}
	}
	return &Session{ID: id, Kind: KindAPIToken, User: u, ExpiresAt: t.ExpiresAt}, nil
}

func tokenOf(d store.Doc) Token {
	return Token{
		ID:         d.ID(),
		UserID:     str(d, "user_id"),
		Name:       str(d, "name"),
		CreatedAt:  timeOf(d, "created_at"),
		ExpiresAt:  timeOf(d, "expires_at"),
		LastUsedAt: timeOf(d, "used_at"),
	}
}
