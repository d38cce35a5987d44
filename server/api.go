package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/records"
)

// sessionCookie carries the browser session token.
const sessionCookie = "yerp_session"

// mountAPI registers /api/v1.
func mountAPI(app *fiber.App, d Deps) {
	a := &api{d: d}
	v1 := app.Group("/api/v1")
	v1.Post("/auth/login", a.login)
	authed := v1.Group("", a.authenticate)
	authed.Get("/openapi.json", a.openAPI)
	authed.Post("/auth/logout", a.logout)
	authed.Get("/auth/me", a.me)
	authed.Post("/auth/tokens", a.createToken)
	authed.Post("/auth/password", a.changePassword)
	authed.Get("/meta/entities", a.entities)
	authed.Get("/meta/entities/:entity", a.entityMeta)
	authed.Get("/records/:entity", a.list)
	authed.Post("/records/:entity", a.create)
	authed.Get("/records/:entity/:id", a.get)
	authed.Patch("/records/:entity/:id", a.update)
	authed.Delete("/records/:entity/:id", a.remove)
	authed.Get("/records/:entity/:id/history", a.history)
	authed.Get("/records/:entity/:id/transitions", a.transitions)
	authed.Post("/records/:entity/:id/transitions/:name", a.transition)
	authed.Post("/batch", a.batch)
	authed.Post("/approvals/:id/:decision", a.decide)
	authed.Get("/inbox", a.inbox)
	authed.Get("/notifications", a.notifications)
	authed.Post("/notifications/:id/read", a.markRead)
	authed.Post("/files/:entity/:field", a.upload)
	authed.Get("/records/:entity/:id/files/:field", a.download)
	authed.Get("/stock", a.stock)
	authed.Get("/stock/below-minimum", a.belowMinimum)
	mountDataIO(authed, a)
	authed.Get("/records/:entity/:id/prints/:name", a.printLayout)
	mountTracking(app, authed, a)
	mountReports(authed, a)
}

type api struct{ d Deps }

// session returns the caller, set by authenticate.
func session(c fiber.Ctx) *auth.Session { s, _ := c.Locals("session").(*auth.Session); return s }

func user(c fiber.Ctx) records.User {
	u := session(c).User
	return records.User{ID: u.ID, Name: u.Name, Roles: u.Roles, Lang: u.Language}
}

// authenticate accepts a bearer token or the session cookie; cookie sessions
// must send their CSRF token on unsafe methods.
func (a *api) authenticate(c fiber.Ctx) error {
	token, fromCookie := "", false
	if h := c.Get(fiber.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	} else if ck := c.Cookies(sessionCookie); ck != "" {
		token, fromCookie = ck, true
	}
	if token == "" {
		return problem(c, fiber.StatusUnauthorized, "", nil)
	}
	s, err := a.d.Auth.Authenticate(c.Context(), token)
	if err != nil {
		return fail(c, err)
	}
	if fromCookie && !safeMethod(c.Method()) && !a.d.Auth.CheckCSRF(s, c.Get("X-CSRF-Token")) {
		return problem(c, fiber.StatusForbidden, "missing or wrong X-CSRF-Token", nil)
	}
	c.Locals("session", s)
	return c.Next()
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

func (a *api) login(c fiber.Ctx) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c.Body(), &in); err != nil {
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "body", Code: "invalid_json"}})
	}
	s, err := a.d.Auth.Login(c.Context(), in.Username, in.Password, c.IP())
	if err != nil {
		return fail(c, err)
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: s.Token, Path: "/", HTTPOnly: true, Secure: a.d.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: s.ExpiresAt})
	return c.JSON(fiber.Map{"token": s.Token, "csrf": s.CSRF, "user": userJSON(s.User), "expires_at": s.ExpiresAt})
}

func userJSON(u *auth.User) fiber.Map {
	return fiber.Map{"id": u.ID, "username": u.Username, "name": u.Name, "roles": u.Roles, "language": u.Language, "must_change_password": u.MustChangePassword}
}

func (a *api) logout(c fiber.Ctx) error {
	token := c.Cookies(sessionCookie)
	if h := c.Get(fiber.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	if err := a.d.Auth.Logout(c.Context(), token, c.IP()); err != nil {
		return fail(c, err)
	}
	c.ClearCookie(sessionCookie)
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *api) me(c fiber.Ctx) error {
	s := session(c)
	return c.JSON(fiber.Map{"user": userJSON(s.User), "csrf": s.CSRF})
}

func (a *api) createToken(c fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
		Days int    `json:"days"`
	}
	if err := decodeJSON(c.Body(), &in); err != nil {
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "body", Code: "invalid_json"}})
	}
	token, err := a.d.Auth.CreateToken(c.Context(), session(c).User.ID, in.Name, time.Duration(in.Days)*24*time.Hour)
	if err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			return problem(c, fiber.StatusBadRequest, err.Error(), nil)
		}
		return fail(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": token})
}

