package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
)

// Customer tracking links (records/tracking.go): staff create, list and revoke
// links under /api/v1; customers open /t/{token} without an account.
//
//	POST   /api/v1/records/{entity}/{id}/tracking-links          {"expires_in_days": 30} → 201 {id, url, created_at}
//	GET    /api/v1/records/{entity}/{id}/tracking-links          → {"links": [...]} (no tokens)
//	DELETE /api/v1/records/{entity}/{id}/tracking-links/{linkID} → 204
//	GET    /t/{token}            the page (HTML; ?lang=en or Accept-Language)
//	POST   /t/{token}/feedback   a form (text=...) or JSON {"text": "..."}
func mountTracking(app *fiber.App, authed fiber.Router, a *api) {
	authed.Post("/records/:entity/:id/tracking-links", a.createTrackingLink)
	authed.Get("/records/:entity/:id/tracking-links", a.trackingLinks)
	authed.Delete("/records/:entity/:id/tracking-links/:link", a.revokeTrackingLink)
	app.Get("/t/:token", a.trackingPage)
	app.Post("/t/:token/feedback", a.trackingFeedback)
}

func (a *api) createTrackingLink(c fiber.Ctx) error {
	var in struct {
		ExpiresInDays int `json:"expires_in_days"`
	}
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "body", Code: "invalid_json"}})
		}
	}
	link, token, err := a.d.Records.CreateTrackingLink(c.Context(), user(c), c.Params("entity"), c.Params("id"), time.Duration(in.ExpiresInDays)*24*time.Hour)
	if err != nil {
		return fail(c, err)
	}
	out := fiber.Map{"id": link.ID, "url": c.BaseURL() + "/t/" + token, "created_at": link.CreatedAt}
	if link.ExpiresAt != "" {
		out["expires_at"] = link.ExpiresAt
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (a *api) trackingLinks(c fiber.Ctx) error {
	links, err := a.d.Records.TrackingLinks(c.Context(), user(c), c.Params("entity"), c.Params("id"))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"links": links})
}

