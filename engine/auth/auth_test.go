package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// testHash keeps tests fast; TestDefaultHashParameters covers the real ones.
var testHash = hashParams{Memory: 1024, Time: 1, Threads: 1}

const goodPassword = "correct horse battery"

// scenario is one service test, run on every backend it is marked for.
type scenario struct {
	name  string
	mongo bool // also run against the MongoDB backend (FerretDB)
	run   func(t *testing.T, st store.Store)
}

var scenarios = []scenario{
	{"CreateUser", true, testCreateUser},
	{"StoredHash", false, testStoredHash},
	{"UpdateUsers", false, testUpdateUsers},
	{"Login", true, testLogin},
	{"SameErrorForUnknownUserAndWrongPassword", false, testSameError},
	{"DisabledUser", false, testDisabledUser},
	{"SessionExpiry", true, testSessionExpiry},
	{"SlidingRefreshWritesOncePerMinute", true, testSlidingRefresh},
	{"Logout", true, testLogout},
	{"PasswordChangeEndsSessions", false, testPasswordChangeEndsSessions},
	{"CSRF", false, testCSRF},
	{"APITokens", true, testAPITokens},
	{"RateLimitPerUser", true, testRateLimitPerUser},
	{"RateLimitPerIP", true, testRateLimitPerIP},
	{"SuccessDoesNotCountOrReset", false, testSuccessDoesNotCount},
	{"EnsureAdmin", false, testEnsureAdmin},
	{"EnsureAdminConcurrent", true, testEnsureAdminConcurrent},
	{"Cleanup", false, testCleanup},
}

func TestSQLite(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			sc.run(t, st)
		})
	}
}

func TestMongo(t *testing.T) {
	uri := mongotest.Start(t)
	n := 0
	for _, sc := range scenarios {
		if !sc.mongo {
			continue
		}
		n++
		db := fmt.Sprintf("auth_%d", n)
		t.Run(sc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := mongo.Open(ctx, uri, db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			sc.run(t, st)
		})
	}
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingStore counts Replace calls per collection.
type countingStore struct {
	store.Store
	mu       sync.Mutex
	replaces map[string]int
}

func (c *countingStore) Replace(ctx context.Context, coll string, doc store.Doc) (store.Doc, error) {
	c.mu.Lock()
	if c.replaces == nil {
		c.replaces = map[string]int{}
	}
	c.replaces[coll]++
	c.mu.Unlock()
	return c.Store.Replace(ctx, coll, doc)
}

func (c *countingStore) count(coll string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replaces[coll]
}

// newService returns a service with fast hashing and the clock c (nil: real).
func newService(t testing.TB, st store.Store, c *clock, opts Options) *Service {
	t.Helper()
	if opts.hash == (hashParams{}) {
		opts.hash = testHash
	}
	if c != nil {
		opts.Now = c.Now
	}
	s, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCreate(t testing.TB, s *Service, username string, roles ...string) *User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), NewUser{Username: username, Password: goodPassword, Roles: roles})
	if err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	return u
}

