package ui_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// liveSettle waits until the live form has the server's answer to everything
// typed so far (live.js keeps data-live-pending at "1" until then).
func (x *b) liveSettle() {
	x.t.Helper()
	x.do(chromedp.WaitReady(chromedp.ID("record-form")))
	if _, err := chromedp.Run(x.ctx, chromedp.Poll[bool](`document.getElementById('record-form').dataset.livePending === '0'`,
		chromedp.WithPollingTimeout(0))); err != nil {
		x.t.Fatalf("waiting for the live form: %v", err)
	}
}

// livePick picks a value of a select as a user would (with its change event).
func (x *b) livePick(id, value string) {
	x.t.Helper()
	js := `(function(){var s=document.getElementById(` + jsString(id) + `);s.value=` + jsString(value) +
		`;s.dispatchEvent(new Event('change',{bubbles:true}));return s.value;})()`
	got, err := chromedp.Run(x.ctx, chromedp.Evaluate[string](js))
	if err != nil || got != value {
		x.t.Fatalf("choose %s in #%s: got %q, %v", value, id, got, err)
	}
}

func (x *b) liveValue(id string) string {
	x.t.Helper()
	v, err := chromedp.Run(x.ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		x.t.Fatalf("value of #%s: %v", id, err)
	}
	return v
}

