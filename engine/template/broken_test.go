package template

import (
	"strings"
	"testing"
	"testing/fstest"
)

// baseFiles is a small valid package; each broken case changes one file.
func baseFiles() map[string]string {
	return map[string]string{
		"shop/package.yaml": `package: shop
version: 1.0.0
label: {zh-CN: 商店, en: Shop}
roles:
  sales: {zh-CN: 销售员, en: Sales}
  manager: {zh-CN: 经理, en: Manager}
`,
		"shop/customer.yaml": `entity: customer
label: {zh-CN: 客户, en: Customer}
fields:
  name: {type: text, label: {zh-CN: 名称, en: Name}, required: true}
  credit_limit: {type: money, label: {zh-CN: 信用额度, en: Credit limit}}
`,
		"shop/order.yaml": `entity: order
label: {zh-CN: 订单, en: Order}
number: "SO-{yyyy}-{seq:5}"
fields:
  customer: {type: link, to: customer, label: {zh-CN: 客户, en: Customer}, required: true}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: text, required: true}
      qty: {type: quantity}
      price: {type: money}
      amount: {type: money, compute: "qty * price"}
  total: {type: money, label: {zh-CN: 合计, en: Total}, compute: "sum(lines, .amount)"}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}}
  done: {final: true, label: {zh-CN: 完成, en: Done}}
transitions:
  finish:
    label: {zh-CN: 完成, en: Finish}
    from: draft
    to: done
    checks:
      - check: "total > 0"
        message: {zh-CN: 金额为零, en: Total is zero}
access:
  sales: {read: "owner == user.id", create: true}
`,
	}
}

func checkFiles(files map[string]string) Diagnostics {
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	_, ds := CheckDir(fsys, ".")
	return ds
}

func TestBaseFixtureIsClean(t *testing.T) {
	if ds := checkFiles(baseFiles()); len(ds) != 0 {
		t.Fatalf("the base package has problems:\n%s", ds)
	}
}

type brokenCase struct {
	name     string
	file     string // file to change ("" = add files only)
	old, new string
	add      map[string]string // extra files
	want     []string          // each a full diagnostic line
}

func runBroken(t *testing.T, cases []brokenCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := baseFiles()
			if c.file != "" {
				text, ok := files[c.file]
				if !ok || !strings.Contains(text, c.old) {
					t.Fatalf("fixture: %s has no %q", c.file, c.old)
				}
				files[c.file] = strings.Replace(text, c.old, c.new, 1)
			}
			for k, v := range c.add {
				files[k] = v
			}
			ds := checkFiles(files)
			got := strings.Split(strings.TrimSpace(ds.String()), "\n")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
