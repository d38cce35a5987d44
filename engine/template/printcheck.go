package template

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"
)

// A layout that parses can still fail when it is executed: {{.number}} on
// the print data (which has .Number and .Record.number) is an error for
// every record and every user. So the checker executes each layout once, in
// each language, on sample data of the same shape as what the server passes
// (records.PrintData; engine/template cannot import it, and a test keeps the
// two in step), built from the entity's declaration: every field present,
// every table with one row, every link with the linked entity's fields. A
// key that no record can have ({{.Record.totl}}) is an error too.

// printData mirrors records.PrintData with its embedded records.View, field
// for field (print_shape_test.go compares them).
type printData struct {
	Lang       string
	Entity     string
	EntityName string
	ID         string
	Number     string
	State      string
	StateLabel string
	CreatedAt  string
	Record     map[string]any
	Raw        map[string]any
	Labels     map[string]string
	Fields     []printField
	Company    printLinked
	Print      printInfo
	Now        string
}

// printField mirrors records.ViewField.
type printField struct {
	Name    string
	Label   string
	Type    string
	Text    string
	Columns []printColumn
	Rows    [][]string
}

// printColumn mirrors records.ViewColumn.
type printColumn struct {
	Name    string
	Label   string
	Numeric bool
}

// printInfo mirrors records.PrintInfo.
type printInfo struct {
	Name  string
	Label string
	Paper string
}

// printLinked mirrors records.Linked: written alone it prints its title.
type printLinked map[string]any

func (l printLinked) String() string { s, _ := l["_title"].(string); return s }

// execErrRE reads an execution error of text/template:
// "template: NAME:LINE:COL: executing "NAME" at <.number>: msg".
var execErrRE = regexp.MustCompile(`^template: [^:]*:(\d+):(\d+): executing "[^"]*" at <([^>]*)>: (.*)$`)

var (
	layoutNoFieldRE = regexp.MustCompile(`^can't evaluate field (\S+) in type `)
	layoutNoKeyRE   = regexp.MustCompile(`^map has no entry for key "([^"]*)"`)
)

// dryRunLayout executes the layout of print name on sample data and reports
// the first action that fails, at its line and column.
func (ec *entityCheck) dryRunLayout(name, file, tmplName, src, paper string) {
	t, err := htmltemplate.New(tmplName).Option("missingkey=error").Parse(src)
	if err != nil {
		return // reported by parseLayout
	}
	for _, lang := range []string{"zh-CN", "en"} {
		err := t.Execute(io.Discard, ec.printSample(name, paper, lang))
		if err == nil {
			continue
		}
		var ee texttemplate.ExecError
		if !errors.As(err, &ee) {
			return // an escaping error, reported by parseLayout
		}
		if pos, msg, hint, ok := layoutExecError(ee.Err, src); ok {
			ec.at(file).errorf(pos, hint, "print %q: %s", name, msg)
		}
		return
	}
}

// layoutExecError turns an execution error that no record can avoid (a
// name the print data does not have) into a position, a message and a hint;
// ok is false for any other error, which may depend on the sample values
// (an {{eq}} of a sample text with a number) and is not reported.
func layoutExecError(err error, src string) (pos Pos, msg, hint string, ok bool) {
	m := execErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return Pos{}, "", "", false
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	at, what := m[3], m[4]
	var name string
	if f := layoutNoFieldRE.FindStringSubmatch(what); f != nil {
		name = f[1]
		msg = "{{" + at + "}}: the print data has no " + strconv.Quote(name)
		hint = "a layout reads .Number, .StateLabel, .Entity, .Record.<field>, .Raw.<field>, .Labels.<field>, .Company.<field>, .Print.Label, .Print.Paper and .Now"
	} else if k := layoutNoKeyRE.FindStringSubmatch(what); k != nil {
		name = k[1]
		msg = "{{" + at + "}}: no field " + strconv.Quote(name) + " here"
		hint = "a record's fields are under .Record (.Record.<field>), a table's columns inside {{range .Record.<table>}}, a link's fields under .Record.<link>.<field>"
	} else {
		return Pos{}, "", "", false
	}
	// The column is a byte offset in the line, at the chain the name is in
	// (.Record.customer.phone is reported at .customer): move it to the name
	// itself, and count characters as diagnostics do.
	line = max(line, 1)
	if lines := strings.Split(src, "\n"); line <= len(lines) && col <= len(lines[line-1]) {
		text := lines[line-1]
		if i := strings.Index(text[col:], "."+name); i >= 0 {
			col += i
		}
		col = utf8.RuneCountInString(text[:col])
	}
	return Pos{line, col + 1}, msg, hint, true
}

