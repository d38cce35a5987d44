package server

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v3"
)

// printLayout renders a print layout of a record as HTML:
//
//	GET /api/v1/records/{entity}/{id}/prints/{name}?lang=en
//
// The layout (the package's prints/*.html, parsed when the package was
// checked) is executed with records.PrintData: the record as the caller may
// read it (hidden fields are absent), formatted in the language, with the
// company settings. A caller who may not read the record gets 404.
func (a *api) printLayout(c fiber.Ctx) error {
	l := c.Query("lang")
	if l != "en" && l != "zh-CN" {
		l = lang(c)
	}
	layout, data, err := a.d.Records.Print(c.Context(), user(c), c.Params("entity"), c.Params("id"), c.Params("name"), l)
	if err != nil {
		return fail(c, err)
	}
	var buf bytes.Buffer
	if err := layout.Template().Execute(&buf, data); err != nil {
		return err
	}
	out := withPageCSS(buf.Bytes(), layout.PageCSS())
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Content-Type-Options", "nosniff")
	// A layout shows data; it never runs scripts.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
	c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
	return c.Send(out)
}

// withPageCSS puts the paper's @page rule first in the document's head (or
// at its start when it has none), so a layout's own @page rule still wins.
func withPageCSS(doc []byte, css string) []byte {
	style := []byte("<style>" + template.HTMLEscapeString(css) + "</style>")
	lower := strings.ToLower(string(doc))
	if i := strings.Index(lower, "<head>"); i >= 0 {
		i += len("<head>")
		return append(append(append([]byte{}, doc[:i]...), style...), doc[i:]...)
	}
	return append(style, doc...)
}
