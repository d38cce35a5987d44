// Package ui is yerp's browser UI: pages rendered on the server with
// html/template from the installed templates (no page is written for one
// entity), with a small stylesheet and a few lines of progressive JavaScript,
// all embedded in the binary.
//
// The UI is a cookie-session client of the engine: it signs in with the
// auth service (the same session cookie as the API), every form POST carries
// the session's CSRF token, and every read and write goes through the records
// engine, which applies all the rules; the UI only shows their answers.
//
//	GET  /login, POST /login, POST /logout, GET /lang/{zh-CN|en}
//	GET  /                          home: my inbox
//	GET  /r/{entity}                list (columns, filters, sort, pages)
//	GET  /r/{entity}/new            new-record form; POST saves
//	GET  /r/{entity}/{id}           record page; POST .../t/{name} takes a transition
//	GET  /r/{entity}/{id}/edit      edit form; POST saves
//	POST /approvals/{id}            approve or reject, with a comment
//	POST /notifications/{id}/read   mark a notification read
//	GET  /ui/lookup/{entity}/{field}?q=  records a link field may choose (JSON)
//	POST /ui/preview/{entity}[/{id}]     a form's live values and field states (JSON; live.go)
//	POST /ui/upload/{entity}/{field}     a file for an attachment field (JSON; live.go)
//	GET  /reports, /reports/{package}/{name}[?format=csv|xlsx], /dashboard  reports and charts (reports.go)
//	GET  /import/{entity}, POST starts an import; GET /imports/{id}, /ui/imports/{id} its progress (dataio.go)
//	POST /saved-filters/{entity}, /saved-filters/{entity}/{id}/delete  a list's saved filters (savedfilters.go)
//	GET  /m, /m/d/{entity}/{id}, /m/c/{entity}/{group}  phone scanning screens (phone.go)
//	GET  /m/lookup/{entity}?code=   a barcoded record by barcode or code (JSON; phone.go)
//	GET  /ui/static/...             the stylesheet and script
//	GET  /password                  change my password (where a user whose password must change is sent)
//	GET  /admin/packages            admins only (403 for others): the template catalog; .../{name}/install,
//	                                upgrade, uninstall show the plan (GET) and do it (POST)
//	GET  /admin/packages/{name}/edit  template editor; POST .../check (live check and preview, JSON),
//	                                .../plan (the plan), .../publish; GET .../versions?diff=N, .../rollback?n=N
//	GET  /admin/users               users and roles; POST adds; GET/POST /admin/users/{id} (+ /disable, /enable, /reset)
//	GET  /admin/outbox              webhook deliveries; POST /admin/outbox/{id}/retry sends a failed one again (admin_outbox.go)
package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/server"
)

//go:embed templates/*.html static/*
var files embed.FS

// langCookie keeps the language the user chose with the switch.
const langCookie = "yerp_lang"

// UI serves the pages.
type UI struct {
	d     server.Deps
	pages map[string]*template.Template
}

// Mount registers the UI's routes on app. It needs d.Auth, d.Records and
// d.Packages.
func Mount(app *fiber.App, d server.Deps) error {
	if d.Auth == nil || d.Records == nil || d.Packages == nil {
		return errors.New("ui: Auth, Records and Packages are required")
	}
	u := &UI{d: d, pages: map[string]*template.Template{}}
	for _, name := range []string{"login", "home", "list", "form", "record", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: %s: %w", name, err)
		}
		u.pages[name] = t
	}
	app.Get("/ui/static/*", u.static)
	app.Get("/login", u.loginPage)
	app.Post("/login", u.login)
	app.Get("/lang/:lang", u.switchLang)
	g := app.Group("", u.authenticate)
	g.Post("/logout", u.logout)
	g.Get("/", u.home)
	g.Post("/approvals/:id", u.decide)
	g.Post("/notifications/:id/read", u.markRead)
	g.Get("/r/:entity", u.list)
	g.Get("/r/:entity/new", u.newForm)
	g.Post("/r/:entity/new", u.create)
	g.Get("/r/:entity/:id", u.record)
	g.Get("/r/:entity/:id/edit", u.editForm)
	g.Post("/r/:entity/:id/edit", u.update)
	g.Post("/r/:entity/:id/t/:name", u.transition)
	g.Get("/ui/lookup/:entity/:field", u.lookup)
	if err := u.mountAdmin(g); err != nil {
		return err
	}
	u.mountLive(g)
	if err := u.mountReportPages(g); err != nil { // reports.go, dataio.go, savedfilters.go
		return err
	}
	if err := u.mountPhone(g); err != nil { // phone.go
		return err
	}
	if err := u.mountOutbox(g); err != nil { // admin_outbox.go
		return err
	}
	return nil
}

