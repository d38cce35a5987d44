package template

import (
	"testing"
)

const layoutHint = " (a layout reads .Number, .StateLabel, .Entity, .Record.<field>, .Raw.<field>, .Labels.<field>, .Company.<field>, .Print.Label, .Print.Paper and .Now)"
const keyHint = " (a record's fields are under .Record (.Record.<field>), a table's columns inside {{range .Record.<table>}}, a link's fields under .Record.<link>.<field>)"

func TestPrintLayoutsAreExecutedWhenChecked(t *testing.T) {
	runBroken(t, []brokenCase{
		{name: "layout written for the old data shape", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<h1>{{.Print.Label}}</h1>\n<h2>发货单 {{.number}}</h2>\n"},
			want: []string{`shop/prints/delivery.html:2:11: print "delivery": {{.number}}: the print data has no "number"` + layoutHint}},
		{name: "field the entity does not have", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<p>{{.Number}}</p>\n<p>合计：{{.Record.totl}}</p>\n"},
			want: []string{`shop/prints/delivery.html:2:16: print "delivery": {{.Record.totl}}: no field "totl" here` + keyHint}},
		{name: "column the table does not have", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<table>\n{{range .Record.lines}}<tr><td>{{.item}}</td><td>{{.cost}}</td></tr>{{end}}\n</table>\n"},
			want: []string{`shop/prints/delivery.html:2:52: print "delivery": {{.cost}}: no field "cost" here` + keyHint}},
		{name: "field the linked entity does not have", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<p>{{.Record.customer}} {{.Record.customer.phone}}</p>\n"},
			want: []string{`shop/prints/delivery.html:1:43: print "delivery": {{.Record.customer.phone}}: no field "phone" here` + keyHint}},
		{name: "print field that does not exist", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<p>{{.Print.Title}}</p>\n"},
			want: []string{`shop/prints/delivery.html:1:12: print "delivery": {{.Print.Title}}: the print data has no "Title"` + layoutHint}},
		{name: "mistake in the English branch only", file: "shop/order.yaml", old: "access:", new: printDecl,
			add:  map[string]string{"shop/prints/delivery.html": "<p>{{if eq .Lang \"en\"}}{{.Label}}{{else}}发货单{{end}}</p>\n"},
			want: []string{`shop/prints/delivery.html:1:26: print "delivery": {{.Label}}: the print data has no "Label"` + layoutHint}},
	})
}

func TestPrintLayoutUsingTheWholeDataShapeIsClean(t *testing.T) {
	files := baseFiles()
	files["shop/order.yaml"] = replaceOnce(t, files["shop/order.yaml"], "access:", printDecl)
	files["shop/prints/delivery.html"] = `<h1>{{.Company.name}} · {{.Print.Label}} {{.Print.Paper}} {{.Print.Name}}</h1>
<p>{{.Entity}} {{.EntityName}} {{.ID}} {{.Number}} {{.State}} {{.StateLabel}} {{.CreatedAt}} {{.Now}} {{.Lang}}</p>
<p>{{index .Labels "customer"}}: {{.Record.customer}} {{.Record.customer.name}} {{.Record.customer.credit_limit}} {{.Record.customer.id}}</p>
<p>{{.Record.number}} {{.Record.state}} {{.Record.created_at}} {{.Raw.number}}</p>
<table>
{{range .Record.lines}}<tr><td>{{.item}}</td><td>{{.qty}}</td><td>{{.price}}</td><td>{{.amount}}</td></tr>{{end}}
{{range .Raw.lines}}<tr><td>{{.item}}</td></tr>{{end}}
</table>
{{range .Fields}}<p>{{.Name}} {{.Label}} {{.Type}} {{.Text}}{{range .Columns}} {{.Name}} {{.Label}} {{.Numeric}}{{end}}{{range .Rows}}{{range .}}{{.}}{{end}}{{end}}</p>{{end}}
<p>{{if .Raw.total}}{{index .Labels "total"}}: {{.Record.total}}{{end}} {{index .Labels "lines.qty"}}</p>
<p>{{if eq .Raw.total 0.0}}{{.Record.total}}{{end}}</p>
`
	if ds := checkFiles(files); len(ds) != 0 {
		t.Fatalf("a layout that reads only what the print data has was refused:\n%s", ds)
	}
}
