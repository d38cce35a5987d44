package template

import (
	"strings"
	"testing"
	"testing/fstest"
)

// reportsFile is a valid reports.yaml for the base package of the broken
// cases; each case below changes it.
const reportsFile = `reports:
  by_customer:
    label: {zh-CN: 客户销售, en: Sales by customer}
    source: order
    where: "state == 'done'"
    group: [customer, {month: created_at}]
    measures:
      orders: {count: true, label: {zh-CN: 单数, en: Orders}}
      amount: {sum: total}
    sort: -amount
    limit: 10
    filters: [customer, created_at]
    roles: [manager]
  by_item:
    label: {zh-CN: 商品销售, en: Sales by item}
    source: order
    group: [lines.item]
    measures:
      qty: {sum: lines.qty}
  aging:
    label: {zh-CN: 账龄, en: Aging}
    source: party_ledger
    where: "account == 'receivable'"
    links: {party: customer}
    group: [party]
    measures:
      open: {sum: amount}
    buckets: {per: voucher, date: [due, at], edges: [30, 60, 90], measure: open}
`

func withReports(text string) map[string]string {
	files := baseFiles()
	files["shop/reports.yaml"] = text
	return files
}

func TestReportsFixtureIsClean(t *testing.T) {
	fsys := fstest.MapFS{}
	for name, text := range withReports(reportsFile) {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	m, ds := CheckDir(fsys, ".")
	if len(ds) != 0 {
		t.Fatalf("the reports have problems:\n%s", ds)
	}
	if len(m.Reports) != 3 || m.Reports["shop/by_item"].Unwind != "lines" || !m.Reports["shop/by_customer"].Keys[1].Month {
		t.Fatalf("reports compiled to %+v", m.Reports)
	}
	if _, ok := m.Entities["reports"]; ok {
		t.Fatal("reports.yaml was taken for an entity file")
	}
}

func TestBrokenReports(t *testing.T) {
	for _, c := range []struct {
		name, old, new string
		want           []string
	}{
		{"unknown source with a suggestion", "source: order\n    where", "source: ordr\n    where",
			[]string{`shop/reports.yaml:4:13: report "by_customer": source "ordr" is neither an entity nor a ledger (bins, party_ledger, stock_ledger) (did you mean "order"?)`}},
		{"misspelled group field", "group: [customer,", "group: [custmer,",
			[]string{`shop/reports.yaml:6:13: report "by_customer": group: order has no field "custmer" (did you mean "customer"?)`}},
		{"month of a field that is not a date", "{month: created_at}", "{month: total}",
			[]string{`shop/reports.yaml:6:31: report "by_customer": group: total is a money field, it has no month (month applies to date and datetime fields)`}},
		{"sum of a link", "amount: {sum: total}", "amount: {sum: customer}",
			[]string{`shop/reports.yaml:9:21: report "by_customer": measure amount: cannot sum customer, a link field (sum and avg need a number field; min and max also take dates and text)`}},
		{"where that is not a filter", `where: "state == 'done'"`, `where: "total * 2 > 10"`,
			[]string{`shop/reports.yaml:5:19: report "by_customer": where: arithmetic (*) cannot be used in a filter; a filter allows only comparisons of a field with a value (== != < <= > >=), joined with &&, || and !; field in [...]; field startsWith '...' (a report's where must become a store filter)`}},
		{"sort by an unknown column", "sort: -amount", "sort: -amout",
			[]string{`shop/reports.yaml:10:11: report "by_customer": sort: "amout" is neither a measure nor a group key (did you mean "amount"?)`}},
		{"filter on a table column", "filters: [customer, created_at]", "filters: [customer, lines.item]",
			[]string{`shop/reports.yaml:12:25: reports.by_customer.filters.1: "lines.item" is not a valid value (use lower-case letters, digits and _, starting with a letter)`}},
		{"unknown role", "roles: [manager]", "roles: [manger]",
			[]string{`shop/reports.yaml:13:13: role "manger" is not declared by any package (did you mean "manager"?)`}},
		{"sum of a header field over table rows", "qty: {sum: lines.qty}", "qty: {sum: lines.qty}\n      total: {sum: total}",
			[]string{`shop/reports.yaml:20:20: report "by_item": measure total: sum of total would count each record once per row of lines (sum a column of lines instead, or make a separate report)`}},
		{"buckets over a measure that is not a sum", "measure: open}", "measure: opn}",
			[]string{`shop/reports.yaml:28:76: report "aging": buckets.measure: "opn" is not a sum measure of the report (did you mean "open"?)`}},
		{"aging from a field that is not a date", "date: [due, at]", "date: [amount, at]",
			[]string{`shop/reports.yaml:28:36: report "aging": buckets.date: amount is a money field (age is counted from a date or datetime field)`}},
		{"ratio of an unknown measure", "qty: {sum: lines.qty}", "qty: {sum: lines.qty}\n      share: {ratio: [qty, qtys], label: {zh-CN: 占比, en: Share}}",
			[]string{`shop/reports.yaml:20:28: report "by_item": measure share: "qtys" is not a measure of this report (a ratio divides two count, sum, avg, min or max measures) (did you mean "qty"?)`}},
		{"ratio of one measure", "qty: {sum: lines.qty}", "qty: {sum: lines.qty}\n      share: {ratio: [qty], label: {zh-CN: 占比, en: Share}}",
			[]string{`shop/reports.yaml:20:22: reports.by_item.measures.share.ratio: minItems: got 1, want 2`}},
		{"times of a link that is not grouped", "qty: {sum: lines.qty}", "qty: {sum: lines.qty, times: customer.credit_limit}",
			[]string{`shop/reports.yaml:19:36: report "by_item": measure qty: times: "customer" is not a link the report groups by`}},
		{"links of an entity that does not exist", "links: {party: customer}", "links: {party: custmer}",
			[]string{`shop/reports.yaml:24:20: report "aging": links: entity "custmer" does not exist (did you mean "customer"?)`}},
		{"unknown key in a report", "    limit: 10", "    limt: 10",
			[]string{`shop/reports.yaml:11:5: unknown key "limt" in reports.by_customer (did you mean "limit"?)`}},
		{"measure with two operations", "amount: {sum: total}", "amount: {sum: total, count: true}",
			[]string{`shop/reports.yaml:9:15: reports.by_customer.measures.amount: more than one of the alternatives is given (give only one of them)`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(reportsFile, c.old) {
				t.Fatalf("fixture has no %q", c.old)
			}
			ds := checkFiles(withReports(strings.Replace(reportsFile, c.old, c.new, 1)))
			got := strings.Split(strings.TrimSpace(ds.String()), "\n")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