func (a *api) revokeTrackingLink(c fiber.Ctx) error {
	if err := a.d.Records.RevokeTrackingLink(c.Context(), user(c), c.Params("entity"), c.Params("id"), c.Params("link")); err != nil {
		return fail(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// pageLang is the language of a public page: ?lang=, else Accept-Language,
// else zh-CN.
func pageLang(c fiber.Ctx) string {
	switch strings.ToLower(c.Query("lang")) {
	case "en":
		return "en"
	case "zh", "zh-cn":
		return "zh-CN"
	}
	return lang(c)
}

// trackingTexts are the words of the tracking page: zh-CN and en.
var trackingTexts = map[string][2]string{
	"state":         {"状态", "Status"},
	"feedback":      {"意见反馈", "Feedback"},
	"feedback_hint": {"对这笔订单有任何问题或意见，请告诉我们。", "Questions or comments about this order? Tell us."},
	"send":          {"提交", "Send"},
	"sent":          {"感谢您的反馈，我们已收到。", "Thank you, we have received your feedback."},
	"gone_title":    {"链接已失效", "Link no longer valid"},
	"gone":          {"此链接已失效，请联系发送链接给您的人获取新链接。", "This link is no longer valid. Please ask the person who sent it for a new one."},
	"invalid_title": {"链接无效", "Invalid link"},
	"invalid":       {"此链接无效，请检查是否完整复制。", "This link is not valid. Please check that it was copied completely."},
	"too_many":      {"提交过于频繁，请稍后再试。", "Too many messages; please try again later."},
	"required":      {"请填写反馈内容。", "Please write your feedback."},
	"max_length":    {"反馈内容最多 {max} 个字符。", "Feedback can have at most {max} characters."},
	"not_text":      {"反馈内容包含无法识别的字符。", "Feedback contains characters that cannot be read."},
	"error":         {"出错了，请稍后再试。", "Something went wrong; please try again later."},
	"lang_switch":   {"English", "中文"},
}

func trackingText(l, key string) string {
	if l == "en" {
		return trackingTexts[key][1]
	}
	return trackingTexts[key][0]
}

// trackingPageData is what the page template is executed with.
type trackingPageData struct {
	Lang     string
	Title    string
	Page     *records.TrackingPage
	Message  string // gone, invalid, ...
	Error    string // feedback refused
	Sent     bool
	Text     string // the feedback text, kept after a refusal
	Action   string
	Switch   string // URL of the page in the other language
	T        func(string) string
	MaxLen   int
	HasState bool
}

var trackingTmpl = template.Must(template.New("tracking").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}}</title>
<style>
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f5f6f8;color:#222;line-height:1.5}
main{max-width:40rem;margin:0 auto;padding:1rem}
header{display:flex;justify-content:space-between;align-items:baseline;gap:1rem}
h1{font-size:1.25rem;margin:.5rem 0}
.card{background:#fff;border-radius:.5rem;padding:1rem;margin:1rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.state{display:inline-block;background:#e8f0fe;color:#1a56c4;border-radius:1rem;padding:.1rem .7rem;font-size:.9rem}
dl{margin:0}dt{color:#666;font-size:.85rem;margin-top:.6rem}dd{margin:0;word-break:break-word}
table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{padding:.35rem .3rem;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;white-space:nowrap}
textarea{width:100%;box-sizing:border-box;min-height:6rem;font:inherit;padding:.5rem}
button{margin-top:.5rem;padding:.5rem 1.5rem;font:inherit;border:0;border-radius:.3rem;background:#1a56c4;color:#fff}
.error{color:#b3261e}.ok{color:#1e7b34}a{color:#1a56c4}
</style>
</head>
<body><main>
<header><span>{{with .Page}}{{.Company}}{{end}}</span>{{if .Switch}}<a href="{{.Switch}}">{{call .T "lang_switch"}}</a>{{end}}</header>
{{if .Message}}
<div class="card"><h1>{{.Title}}</h1><p>{{.Message}}</p></div>
{{else}}{{with .Page}}
<div class="card">
<h1>{{.Entity}} {{.Number}}</h1>
{{if $.HasState}}<span class="state">{{.StateLabel}}</span>{{end}}
<dl>
{{range $f := .Fields}}{{if .Columns}}<dt>{{.Label}}</dt><dd><table><thead><tr>{{range .Columns}}<th{{if .Numeric}} class="n"{{end}}>{{.Label}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr>{{range $i, $cell := .}}<td{{if (index $f.Columns $i).Numeric}} class="n"{{end}}>{{$cell}}</td>{{end}}</tr>
{{end}}</tbody></table></dd>
{{else if ne .Name "state"}}<dt>{{.Label}}</dt><dd>{{.Text}}</dd>
{{end}}{{end}}
</dl>
</div>
{{if .Feedback}}
<div class="card" id="feedback">
<h1>{{call $.T "feedback"}}</h1>
{{if $.Sent}}<p class="ok">{{call $.T "sent"}}</p>{{end}}
{{if $.Error}}<p class="error" role="alert">{{$.Error}}</p>{{end}}
<form method="post" action="{{$.Action}}">
<label for="text">{{call $.T "feedback_hint"}}</label>
<textarea id="text" name="text" maxlength="{{$.MaxLen}}" required>{{$.Text}}</textarea>
<button type="submit">{{call $.T "send"}}</button>
</form>
</div>
{{end}}
{{end}}{{end}}
</main></body>
</html>
`))

// renderTracking writes the tracking page (or a message page) with status.
func renderTracking(c fiber.Ctx, status int, d trackingPageData) error {
	d.T = func(key string) string { return trackingText(d.Lang, key) }
	d.MaxLen = records.FeedbackMaxLen
	if d.Title == "" && d.Page != nil {
		d.Title = strings.TrimSpace(d.Page.Entity + " " + d.Page.Number)
	}
	if d.Page != nil {
		for _, f := range d.Page.Fields {
			if f.Name == "state" {
				d.HasState = true
			}
		}
	}
	var buf bytes.Buffer
	if err := trackingTmpl.Execute(&buf, d); err != nil {
		return err
	}
	// The token is in the URL: never cached, never sent on as a Referer,
	// never indexed; nothing runs on the page.
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Robots-Tag", "noindex, nofollow")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// trackingMessage writes a page that only says why the link does not work.
func trackingMessage(c fiber.Ctx, l string, err error) error {
	switch {
	case errors.Is(err, records.ErrLinkGone):
		return renderTracking(c, fiber.StatusGone, trackingPageData{Lang: l, Title: trackingText(l, "gone_title"), Message: trackingText(l, "gone")})
	case errors.Is(err, records.ErrNotFound):
		return renderTracking(c, fiber.StatusNotFound, trackingPageData{Lang: l, Title: trackingText(l, "invalid_title"), Message: trackingText(l, "invalid")})
	}
	logError(c, err)
	return renderTracking(c, fiber.StatusInternalServerError, trackingPageData{Lang: l, Title: trackingText(l, "error"), Message: trackingText(l, "error")})
}

func (a *api) trackingPage(c fiber.Ctx) error {
	l := pageLang(c)
	token := c.Params("token")
	page, err := a.d.Records.OpenTracking(c.Context(), token, l)
	if err != nil {
		return trackingMessage(c, l, err)
	}
	return renderTracking(c, fiber.StatusOK, trackingPageData{Lang: l, Page: page, Sent: c.Query("sent") == "1",
		Action: "/t/" + url.PathEscape(token) + "/feedback?lang=" + l, Switch: "/t/" + url.PathEscape(token) + "?lang=" + other(l)})
}

func other(l string) string {
	if l == "en" {
		return "zh-CN"
	}
	return "en"
}

// trackingFeedback takes a customer's feedback: a form post answers with the
// page (303 to it on success), a JSON post with JSON.
func (a *api) trackingFeedback(c fiber.Ctx) error {
	l := pageLang(c)
	token := c.Params("token")
	isJSON := strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON)
	var text string
	if isJSON {
		var in struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "body", Code: "invalid_json"}})
		}
		text = in.Text
	} else {
		text = c.FormValue("text")
	}
	err := a.d.Records.Feedback(c.Context(), token, c.IP(), text)
	if err == nil {
		if isJSON {
			return c.Status(fiber.StatusCreated).JSON(fiber.Map{"ok": true})
		}
		return c.Redirect().Status(fiber.StatusSeeOther).To("/t/" + url.PathEscape(token) + "?sent=1&lang=" + l + "#feedback")
	}
	var rl *records.RateLimitError
	if errors.As(err, &rl) {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(rl.RetryAfter.Seconds())+1))
	}
	if isJSON {
		switch {
		case rl != nil:
			return problem(c, fiber.StatusTooManyRequests, trackingText(l, "too_many"), nil)
		case errors.Is(err, records.ErrLinkGone):
			c.Set(fiber.HeaderContentType, "application/problem+json; charset=utf-8")
			return c.Status(fiber.StatusGone).JSON(Problem{Type: "about:blank", Title: trackingText(l, "gone_title"), Status: fiber.StatusGone, Detail: trackingText(l, "gone"), RequestID: RequestID(c)}, "application/problem+json; charset=utf-8")
		}
		return fail(c, err)
	}
	var ve *records.ValidationError
	msg := ""
	status := fiber.StatusUnprocessableEntity
	switch {
	case rl != nil:
		msg, status = trackingText(l, "too_many"), fiber.StatusTooManyRequests
	case errors.As(err, &ve) && len(ve.Errors) > 0:
		fe := ve.Errors[0]
		msg = fe.Fill(trackingText(l, fe.Code))
	default:
		return trackingMessage(c, l, err)
	}
	page, perr := a.d.Records.OpenTracking(c.Context(), token, l)
	if perr != nil {
		return trackingMessage(c, l, perr)
	}
	return renderTracking(c, status, trackingPageData{Lang: l, Page: page, Error: msg, Text: text,
		Action: "/t/" + url.PathEscape(token) + "/feedback?lang=" + l, Switch: "/t/" + url.PathEscape(token) + "?lang=" + other(l)})
}