// errAnswered tells a handler that body already wrote the error answer.
var errAnswered = errors.New("answered")

// body decodes a JSON object of record values (decodeRecord). On bad input
// it writes the 400 answer and returns errAnswered.
func body(c fiber.Ctx) (map[string]any, error) {
	m, bad := decodeRecord(c.Body())
	if len(bad) > 0 {
		return nil, answered(problem(c, fiber.StatusBadRequest, "", bad))
	}
	return m, nil
}

// maxBodyDepth is how deeply a record body may nest objects and lists: a
// table row of a json field is 4 deep; encoding/json alone would allow
// 10,000.
const maxBodyDepth = 64

// decodeRecord decodes a request body holding one JSON object of record
// values, keeping numbers exact (json.Number). It refuses, with the field
// problems of a 400:
//   - a body that is not valid UTF-8 (encoding/json would silently turn the
//     bad bytes into U+FFFD and store altered text);
//   - anything but exactly one JSON object (no data after it);
//   - nesting deeper than maxBodyDepth;
//   - keys that look like query operators or paths ("$gt", "a.b") or are
//     empty: they are never field names, at any depth.
func decodeRecord(data []byte) (map[string]any, []records.FieldError) {
	invalid := []records.FieldError{{Path: "body", Code: "invalid_json"}}
	if !utf8.Valid(data) {
		return nil, invalid
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, invalid
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid // more after the object
	}
	var bad []records.FieldError
	var walk func(prefix string, v any, depth int)
	walk = func(prefix string, v any, depth int) {
		if depth > maxBodyDepth {
			bad = append(bad, records.FieldError{Path: strings.TrimSuffix(prefix, "."), Code: "invalid_json"})
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.HasPrefix(k, "$") || strings.Contains(k, ".") || k == "" {
					bad = append(bad, records.FieldError{Path: prefix + k, Code: "invalid_key"})
					continue
				}
				walk(prefix+k+".", e, depth+1)
			}
		case []any:
			for _, e := range x {
				walk(prefix, e, depth+1)
			}
		}
	}
	walk("", m, 1)
	if len(bad) > 0 {
		return nil, bad
	}
	return m, nil
}

// decodeJSON decodes a small JSON request body into v, refusing one that is
// not valid UTF-8 (see decodeRecord).
func decodeJSON(data []byte, v any) error {
	if !utf8.Valid(data) {
		return errors.New("the body is not valid UTF-8")
	}
	return json.Unmarshal(data, v)
}

// answered is errAnswered once the error answer is written (or the write error).
func answered(err error) error {
	if err != nil {
		return err
	}
	return errAnswered
}

// ifMatch reads the version the client read from If-Match ("3" or W/"3").
func ifMatch(c fiber.Ctx) (int64, bool) {
	h := strings.TrimPrefix(strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), "W/")
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	return v, err == nil && v > 0
}

func etag(rec records.Record) string { return `"` + strconv.FormatInt(rec.Version(), 10) + `"` }

func (a *api) list(c fiber.Ctx) error {
	q := records.ListQuery{Filter: c.Query("filter"), After: c.Query("cursor"), Count: c.Query("count") == "true"}
	if s := c.Query("sort"); s != "" {
		q.Sort = strings.Split(s, ",")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "limit", Code: "not_a_number"}})
		}
		q.Limit = n
	}
	// An entity the caller may not read at all is refused (403), as by get
	// and export; the engine lists nothing for such a caller instead, which
	// is what a form's link choices need.
	ent, err := a.d.Records.Entity(c.Params("entity"))
	if err != nil {
		return fail(c, err)
	}
	if !records.Readable(ent, user(c)) {
		return problem(c, fiber.StatusForbidden, "you may not read "+ent.Name, nil)
	}
	page, err := a.d.Records.List(c.Context(), user(c), c.Params("entity"), q)
	if err != nil {
		var ve *records.ValidationError
		if errors.As(err, &ve) {
			return problem(c, fiber.StatusBadRequest, "", ve.Errors)
		}
		return fail(c, err)
	}
	out := fiber.Map{"records": page.Records, "next": page.Next}
	if q.Count {
		out["total"] = page.Total
	}
	if f := c.Query("fields"); f != "" {
		keep := map[string]bool{"id": true, "version": true}
		for _, name := range strings.Split(f, ",") {
			keep[strings.TrimSpace(name)] = true
		}
		for _, r := range page.Records {
			for k := range r {
				if !keep[k] {
					delete(r, k)
				}
			}
		}
	}
	return c.JSON(out)
}