var funcs = template.FuncMap{
	// rowArgs packs what the row template needs.
	"rowArgs": func(row formRow, table string, readonly bool, remove string) map[string]any {
		return map[string]any{"Row": row, "Table": table, "Readonly": readonly, "Remove": remove}
	},
	// decideArgs packs what the approve/reject form needs: the page (for
	// T and CSRF), the approval and where to go back to.
	"decideArgs": func(page any, id, back string) map[string]any {
		return map[string]any{"Page": page, "ID": id, "Back": back}
	},
}

// static serves the embedded stylesheet and script.
func (u *UI) static(c fiber.Ctx) error {
	name := path.Clean("/" + c.Params("*"))
	b, err := fs.ReadFile(files, "static"+name)
	if err != nil {
		return c.SendStatus(fiber.StatusNotFound)
	}
	c.Set(fiber.HeaderContentType, mime.TypeByExtension(path.Ext(name)))
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Send(b)
}

// session returns the signed-in caller (set by authenticate).
func session(c fiber.Ctx) *auth.Session { s, _ := c.Locals("session").(*auth.Session); return s }

// engineUser is the caller as the records engine knows it.
func engineUser(c fiber.Ctx) records.User {
	u := session(c).User
	return records.User{ID: u.ID, Name: u.Name, Roles: u.Roles, Lang: u.Language}
}

// authenticate lets signed-in users through, sends the others to the login
// page, and refuses a POST without the session's CSRF token.
func (u *UI) authenticate(c fiber.Ctx) error {
	token := c.Cookies(server.SessionCookie)
	var s *auth.Session
	if token != "" {
		var err error
		s, err = u.d.Auth.Authenticate(c.Context(), token)
		if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			return u.fail(c, err)
		}
	}
	if s == nil || s.Kind != auth.KindSession {
		if c.Method() != fiber.MethodGet {
			return u.errorPage(c, fiber.StatusUnauthorized, "")
		}
		return c.Redirect().Status(fiber.StatusSeeOther).To("/login?next=" + url.QueryEscape(c.OriginalURL()))
	}
	c.Locals("session", s)
	if c.Method() == fiber.MethodPost && !u.d.Auth.CheckCSRF(s, c.FormValue("_csrf")) {
		return u.errorPage(c, fiber.StatusForbidden, t(lang(c), "csrf"))
	}
	if done, err := u.requirePasswordChange(c); done {
		return err
	}
	return c.Next()
}

// lang is the language of the pages: the switch's cookie, else the user's
// preference, else zh-CN.
func lang(c fiber.Ctx) string {
	switch c.Cookies(langCookie) {
	case "en":
		return "en"
	case "zh-CN":
		return "zh-CN"
	}
	if s := session(c); s != nil && s.User != nil && s.User.Language == "en" {
		return "en"
	}
	return "zh-CN"
}

func (u *UI) switchLang(c fiber.Ctx) error {
	l := c.Params("lang")
	if l != "en" {
		l = "zh-CN"
	}
	c.Cookie(&fiber.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: fiber.CookieSameSiteLaxMode, Secure: u.d.SecureCookies})
	return c.Redirect().Status(fiber.StatusSeeOther).To(localPath(c.Query("back")))
}

// localPath is p when it is a path on this site, else "/" (no open redirect).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	return p
}

// page is what every page template is executed with.
type page struct {
	Lang  string
	User  *auth.User
	CSRF  string
	Nav   []navGroup
	Title string
	Path  string // the current URL, for the language switch
	Flash string
	Error string
	Data  any
}

// T is the UI text key in the page's language.
func (p *page) T(key string) string { return t(p.Lang, key) }

