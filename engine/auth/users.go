package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/store"
)

// Languages a user may choose; the first is the default.
var Languages = []string{"zh-CN", "en"}

// AdminRole is the role of the first user, holding every permission.
const AdminRole = "admin"

var (
	usernameRE = regexp.MustCompile(`^[a-z0-9._-]{2,32}$`)
	roleRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// maxNameLen bounds a display name, in characters.
const maxNameLen = 100

// User is a user as callers see it: never with its password hash.
type User struct {
	ID       string
	Username string // lower case, unique
	Name     string // display name
	Roles    []string
	Language string // "zh-CN" or "en"
	Disabled bool
	// MustChangePassword is set when the password was generated (first admin,
	// CLI without --password-stdin, ResetPassword) and cleared by SetPassword;
	// the server should send such a user to change it.
	MustChangePassword bool
	CreatedAt          time.Time
	PasswordChangedAt  time.Time
}

// HasRole reports whether the user holds role.
func (u *User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// NewUser describes a user to create.
type NewUser struct {
	Username string // lower-cased; then ^[a-z0-9._-]{2,32}$
	Name     string // display name; the username when empty
	Roles    []string
	Language string // "zh-CN" when empty
	Password string // checked against the password policy
	// MustChangePassword marks a generated password (see User).
	MustChangePassword bool
}

// NormalizeUsername lower-cases and trims a username as it is stored.
func NormalizeUsername(username string) string {
	return strings.ToLower(strings.TrimSpace(username))
}

func checkUsername(username string) error {
	if !usernameRE.MatchString(username) {
		return fmt.Errorf("%w: username %q: want 2 to 32 of a-z, 0-9, '.', '_', '-'", ErrInvalid, username)
	}
	return nil
}

// normalizeRoles checks role ids and returns them sorted without duplicates.
func normalizeRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		r = strings.TrimSpace(r)
		if !roleRE.MatchString(r) {
			return nil, fmt.Errorf("%w: role %q: want a lower-case identifier", ErrInvalid, r)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func checkLanguage(lang string) (string, error) {
	if lang == "" {
		return Languages[0], nil
	}
	if !slices.Contains(Languages, lang) {
		return "", fmt.Errorf("%w: language %q: want one of %s", ErrInvalid, lang, strings.Join(Languages, ", "))
	}
	return lang, nil
}

// CreateUser creates a user. A taken username fails with ErrExists (decided by
// the unique index, so two processes cannot both create it); a password that
// breaks the policy with ErrWeakPassword; a bad username, role or language
// with ErrInvalid.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	username := NormalizeUsername(nu.Username)
	if err := checkUsername(username); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	roles, err := normalizeRoles(nu.Roles)
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	lang, err := checkLanguage(nu.Language)
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	name := strings.TrimSpace(nu.Name)
	if name == "" {
		name = username
	}
	if utf8.RuneCountInString(name) > maxNameLen || !utf8.ValidString(name) {
		return nil, fmt.Errorf("create user %s: %w: display name longer than %d characters or not UTF-8", username, ErrInvalid, maxNameLen)
	}
	if err := checkPassword(username, nu.Password); err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	// Fail fast on a taken name; the unique index still decides races.
	if _, err := s.userDoc(ctx, username); err == nil {
		return nil, fmt.Errorf("create user %s: %w", username, ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	hash, err := s.hashPassword(ctx, nu.Password)
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	now := s.clock()
	doc, err := s.st.Insert(ctx, UsersCollection, store.Doc{
		"username":            username,
		"name":                name,
		"roles":               roles,
		"lang":                lang,
		"password":            hash,
		"must_change":         nu.MustChangePassword,
		"disabled":            false,
		"created_at":          now,
		"password_changed_at": now,
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, fmt.Errorf("create user %s: %w", username, ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	return userOf(doc), nil
}

// User returns the user with the given id, or ErrNotFound.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	doc, err := s.st.Get(ctx, UsersCollection, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", id, err)
	}
	return userOf(doc), nil
}

// UserByName returns the user with the given username (in any case), or
// ErrNotFound.
func (s *Service) UserByName(ctx context.Context, username string) (*User, error) {
	doc, err := s.userDoc(ctx, NormalizeUsername(username))
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", NormalizeUsername(username), err)
	}
	return userOf(doc), nil
}

// userDoc finds the stored document of a normalized username.
func (s *Service) userDoc(ctx context.Context, username string) (store.Doc, error) {
	page, err := s.st.Find(ctx, UsersCollection, store.Query{Filter: store.Eq("username", username), Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Docs) == 0 {
		return nil, ErrNotFound
	}
	return page.Docs[0], nil
}

// Users returns every user, ordered by username.
func (s *Service) Users(ctx context.Context) ([]*User, error) {
	var users []*User
	q := store.Query{Sort: []store.SortKey{store.Asc("username")}, Limit: 500}
	for {
		page, err := s.st.Find(ctx, UsersCollection, q)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, d := range page.Docs {
			users = append(users, userOf(d))
		}
		if page.Next == "" {
			return users, nil
		}
		q.After = page.Next
	}
}

// SetPassword replaces a user's password (checked against the policy) and
// clears MustChangePassword. Sessions that began before the change stop
// working, so a stolen session dies with the old password; API tokens stay.
func (s *Service) SetPassword(ctx context.Context, id, password string) error {
	return s.setPassword(ctx, id, password, false)
}

// ResetPassword sets a generated password, marks it to be changed at the next
// login, and returns it for the caller to hand over once.
func (s *Service) ResetPassword(ctx context.Context, id string) (string, error) {
	pw := GeneratePassword()
	if err := s.setPassword(ctx, id, pw, true); err != nil {
		return "", err
	}
	return pw, nil
}

func (s *Service) setPassword(ctx context.Context, id, password string, mustChange bool) error {
	var hash string
	return s.updateUser(ctx, id, "set password", func(d store.Doc) error {
		if err := checkPassword(str(d, "username"), password); err != nil {
			return err
		}
		if hash == "" { // once, even when a conflict makes us read again
			h, err := s.hashPassword(ctx, password)
			if err != nil {
				return err
			}
			hash = h
		}
		d["password"] = hash
		d["must_change"] = mustChange
		d["password_changed_at"] = s.clock()
		return nil
	})
}

// SetRoles replaces a user's roles.
func (s *Service) SetRoles(ctx context.Context, id string, roles []string) error {
	rs, err := normalizeRoles(roles)
	if err != nil {
		return fmt.Errorf("set roles of %s: %w", id, err)
	}
	return s.updateUser(ctx, id, "set roles", func(d store.Doc) error {
		d["roles"] = rs
		return nil
	})
}

// SetLanguage sets the language a user's pages and messages come in (one of
// Languages; "" is the default). Sessions see it at their next request.
func (s *Service) SetLanguage(ctx context.Context, id, lang string) error {
	l, err := checkLanguage(lang)
	if err != nil {
		return fmt.Errorf("set language of %s: %w", id, err)
	}
	return s.updateUser(ctx, id, "set language", func(d store.Doc) error {
		d["lang"] = l
		return nil
	})
}

// Disable disables a user: login fails and every session and API token of
// the user stops working at its next use. It is idempotent.
func (s *Service) Disable(ctx context.Context, id string) error {
	return s.updateUser(ctx, id, "disable", func(d store.Doc) error {
		d["disabled"] = true
		return nil
	})
}

// Enable undoes Disable.
func (s *Service) Enable(ctx context.Context, id string) error {
	return s.updateUser(ctx, id, "enable", func(d store.Doc) error {
		d["disabled"] = false
		return nil
	})
}

// updateUser reads the user, applies change and writes it back guarded by the
// version read, reading again when another writer came first.
func (s *Service) updateUser(ctx context.Context, id, what string, change func(store.Doc) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		d, err := s.st.Get(ctx, UsersCollection, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s of %s: %w", what, id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("%s of %s: %w", what, id, err)
		}
		if err := change(d); err != nil {
			return fmt.Errorf("%s of %s: %w", what, id, err)
		}
		_, err = s.st.Replace(ctx, UsersCollection, d)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s of %s: %w", what, id, err)
		}
		return nil
	}
	return fmt.Errorf("%s of %s: %w (too many concurrent changes)", what, id, store.ErrConflict)
}

// userOf reads a stored user document.
func userOf(d store.Doc) *User {
	u := &User{
		ID:                 d.ID(),
		Username:           str(d, "username"),
		Name:               str(d, "name"),
		Language:           str(d, "lang"),
		Disabled:           d["disabled"] == true,
		MustChangePassword: d["must_change"] == true,
		CreatedAt:          timeOf(d, "created_at"),
		PasswordChangedAt:  timeOf(d, "password_changed_at"),
		Roles:              []string{},
	}
	if rs, ok := d["roles"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				u.Roles = append(u.Roles, s)
			}
		}
	}
	return u
}

// str returns the string at key, or "".
func str(d store.Doc, key string) string {
	s, _ := d[key].(string)
	return s
}

// timeOf parses a stored time (store.TimeLayout); zero when missing or bad.
func timeOf(d store.Doc, key string) time.Time {
	t, err := time.Parse(store.TimeLayout, str(d, key))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Roles returns the roles of an active user; ok is false for an unknown or
// disabled user. It lets the records engine check, for an order transfer, that
// the receiver may read the record.
func (s *Service) Roles(ctx context.Context, id string) (roles []string, ok bool, err error) {
	u, err := s.activeUser(ctx, id)
	if errors.Is(err, ErrUnauthenticated) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return u.Roles, true, nil
}

// ChangePassword replaces the password of user id after checking the current
// one (ErrBadCredentials when it is wrong); see SetPassword for what it ends.
func (s *Service) ChangePassword(ctx context.Context, id, current, next string) error {
	d, err := s.st.Get(ctx, UsersCollection, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ok, err := s.verifyPassword(ctx, str(d, "password"), current)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return ErrBadCredentials
	}
	return s.SetPassword(ctx, id, next)
}

// WithRoles returns the ids of the active users holding one of roles (for
// approval steps that every holder of a role must approve).
func (s *Service) WithRoles(ctx context.Context, roles []string) ([]string, error) {
	users, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, u := range users {
		if u.Disabled {
			continue
		}
		for _, r := range roles {
			if u.HasRole(r) {
				ids = append(ids, u.ID)
				break
			}
		}
	}
	return ids, nil
}