func (a *api) create(c fiber.Ctx) error {
	in, err := body(c)
	if err != nil {
		return ignoreAnswered(err)
	}
	if key := c.Get(idempotencyKeyHeader); key != "" {
		return a.createOnce(c, key, in) // batch.go
	}
	rec, err := a.d.Records.Create(c.Context(), user(c), c.Params("entity"), in)
	if err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderETag, etag(rec))
	c.Set(fiber.HeaderLocation, "/api/v1/records/"+c.Params("entity")+"/"+rec.ID())
	return c.Status(fiber.StatusCreated).JSON(rec)
}

func (a *api) get(c fiber.Ctx) error {
	rec, err := a.d.Records.Get(c.Context(), user(c), c.Params("entity"), c.Params("id"))
	if err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderETag, etag(rec))
	return c.JSON(rec)
}

func (a *api) update(c fiber.Ctx) error {
	version, ok := ifMatch(c)
	if !ok {
		return problem(c, fiber.StatusPreconditionRequired, "send If-Match with the record's version (its ETag)", nil)
	}
	in, err := body(c)
	if err != nil {
		return ignoreAnswered(err)
	}
	rec, err := a.d.Records.Update(c.Context(), user(c), c.Params("entity"), c.Params("id"), version, in)
	if err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderETag, etag(rec))
	return c.JSON(rec)
}

func (a *api) remove(c fiber.Ctx) error {
	version, ok := ifMatch(c)
	if !ok {
		return problem(c, fiber.StatusPreconditionRequired, "send If-Match with the record's version (its ETag)", nil)
	}
	if err := a.d.Records.Delete(c.Context(), user(c), c.Params("entity"), c.Params("id"), version); err != nil {
		return fail(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *api) history(c fiber.Ctx) error {
	h, err := a.d.Records.History(c.Context(), user(c), c.Params("entity"), c.Params("id"))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"entries": h})
}

func logError(c fiber.Ctx, err error) {
	// The route pattern, not the path: a tracking link's path is its token.
	slog.Error("request failed", "request_id", RequestID(c), "method", c.Method(), "route", c.Route().Path, "err", err)
}

func ignoreAnswered(err error) error {
	if errors.Is(err, errAnswered) {
		return nil
	}
	return err
}

// upload stores a file for an attachment field: the body is the file (or a
// multipart form with a "file" part); ?name= or the part gives its name.
func (a *api) upload(c fiber.Ctx) error {
	r, name, err := requestFile(c)
	if err != nil {
		return fileError(c, err)
	}
	defer r.Close()
	info, err := a.d.Records.Upload(c.Context(), user(c), c.Params("entity"), c.Params("field"), name, r)
	if err != nil {
		return fail(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(info)
}

// download sends the file of an attachment field.
func (a *api) download(c fiber.Ctx) error {
	var buf bytes.Buffer
	info, err := a.d.Records.Download(c.Context(), user(c), c.Params("entity"), c.Params("id"), c.Params("field"), &buf)
	if err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderContentType, info.ContentType)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": info.Name}))
	return c.Send(buf.Bytes())
}

func (a *api) transitions(c fiber.Ctx) error {
	opts, err := a.d.Records.Transitions(c.Context(), user(c), c.Params("entity"), c.Params("id"))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"transitions": opts})
}

// transition takes a transition: If-Match with the version read, and the
// transition's input as {"input": {...}}.
func (a *api) transition(c fiber.Ctx) error {
	version, ok := ifMatch(c)
	if !ok {
		return problem(c, fiber.StatusPreconditionRequired, "send If-Match with the record's version (its ETag)", nil)
	}
	var input map[string]any
	if len(bytes.TrimSpace(c.Body())) > 0 {
		in, err := body(c)
		if err != nil {
			return ignoreAnswered(err)
		}
		if v, ok := in["input"].(map[string]any); ok {
			input = v
		}
	}
	if key := c.Get(idempotencyKeyHeader); key != "" {
		return a.transitionOnce(c, key, version, input) // batch.go
	}
	taken, err := a.d.Records.Transition(c.Context(), user(c), c.Params("entity"), c.Params("id"), c.Params("name"), version, input)
	if err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderETag, etag(taken.Record))
	out := fiber.Map{"record": taken.Record, "warnings": taken.Warnings}
	if taken.Approval != "" {
		out["approval"] = taken.Approval
		return c.Status(fiber.StatusAccepted).JSON(out)
	}
	return c.JSON(out)
}

