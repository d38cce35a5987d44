package records

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Customer tracking links.
//
// An entity whose template declares tracking: can hand out links that a
// customer opens without an account: a page with the fields the template
// lists (nothing else) and, with feedback: true, a feedback form.
//
// A token is 32 random bytes from crypto/rand followed by the first 16 bytes
// of their HMAC-SHA256 under a key kept in the store (made once, shared by
// every server process), in base64url. A token whose MAC does not verify is
// refused before any store lookup. Only the SHA-256 of the random part is
// stored with the link, so neither a leaked database (key and hashes) nor a
// leaked token list gives a working link. Revocation and expiry are stored on
// the link and checked on every request, so they take effect at once on
// every process.
const (
	trackingLinksColl    = "sys_tracking_links"
	trackingKeysColl     = "sys_tracking_keys"
	trackingAttemptsColl = "sys_tracking_attempts"
	trackingKeyID        = "link_signing"
	trackingRandomLen    = 32
	trackingMACLen       = 16

	// FeedbackMaxLen is the most characters one feedback may have.
	FeedbackMaxLen = 1000
	// FeedbackPerLink and FeedbackPerIP are how many feedbacks one link, and
	// one client address, may send per FeedbackWindow.
	FeedbackPerLink = 5
	FeedbackPerIP   = 20
	FeedbackWindow  = time.Hour
)

// Errors of tracking links.
var (
	// ErrLinkGone: the tracking link was revoked or has expired.
	ErrLinkGone = errors.New("records: this link is no longer valid")
	// ErrRateLimited: too many requests; comes as a *RateLimitError.
	ErrRateLimited = errors.New("records: too many requests")
)