func mustLogin(t testing.TB, s *Service, username, password string) *Session {
	t.Helper()
	sess, err := s.Login(context.Background(), username, password, "192.0.2.1")
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return sess
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func testCreateUser(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, newClock(), Options{})
	u, err := s.CreateUser(ctx, NewUser{Username: " Alice.W ", Name: "Alice Wang", Roles: []string{"sales", "admin", "sales"}, Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice.w" || u.Name != "Alice Wang" || u.Language != "zh-CN" || !slices.Equal(u.Roles, []string{"admin", "sales"}) || u.Disabled || u.ID == "" {
		t.Fatalf("created %+v", u)
	}
	if !u.CreatedAt.Equal(newClock().Now()) || !u.PasswordChangedAt.Equal(u.CreatedAt) {
		t.Fatalf("times %v %v", u.CreatedAt, u.PasswordChangedAt)
	}
	got, err := s.UserByName(ctx, "ALICE.W")
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserByName: %+v, %v", got, err)
	}

	cases := []struct {
		name string
		nu   NewUser
		want error
	}{
		{"the same username is taken", NewUser{Username: "alice.w", Password: goodPassword}, ErrExists},
		{"the username in another case is taken", NewUser{Username: "ALICE.W", Password: goodPassword}, ErrExists},
		{"a short password is weak", NewUser{Username: "bob", Password: "short1234"}, ErrWeakPassword},
		{"a password equal to the username is weak", NewUser{Username: "robert.smith", Password: "Robert.Smith"}, ErrWeakPassword},
		{"an empty password is weak", NewUser{Username: "bob"}, ErrWeakPassword},
		{"a username with a space is invalid", NewUser{Username: "bob smith", Password: goodPassword}, ErrInvalid},
		{"a one-letter username is invalid", NewUser{Username: "b", Password: goodPassword}, ErrInvalid},
		{"a 33-letter username is invalid", NewUser{Username: strings.Repeat("b", 33), Password: goodPassword}, ErrInvalid},
		{"an unknown language is invalid", NewUser{Username: "bob", Password: goodPassword, Language: "fr"}, ErrInvalid},
		{"a role that is no identifier is invalid", NewUser{Username: "bob", Password: goodPassword, Roles: []string{"Sales Manager"}}, ErrInvalid},
	}
	for _, c := range cases {
		_, err := s.CreateUser(ctx, c.nu)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if err != nil && c.nu.Password != "" && strings.Contains(err.Error(), c.nu.Password) {
			t.Errorf("%s: the error %q shows the password", c.name, err)
		}
	}
	en, err := s.CreateUser(ctx, NewUser{Username: "bob", Password: goodPassword, Language: "en"})
	if err != nil || en.Language != "en" || en.Name != "bob" {
		t.Fatalf("bob: %+v, %v", en, err)
	}
	users, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Fatalf("%d users, want 2", len(users))
	}
}

