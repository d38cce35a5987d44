package template

import "testing"

// An update effect with lines changes the record each row links to; the
// checker makes sure the table and its link column exist and that each value
// fits the linked entity's field.
func TestBrokenUpdateWithLines(t *testing.T) {
	cases := []brokenCase{
		{name: "update lines is not a table", file: "shop/order.yaml", old: "    checks:",
			new:  "    effects:\n      - update: {lines: total, link: customer, values: {credit_limit: 0}}\n    checks:",
			want: []string{`shop/order.yaml:24:25: update: lines "total" is not a table of order (one of: lines)`}},
		{name: "update link is not a link column of the table", file: "shop/order.yaml", old: "    checks:",
			new:  "    effects:\n      - update: {lines: lines, link: item, values: {credit_limit: 0}}\n    checks:",
			want: []string{`shop/order.yaml:24:38: update: "item" is not a link column of lines (one of: amount, item, price, qty)`}},
		{name: "transition effect with lines whose link is not a link column", file: "shop/order.yaml", old: "    checks:",
			new:  "    effects:\n      - transition: {lines: lines, link: item, name: finish}\n    checks:",
			want: []string{`shop/order.yaml:24:42: transition: "item" is not a link column of lines (one of: amount, item, price, qty)`}},
		{name: "transition effect with lines that is not a table", file: "shop/order.yaml", old: "    checks:",
			new:  "    effects:\n      - transition: {lines: total, link: customer, name: finish}\n    checks:",
			want: []string{`shop/order.yaml:24:29: transition: lines "total" is not a table of order (one of: lines)`}},
		{name: "update row value that does not fit the linked field", add: map[string]string{"shop/limits.yaml": limitsEntity}, want: []string{
			`shop/limits.yaml:16:79: transitions.apply.effects[0].values.credit_limit: unknown field amout (did you mean "amount"?)`,
			`shop/limits.yaml:16:92: transitions.apply.effects[0].values.name: the expression gives a decimal number, want text (text field)`}},
	}
	runBroken(t, cases)
}

// limitsEntity sets customers' credit limits from its rows; two of its row
// values are wrong.
const limitsEntity = `entity: limits
label: {zh-CN: 信用额度调整, en: Credit limits}
fields:
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      customer: {type: link, to: customer, required: true}
      amount: {type: money}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}}
transitions:
  apply:
    label: {zh-CN: 生效, en: Apply}
    from: draft
    effects: [{update: {lines: lines, link: customer, values: {credit_limit: .amout, name: .amount}}}]
`
