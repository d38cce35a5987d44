package auth

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// An administrator sets a user's language and the changes are logged,
// newest first, per user or for everyone.
func TestSetLanguageAndAudit(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := newClock()
	s := newService(t, st, c, Options{})
	admin := mustCreate(t, s, "boss", AdminRole)
	mia := mustCreate(t, s, "mia", "sales")
	if mia.Language != "zh-CN" {
		t.Fatalf("default language %q", mia.Language)
	}

	for _, tc := range []struct {
		name, lang, want string
		err              error
	}{
		{"English is a language", "en", "en", nil},
		{"an unknown language is refused and changes nothing", "fr", "en", ErrInvalid},
		{"empty is the default language", "", "zh-CN", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SetLanguage(ctx, mia.ID, tc.lang)
			if tc.err != nil {
				wantErr(t, err, tc.err)
			} else if err != nil {
				t.Fatal(err)
			}
			if got, _ := s.User(ctx, mia.ID); got.Language != tc.want {
				t.Fatalf("language %q, want %q", got.Language, tc.want)
			}
		})
	}
	wantErr(t, s.SetLanguage(ctx, "no-such-id", "en"), ErrNotFound)

	if err := s.Audit(ctx, AuditEntry{Action: AuditRoles, Actor: admin.ID, Target: mia.ID, From: "sales", To: "sales,sales_manager"}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if err := s.Audit(ctx, AuditEntry{Action: AuditLanguage, Actor: admin.ID, Target: mia.ID, From: "zh-CN", To: "en"}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if err := s.Audit(ctx, AuditEntry{Action: AuditDisabled, Actor: mia.ID, Target: admin.ID}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Audit(ctx, AuditEntry{Action: AuditRoles}), ErrInvalid)

	log, err := s.AuditLog(ctx, mia.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Action != AuditLanguage || log[1].Action != AuditRoles {
		t.Fatalf("mia's log: %+v, want language then roles", log)
	}
	if e := log[1]; e.Actor != admin.ID || e.From != "sales" || e.To != "sales,sales_manager" || !e.At.Equal(c.Now().Add(-2*time.Minute)) {
		t.Fatalf("roles entry %+v", e)
	}
	all, err := s.AuditLog(ctx, "", 2)
	if err != nil || len(all) != 2 || all[0].Action != AuditDisabled || all[0].Target != admin.ID {
		t.Fatalf("everyone's log, two newest: %+v, %v", all, err)
	}
}

// Sign-in events and API tokens are logged by the service itself: success,
// wrong password, unknown user, rate-limited, sign-out, token created and
// revoked; each with the normalized username, the user id when known and
// the IP, and never the password or the token.
func TestSignInEventsAreAudited(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := newClock()
	s := newService(t, st, c, Options{UserLimit: 2, IPLimit: 1000})
	mia := mustCreate(t, s, "mia", "sales")
	const ip = "198.51.100.7"

	sess, err := s.Login(ctx, " MIA ", goodPassword, ip)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := s.Logout(ctx, sess.Token, ip); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := s.Logout(ctx, sess.Token, ip); err != nil { // already ended: not logged again
		t.Fatal(err)
	}
	const secret = "the-wrong-secret-1"
	for i := 0; i < 4; i++ { // two failures, then the limit twice: logged once
		c.Advance(time.Second)
		_, err := s.Login(ctx, "mia", secret, ip)
		if i < 2 {
			wantErr(t, err, ErrBadCredentials)
		} else {
			wantErr(t, err, ErrRateLimited)
		}
	}
	c.Advance(time.Second)
	_, err = s.Login(ctx, "Nobody", secret, ip)
	wantErr(t, err, ErrBadCredentials)
	c.Advance(time.Second)
	tok, err := s.CreateToken(ctx, mia.ID, "nightly export", 0)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := s.Tokens(ctx, mia.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens %v %v", toks, err)
	}
	c.Advance(time.Second)
	if err := s.RevokeToken(ctx, mia.ID, toks[0].ID); err != nil {
		t.Fatal(err)
	}

	log, err := s.AuditLog(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ action, target, username, ip, to, from string }
	want := []row{ // newest first
		{AuditTokenRevoked, mia.ID, "", "", "", "nightly export"},
		{AuditTokenCreated, mia.ID, "", "", "nightly export", ""},
		{AuditLoginFailed, "", "nobody", ip, "", ""},
		{AuditLoginLimited, mia.ID, "mia", ip, "", ""},
		{AuditLoginFailed, mia.ID, "mia", ip, "", ""},
		{AuditLoginFailed, mia.ID, "mia", ip, "", ""},
		{AuditLogout, mia.ID, "mia", ip, "", ""},
		{AuditLogin, mia.ID, "mia", ip, "", ""},
	}
	if len(log) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(log), len(want), log)
	}
	for i, w := range want {
		e := log[i]
		got := row{e.Action, e.Target, e.Username, e.IP, e.To, e.From}
		if got != w {
			t.Errorf("entry %d: %+v, want %+v", i, got, w)
		}
		if e.At.IsZero() {
			t.Errorf("entry %d has no time", i)
		}
	}
	// Nothing secret is stored: read the raw documents.
	page, err := st.Find(ctx, AuditCollection, store.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprint(page.Docs)
	for _, s := range []string{secret, goodPassword, tok, sess.Token} {
		if strings.Contains(raw, s) {
			t.Fatalf("the audit log holds a secret %q: %s", s, raw)
		}
	}
	// A username sent at login is any text: it is kept short.
	_, err = s.Login(ctx, strings.Repeat("x", 5000), secret, ip)
	wantErr(t, err, ErrBadCredentials)
	if log, _ := s.AuditLog(ctx, "", 1); len(log) != 1 || len([]rune(log[0].Username)) > maxAuditUsername+1 {
		t.Fatalf("long username kept as %+v", log)
	}
}
