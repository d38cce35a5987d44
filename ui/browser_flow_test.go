package ui_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The rest of the wholesale flow, as the demo users, in the zh-CN UI: the
// salesperson enters an order within the customer's credit limit and
// confirms it; the warehouse keeper allocates the stock, opens the shipping
// notice from the order, scans and packs every line (a wrong scan is refused
// at packing) and ships it with carrier, tracking number and ship date; the
// order shows 已发货 with them. Finance invoices it; the order shows 已开票
// and the invoice number. The salesperson hands another order over to a
// colleague, who finds it in the inbox, accepts it, and becomes its owner.
func TestOrderShippedInvoicedAndHandedOver(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}

	// The salesperson enters a three-line order of 526.00, within the
	// customer's credit limit of 1,000: 审核 confirms it at once.
	x.login("sales1", salesPassword)
	orderURL, number := x.newOrder([]orderLine{{"TEA-250G", "10"}, {"OIL-5L", "20"}, {"RICE-10KG", "5"}}, co.ids)
	if got := x.text("#v-total"); got != "526.00" {
		t.Fatalf("total %q, want 526.00", got)
	}
	x.submit("#t-confirm")
	if got := x.text("#record-state"); got != "已审核" {
		t.Fatalf("state after 审核 %q, want 已审核 (no approval within the credit limit)", got)
	}

	// 1. The warehouse keeper allocates the stock; the order links to the
	// shipping notice the allocation created.
	x.relogin("keeper", keeperPassword)
	x.open(orderURL)
	if n := x.count("#v-total"); n != 0 {
		t.Fatal("the warehouse sees the order's total, which its access hides")
	}
	x.submit("#t-allocate")
	if got := x.text("#record-state"); got != "已分配库存" {
		t.Fatalf("state after 分配库存 %q, want 已分配库存", got)
	}
	note := x.text("#v-delivery_note")
	if !strings.HasPrefix(note, "DN-") || !strings.Contains(note, "丽水万家商贸有限公司") {
		t.Fatalf("the order's shipping notice shows as %q", note)
	}
	x.shot("ship-order-allocated-1366x768")
	x.submit("#v-delivery_note a")
	noteURL := x.location()
	if got := x.text("#record-state"); got != "待拣货" {
		t.Fatalf("shipping notice state %q, want 待拣货", got)
	}
	if got := x.text("#v-sales_order"); !strings.HasPrefix(got, number) {
		t.Fatalf("the shipping notice's order %q, want %s", got, number)
	}

	// The keeper scans every line, but takes the rice for the oil: 核对装箱
	// is offered disabled, with the template's message as the reason.
	codes := x.scan(map[string]string{"花生油 5L": "RICE-10KG"})
	if n := x.count("#t-pack"); n != 0 {
		t.Fatal("核对装箱 is offered with a wrong scan")
	}
	if got, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("why-pack"))); !strings.Contains(got, "扫描的条码与发货商品不符") {
		t.Fatalf("核对装箱 is unavailable because %q", got)
	}
	x.shot("ship-pack-blocked-1366x768")
	x.scan(nil)
	if got := x.text("#v-lines"); !strings.Contains(got, codes["花生油 5L"]) || strings.Count(got, "RICE-10KG") != 2 {
		t.Fatalf("scanned lines %q: each line shows its own code (the rice twice: item and scan)", got)
	}
	x.submit("#t-pack")
	if got := x.text("#record-state"); got != "已装箱" {
		t.Fatalf("state after 核对装箱 %q, want 已装箱", got)
	}

	// Ship, with the transition's input form.
	x.do(chromedp.Click(chromedp.CSS(`details:has(#t-ship) > summary`), chromedp.NodeVisible))
	x.do(
		chromedp.SendKeys(chromedp.ID("t-ship-carrier"), "顺丰速运"),
		chromedp.SendKeys(chromedp.ID("t-ship-tracking_no"), "SF1234567890"),
		chromedp.SetValue(chromedp.ID("t-ship-ship_date"), "2025-06-03"),
	)
	x.shot("ship-dialog-1366x768")
	x.submit("#t-ship button[type=submit]")
	if got := x.text("#record-state"); got != "已发货" {
		t.Fatalf("shipping notice state after 发货 %q, want 已发货", got)
	}
	if got := x.text("#v-tracking_no"); got != "SF1234567890" {
		t.Fatalf("shipping notice tracking number %q", got)
	}
	x.submit("#v-sales_order a")
	if got := x.text("#record-state"); got != "已发货" {
		t.Fatalf("order state after shipping %q, want 已发货", got)
	}
	if c, n, d := x.text("#v-carrier"), x.text("#v-tracking_no"), x.text("#v-ship_date"); c != "顺丰速运" || n != "SF1234567890" || d != "2025-06-03" {
		t.Fatalf("order logistics %q %q %q, want 顺丰速运 SF1234567890 2025-06-03", c, n, d)
	}
	x.shot("ship-order-shipped-1366x768")
	if x.location() == noteURL {
		t.Fatal("the order link stayed on the shipping notice")
	}

	// 2. Finance invoices the order.
	x.relogin("finance", financePassword)
	x.open(orderURL)
	x.do(chromedp.Click(chromedp.CSS(`details:has(#t-invoice) > summary`), chromedp.NodeVisible))
	x.do(chromedp.SendKeys(chromedp.ID("t-invoice-invoice_no"), "INV-20250603-01"),
		chromedp.SetValue(chromedp.ID("t-invoice-due_date"), "2025-07-03"))
	x.shot("invoice-dialog-1366x768")
	x.submit("#t-invoice button[type=submit]")
	if got := x.text("#record-state"); got != "已开票" {
		t.Fatalf("state after 开票 %q, want 已开票", got)
	}
	if n, d := x.text("#v-invoice_no"), x.text("#v-due_date"); n != "INV-20250603-01" || d != "2025-07-03" {
		t.Fatalf("invoice number %q and due date %q", n, d)
	}
	if got := x.text(".timeline"); !strings.Contains(got, "孙丽 流转：开票") || !strings.Contains(got, "状态 由 已发货 改为 已开票") {
		t.Fatalf("history after invoicing %q", got)
	}
	x.shot("invoice-order-invoiced-1366x768")

	// 3. The salesperson hands another order over to a colleague. The
	// colleague list offers the salespeople only.
	x.relogin("sales1", salesPassword)
	otherURL, other := x.newOrder([]orderLine{{"RICE-10KG", "2"}}, co.ids)
	x.do(chromedp.Click(chromedp.CSS(`details:has(#t-transfer) > summary`), chromedp.NodeVisible))
	if got := x.text("#t-transfer-to_user"); !strings.Contains(got, "刘洋") || strings.Contains(got, "吴强") || strings.Contains(got, "周敏") {
		t.Fatalf("the hand-over offers %q, want the salespeople only", got)
	}
	x.choose("#t-transfer-to_user", "刘洋")
	x.do(chromedp.SendKeys(chromedp.ID("t-transfer-reason"), "客户改由杭州西区跟进"))
	x.shot("transfer-dialog-1366x768")
	x.submit("#t-transfer button[type=submit]")
	if to, why := x.text("#v-transfer_to"), x.text("#v-transfer_reason"); to != "刘洋" || why != "客户改由杭州西区跟进" {
		t.Fatalf("pending hand-over shows %q %q", to, why)
	}
	if got := x.text("#v-owner"); got != "张伟" {
		t.Fatalf("owner while the hand-over waits %q, want 张伟", got)
	}
	x.shot("transfer-pending-1366x768")

	// The colleague finds it in the inbox and accepts it.
	x.relogin("sales2", sales2Password)
	notes := `section[aria-labelledby="h-notes"]`
	if got := x.text(notes); !strings.Contains(got, "有订货单转交给你，请确认接收") || !strings.Contains(got, other) {
		t.Fatalf("the colleague's notifications %q, want the hand-over of %s", got, other)
	}
	x.shot("transfer-inbox-1366x768")
	x.submit(notes + ` a[href^="/r/sales_order/"]`)
	if x.location() != otherURL {
		t.Fatalf("the notification opens %s, want %s", x.location(), otherURL)
	}
	x.submit("#t-accept_transfer")
	if got := x.text("#v-owner"); got != "刘洋" {
		t.Fatalf("owner after 接收转交 %q, want 刘洋", got)
	}
	if n := x.count("#v-transfer_to"); n != 0 {
		t.Fatal("the hand-over still shows as pending after it was accepted")
	}
	if got := x.text(".timeline"); !strings.Contains(got, "刘洋 流转：接收转交：客户改由杭州西区跟进") || !strings.Contains(got, "张伟 流转：转交") {
		t.Fatalf("history after the hand-over %q", got)
	}
	x.shot("transfer-accepted-1366x768")
	x.open(co.base + "/")
	if got := x.text(`section[aria-labelledby="h-assigned"]`); !strings.Contains(got, other) {
		t.Fatalf("records handed over to the colleague %q, want %s", got, other)
	}

	// The order is no longer the first salesperson's to read.
	x.relogin("sales1", salesPassword)
	x.open(co.base + "/r/sales_order")
	if got := x.text("table.list tbody"); strings.Contains(got, other) || !strings.Contains(got, number) {
		t.Fatalf("the first salesperson's orders %q: %s left with the hand-over, %s stays", got, other, number)
	}
}