func (x *b) liveEval(js string) string {
	x.t.Helper()
	v, err := chromedp.Run(x.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		x.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// The salesperson's wholesale order form is live: the line amounts and the
// total follow what is typed, computed by the server with the template's
// expressions, in exact decimals; rows move up and down and are saved in
// the order shown; leaving a changed form asks first, cancelling does not;
// a save over someone else's change shows who changed what and offers to
// reload, keeping what was typed. A customer return's details become
// required when the reason is 其他, and a settlement without an invoice
// shows its proof fields and takes a proof file (a wrong type refused at
// the field).
func TestOrderFormLiveUpdates(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}

	// Dialogs (the unsaved-change warning) are counted and accepted.
	var mu sync.Mutex
	var dialogs []string
	opening := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for d, err := range opening {
			if err != nil {
				return
			}
			mu.Lock()
			dialogs = append(dialogs, string(d.Type))
			mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), dialogs...) }

	x.login("sales1", salesPassword)
	x.open(co.base + "/r/sales_order/new")
	x.do(chromedp.Click(chromedp.ID("f-lines-add")), chromedp.Click(chromedp.ID("f-lines-add")))
	x.livePick("f-customer", co.ids["C-0001"])
	x.livePick("f-lines-0-item", co.ids["TEA-250G"])
	x.do(chromedp.SendKeys(chromedp.ID("f-lines-0-qty"), "40"))
	x.liveSettle()
	// The price comes from the item on save: the input shows it as its
	// placeholder, and the amount is computed with it.
	if got := x.liveEval(`document.getElementById('f-lines-0-price').placeholder`); got != "12.50" {
		t.Fatalf("line 1 price placeholder %q, want the item's 12.50", got)
	}
	if got := x.text("#f-lines-0-amount"); got != "500.00" {
		t.Fatalf("line 1 amount while typing %q, want 500.00", got)
	}
	x.livePick("f-lines-1-item", co.ids["OIL-5L"])
	x.do(chromedp.SendKeys(chromedp.ID("f-lines-1-qty"), "55"))
	x.livePick("f-lines-2-item", co.ids["RICE-10KG"])
	x.do(chromedp.SendKeys(chromedp.ID("f-lines-2-qty"), "6"), chromedp.SendKeys(chromedp.ID("f-lines-2-price"), "41.75"))
	x.liveSettle()
	// 40 × 12.50 + 55 × 8.80 + 6 × 41.75 = 500.00 + 484.00 + 250.50.
	for id, want := range map[string]string{"#f-lines-1-amount": "484.00", "#f-lines-2-amount": "250.50", "#f-total": "1,234.50"} {
		if got := x.text(id); got != want {
			t.Fatalf("%s while typing %q, want %s", id, got, want)
		}
	}
	// Typing goes on undisturbed: the focus stays in the price just typed.
	if got := x.liveEval(`document.activeElement.id`); got != "f-lines-2-price" {
		t.Fatalf("focus after the live update on %q, want f-lines-2-price", got)
	}
	if got := x.liveValue("f-lines-2-price"); got != "41.75" {
		t.Fatalf("the price typed reads %q after the update, want 41.75", got)
	}
	// A third decimal in a price: the field says what a save would.
	x.do(chromedp.SendKeys(chromedp.ID("f-lines-2-price"), "1"))
	x.liveSettle()
	if got := x.text("#f-lines-2-price-err"); got != "最多 2 位小数" {
		t.Fatalf("live error at 41.751 %q, want 最多 2 位小数", got)
	}
	x.retype("f-lines-2-price", "41.75")
	x.liveSettle()
	if got := x.text("#f-total"); got != "1,234.50" {
		t.Fatalf("total back at 41.75: %q, want 1,234.50", got)
	}
	x.shot("form-live-1366x768")

	// Rows move: the rice goes to the top, with the keyboard.
	x.do(chromedp.Focus(chromedp.CSS(`#f-lines tbody tr:nth-child(3) [data-move="up"]`)))
	x.do(chromedp.KeyEvent("\r"))
	x.do(chromedp.KeyEvent("\r"))
	if got := x.liveValue("f-lines-0-qty"); got != "6" {
		t.Fatalf("first row quantity after moving the rice up twice %q, want 6", got)
	}
	if got := x.liveEval(`document.activeElement.dataset.move || ''`); got != "up" {
		t.Fatalf("focus after a move on %q, want the move-up button", got)
	}
	x.liveSettle()
	if got := x.text("#f-lines-0-amount"); got != "250.50" {
		t.Fatalf("first row amount after the move %q, want 250.50", got)
	}
	x.submit("#save")
	if got := x.text("#v-total"); got != "1,234.50" {
		t.Fatalf("saved total %q, want 1,234.50", got)
	}
	if got := x.text("#v-lines tbody tr:nth-child(1)"); !strings.Contains(got, "东北大米 10kg") || !strings.Contains(got, "250.50") {
		t.Fatalf("first saved line %q, want the rice moved to the top", got)
	}
	if got := x.text("#v-lines tbody tr:nth-child(2)"); !strings.Contains(got, "龙井茶 250g") {
		t.Fatalf("second saved line %q, want the tea", got)
	}
	if n := len(seen()); n != 0 {
		t.Fatalf("saving asked %d times before leaving the form", n)
	}
	orderURL := x.location()

	// Leaving a changed form asks; cancelling does not.
	x.submit("#edit")
	x.do(chromedp.SendKeys(chromedp.ID("f-note"), "周五前送达"))
	x.open(co.base + "/")
	if got := seen(); len(got) != 1 || got[0] != "beforeunload" {
		t.Fatalf("dialogs on leaving a changed form: %v, want one beforeunload", got)
	}
	if got := x.text("h1"); got != "我的待办" {
		t.Fatalf("after confirming the page is %q", got)
	}
	x.open(orderURL + "/edit")
	x.do(chromedp.SendKeys(chromedp.ID("f-note"), "周五前送达"))
	x.submit(`a[data-discard]`)
	if n := len(seen()); n != 1 {
		t.Fatalf("cancelling asked: %d dialogs", n)
	}

	// A stale save: someone changes the order while the form is open.
	x.open(orderURL + "/edit")
	id := orderURL[strings.LastIndex(orderURL, "/")+1:]
	stored, err := co.eng.Get(context.Background(), co.admin, "sales_order", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.eng.Update(context.Background(), co.admin, "sales_order", id, stored.Version(), map[string]any{"contact_person": "王五"}); err != nil {
		t.Fatal(err)
	}
	x.do(chromedp.SendKeys(chromedp.ID("f-note"), "顺丰发货"))
	x.liveSettle()
	// The live form notices before the save.
	if got := x.text("#live-stale"); !strings.Contains(got, "已被他人修改") || !strings.Contains(got, "收货人 由 李明 改为 王五") {
		t.Fatalf("live stale notice %q", got)
	}
	x.submit("#save")
	if got := x.text("#stale"); !strings.Contains(got, "已被他人修改") {
		t.Fatalf("stale save says %q", got)
	}
	if got := x.text("#stale-changes"); !strings.Contains(got, "收货人 由 李明 改为 王五") {
		t.Fatalf("what changed: %q", got)
	}
	if got := x.liveValue("f-note"); got != "顺丰发货" {
		t.Fatalf("the note typed reads %q on the conflict page, want 顺丰发货", got)
	}
	x.submit("#stale-reload")
	if got := x.liveValue("f-contact_person"); got != "王五" {
		t.Fatalf("the reloaded form's contact person %q, want 王五", got)
	}
	if got := x.liveValue("f-note"); got != "" {
		t.Fatalf("the reloaded form's note %q, want empty (not saved)", got)
	}
	if n := len(seen()); n != 1 {
		t.Fatalf("reloading asked: %d dialogs", n)
	}

	// The phone size.
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	x.open(co.base + "/r/sales_order/new")
	x.livePick("f-customer", co.ids["C-0001"])
	x.livePick("f-lines-0-item", co.ids["OIL-5L"])
	x.do(chromedp.SendKeys(chromedp.ID("f-lines-0-qty"), "12.5"))
	x.liveSettle()
	if got := x.text("#f-lines-0-amount"); got != "110.00" {
		t.Fatalf("amount at phone size %q, want 110.00", got)
	}
	x.do(chromedp.ScrollIntoView(chromedp.ID("f-lines")))
	x.shot("form-live-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))

	// required_when: a customer return's details are required for 其他.
	x.open(co.base + "/r/sales_return/new") // leaving the order typed at phone size asks
	if n := len(seen()); n != 2 {
		t.Fatalf("%d dialogs after leaving the changed phone form, want 2", n)
	}
	x.liveSettle()
	if n := x.count(`label[for="f-reason_note"] .req`); n != 0 {
		t.Fatal("the details are marked required before a reason is chosen")
	}
	x.livePick("f-reason", "other")
	x.liveSettle()
	if n := x.count(`label[for="f-reason_note"] .req`); n != 1 {
		t.Fatal("the details are not marked required for 其他")
	}
	if got := x.liveEval(`document.getElementById('f-reason_note').getAttribute('aria-required') || ''`); got != "true" {
		t.Fatalf("aria-required of the details %q", got)
	}
	// Touched and left empty: the field says what a save would.
	x.do(chromedp.SendKeys(chromedp.ID("f-reason_note"), "x"), chromedp.KeyEvent("\b"))
	x.liveSettle()
	if got := x.text("#f-reason_note-err"); got != "必填" {
		t.Fatalf("live error at the details %q, want 必填", got)
	}
	x.livePick("f-reason", "quality")
	x.liveSettle()
	if n := x.count(`label[for="f-reason_note"] .req`) + x.count("#f-reason_note-err"); n != 0 {
		t.Fatal("the details stay required after another reason")
	}
	x.open(co.base + "/") // the form was changed: it asks
	if n := len(seen()); n != 3 {
		t.Fatalf("%d dialogs, want 3", n)
	}

	// visible_when and an attachment: finance's settlement without an
	// invoice.
	x.relogin("finance", financePassword)
	x.open(co.base + "/r/settlement/new")
	x.liveSettle()
	if got := x.liveEval(`String(document.querySelector('[data-field="proof_ref"]').hidden)`); got != "true" {
		t.Fatalf("proof reference hidden with an invoice: %s", got)
	}
	x.livePick("f-basis", "no_invoice")
	x.liveSettle()
	if got := x.liveEval(`String(document.querySelector('[data-field="proof_ref"]').hidden)`); got != "false" {
		t.Fatalf("proof reference hidden without an invoice: %s", got)
	}
	if n := x.count(`label[for="f-proof_file"] .req`); n != 1 {
		t.Fatal("the proof file is not marked required without an invoice")
	}
	dir := t.TempDir()
	txt := filepath.Join(dir, "note.txt")
	png := filepath.Join(dir, "proof.png")
	if err := os.WriteFile(txt, []byte("just text, not a proof\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"), 0o644); err != nil {
		t.Fatal(err)
	}
	x.do(chromedp.SetUploadFiles(chromedp.ID("f-proof_file"), []string{txt}))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.getElementById('f-proof_file-err')`, chromedp.WithPollingTimeout(0))); err != nil {
		t.Fatal(err)
	}
	if got := x.text("#f-proof_file-err"); !strings.Contains(got, "text/plain") {
		t.Fatalf("a text file as proof says %q", got)
	}
	if got := x.liveValue("f-proof_file-value"); got != "" {
		t.Fatalf("a refused file left the value %q", got)
	}
	x.do(chromedp.SetUploadFiles(chromedp.ID("f-proof_file"), []string{png}))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('f-proof_file-value').value !== ''`, chromedp.WithPollingTimeout(0))); err != nil {
		t.Fatal(err)
	}
	if got := x.text("#f-proof_file-file"); !strings.Contains(got, "proof.png") {
		t.Fatalf("the uploaded file shows as %q", got)
	}
	if n := x.count("#f-proof_file-err"); n != 0 {
		t.Fatal("the error of the refused file stays after a good one")
	}
	x.do(chromedp.ScrollIntoView(chromedp.ID("f-proof_file")))
	x.shot("form-live-settlement-1366x768")
}
