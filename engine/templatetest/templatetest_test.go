package templatetest

import (
	"context"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/templates"
)

// A package with a transfer flow (转交), and a test file that passes and one
// that states a wrong expectation: the runner must tell them apart and say
// which step failed and why.
var pkg = fstest.MapFS{
	"shop/package.yaml": {Data: []byte("package: shop\nversion: 1.0.0\nlabel: {zh-CN: 商店, en: Shop}\nrequires: {core: ^1.0}\n")},
	"shop/sales_order.yaml": {Data: []byte(`entity: sales_order
label: {zh-CN: 订货单, en: Order}
number: "SO-{seq:4}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true}
      qty: {type: quantity, required: true}
      price: {type: money, default: "item.price"}
      amount: {type: money, compute: "qty * price"}
  total: {type: money, compute: "sum(lines, .amount)", label: {zh-CN: 合计, en: Total}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [sales]}
  done: {final: true, label: {zh-CN: 完成, en: Done}}
transitions:
  transfer:
    from: [draft]
    roles: [sales]
    label: {zh-CN: 转交, en: Transfer}
    input:
      to_user: {type: user, required: true, label: {zh-CN: 转交给, en: To}}
      reason: {type: text, required: true, label: {zh-CN: 原因, en: Reason}}
    effects:
      - assign: {to: input.to_user, note: input.reason}
  finish: {from: draft, to: done, roles: [sales_manager], label: {zh-CN: 完成, en: Finish}}
access:
  sales: {read: "owner == user.id", create: true, update: "owner == user.id"}
  sales_manager: {read: true, update: true}
`)},
	"shop/tests/transfer.yaml": {Data: []byte(`name: transfer to a colleague and back
users: {alice: [sales], bob: [sales], mia: [sales_manager], ken: [warehouse]}
fixtures:
  - {entity: customer, values: {code: C1, name: Acme}}
  - {entity: item, values: {code: A100, name: Widget, unit: pcs, price: 12.50}}
steps:
  - as: alice
    create: sales_order
    values: {customer: C1, lines: [{item: A100, qty: 10}]}
    expect: {state: draft, total: 125.00, number: SO-0001, owner: alice}
  - as: alice
    transition: transfer
    input: {to_user: ken, reason: vacation}
    expect_error: input:receiver_cannot_read
  - as: alice
    transition: transfer
    input: {to_user: bob, reason: vacation}
    expect: {owner: bob}
  - as: alice
    update: {lines: []}
    expect_error: not_found
  - as: bob
    transition: transfer
    input: {to_user: alice, reason: back}
    expect: {owner: alice}
  - as: alice
    transition: finish
    expect_error: forbidden
  - as: mia
    transition: finish
    expect: {state: done}
`)},
	"shop/tests/wrong.yaml": {Data: []byte(`name: a wrong expectation
users: {alice: [sales], bob: [sales]}
fixtures:
  - {entity: customer, values: {code: C1, name: Acme}}
  - {entity: item, values: {code: A100, name: Widget, unit: pcs, price: 12.50}}
steps:
  - as: alice
    create: sales_order
    values: {customer: C1, lines: [{item: A100, qty: 2}]}
    expect: {total: 26}
  - as: alice
    transition: finish
    expect_error: forbidden
    expect: {state: done}
  - as: alice
    transition: transfer
    input: {to_user: bob, reason: vacation}
    expect: {notifications: {bob: 2, alice: 0}, history: [create by alice, "transfer by alice, owner alice → bob"]}
`)},
	"shop/tests/misplaced.yaml": {Data: []byte(`name: a key in the wrong place
steps:
  - create: sales_order
    values: {}
    history: [create by admin]
`)},
}

func TestRunPackage(t *testing.T) {
	res, err := RunPackage(context.Background(), pkg, "shop", templates.FS, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	if f := res[0].Failures; len(f) != 1 || !strings.Contains(f[0], "field history not found") {
		t.Fatalf("a misplaced key: %q", f)
	}
	res = res[1:]
	if !res[0].Passed() {
		t.Fatalf("transfer test failed: %v", res[0].Failures)
	}
	want := []string{
		"step 1 (alice creates sales_order): total: want 26, got 25",
		// After a refusal, expect is checked on the record as it stayed.
		"step 2 (alice takes finish): state: want done, got draft",
		// bob has one unread notification: the transfer.
		"step 3 (alice takes transfer): history: want [\"create by alice\" \"transfer by alice, owner alice → bob\"], got [\"create by alice\" \"transfer by alice, owner alice → bob (vacation)\"]; notifications of bob: want 2 unread, got 1",
	}
	if res[1].Passed() || strings.Join(res[1].Failures, "\n") != strings.Join(want, "\n") {
		t.Fatalf("wrong expectations:\n%s", strings.Join(res[1].Failures, "\n"))
	}
}

// Every package of the built-in catalog passes its own tests.
func TestCatalogPackages(t *testing.T) {
	entries, err := templates.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		res, err := RunPackage(context.Background(), templates.FS, e.Name(), templates.FS, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			ran++
			if !r.Passed() {
				t.Errorf("%s (%s):\n  %s", r.File, r.Name, strings.Join(r.Failures, "\n  "))
			}
		}
	}
	if ran == 0 {
		t.Fatal("no template tests in the catalog")
	}
}

// The workflow acceptance tests: approvals, transfers, rights and a failing
// effect, as template tests.
func TestWorkflowPackage(t *testing.T) {
	res, err := RunPackage(context.Background(), os.DirFS("testdata"), "workflow", templates.FS, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d test files, want 4", len(res))
	}
	for _, r := range res {
		if !r.Passed() {
			t.Errorf("%s (%s):\n  %s", r.File, r.Name, strings.Join(r.Failures, "\n  "))
		}
	}
}

