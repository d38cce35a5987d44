package auth

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
