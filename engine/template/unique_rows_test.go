package template

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// unique on a table column: no two rows of a record share a value. The
// checker refuses it where it means nothing.
func TestUniqueColumnChecks(t *testing.T) {
	runBroken(t, []brokenCase{
		{name: "unique on a bool column", file: "shop/order.yaml", old: "      qty: {type: quantity}", new: "      qty: {type: quantity}\n      gift: {type: bool, unique: true}",
			want: []string{`shop/order.yaml:12:20: field "gift": unique does not apply to a bool field (it applies to text, email, phone, barcode, int, decimal, money, quantity, percent, date, datetime, select, link, user)`}},
		{name: "unique on a json column", file: "shop/order.yaml", old: "      qty: {type: quantity}", new: "      qty: {type: quantity}\n      extra: {type: json, unique: true}",
			want: []string{`shop/order.yaml:12:21: field "extra": unique does not apply to a json field (it applies to text, email, phone, barcode, int, decimal, money, quantity, percent, date, datetime, select, link, user)`}},
		{name: "unique on a table field", file: "shop/order.yaml", old: "    type: table\n", new: "    type: table\n    unique: true\n",
			want: []string{`shop/order.yaml:7:11: field "lines": unique does not apply to a table field (put unique: true on the column whose value must differ from row to row, e.g. the item)`}},
		{name: "unique on a transition input", file: "shop/order.yaml", old: "    to: done\n", new: "    to: done\n    input:\n      reason: {type: text, unique: true}\n",
			want: []string{`shop/order.yaml:24:22: transition input "reason": unique does not apply to transition input (remove it: an input is asked for once, there is nothing to compare it with)`}},
	})
}

func TestUniqueColumnsAccepted(t *testing.T) {
	files := baseFiles()
	files["shop/order.yaml"] = replaceOnce(t, files["shop/order.yaml"], "      item: {type: text, required: true}",
		"      item: {type: text, required: true, unique: true}\n      ref: {type: link, to: customer, unique: true}\n      due: {type: date, unique: true}\n      code: {type: money, unique: true, compute: \"qty * price\"}")
	if ds := checkFiles(files); len(ds) != 0 {
		t.Fatalf("unique columns of text, link, date and a computed money column are refused:\n%s", ds)
	}
}

// Members lists the fields a row expression reads through parent, so that
// the engine builds only those; a parent used whole has no entry.
func TestProgramMembers(t *testing.T) {
	files := baseFiles()
	files["shop/order.yaml"] = replaceOnce(t, files["shop/order.yaml"], `      amount: {type: money, compute: "qty * price"}`,
		`      amount: {type: money, compute: "qty * price"}
      ok: {type: bool, compute: "parent.customer.name != '' && parent.total >= 0 && parent?.customer != nil"}
      whole: {type: bool, compute: "parent.total > 0 && any([parent], .total > 0)"}
      none: {type: bool, compute: "qty > 0"}
      sums: {type: money, compute: "sum(parent.lines, .qty)"}`)
	m, ds := checkModel(t, files)
	if len(ds) != 0 {
		t.Fatalf("%s", ds)
	}
	progs := m.Entities["order"].Programs
	for place, want := range map[string]map[string][]string{
		"fields.lines.fields.ok.compute":     {"parent": {"customer", "total"}},
		"fields.lines.fields.whole.compute":  {},
		"fields.lines.fields.none.compute":   {},
		"fields.lines.fields.sums.compute":   {"parent": {"lines"}},
		"fields.lines.fields.amount.compute": {},
	} {
		p := progs[place]
		if p == nil {
			t.Fatalf("no program %s", place)
		}
		got := map[string][]string{}
		for k, v := range p.Members {
			if k == "parent" {
				got[k] = v
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: members of parent %v, want %v", place, got, want)
		}
	}
}

func replaceOnce(t *testing.T, text, old, new string) string {
	t.Helper()
	if !strings.Contains(text, old) {
		t.Fatalf("fixture has no %q", old)
	}
	return strings.Replace(text, old, new, 1)
}

func checkModel(t *testing.T, files map[string]string) (*Model, Diagnostics) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return CheckDir(fsys, ".")
}