// The ledger acceptance tests: receipt, issue, reserve and release, transfer,
// stocktake, negative stock, cancellation, and settlement without invoice.
func TestInventoryPackage(t *testing.T) {
	res, err := RunPackage(context.Background(), os.DirFS("testdata"), "inventory", templates.FS, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d test files, want 3", len(res))
	}
	for _, r := range res {
		if !r.Passed() {
			t.Errorf("%s (%s):\n  %s", r.File, r.Name, strings.Join(r.Failures, "\n  "))
		}
	}
}

// The expectations on warnings, party accounts, prints and effect-created
// records, attachments given as files, and table rows matched by position:
// right ones pass, wrong ones fail with what was expected and what came.
var kit = fstest.MapFS{
	"kit/package.yaml":      {Data: []byte("package: kit\nversion: 1.0.0\nlabel: {zh-CN: 套件, en: Kit}\nrequires: {core: ^1.0}\n")},
	"kit/prints/sheet.html": {Data: []byte("<h1>{{.Number}}</h1><p>{{.Record.customer}} {{.Record.total}} {{.Record.slip}}</p>")},
	"kit/slip.yaml": {Data: []byte(`entity: slip
label: {zh-CN: 单据, en: Slip}
number: "SL-{seq:3}"
fields:
  kit_order: {type: link, to: kit_order, label: {zh-CN: 订单, en: Order}}
  note: {type: text, label: {zh-CN: 备注, en: Note}}
access:
  sales: {read: true}
`)},
	"kit/kit_order.yaml": {Data: []byte(`entity: kit_order
label: {zh-CN: 订单, en: Order}
number: "KO-{seq:3}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  proof: {type: attachment, accept: [application/pdf], label: {zh-CN: 凭据, en: Proof}}
  slip: {type: link, to: slip, label: {zh-CN: 单据, en: Slip}}
  checker: {type: user, role: sales_manager, label: {zh-CN: 复核人, en: Checker}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      qty: {type: quantity, required: true, label: {zh-CN: 数量, en: Qty}}
      scanned: {type: barcode, label: {zh-CN: 扫码, en: Scanned}}
      price: {type: money, default: "item.price", label: {zh-CN: 单价, en: Price}}
  total: {type: money, compute: "sum(lines, .qty * .price)", label: {zh-CN: 合计, en: Total}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [sales]}
  done: {final: true, label: {zh-CN: 完成, en: Done}}
transitions:
  finish:
    from: draft
    to: done
    roles: [sales]
    label: {zh-CN: 完成, en: Finish}
    checks:
      - {check: "all(lines, .scanned == .item.code)", message: {zh-CN: 扫码不符, en: Scan mismatch}}
      - {check: "total < 100", message: {zh-CN: 金额较大, en: Large order}, warn: true}
    effects:
      - ledger: {account: provisional, party: customer, debit: total}
      - create: {entity: slip, values: {note: "'自动'"}, link_back: kit_order, link: slip}
access:
  sales: {read: true, create: true, update: true}
prints:
  sheet: {label: {zh-CN: 单, en: Sheet}, template: prints/sheet.html}
`)},
	"kit/tests/right.yaml": {Data: []byte(`name: right expectations
users: {alice: [sales], mia: [sales_manager]}
fixtures:
  - {entity: customer, values: {code: C1, name: 华东百货}}
  - {entity: item, values: {code: A100, name: 矿泉水, unit: carton, price: 60.00}}
steps:
  - as: alice
    create: kit_order
    values: {customer: C1, lines: [{item: A100, qty: 2}], proof: {file: a.pdf, content: "%PDF-1.4 x"}}
    expect: {total: 120.00}
  - as: alice
    update: {proof: {file: a.txt, content: "plain"}}
    expect_error: "proof:file_type"
  - as: alice
    transition: finish
    expect_error: check
  - as: alice
    update: {checker: alice}
    expect_error: "checker:wrong_role"
  - as: alice
    update: {lines: [{scanned: A100}], checker: mia}
    expect: {checker: mia}
  - as: alice
    transition: finish
    expect: {state: done, warnings: [金额较大], accounts: {C1: {provisional: 120.00, receivable: 0}}}
  - as: alice
    print: sheet
    expect: {printed: [KO-001, 华东百货, "120.00", SL-001], not_printed: [矿泉水]}
  - as: alice
    on: slip
    expect: {number: SL-001}
`)},
	"kit/tests/wrong.yaml": {Data: []byte(`name: wrong expectations
users: {alice: [sales]}
fixtures:
  - {entity: customer, values: {code: C1, name: 华东百货}}
  - {entity: item, values: {code: A100, name: 矿泉水, unit: carton, price: 60.00}}
steps:
  - as: alice
    create: kit_order
    values: {customer: C1, lines: [{item: A100, qty: 1, scanned: A100}]}
  - as: alice
    transition: finish
    expect: {warnings: [金额较大], accounts: {C1: {provisional: 61.00}}}
  - as: alice
    print: sheet
    expect: {printed: [KO-002], not_printed: [KO-001]}
`)},
}

func TestRunnerExpectations(t *testing.T) {
	res, err := RunPackage(context.Background(), kit, "kit", templates.FS, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	if !res[0].Passed() {
		t.Fatalf("right expectations failed:\n%s", strings.Join(res[0].Failures, "\n"))
	}
	want := []string{
		`step 2 (alice takes finish): accounts C1 provisional: want 61, got 60; warnings: want ["金额较大"], got []`,
		`step 3 (alice prints sheet): not_printed: "KO-001" is on the page; printed: "KO-002" is not on the page`,
	}
	if got := strings.Join(res[1].Failures, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("wrong expectations:\n%s", got)
	}
}
