package template

import (
	"errors"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Layout is a print layout of an entity, parsed when the package is checked.
// Its text comes from the package version it was loaded with (the files of a
// published version are kept in the store), so every server process and every
// rollback renders the layout of the version that is active.
type Layout struct {
	Name   string
	Label  Label
	Paper  string // A4 (default), A5, A4-landscape, A5-landscape
	File   string // path in the package, e.g. prints/delivery_note.html
	Source string // the layout text
	tmpl   *htmltemplate.Template
}

// Template returns the parsed layout. html/template escapes every value by
// its context; a parsed template is safe to execute concurrently.
func (l *Layout) Template() *htmltemplate.Template { return l.tmpl }

// PageCSS is the CSS @page rule of the layout's paper.
func (l *Layout) PageCSS() string {
	size, landscape := strings.CutSuffix(l.Paper, "-landscape")
	if size == "" {
		size = "A4"
	}
	orient := "portrait"
	if landscape {
		orient = "landscape"
	}
	return "@page { size: " + size + " " + orient + "; margin: 12mm; }"
}

// templateErrRE reads the position out of a text/template parse error
// ("template: NAME:LINE: msg") or an html/template escaping error
// ("html/template:NAME:LINE:COL: msg").
var templateErrRE = regexp.MustCompile(`^(?:html/)?template: ?[^:]*:(\d+)(?::(\d+))?: (.*)$`)

// prints checks each print: its layout exists in the package and is a valid
// html/template (parsed and escaped here, so a broken layout is an error at
// its line, never a failure when a user prints).
func (ec *entityCheck) prints() {
	for _, p := range ec.e.Prints {
		ec.label(ec.d, p.Val.Label, "print "+p.Key.V)
		if p.Val.Template.V == "" {
			continue
		}
		data, err := fs.ReadFile(ec.src.Files, p.Val.Template.V)
		if err != nil {
			ec.d.errorf(p.Val.Template.Pos, "put the layout in the package, e.g. prints/"+p.Key.V+".html", "print %q: template %s does not exist in the package", p.Key.V, p.Val.Template.V)
			continue
		}
		file := path.Join(ec.src.Dir, p.Val.Template.V)
		tmpl, err := parseLayout(p.Val.Template.V, string(data))
		if err != nil {
			pos, msg := layoutErrorPos(err, string(data))
			ec.at(file).errorf(pos, "layouts use Go html/template syntax: {{.Record.number}}, {{range .Record.lines}}...{{end}}", "print %q: %s", p.Key.V, msg)
			continue
		}
		if ec.m.Layouts == nil {
			ec.m.Layouts = map[string]*Layout{}
		}
		paper := p.Val.Paper.V
		if paper == "" {
			paper = "A4"
		}
		ec.dryRunLayout(p.Key.V, file, p.Val.Template.V, string(data), paper)
		ec.m.Layouts[p.Key.V] = &Layout{Name: p.Key.V, Label: p.Val.Label, Paper: paper, File: p.Val.Template.V, Source: string(data), tmpl: tmpl}
	}
}

// parseLayout parses a layout and runs html/template's escaper over it (by
// executing it on no data), which finds what parsing alone does not: an
// action in a place whose context is ambiguous.
func parseLayout(name, src string) (*htmltemplate.Template, error) {
	t, err := htmltemplate.New(name).Parse(src)
	if err != nil {
		return nil, err
	}
	var he *htmltemplate.Error
	if err := t.Execute(io.Discard, nil); errors.As(err, &he) && he.ErrorCode != htmltemplate.OK {
		return nil, err
	}
	return t, nil
}

// layoutErrorPos returns where a layout error is and its message without the
// template name. Parse errors give a line only: the column is that of the
// line's first action.
func layoutErrorPos(err error, src string) (Pos, string) {
	m := templateErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return Pos{1, 1}, err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	line = max(line, 1)
	col := 0
	if m[2] != "" {
		col, _ = strconv.Atoi(m[2])
	}
	if col == 0 {
		lines := strings.Split(src, "\n")
		col = 1
		if line <= len(lines) {
			if i := strings.Index(lines[line-1], "{{"); i >= 0 {
				col = len([]rune(lines[line-1][:i])) + 1
			}
		}
	}
	return Pos{line, col}, m[3]
}