// The stored hash has the PHC Argon2id form and nothing stored holds the plain
// password.
func testStoredHash(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, nil, Options{})
	u := mustCreate(t, s, "carol")
	d, err := st.Get(ctx, UsersCollection, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	hashRE := regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if h := str(d, "password"); !hashRE.MatchString(h) {
		t.Fatalf("stored hash %q", h)
	}
	if strings.Contains(fmt.Sprint(d), goodPassword) {
		t.Fatalf("the plain password is stored: %v", d)
	}
	if _, err := s.CreateUser(ctx, NewUser{Username: "dave", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	dave, _ := s.userDoc(ctx, "dave")
	if str(dave, "password") == str(d, "password") {
		t.Fatal("two users with one password got the same hash: the salt is not random")
	}
}

func TestDefaultHashParameters(t *testing.T) {
	s := &Service{opts: Options{hash: defaultHash}, slots: make(chan struct{}, 2)}
	ctx := context.Background()
	start := time.Now()
	h, err := s.hashPassword(ctx, goodPassword)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one Argon2id hash with %+v took %v", defaultHash, took)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("hash %q", h)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{goodPassword, true}, {goodPassword + " ", false}, {"", false}} {
		ok, err := s.verifyPassword(ctx, h, c.pw)
		if err != nil || ok != c.want {
			t.Errorf("verify %q: %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
}

func TestParseHashRefusesMalformed(t *testing.T) {
	good := "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43)
	if _, _, _, err := parseHash(good); err != nil {
		t.Fatalf("good hash refused: %v", err)
	}
	for name, h := range map[string]string{
		"empty":           "",
		"argon2i":         strings.Replace(good, "argon2id", "argon2i", 1),
		"other version":   strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":     strings.Replace(good, "m=1024", "m=99999999", 1),
		"zero passes":     strings.Replace(good, "t=1", "t=0", 1),
		"unknown param":   strings.Replace(good, "p=1", "x=1", 1),
		"bad salt":        strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "***", 1),
		"missing section": strings.TrimSuffix(good, "$"+strings.Repeat("A", 43)),
	} {
		if _, _, _, err := parseHash(h); err == nil {
			t.Errorf("%s: %q accepted", name, h)
		}
	}
}

func testUpdateUsers(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, nil, Options{})
	for _, n := range []string{"zoe", "adam", "mia"} {
		mustCreate(t, s, n, "sales")
	}
	users, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	if !slices.Equal(names, []string{"adam", "mia", "zoe"}) {
		t.Fatalf("users %v, want ordered by username", names)
	}
	mia := users[1]
	if err := s.SetRoles(ctx, mia.ID, []string{"finance", "sales_manager"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.SetRoles(ctx, mia.ID, []string{"bad role"}), ErrInvalid)
	got, err := s.User(ctx, mia.ID)
	if err != nil || !slices.Equal(got.Roles, []string{"finance", "sales_manager"}) || !got.HasRole("finance") {
		t.Fatalf("after SetRoles: %+v, %v", got, err)
	}
	_, err = s.User(ctx, "no-such-id")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.SetPassword(ctx, mia.ID, "mia"), ErrWeakPassword)
	wantErr(t, s.SetPassword(ctx, "no-such-id", goodPassword), ErrNotFound)
	pw, err := s.ResetPassword(ctx, mia.ID)
	if err != nil || len(pw) < 16 {
		t.Fatalf("reset: %q, %v", pw, err)
	}
	if got, _ := s.User(ctx, mia.ID); !got.MustChangePassword {
		t.Fatal("a reset password is not marked to be changed")
	}
	mustLogin(t, s, "mia", pw)
	if err := s.SetPassword(ctx, mia.ID, "a new password for mia"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, mia.ID); got.MustChangePassword {
		t.Fatal("SetPassword left MustChangePassword set")
	}
}

func testLogin(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{})
	u := mustCreate(t, s, "erin", "sales")
	sess, err := s.Login(ctx, "Erin", goodPassword, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.Token) != 43 || len(sess.CSRF) != 43 || sess.Token == sess.CSRF || sess.Kind != KindSession {
		t.Fatalf("session %+v", sess)
	}
	if sess.User.ID != u.ID || !sess.ExpiresAt.Equal(c.Now().Add(DefaultIdleTimeout)) {
		t.Fatalf("session user %+v expires %v", sess.User, sess.ExpiresAt)
	}
	sum := sha256.Sum256([]byte(sess.Token))
	if sess.ID != hex.EncodeToString(sum[:]) {
		t.Fatalf("session id %q is not the SHA-256 of the token", sess.ID)
	}
	d, err := st.Get(ctx, SessionsCollection, sess.ID)
	if err != nil {
		t.Fatalf("session not stored under the token's hash: %v", err)
	}
	if strings.Contains(fmt.Sprint(d), sess.Token) {
		t.Fatal("the plain session token is stored")
	}
	again, err := s.Authenticate(ctx, sess.Token)
	if err != nil || again.User.ID != u.ID || again.CSRF != sess.CSRF || again.Token != "" {
		t.Fatalf("authenticate: %+v, %v", again, err)
	}
	other := mustLogin(t, s, "erin", goodPassword)
	if other.Token == sess.Token {
		t.Fatal("two logins got the same token")
	}

	_, err = s.Login(ctx, "erin", "wrong password!", "192.0.2.7")
	wantErr(t, err, ErrBadCredentials)
	_, err = s.Login(ctx, "nobody", goodPassword, "192.0.2.7")
	wantErr(t, err, ErrBadCredentials)
	for _, bad := range []string{"", "garbage", sess.Token[:42] + "x", APITokenPrefix + sess.Token} {
		_, err := s.Authenticate(ctx, bad)
		wantErr(t, err, ErrUnauthenticated)
	}
}

// An unknown user and a wrong password give the same error after the same
// work: the unknown user is hashed against a dummy.
func testSameError(t *testing.T, st store.Store) {
	ctx := context.Background()
	// Heavier hashing than the other tests, so that the hash dominates.
	s := newService(t, st, nil, Options{UserLimit: 1000, IPLimit: 1000, hash: hashParams{Memory: 16 * 1024, Time: 2, Threads: 1}})
	mustCreate(t, s, "frank")
	median := func(username string) (time.Duration, string) {
		var ds []time.Duration
		var msg string
		for i := 0; i < 5; i++ {
			start := time.Now()
			_, err := s.Login(ctx, username, "not the password", "")
			ds = append(ds, time.Since(start))
			wantErr(t, err, ErrBadCredentials)
			msg = err.Error()
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[2], msg
	}
	wrongPw, msg1 := median("frank")
	unknown, msg2 := median("nobody.here")
	t.Logf("wrong password %v, unknown user %v", wrongPw, unknown)
	if msg1 != msg2 {
		t.Errorf("messages differ: %q vs %q", msg1, msg2)
	}
	if unknown < wrongPw/3 {
		t.Errorf("an unknown user takes %v, a wrong password %v: the difference tells which users exist", unknown, wrongPw)
	}
}

func testDisabledUser(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, nil, Options{})
	u := mustCreate(t, s, "gina")
	sess := mustLogin(t, s, "gina", goodPassword)
	token, err := s.CreateToken(ctx, u.ID, "script", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Disable(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Login(ctx, "gina", goodPassword, "")
	wantErr(t, err, ErrBadCredentials)
	_, err = s.Authenticate(ctx, sess.Token)
	wantErr(t, err, ErrUnauthenticated)
	_, err = s.Authenticate(ctx, token)
	wantErr(t, err, ErrUnauthenticated)
	_, err = s.CreateToken(ctx, u.ID, "another", 0)
	wantErr(t, err, ErrNotFound)

	if err := s.Enable(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, sess.Token); err != nil {
		t.Fatalf("after Enable: %v", err)
	}
}

func testSessionExpiry(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{})
	mustCreate(t, s, "hana")

	idle := mustLogin(t, s, "hana", goodPassword)
	c.Advance(DefaultIdleTimeout - time.Second)
	if _, err := s.Authenticate(ctx, idle.Token); err != nil {
		t.Fatalf("just before the idle timeout: %v", err)
	}
	// That use slid the expiry: 12 h more from now.
	c.Advance(DefaultIdleTimeout - time.Second)
	if _, err := s.Authenticate(ctx, idle.Token); err != nil {
		t.Fatalf("the use did not slide the expiry: %v", err)
	}
	c.Advance(DefaultIdleTimeout)
	_, err := s.Authenticate(ctx, idle.Token)
	wantErr(t, err, ErrUnauthenticated)

	busy := mustLogin(t, s, "hana", goodPassword)
	loginAt := c.Now()
	for c.Now().Before(loginAt.Add(DefaultAbsoluteTimeout - 11*time.Hour)) {
		c.Advance(11 * time.Hour)
		got, err := s.Authenticate(ctx, busy.Token)
		if err != nil {
			t.Fatalf("used every 11 h, ended after %v: %v", c.Now().Sub(loginAt), err)
		}
		if got.ExpiresAt.After(loginAt.Add(DefaultAbsoluteTimeout)) {
			t.Fatalf("expiry %v beyond the absolute limit", got.ExpiresAt)
		}
	}
	c.Advance(loginAt.Add(DefaultAbsoluteTimeout).Sub(c.Now()))
	_, err = s.Authenticate(ctx, busy.Token)
	wantErr(t, err, ErrUnauthenticated)
}

func testSlidingRefresh(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	cs := &countingStore{Store: st}
	s := newService(t, cs, c, Options{})
	mustCreate(t, s, "ivan")
	sess := mustLogin(t, s, "ivan", goodPassword)
	first := sess.ExpiresAt
	for i := 0; i < 90; i++ { // 90 requests, one a second
		c.Advance(time.Second)
		if _, err := s.Authenticate(ctx, sess.Token); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.count(SessionsCollection); n != 1 {
		t.Fatalf("%d session writes in 90 s of requests, want 1", n)
	}
	got, err := s.Authenticate(ctx, sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	if want := first.Add(60 * time.Second); !got.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v (slid at the first request a minute after login)", got.ExpiresAt, want)
	}
	c.Advance(31 * time.Second) // 121 s: a minute after the last write
	if _, err := s.Authenticate(ctx, sess.Token); err != nil {
		t.Fatal(err)
	}
	if n := cs.count(SessionsCollection); n != 2 {
		t.Fatalf("%d session writes after 121 s, want 2", n)
	}
}

func testLogout(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, nil, Options{})
	mustCreate(t, s, "jane")
	a := mustLogin(t, s, "jane", goodPassword)
	b := mustLogin(t, s, "jane", goodPassword)
	if err := s.Logout(ctx, a.Token, ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.Authenticate(ctx, a.Token)
	wantErr(t, err, ErrUnauthenticated)
	if _, err := s.Authenticate(ctx, b.Token); err != nil {
		t.Fatalf("logout ended another session: %v", err)
	}
	if err := s.Logout(ctx, a.Token, ""); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	if err := s.Logout(ctx, "garbage", ""); err != nil {
		t.Fatalf("logout of garbage: %v", err)
	}
}

func testPasswordChangeEndsSessions(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{})
	u := mustCreate(t, s, "kate")
	old := mustLogin(t, s, "kate", goodPassword)
	c.Advance(time.Second)
	if err := s.SetPassword(ctx, u.ID, "another good password"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Authenticate(ctx, old.Token)
	wantErr(t, err, ErrUnauthenticated)
	_, err = s.Login(ctx, "kate", goodPassword, "")
	wantErr(t, err, ErrBadCredentials)
	fresh := mustLogin(t, s, "kate", "another good password")
	if _, err := s.Authenticate(ctx, fresh.Token); err != nil {
		t.Fatalf("session after the change: %v", err)
	}
}

func testCSRF(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, nil, Options{})
	u := mustCreate(t, s, "leo")
	sess := mustLogin(t, s, "leo", goodPassword)
	authed, err := s.Authenticate(ctx, sess.Token)
	if err != nil {
		t.Fatal(err)
	}
	other := mustLogin(t, s, "leo", goodPassword)
	token, err := s.CreateToken(ctx, u.ID, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	api, err := s.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		sess   *Session
		header string
		want   bool
	}{
		{"the session's token passes", authed, sess.CSRF, true},
		{"another session's token fails", authed, other.CSRF, false},
		{"an empty header fails", authed, "", false},
		{"a prefix of the token fails", authed, sess.CSRF[:20], false},
		{"no session fails", nil, sess.CSRF, false},
		{"an API-token caller has no CSRF token", api, "", false},
	}
	for _, c := range cases {
		if got := s.CheckCSRF(c.sess, c.header); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func testAPITokens(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{})
	owner := mustCreate(t, s, "mike", "warehouse")
	stranger := mustCreate(t, s, "nina")

	forever, err := s.CreateToken(ctx, owner.ID, "nightly import", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(forever, APITokenPrefix) || len(forever) != 48 {
		t.Fatalf("token %q", forever)
	}
	c.Advance(time.Second) // Tokens lists by creation time
	short, err := s.CreateToken(ctx, owner.ID, "one hour", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Authenticate(ctx, forever)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Kind != KindAPIToken || sess.User.ID != owner.ID || sess.CSRF != "" || !sess.ExpiresAt.IsZero() {
		t.Fatalf("token session %+v", sess)
	}
	toks, err := s.Tokens(ctx, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].Name != "nightly import" || toks[0].ID != sess.ID || !toks[1].ExpiresAt.Equal(c.Now().Add(time.Hour)) {
		t.Fatalf("tokens %+v", toks)
	}
	for _, tok := range []string{forever, short} {
		d, err := st.Get(ctx, TokensCollection, tokenID(tok))
		if err != nil {
			t.Fatalf("token not stored under its hash: %v", err)
		}
		if strings.Contains(fmt.Sprint(d), tok) || strings.Contains(fmt.Sprint(d), tok[len(APITokenPrefix):]) {
			t.Fatal("a plain API token is stored")
		}
	}
	if toks, _ := s.Tokens(ctx, stranger.ID); len(toks) != 0 {
		t.Fatalf("a stranger sees tokens %+v", toks)
	}

	c.Advance(time.Hour)
	_, err = s.Authenticate(ctx, short)
	wantErr(t, err, ErrUnauthenticated)
	if _, err := s.Authenticate(ctx, forever); err != nil {
		t.Fatalf("a token without expiry expired: %v", err)
	}

	if err := s.Logout(ctx, forever, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, forever); err != nil {
		t.Fatalf("Logout revoked an API token: %v", err)
	}
	wantErr(t, s.RevokeToken(ctx, stranger.ID, sess.ID), ErrNotFound)
	if _, err := s.Authenticate(ctx, forever); err != nil {
		t.Fatalf("a stranger revoked the token: %v", err)
	}
	if err := s.RevokeToken(ctx, owner.ID, sess.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, forever)
	wantErr(t, err, ErrUnauthenticated)
	wantErr(t, s.RevokeToken(ctx, owner.ID, sess.ID), ErrNotFound)

	_, err = s.CreateToken(ctx, "no-such-user", "x", 0)
	wantErr(t, err, ErrNotFound)
	_, err = s.CreateToken(ctx, owner.ID, "x", -time.Second)
	wantErr(t, err, ErrInvalid)
	_, err = s.CreateToken(ctx, owner.ID, " ", 0)
	wantErr(t, err, ErrInvalid)
}

// hammer runs n concurrent logins and counts the outcomes.
func hammer(t *testing.T, s *Service, n int, username func(i int) string, password, ip string) (bad, limited int) {
	t.Helper()
	var nBad, nLimited, nOther atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Login(context.Background(), username(i), password, ip)
			switch {
			case errors.Is(err, ErrBadCredentials):
				nBad.Add(1)
			case errors.Is(err, ErrRateLimited):
				nLimited.Add(1)
			default:
				nOther.Add(1)
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	return int(nBad.Load()), int(nLimited.Load())
}

func testRateLimitPerUser(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{UserLimit: 10, IPLimit: 1000})
	mustCreate(t, s, "olga")
	bad, limited := hammer(t, s, 20, func(int) string { return "olga" }, "wrong password", "198.51.100.1")
	if bad != 10 || limited != 10 {
		t.Fatalf("20 concurrent wrong passwords: %d failures, %d refused; want 10 and 10", bad, limited)
	}
	// Even the right password, from another IP, is refused now.
	_, err := s.Login(ctx, "OLGA", goodPassword, "203.0.113.9")
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("right password over the limit: %v", err)
	}
	if rl.Key != "username" || rl.RetryAfter <= 0 || rl.RetryAfter > DefaultLimitWindow {
		t.Fatalf("rate-limit error %+v", rl)
	}
	// Other users are not affected.
	mustCreate(t, s, "pavel")
	mustLogin(t, s, "pavel", goodPassword)

	c.Advance(rl.RetryAfter)
	if _, err := s.Login(ctx, "olga", goodPassword, "198.51.100.1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func testRateLimitPerIP(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{UserLimit: 1000, IPLimit: 5})
	mustCreate(t, s, "quinn")
	bad, limited := hammer(t, s, 20, func(i int) string { return fmt.Sprintf("user%d", i) }, "wrong password", "2001:db8:1:2::10")
	if bad != 5 || limited != 15 {
		t.Fatalf("20 concurrent wrong logins from one IP: %d failures, %d refused; want 5 and 15", bad, limited)
	}
	// The same /64 is the same client.
	_, err := s.Login(ctx, "quinn", goodPassword, "2001:db8:1:2:ffff::1")
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Key != "ip" {
		t.Fatalf("right password from the limited /64: %v", err)
	}
	// Another IP may log in, and the username counter did not count the
	// refused attempt.
	if _, err := s.Login(ctx, "quinn", goodPassword, "2001:db8:1:3::10"); err != nil {
		t.Fatalf("from another /64: %v", err)
	}
	// Only the five tried usernames counted a failure: the refused attempts
	// were stopped by the IP counter before reaching theirs.
	n, err := st.Count(ctx, AttemptsCollection, store.And(store.Eq("kind", "username"), store.Gt("attempts", 0)))
	if err != nil || n != 5 {
		t.Fatalf("%d usernames with failures, want 5 (%v)", n, err)
	}
}

func TestIPKey(t *testing.T) {
	for ip, want := range map[string]string{
		"":                   "",
		"192.0.2.1":          "192.0.2.1",
		"::ffff:192.0.2.1":   "192.0.2.1",
		"2001:db8:1:2::10":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":       "fe80::/64",
		"not an ip":          "not an ip",
	} {
		if got := IPKey(ip); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", ip, got, want)
		}
	}
}

// A success gives its slot back and resets nothing: the counters count
// failures.
func testSuccessDoesNotCount(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, newClock(), Options{UserLimit: 3, IPLimit: 3})
	mustCreate(t, s, "rita")
	for i := 0; i < 2; i++ {
		_, err := s.Login(ctx, "rita", "wrong password", "192.0.2.5")
		wantErr(t, err, ErrBadCredentials)
	}
	for i := 0; i < 5; i++ {
		mustLogin(t, s, "rita", goodPassword)
		if _, err := s.Login(ctx, "rita", goodPassword, "192.0.2.5"); err != nil {
			t.Fatalf("success %d: %v", i, err)
		}
	}
	_, err := s.Login(ctx, "rita", "wrong password", "192.0.2.5")
	wantErr(t, err, ErrBadCredentials) // the third failure
	_, err = s.Login(ctx, "rita", goodPassword, "192.0.2.6")
	wantErr(t, err, ErrRateLimited)
}

func testEnsureAdmin(t *testing.T, st store.Store) {
	ctx := context.Background()
	s := newService(t, st, nil, Options{})
	_, _, err := s.EnsureAdmin(ctx, "admin")
	wantErr(t, err, ErrWeakPassword)

	created, otp, err := s.EnsureAdmin(ctx, "")
	if err != nil || !created || len(otp) < 16 {
		t.Fatalf("first start: %v %q %v", created, otp, err)
	}
	sess := mustLogin(t, s, "admin", otp)
	if !sess.User.HasRole(AdminRole) || !sess.User.MustChangePassword {
		t.Fatalf("admin %+v", sess.User)
	}
	created, otp, err = s.EnsureAdmin(ctx, "")
	if err != nil || created || otp != "" {
		t.Fatalf("second start: %v %q %v", created, otp, err)
	}

	st2, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	s2 := newService(t, st2, nil, Options{})
	created, otp, err = s2.EnsureAdmin(ctx, "from the environment")
	if err != nil || !created || otp != "" {
		t.Fatalf("with a given password: %v %q %v", created, otp, err)
	}
	if sess := mustLogin(t, s2, "admin", "from the environment"); sess.User.MustChangePassword {
		t.Fatal("a given password is marked to be changed")
	}
}

// Two processes start together on an empty store: exactly one creates the
// admin.
func testEnsureAdminConcurrent(t *testing.T, st store.Store) {
	ctx := context.Background()
	procs := []*Service{newService(t, st, nil, Options{}), newService(t, st, nil, Options{})}
	var wg sync.WaitGroup
	results := make([]bool, len(procs))
	otps := make([]string, len(procs))
	for i, s := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], otps[i], err = s.EnsureAdmin(ctx, "")
			if err != nil {
				t.Errorf("process %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if results[0] == results[1] {
		t.Fatalf("created: %v; want exactly one true", results)
	}
	users, err := procs[0].Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Username != "admin" {
		t.Fatalf("users %+v, want one admin", users)
	}
	winner := 0
	if results[1] {
		winner = 1
	}
	mustLogin(t, procs[1-winner], "admin", otps[winner])
}

func testCleanup(t *testing.T, st store.Store) {
	ctx := context.Background()
	c := newClock()
	s := newService(t, st, c, Options{})
	u := mustCreate(t, s, "sam")
	old := mustLogin(t, s, "sam", goodPassword)
	if _, err := s.CreateToken(ctx, u.ID, "short", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, u.ID, "forever", 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Login(ctx, "sam", "wrong password", "192.0.2.8")
	wantErr(t, err, ErrBadCredentials)
	c.Advance(DefaultIdleTimeout + time.Second)
	fresh := mustLogin(t, s, "sam", goodPassword)
	n, err := s.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The old session, the short token, and the counters of the first window:
	// username sam, IPs 192.0.2.1 (the login) and 192.0.2.8 (the failure).
	if n != 5 {
		t.Fatalf("cleaned %d documents, want 5", n)
	}
	if _, err := st.Get(ctx, SessionsCollection, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session kept: %v", err)
	}
	if _, err := s.Authenticate(ctx, fresh.Token); err != nil {
		t.Fatalf("cleanup ended a live session: %v", err)
	}
	if toks, _ := s.Tokens(ctx, u.ID); len(toks) != 1 || toks[0].Name != "forever" {
		t.Fatalf("tokens after cleanup %+v", toks)
	}
}

// BenchmarkHashPassword measures one hash with the default parameters.
func BenchmarkHashPassword(b *testing.B) {
	s := &Service{opts: Options{hash: defaultHash}, slots: make(chan struct{}, 2)}
	for b.Loop() {
		if _, err := s.hashPassword(context.Background(), goodPassword); err != nil {
			b.Fatal(err)
		}
	}
}
