package template

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"
)

const printDecl = "prints:\n  delivery: {label: {zh-CN: 发货单, en: Delivery note}, template: prints/delivery.html, paper: A5-landscape}\naccess:"

func TestBrokenPrintsAndTracking(t *testing.T) {
	runBroken(t, []brokenCase{
		{name: "print layout with an unclosed action", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<html><body>\n<h1>{{.Record.number}}</h1>\n<p>{{.Record.total}</p>\n</body></html>\n"},
			want: []string{`shop/prints/delivery.html:3:4: print "delivery": bad character U+007D '}' (layouts use Go html/template syntax: {{.Record.number}}, {{range .Record.lines}}...{{end}})`}},
		{name: "print layout with an unknown function", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<p>\n  <b>{{money .Record.total}}</b>\n</p>\n"},
			want: []string{`shop/prints/delivery.html:2:6: print "delivery": function "money" not defined (layouts use Go html/template syntax: {{.Record.number}}, {{range .Record.lines}}...{{end}})`}},
		{name: "print layout with an extra end", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<table>\n{{range .Record.lines}}<tr><td>{{.qty}}</td></tr>{{end}}\n{{end}}\n</table>\n"},
			want: []string{`shop/prints/delivery.html:3:1: print "delivery": unexpected {{end}} (layouts use Go html/template syntax: {{.Record.number}}, {{range .Record.lines}}...{{end}})`}},
		{name: "print layout whose branches end in different HTML contexts", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<p>\n{{if .Record.total}}<a href=\"{{else}}x{{end}}\">x</a>\n"},
			want: []string{`shop/prints/delivery.html:2:5: print "delivery": {{if}} branches end in different contexts: {stateURL delimDoubleQuote urlPartNone jsCtxRegexp [] attrURL elementNone <nil>}, {stateText delimNone urlPartNone jsCtxRegexp [] attrNone elementNone <nil>} (layouts use Go html/template syntax: {{.Record.number}}, {{range .Record.lines}}...{{end}})`}},
		{name: "tracking of an unknown field", file: "shop/order.yaml", old: "access:", new: "tracking: {fields: [state, totl]}\naccess:",
			want: []string{`shop/order.yaml:26:28: tracking.fields: unknown field "totl" (did you mean "total"?)`}},
		{name: "tracking of an unknown column", file: "shop/order.yaml", old: "access:", new: "tracking: {fields: [number, lines.cost]}\naccess:",
			want: []string{`shop/order.yaml:26:29: tracking.fields: table "lines" has no field "cost" (one of: amount, item, price, qty)`}},
		{name: "tracking with an unknown key", file: "shop/order.yaml", old: "access:", new: "tracking: {fields: [state], feedbak: true}\naccess:",
			want: []string{`shop/order.yaml:26:29: unknown key "feedbak" in tracking (did you mean "feedback"?)`}},
		{name: "tracking of a hidden field is a warning", file: "shop/order.yaml", old: "create: true}", new: "create: true, fields: {hide: [total]}}\ntracking: {fields: [state, total, lines.qty], feedback: true}",
			want: []string{`shop/order.yaml:28:28: warning: tracking.fields: "total" is hidden from role sales (customers see it on the tracking page; remove it unless that is meant)`}},
	})
}

func TestPrintLayoutIsInTheModel(t *testing.T) {
	files := baseFiles()
	files["shop/order.yaml"] = strings.Replace(files["shop/order.yaml"], "access:", printDecl, 1)
	files["shop/prints/delivery.html"] = "<h1>{{.Record.number}}</h1>"
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	m, ds := CheckDir(fsys, ".")
	if ds.HasErrors() || m == nil {
		t.Fatalf("diagnostics: %s", ds)
	}
	l := m.Entities["order"].Layouts["delivery"]
	if l == nil || l.Paper != "A5-landscape" || l.PageCSS() != "@page { size: A5 landscape; margin: 12mm; }" {
		t.Fatalf("layout %+v", l)
	}
	var b bytes.Buffer
	if err := l.Template().Execute(&b, map[string]any{"Record": map[string]any{"number": "<SO-1>"}}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "<h1>&lt;SO-1&gt;</h1>" {
		t.Fatalf("rendered %q", b.String())
	}
}
