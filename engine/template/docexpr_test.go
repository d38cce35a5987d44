package template

import (
	"testing"
)

// The expressions docs/templates.md shows must type-check as documented.
func TestDocumentedExpressions(t *testing.T) {
	files := baseFiles()
	files["shop/quote.yaml"] = `entity: quote
label: {zh-CN: 报价, en: Quote}
fields:
  name: {type: text, label: {zh-CN: 名称, en: Name}}
  code: {type: text, label: {zh-CN: 编码, en: Code}}
  customer: {type: link, to: customer, label: {zh-CN: 客户, en: Customer}}
  order_date: {type: date, label: {zh-CN: 日期, en: Date}}
  delivery_date: {type: date, label: {zh-CN: 交期, en: Delivery}}
  payment_method: {type: select, options: [bank_transfer, cash, cod, credit], label: {zh-CN: 付款, en: Payment}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: text}
      qty: {type: quantity}
      price: {type: money}
  total: {type: money, label: {zh-CN: 合计, en: Total}}
`
	model, ds := CheckDir(fsOf(files), ".")
	if model == nil {
		t.Fatal(ds)
	}
	env := model.Entities["quote"].Env
	for _, src := range []string{
		"days(order_date, delivery_date) <= 30",
		"sum(lines, .qty * .price) > 0",
		"count(lines, .qty > 100) > 0",
		"all(lines, .qty > 0)",
		"sum(filter(lines, .price == 0), .qty) == 0",
		"len(map(lines, .item)) > 0",
		"len(lines) <= 200",
		"round(total * 0.13, 2) > 0",
		"abs(total) >= 0",
		"min(total, 5) <= max(total, 5)",
		"'finance' in user.roles",
		"before == nil || before.total != total",
		"payment_method in ['cod', 'cash']",
		"name contains 'Ltd' || code startsWith 'C'",
		"delivery_date == nil || delivery_date >= order_date",
		"(total > 0 ? 1 : 0) == 1",
		"customer.credit_limit > total",
		"total - 0.5 < total + 1",
	} {
		var out Diagnostics
		if p := compileExpr(diags{file: "doc", out: &out}, Expr{Src: src, Pos: Pos{1, 1}, set: true}, env, wantBool, "doc", "", ""); p == nil {
			t.Errorf("%s: %s", src, out)
		}
	}
}