// printSample is print data for the entity being checked, in lang, with every
// field filled.
func (ec *entityCheck) printSample(name, paper, lang string) *printData {
	text := func(l Label) string {
		if s := l.Text[lang]; s != "" {
			return s
		}
		for _, s := range l.Text {
			if s != "" {
				return s
			}
		}
		return ""
	}
	d := &printData{Lang: lang, Entity: text(ec.e.Label), EntityName: ec.e.Entity.V, ID: "id", Number: "N-1",
		State: "state", StateLabel: "state", CreatedAt: "2024-05-01 09:00",
		Record: map[string]any{}, Raw: map[string]any{}, Labels: map[string]string{},
		Company: printLinked{"_title": "company", "name": "company"}, Now: "2024-05-01 09:00"}
	if p, ok := ec.e.Prints.Get(name); ok && p != nil {
		d.Print = printInfo{Name: name, Label: text(p.Label), Paper: paper}
	}
	for _, sys := range []string{"number", "state", "created_at"} {
		d.Record[sys], d.Raw[sys], d.Labels[sys] = sys, sys, sys
		d.Fields = append(d.Fields, printField{Name: sys, Label: sys, Type: "text", Text: sys})
	}
	for _, fe := range ec.e.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		n := fe.Key.V
		d.Labels[n] = n
		d.Raw[n] = n
		if f.Type.V == "bool" {
			d.Raw[n] = true
		}
		pf := printField{Name: n, Label: n, Type: f.Type.V, Text: n}
		if f.Type.V == "table" {
			row := map[string]any{}
			var texts []string
			for _, ce := range f.Fields {
				if ce.Val == nil {
					continue
				}
				d.Labels[n+"."+ce.Key.V] = ce.Key.V
				row[ce.Key.V] = ec.sampleValue(ce.Val, ce.Key.V, true)
				pf.Columns = append(pf.Columns, printColumn{Name: ce.Key.V, Label: ce.Key.V})
				texts = append(texts, ce.Key.V)
			}
			d.Record[n] = []map[string]any{row}
			raw := map[string]any{}
			for k, v := range row {
				raw[k] = fmt.Sprint(v)
			}
			d.Raw[n] = []any{raw}
			pf.Rows = [][]string{texts}
		} else {
			d.Record[n] = ec.sampleValue(f, n, true)
		}
		d.Fields = append(d.Fields, pf)
	}
	if c := ec.model.Entities["company"]; c != nil && c.Decl != nil {
		d.Company = ec.sampleLinked(c.Decl, "company", true)
	}
	return d
}

// sampleValue is the formatted value of field f: a printLinked for a link
// (with the linked entity's fields when deep), text otherwise.
func (ec *entityCheck) sampleValue(f *FieldDecl, name string, deep bool) any {
	if f.Type.V != "link" {
		return name
	}
	if to := ec.model.Entities[f.To.V]; to != nil && to.Decl != nil {
		return ec.sampleLinked(to.Decl, name, deep)
	}
	return printLinked{"id": "id", "_title": name}
}

// sampleLinked is a linked record of entity decl: its id, title and number
// and, when deep, its fields (tables left out, links as titles).
func (ec *entityCheck) sampleLinked(decl *EntityDecl, title string, deep bool) printLinked {
	l := printLinked{"id": "id", "_title": title}
	if !deep {
		return l
	}
	l["number"] = "N-1"
	for _, fe := range decl.Fields {
		if fe.Val == nil || fe.Val.Type.V == "table" {
			continue
		}
		l[fe.Key.V] = ec.sampleValue(fe.Val, fe.Key.V, false)
	}
	return l
}