// decide is approve, reject or return (with {"comment"}), withdraw, reassign or
// add_approver (with {"user"}) of an approval.
func (a *api) decide(c fiber.Ctx) error {
	d := records.Decision(c.Params("decision"))
	var in struct {
		Comment string `json:"comment"`
		User    string `json:"user"` // reassign, add_approver
	}
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c.Body(), &in); err != nil {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "body", Code: "invalid_json"}})
		}
	}
	var ap records.Approval
	var err error
	switch d {
	case records.Approve, records.Reject, records.Withdraw, records.Return:
		ap, err = a.d.Records.Decide(c.Context(), user(c), c.Params("id"), d, in.Comment)
	case records.Reassign, records.AddApprover:
		ap, err = a.d.Records.Delegate(c.Context(), user(c), c.Params("id"), d, in.User, in.Comment)
	default:
		return problem(c, fiber.StatusNotFound, "", nil)
	}
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(ap)
}

// inbox lists what waits for the caller: the approvals they may decide now
// (the oldest ?limit=, default 50, at most 500; more_approvals says whether
// others wait), the open records handed over to them, and their unread
// notifications.
func (a *api) inbox(c fiber.Ctx) error {
	u := user(c)
	limit := 50
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "limit", Code: "not_a_number"}})
		}
		limit = min(n, 500)
	}
	approvals, more, err := a.d.Records.InboxPage(c.Context(), u, limit)
	if err != nil {
		return fail(c, err)
	}
	assigned, err := a.d.Records.Assigned(c.Context(), u, 50)
	if err != nil {
		return fail(c, err)
	}
	notes, unread, err := a.d.Records.Notifications(c.Context(), u, 50)
	if err != nil {
		return fail(c, err)
	}
	fresh := []records.Notification{}
	for _, n := range notes {
		if !n.Read {
			fresh = append(fresh, n)
		}
	}
	if approvals == nil {
		approvals = []records.Approval{} // a list, never null
	}
	if assigned == nil {
		assigned = []records.Assignment{}
	}
	return c.JSON(fiber.Map{"approvals": approvals, "more_approvals": more, "assigned": assigned, "notifications": fresh, "unread": unread})
}

func (a *api) notifications(c fiber.Ctx) error {
	limit, _ := strconv.Atoi(c.Query("limit"))
	notes, unread, err := a.d.Records.Notifications(c.Context(), user(c), limit)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"notifications": notes, "unread": unread})
}

func (a *api) markRead(c fiber.Ctx) error {
	if err := a.d.Records.MarkRead(c.Context(), user(c), c.Params("id")); err != nil {
		return fail(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// changePassword replaces the caller's password: {"current", "new"}. Sessions
// begun before it end, this one included: the client logs in again.
func (a *api) changePassword(c fiber.Ctx) error {
	var in struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decodeJSON(c.Body(), &in); err != nil {
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "body", Code: "invalid_json"}})
	}
	err := a.d.Auth.ChangePassword(c.Context(), session(c).User.ID, in.Current, in.New)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		return problem(c, fiber.StatusUnprocessableEntity, "", []records.FieldError{{Path: "current", Code: "wrong_password"}})
	case errors.Is(err, auth.ErrWeakPassword):
		return problem(c, fiber.StatusUnprocessableEntity, "", []records.FieldError{{Path: "new", Code: "weak_password", Params: map[string]any{"min": 10}}})
	case err != nil:
		return fail(c, err)
	}
	c.ClearCookie(sessionCookie)
	return c.SendStatus(fiber.StatusNoContent)
}

// errNoFilePart is a multipart request without a part named file.
var errNoFilePart = errors.New("no form part named file")

// requestFile returns the file a request carries: its body, or the multipart
// part named file; ?name= or the part gives the file's name. The caller
// closes it.
func requestFile(c fiber.Ctx) (io.ReadCloser, string, error) {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), "multipart/form-data") {
		return io.NopCloser(bytes.NewReader(c.Body())), c.Query("name"), nil
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return nil, "", errNoFilePart
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "", err
	}
	return f, fh.Filename, nil
}

// fileError answers a requestFile error.
func fileError(c fiber.Ctx, err error) error {
	if errors.Is(err, errNoFilePart) {
		return problem(c, fiber.StatusBadRequest, "send the file in a form part named file", nil)
	}
	return fail(c, err)
}