// Other is the language the switch offers.
func (p *page) Other() string {
	if p.Lang == "en" {
		return "zh-CN"
	}
	return "en"
}

// newPage starts the page of a signed-in caller.
func (u *UI) newPage(c fiber.Ctx, title string, data any) *page {
	p := &page{Lang: lang(c), Title: title, Path: c.OriginalURL(), Data: data}
	if s := session(c); s != nil {
		p.User, p.CSRF = s.User, s.CSRF
		p.Nav = u.nav(engineUser(c), p.Lang)
	}
	if key := c.Query("msg"); key != "" && flashes[key] {
		p.Flash = t(p.Lang, "msg_"+key)
	}
	return p
}

// render executes page template name with status.
func (u *UI) render(c fiber.Ctx, status int, name string, p *page) error {
	var buf bytes.Buffer
	if err := u.pages[name].Execute(&buf, p); err != nil {
		slog.Error("ui: render", "page", name, "err", err)
		return c.Status(fiber.StatusInternalServerError).SendString("template error")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	return c.Status(status).Send(buf.Bytes())
}

// errorPage shows an error status with an optional detail.
func (u *UI) errorPage(c fiber.Ctx, status int, detail string) error {
	l := lang(c)
	p := u.newPage(c, server.Title(l, status), nil)
	p.Error = detail
	if p.Title == "" {
		p.Title = t(l, "error")
	}
	return u.render(c, status, "error", p)
}

// fail shows an engine error as the matching error page.
func (u *UI) fail(c fiber.Ctx, err error) error {
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		return u.errorPage(c, fiber.StatusTooManyRequests, "")
	case errors.Is(err, records.ErrNotFound):
		return u.errorPage(c, fiber.StatusNotFound, "")
	case errors.Is(err, records.ErrForbidden):
		return u.errorPage(c, fiber.StatusForbidden, "")
	case errors.Is(err, records.ErrConflict):
		return u.errorPage(c, fiber.StatusConflict, "")
	case server.FaultStatus(err) != 0: // the store is down or full: 503 or 507
		slog.Error("ui: request failed", "method", c.Method(), "path", c.Path(), "err", err)
		if server.FaultStatus(err) == fiber.StatusServiceUnavailable {
			c.Set(fiber.HeaderRetryAfter, "5")
		}
		return u.errorPage(c, server.FaultStatus(err), "")
	}
	slog.Error("ui: request failed", "method", c.Method(), "path", c.Path(), "err", err)
	return u.errorPage(c, fiber.StatusInternalServerError, "")
}

func (u *UI) loginPage(c fiber.Ctx) error {
	p := u.newPage(c, t(lang(c), "login"), fiber.Map{"Next": localPath(c.Query("next")), "Username": ""})
	return u.render(c, fiber.StatusOK, "login", p)
}

func (u *UI) login(c fiber.Ctx) error {
	l := lang(c)
	next := localPath(c.FormValue("next"))
	username := c.FormValue("username")
	s, err := u.d.Auth.Login(c.Context(), username, c.FormValue("password"), c.IP())
	if err != nil {
		p := u.newPage(c, t(l, "login"), fiber.Map{"Next": next, "Username": username})
		var rl *auth.RateLimitError
		switch {
		case errors.As(err, &rl):
			p.Error = server.Title(l, fiber.StatusTooManyRequests)
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
			return u.render(c, fiber.StatusTooManyRequests, "login", p)
		case errors.Is(err, auth.ErrBadCredentials):
			p.Error = t(l, "bad_login")
			return u.render(c, fiber.StatusUnauthorized, "login", p)
		}
		return u.fail(c, err)
	}
	c.Cookie(&fiber.Cookie{Name: server.SessionCookie, Value: s.Token, Path: "/", HTTPOnly: true, Secure: u.d.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: s.ExpiresAt})
	return c.Redirect().Status(fiber.StatusSeeOther).To(next)
}

func (u *UI) logout(c fiber.Ctx) error {
	if err := u.d.Auth.Logout(c.Context(), c.Cookies(server.SessionCookie), c.IP()); err != nil {
		return u.fail(c, err)
	}
	c.ClearCookie(server.SessionCookie)
	return c.Redirect().Status(fiber.StatusSeeOther).To("/login")
}
