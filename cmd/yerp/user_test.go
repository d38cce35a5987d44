package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// TestUserCommands manages users through the command line and checks the
// result by logging in through the auth service on the same data directory.
func TestUserCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	yerp := func(input string, args ...string) (int, string, string) {
		t.Helper()
		saved := stdin
		stdin = strings.NewReader(input)
		defer func() { stdin = saved }()
		var stdout, stderr syncBuffer
		code := userCmd(context.Background(), args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	login := func(username, password string) (*auth.Session, error) {
		t.Helper()
		st, err := sqlite.Open(filepath.Join(data, "yerp.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc, err := auth.New(st, auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Login(context.Background(), username, password, "")
	}

	code, out, errs := yerp("", "add", "Alice", "--roles", "sales,finance", "--name", "Alice Wang", "--data", data)
	if code != 0 || !strings.Contains(out, "created user alice (roles: finance,sales)") {
		t.Fatalf("add: %d\n%s\n%s", code, out, errs)
	}
	m := regexp.MustCompile(`one-time password for alice [^\n]*\n(\S+)\n`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 16 {
		t.Fatalf("add printed no one-time password: %q", out)
	}
	alicePw := m[1]
	sess, err := login("alice", alicePw)
	if err != nil {
		t.Fatalf("login with the printed password: %v", err)
	}
	if !sess.User.MustChangePassword || sess.User.Name != "Alice Wang" {
		t.Fatalf("alice %+v", sess.User)
	}

	if code, out, errs := yerp("a password from stdin\n", "add", "bob", "--data", data, "--roles", "warehouse", "--lang", "en", "--password-stdin"); code != 0 || strings.Contains(out, "one-time") {
		t.Fatalf("add with --password-stdin: %d %s %s", code, out, errs)
	}
	if _, err := login("bob", "a password from stdin"); err != nil {
		t.Fatalf("bob's password from stdin: %v", err)
	}
	if code, _, errs := yerp("", "add", "bob", "--data", data); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate add: %d %s", code, errs)
	}
	if code, _, errs := yerp("bob\n", "add", "carol", "--password-stdin", "--data", data); code != 1 || !strings.Contains(errs, "too weak") || strings.Contains(errs, "bob") {
		t.Fatalf("weak password: %d %s", code, errs)
	}

	if code, out, errs := yerp("changed by the admin\r\n", "passwd", "bob", "--password-stdin", "--data", data); code != 0 || !strings.Contains(out, "bob: passwd done") {
		t.Fatalf("passwd: %d %s %s", code, out, errs)
	}
	if _, err := login("bob", "changed by the admin"); err != nil {
		t.Fatalf("after passwd: %v", err)
	}
	code, out, _ = yerp("", "passwd", "bob", "--data", data)
	m = regexp.MustCompile(`one-time password for bob [^\n]*\n(\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("passwd without stdin: %d %q", code, out)
	}
	if _, err := login("bob", m[1]); err != nil {
		t.Fatalf("login with the reset password: %v", err)
	}

	if code, _, errs := yerp("", "roles", "bob", "warehouse,sales_manager", "--data", data); code != 0 {
		t.Fatalf("roles: %d %s", code, errs)
	}
	if code, _, errs := yerp("", "disable", "alice", "--data", data); code != 0 {
		t.Fatalf("disable: %d %s", code, errs)
	}
	// Every change made here is in the users' audit log, by the command line.
	func() {
		st, err := sqlite.Open(filepath.Join(data, "yerp.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc, err := auth.New(st, auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		log, err := svc.AuditLog(context.Background(), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range log {
			if e.Actor == auth.ActorCLI {
				got = append(got, e.Action+":"+e.From+">"+e.To)
			}
		}
		slices.Sort(got)
		want := "created:>finance,sales created:>warehouse disabled:> password_reset:> password_reset:> roles:warehouse>sales_manager,warehouse"
		if strings.Join(got, " ") != want {
			t.Fatalf("audit by the command line:\n%s\nwant\n%s", strings.Join(got, " "), want)
		}
	}()
	if _, err := login("alice", alicePw); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("disabled alice logged in: %v", err)
	}
	code, out, _ = yerp("", "list", "--data", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 ||
		!regexp.MustCompile(`^alice\s+Alice Wang\s+finance,sales\s+zh-CN\s+disabled\s`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^bob\s+bob\s+sales_manager,warehouse\s+en\s+active\s`).MatchString(lines[2]) {
		t.Fatalf("list: %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		code int
		errs string
	}{
		{nil, 2, "usage: yerp user"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"add"}, 2, "want 1 argument(s), got 0"},
		{[]string{"roles", "bob"}, 2, "want 2 argument(s), got 1"},
		{[]string{"disable", "nobody", "--data", data}, 1, "not found"},
		{[]string{"list", "--password-stdin", "--data", data}, 2, "--password-stdin is for add and passwd"},
		{[]string{"passwd", "bob", "--password-stdin", "--data", data}, 1, "no password on stdin"},
	} {
		if code, _, errs := yerp("", c.args...); code != c.code || !strings.Contains(errs, c.errs) {
			t.Errorf("yerp user %v: %d %q; want %d and %q", c.args, code, errs, c.code, c.errs)
		}
	}
}