// RateLimitError refuses a request over a rate limit; errors.Is(err,
// ErrRateLimited) holds.
type RateLimitError struct {
	Key        string // "link" or "ip"
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("records: too many requests for this %s; retry in %s", e.Key, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// trackingKey caches the signing key once read from the store.
type trackingKey struct {
	mu  sync.Mutex
	key []byte
}

// TrackingLink is a link as staff see it; the token is never stored.
type TrackingLink struct {
	ID        string `json:"id"`
	Entity    string `json:"entity"`
	Record    string `json:"record"`
	CreatedBy string `json:"created_by"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
	RevokedBy string `json:"revoked_by,omitempty"`
	Active    bool   `json:"active"`
}

// signingKey returns the key that signs tracking links, creating it on the
// first use in this store (the first process to insert it wins).
func (e *Engine) signingKey(ctx context.Context) ([]byte, error) {
	e.track.mu.Lock()
	defer e.track.mu.Unlock()
	if e.track.key != nil {
		return e.track.key, nil
	}
	for range 2 {
		d, err := e.st.Get(ctx, trackingKeysColl, trackingKeyID)
		if err == nil {
			key, err := base64.StdEncoding.DecodeString(fmt.Sprint(d["key"]))
			if err != nil || len(key) < 32 {
				return nil, fmt.Errorf("records: the tracking link key is damaged")
			}
			e.track.key = key
			return key, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("records: tracking key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("records: tracking key: %w", err)
		}
		_, err = e.st.Insert(ctx, trackingKeysColl, store.Doc{store.IDField: trackingKeyID,
			"key": base64.StdEncoding.EncodeToString(key), "created_at": e.stamp()})
		if err == nil {
			e.track.key = key
			return key, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, fmt.Errorf("records: tracking key: %w", err)
		}
		// Another process made it meanwhile: read theirs.
	}
	return nil, fmt.Errorf("records: tracking key: cannot be read or created")
}

func trackingMAC(key, random []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("yerp tracking link v1\x00"))
	m.Write(random)
	return m.Sum(nil)[:trackingMACLen]
}

func tokenHash(random []byte) string {
	sum := sha256.Sum256(random)
	return hex.EncodeToString(sum[:])
}

// verifyToken checks a token's signature and returns the hash it is stored
// under. A token that is malformed or signed with another key is ErrNotFound,
// found without reading the store once the key is known.
func (e *Engine) verifyToken(ctx context.Context, token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != trackingRandomLen+trackingMACLen {
		return "", fmt.Errorf("%w: tracking link", ErrNotFound)
	}
	key, err := e.signingKey(ctx)
	if err != nil {
		return "", err
	}
	random, mac := raw[:trackingRandomLen], raw[trackingRandomLen:]
	if !hmac.Equal(mac, trackingMAC(key, random)) {
		return "", fmt.Errorf("%w: tracking link", ErrNotFound)
	}
	return tokenHash(random), nil
}

var trackingIndexes = []store.Index{
	{Name: "hash", Keys: []store.SortKey{store.Asc("hash")}, Unique: true},
	{Name: "record", Keys: []store.SortKey{store.Asc("entity"), store.Asc("record"), store.Desc("created_at")}},
}

// trackable loads a record of an entity with tracking links that u may read
// and, for write, update.
func (e *Engine) trackable(ctx context.Context, u User, entity, id string, write bool) (*template.Entity, Record, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, nil, err
	}
	if ent.Decl.Tracking == nil {
		return nil, nil, fmt.Errorf("%w: %s has no tracking links", ErrNotFound, entity)
	}
	if err := usableBy(ent, u); err != nil {
		return nil, nil, err
	}
	rec, err := e.get(ctx, entity, id)
	if err != nil {
		return nil, nil, err
	}
	ev := e.evaluator(ctx, ent, u)
	if ok, err := ev.can("read", rec); err != nil || !ok {
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %s %s", ErrNotFound, entity, id)
	}
	if write {
		if ok, err := ev.can("update", rec); err != nil || !ok {
			if err != nil {
				return nil, nil, err
			}
			return nil, nil, forbidden("share", entity)
		}
	}
	if err := e.ensureSysIndexes(ctx, trackingLinksColl, trackingIndexes...); err != nil {
		return nil, nil, fmt.Errorf("records: tracking links: %w", err)
	}
	return ent, rec, nil
}

// CreateTrackingLink makes a tracking link for a record u may update; ttl > 0
// makes it expire after that long. The token is returned only here: the store
// keeps its hash. The creation lands in the record's history.
func (e *Engine) CreateTrackingLink(ctx context.Context, u User, entity, id string, ttl time.Duration) (TrackingLink, string, error) {
	ent, rec, err := e.trackable(ctx, u, entity, id, true)
	if err != nil {
		return TrackingLink{}, "", err
	}
	if ttl < 0 {
		return TrackingLink{}, "", &ValidationError{Errors: []FieldError{{Path: "expires_in_days", Code: "min", Params: map[string]any{"min": 0}}}}
	}
	key, err := e.signingKey(ctx)
	if err != nil {
		return TrackingLink{}, "", err
	}
	random := make([]byte, trackingRandomLen)
	if _, err := rand.Read(random); err != nil {
		return TrackingLink{}, "", fmt.Errorf("records: tracking link: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(append(random, trackingMAC(key, random)...))
	doc := store.Doc{store.IDField: store.NewID(), "entity": entity, "record": id, "hash": tokenHash(random),
		"created_by": u.ID, "created_at": e.stamp()}
	if ttl > 0 {
		doc["expires_at"] = e.now().Add(ttl).UTC().Format(template.DateTimeLayout)
	}
	saved, err := e.st.Insert(ctx, trackingLinksColl, doc)
	if err != nil {
		return TrackingLink{}, "", fmt.Errorf("records: tracking link: %w", err)
	}
	if err := e.auditEntry(ctx, u, ent, "link_created", rec, rec, store.Doc{"link": saved.ID()}); err != nil {
		return TrackingLink{}, "", err
	}
	return e.linkOf(saved), token, nil
}

func (e *Engine) linkOf(d store.Doc) TrackingLink {
	l := TrackingLink{ID: d.ID()}
	l.Entity, _ = d["entity"].(string)
	l.Record, _ = d["record"].(string)
	l.CreatedBy, _ = d["created_by"].(string)
	l.CreatedAt, _ = d["created_at"].(string)
	l.ExpiresAt, _ = d["expires_at"].(string)
	l.RevokedAt, _ = d["revoked_at"].(string)
	l.RevokedBy, _ = d["revoked_by"].(string)
	l.Active = l.RevokedAt == "" && (l.ExpiresAt == "" || l.ExpiresAt > e.stamp())
	return l
}

// TrackingLinks lists the tracking links of a record u may read, newest
// first, without their tokens.
func (e *Engine) TrackingLinks(ctx context.Context, u User, entity, id string) ([]TrackingLink, error) {
	if _, _, err := e.trackable(ctx, u, entity, id, false); err != nil {
		return nil, err
	}
	out := []TrackingLink{}
	q := store.Query{Filter: store.And(store.Eq("entity", entity), store.Eq("record", id)), Sort: []store.SortKey{store.Desc("created_at")}, Limit: 200}
	for {
		page, err := e.st.Find(ctx, trackingLinksColl, q)
		if err != nil {
			return nil, fmt.Errorf("records: tracking links: %w", err)
		}
		for _, d := range page.Docs {
			out = append(out, e.linkOf(d))
		}
		if page.Next == "" {
			return out, nil
		}
		q.After = page.Next
	}
}

// RevokeTrackingLink revokes a link of a record u may update. From then on
// every server process answers the link with ErrLinkGone. Revoking a revoked
// link changes nothing.
func (e *Engine) RevokeTrackingLink(ctx context.Context, u User, entity, id, linkID string) error {
	ent, rec, err := e.trackable(ctx, u, entity, id, true)
	if err != nil {
		return err
	}
	d, err := e.st.Get(ctx, trackingLinksColl, linkID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (d["entity"] != entity || d["record"] != id) {
		return fmt.Errorf("%w: tracking link %s", ErrNotFound, linkID)
	}
	if err != nil {
		return fmt.Errorf("records: tracking link: %w", err)
	}
	if s, _ := d["revoked_at"].(string); s != "" {
		return nil
	}
	d["revoked_at"], d["revoked_by"] = e.stamp(), u.ID
	if _, err := e.st.Replace(ctx, trackingLinksColl, d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: tracking link %s changed meanwhile", ErrConflict, linkID)
		}
		return fmt.Errorf("records: tracking link: %w", err)
	}
	return e.auditEntry(ctx, u, ent, "link_revoked", rec, rec, store.Doc{"link": linkID})
}

// resolve finds the link of a token and its record: ErrNotFound for a token
// that does not verify, an unknown link, or a record that is gone;
// ErrLinkGone for a revoked or expired link.
func (e *Engine) resolve(ctx context.Context, token string) (store.Doc, *template.Entity, Record, error) {
	hash, err := e.verifyToken(ctx, token)
	if err != nil {
		return nil, nil, nil, err
	}
	page, err := e.st.Find(ctx, trackingLinksColl, store.Query{Filter: store.Eq("hash", hash), Limit: 1})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("records: tracking link: %w", err)
	}
	if len(page.Docs) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: tracking link", ErrNotFound)
	}
	link := page.Docs[0]
	if l := e.linkOf(link); !l.Active {
		return nil, nil, nil, ErrLinkGone
	}
	entity, _ := link["entity"].(string)
	id, _ := link["record"].(string)
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, nil, nil, err
	}
	if ent.Decl.Tracking == nil {
		return nil, nil, nil, ErrLinkGone // the template no longer shares it
	}
	rec, err := e.get(ctx, entity, id)
	if err != nil {
		return nil, nil, nil, err
	}
	return link, ent, rec, nil
}

// TrackingPage is what a customer sees through a tracking link.
type TrackingPage struct {
	*View
	Company  string // the company's name, from the core company settings
	Feedback bool   // the page offers a feedback form
}

// OpenTracking returns the page of a token in lang: the company name, the
// record's number and state, and only the fields the template's tracking
// lists (a table with its columns that no role hides, or the columns listed
// as table.column); links show the linked record's title only.
func (e *Engine) OpenTracking(ctx context.Context, token, lang string) (*TrackingPage, error) {
	_, ent, rec, err := e.resolve(ctx, token)
	if err != nil {
		return nil, err
	}
	sel := trackingSelection(ent)
	shown := Record{fID: rec.ID(), fNumber: rec[fNumber], fState: rec[fState], fCreatedAt: rec[fCreatedAt]}
	for _, name := range sel.fields {
		if v, ok := rec[name]; ok {
			shown[name] = v
		}
	}
	// Anonymous: no roles, so linked records show their title only.
	view, err := e.viewer(ctx, User{}, lang, false).view(ent, shown, sel)
	if err != nil {
		return nil, err
	}
	page := &TrackingPage{View: view, Feedback: ent.Decl.Tracking.Feedback}
	if _, crec, err := e.company(ctx); err != nil {
		return nil, err
	} else if crec != nil {
		page.Company, _ = crec["name"].(string)
	}
	return page, nil
}

// trackingSelection is what the tracking page of ent shows.
func trackingSelection(ent *template.Entity) selection {
	sel := selection{columns: map[string][]string{}}
	whole := map[string]bool{}
	hiddenAnywhere := map[string]bool{}
	for _, a := range ent.Decl.Access {
		if a.Val != nil && a.Val.Fields != nil {
			for _, h := range a.Val.Fields.Hide {
				hiddenAnywhere[h.V] = true
			}
		}
	}
	add := func(name string) {
		for _, f := range sel.fields {
			if f == name {
				return
			}
		}
		sel.fields = append(sel.fields, name)
	}
	for _, f := range ent.Decl.Tracking.Fields {
		table, col, nested := strings.Cut(f.V, ".")
		add(table)
		if !nested {
			fd, ok := ent.Decl.Fields.Get(table)
			if ok && fd != nil && fd.Type.V == "table" {
				whole[table] = true
				cols := []string{}
				for _, c := range fd.Fields.Keys() {
					if !hiddenAnywhere[table+"."+c] {
						cols = append(cols, c)
					}
				}
				sel.columns[table] = cols
			}
			continue
		}
		if !whole[table] {
			sel.columns[table] = append(sel.columns[table], col)
		}
	}
	return sel
}

// Feedback stores a customer's feedback given through a tracking link: an
// entry in the record's history (action feedback, with the text and the
// link's id) and a notification to the record's owner, written as one
// posting. It is refused with a *ValidationError when text is empty or longer
// than FeedbackMaxLen, and with a *RateLimitError past FeedbackPerLink per
// link or FeedbackPerIP per client address (ip; "" is not limited) in a
// FeedbackWindow.
func (e *Engine) Feedback(ctx context.Context, token, ip, text string) error {
	link, ent, rec, err := e.resolve(ctx, token)
	if err != nil {
		return err
	}
	if !ent.Decl.Tracking.Feedback {
		return fmt.Errorf("%w: %s takes no feedback", ErrNotFound, ent.Name)
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	switch n := utf8.RuneCountInString(text); {
	case !utf8.ValidString(text):
		return &ValidationError{Errors: []FieldError{{Path: "text", Code: "not_text"}}}
	case n == 0:
		return &ValidationError{Errors: []FieldError{{Path: "text", Code: "required"}}}
	case n > FeedbackMaxLen:
		return &ValidationError{Errors: []FieldError{{Path: "text", Code: "max_length", Params: map[string]any{"max": FeedbackMaxLen}}}}
	}
	if err := e.takeFeedbackSlots(ctx, link.ID(), ip); err != nil {
		return err
	}
	entry := e.auditDoc(User{}, ent, "feedback", rec, rec, store.Doc{"note": text, "link": link.ID()})
	writes := []write{{Op: "insert", Coll: auditColl, ID: store.NewID(), Doc: entry}}
	if owner, _ := rec[fOwner].(string); owner != "" {
		number, _ := rec[fNumber].(string)
		if number == "" {
			number = rec.ID()
		}
		short := text
		if r := []rune(short); len(r) > 200 {
			short = string(r[:200]) + "…"
		}
		ev := e.evaluator(ctx, ent, User{})
		writes = append(writes, ev.notification(owner, "feedback", map[string]string{
			"zh-CN": "客户反馈（" + number + "）：" + short,
			"en":    "Customer feedback on " + number + ": " + short,
		}, rec))
	}
	return e.post(ctx, writes)
}

var oneSlot = decimal.FromInt(1)

// takeFeedbackSlots counts one feedback against the link's and the address's
// counters of the current window, shared by every process through the store;
// when one is full nothing is counted and a *RateLimitError is returned.
func (e *Engine) takeFeedbackSlots(ctx context.Context, linkID, ip string) error {
	now := e.now()
	start := now.Truncate(FeedbackWindow)
	end := start.Add(FeedbackWindow)
	type counter struct {
		kind, id string
		limit    int
	}
	mk := func(kind, key string, limit int) counter {
		sum := sha256.Sum256([]byte(kind + "\x00" + key))
		return counter{kind, fmt.Sprintf("%s-%d-%s", kind, start.Unix(), hex.EncodeToString(sum[:16])), limit}
	}
	cs := []counter{mk("link", linkID, FeedbackPerLink)}
	if k := auth.IPKey(ip); k != "" {
		cs = append(cs, mk("ip", k, FeedbackPerIP))
	}
	for i, c := range cs {
		_, err := e.st.Increment(ctx, trackingAttemptsColl, store.Inc{ID: c.id, Deltas: map[string]decimal.Decimal{"n": oneSlot},
			If: store.Lt("n", c.limit), Upsert: true, SetOnInsert: store.Doc{"kind": c.kind, "expires_at": end.UTC().Format(template.DateTimeLayout)}})
		if err == nil {
			continue
		}
		for _, taken := range cs[:i] { // give back what was counted
			_, _ = e.st.Increment(ctx, trackingAttemptsColl, store.Inc{ID: taken.id, Deltas: map[string]decimal.Decimal{"n": oneSlot.Neg()}, If: store.Gt("n", 0)})
		}
		if errors.Is(err, store.ErrCondition) {
			return &RateLimitError{Key: c.kind, RetryAfter: max(end.Sub(now).Round(time.Second), time.Second)}
		}
		return fmt.Errorf("records: feedback rate limit: %w", err)
	}
	return nil
}