// orderLine is an item code and a quantity typed on the order form.
type orderLine struct{ code, qty string }

// newOrder enters a sales order for customer C-0001 with lines on the form
// and saves it; it returns the record page's URL and the order number.
func (x *b) newOrder(lines []orderLine, ids map[string]string) (string, string) {
	x.t.Helper()
	x.open(x.base() + "/r/sales_order/new")
	for range lines[1:] {
		x.do(chromedp.Click(chromedp.ID("f-lines-add")))
	}
	x.do(chromedp.SetValue(chromedp.ID("f-customer"), ids["C-0001"]))
	for i, l := range lines {
		p := "f-lines-" + strconv.Itoa(i) + "-"
		x.do(chromedp.SetValue(chromedp.ID(p+"item"), ids[l.code]), chromedp.SendKeys(chromedp.ID(p+"qty"), l.qty))
	}
	x.submit("#save")
	number := x.text("#record-number")
	if !strings.HasPrefix(number, "SO-") || x.text("#record-state") != "草稿" {
		x.t.Fatalf("the saved order shows %q in state %q", number, x.text("#record-state"))
	}
	return x.location(), number
}

// scan edits the shipping notice as the warehouse keeper: each line gets the
// code of the item it shows typed into 扫描条码 (or wrong[item name], when
// set) and its quantity as packed. It returns the code scanned per item name.
func (x *b) scan(wrong map[string]string) map[string]string {
	x.t.Helper()
	x.submit("#edit")
	n := x.count(`table[data-table="lines"] tbody tr`)
	if n != 3 {
		x.t.Fatalf("the shipping notice form has %d lines, want 3", n)
	}
	scanned := map[string]string{}
	for i := range n {
		p := "f-lines-" + strconv.Itoa(i) + "-"
		item, qty := x.text("#"+p+"item"), x.text("#"+p+"qty")
		code, name, ok := strings.Cut(item, " ")
		if !ok || qty == "" {
			x.t.Fatalf("line %d shows item %q, quantity %q", i+1, item, qty)
		}
		if w := wrong[name]; w != "" {
			code = w
		}
		scanned[name] = code
		x.retype(p+"scanned", code)
		x.retype(p+"packed_qty", qty)
	}
	x.submit("#save")
	if got := x.text("#record-state"); got != "待拣货" {
		x.t.Fatalf("the saved shipping notice is %q, want 待拣货", got)
	}
	return scanned
}

