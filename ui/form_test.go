package ui

import (
	"testing"

	"github.com/yerp/yerp/engine/template"
)

// Inputs become the engine's values: numbers stay exact text whatever the
// user typed around them, empty is nil, a box is true or false.
func TestEngineValue(t *testing.T) {
	money := &template.FieldDecl{Type: template.Str{V: "money"}}
	text := &template.FieldDecl{Type: template.Str{V: "text"}}
	boolean := &template.FieldDecl{Type: template.Str{V: "bool"}}
	for _, c := range []struct {
		f    *template.FieldDecl
		in   string
		want any
	}{
		{money, "1,234.50", "1234.50"},
		{money, "１２３４．５", "1234.5"},
		{money, " 0.1 ", "0.1"},
		{money, "－３", "-3"},
		{money, "", nil},
		{text, "  A,B ", "A,B"},
		{text, "", nil},
		{boolean, "true", true},
		{boolean, "", false},
	} {
		if got := engineValue(c.f, c.in); got != c.want {
			t.Errorf("%s %q: %#v, want %#v", c.f.Type.V, c.in, got, c.want)
		}
	}
}

// Paths of field problems name the form's inputs; redirects stay on the site.
func TestNamesAndPaths(t *testing.T) {
	for in, want := range map[string]string{"customer": "customer", "lines[2].qty": "lines.2.qty", "lines": "lines"} {
		if got := errorName(in); got != want {
			t.Errorf("errorName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"/r/item?x=1": "/r/item?x=1", "//evil.example": "/", `/\evil`: "/", "https://evil.example": "/", "": "/"} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := lookupPath("lines.12.item"); got != "lines.item" {
		t.Errorf("lookupPath: %q", got)
	}
}