// retype replaces the text of input id with s, typed.
func (x *b) retype(id, s string) {
	x.t.Helper()
	if _, err := chromedp.Run(x.ctx, chromedp.Evaluate[bool]("(document.getElementById("+jsString(id)+").value = '') === ''")); err != nil {
		x.t.Fatalf("clear %s: %v", id, err)
	}
	x.do(chromedp.SendKeys(chromedp.ID(id), s))
}

// relogin signs the current user out and user in.
func (x *b) relogin(user, password string) {
	x.t.Helper()
	x.submit(".top form button")
	x.login(user, password)
}

// choose selects the option of select sel whose text is label, as a user
// picking it from the list.
func (x *b) choose(sel, label string) {
	x.t.Helper()
	js := `(() => { const s = document.querySelector(` + jsString(sel) + `);
		const o = [...s.options].find(o => o.text.trim() === ` + jsString(label) + `);
		if (!o) return false; s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`
	ok, err := chromedp.Run(x.ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		x.t.Fatalf("choose %q in %s: %v (found: %v)", label, sel, err, ok)
	}
}

// location is the current page's URL without its query.
func (x *b) location() string {
	x.t.Helper()
	loc, err := chromedp.Run(x.ctx, chromedp.Location())
	if err != nil {
		x.t.Fatal(err)
	}
	return strings.SplitN(loc, "?", 2)[0]
}
