package ui_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// waitJS waits until the JavaScript condition js holds on the page.
func (x *b) waitJS(what, js string) {
	x.t.Helper()
	if _, err := chromedp.Run(x.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		x.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// caret puts the editor's cursor at the offset the JavaScript expression
// off computes from the editor's text (ta.value) and selects n characters
// from there; it returns the line the cursor is on.
func (x *b) caret(off string, n int) int {
	x.t.Helper()
	js := `(() => { const ta = document.getElementById('ed-text'); const at = (` + off + `);
		if (at < 0) return -1; ta.focus(); ta.setSelectionRange(at, at + ` + strconv.Itoa(n) + `);
		return ta.value.slice(0, at).split('\n').length; })()`
	line, err := chromedp.Run(x.ctx, chromedp.Evaluate[int](js))
	if err != nil || line < 1 {
		x.t.Fatalf("place the cursor at %s: line %d, %v", off, line, err)
	}
	return line
}

// An admin adds a field to the wholesale order in the template editor: a
// typo is reported at its line, the fixed field appears in the live
// preview once it is placed in the form, the plan shows the new field, and
// after publishing a salesperson on the same server (no restart) sees it in
// the new-order form. Rolling back removes it again. Non-admins get 403.
func TestAdminEditsPublishesAndRollsBackATemplate(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}

	// A salesperson may not open the admin pages, whatever URL is typed.
	x.login("sales1", salesPassword)
	if n := x.count("#nav-admin-packages"); n != 0 {
		t.Fatal("a salesperson sees the admin menu")
	}
	for _, path := range []string{"/admin/packages", "/admin/packages/sales/edit", "/admin/users"} {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(co.base+path))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 403 || !strings.Contains(x.text("main"), "只有管理员") {
			t.Fatalf("a salesperson opening %s: %d %q, want 403", path, resp.Status, x.text("main"))
		}
	}
	x.open(co.base + "/r/sales_order/new")
	if n := x.count(`label[for="f-gift_wrap"]`); n != 0 {
		t.Fatal("the order form has the field before it is added")
	}

	// The admin opens the catalog from the admin menu.
	x.relogin("admin", adminPassword)
	x.do(chromedp.Click(chromedp.CSS(".admin-menu summary"), chromedp.NodeVisible))
	x.submit("#nav-admin-packages")
	if got := x.text("#pkg-sales .pkg-installed"); got != "1.0.0" {
		t.Fatalf("installed version of sales %q", got)
	}
	if got := x.text("#pkg-sales"); !strings.Contains(got, "#1") || !strings.Contains(got, "编辑模板") {
		t.Fatalf("sales row %q", got)
	}
	x.shot("catalog-1366x768")

	// The editor, on the order's file.
	x.submit("#edit-sales")
	if got := x.text("#ed-status"); got != "没有错误" {
		t.Fatalf("the installed package is reported as %q", got)
	}
	x.do(chromedp.Click(chromedp.CSS(`a[data-file="sales_order.yaml"]`), chromedp.NodeVisible))
	x.waitJS("the order file", `document.getElementById('ed-label').textContent === 'sales_order.yaml' && document.getElementById('ed-text').value.startsWith('entity: sales_order')`)
	x.waitJS("the order form in the preview", `!!document.querySelector('#preview label[for="f-customer"]')`)
	if n := x.count(`#ed-gutter span[data-line="100"]`); n != 1 {
		t.Fatalf("%d gutter numbers for line 100", n)
	}

	// A typo: the checker reports it at the line typed, in the list and in
	// the gutter.
	line := x.caret(`ta.value.indexOf('\n', ta.value.indexOf('  note: {type: longtext'))`, 0) + 1
	x.do(chromedp.KeyEvent(kb.Enter + "  gift_wrap: {type: boolean, label: {zh-CN: 礼品包装, en: Gift wrap}}"))
	at := "sales_order.yaml:" + strconv.Itoa(line) + ":"
	x.waitJS("the error at line "+strconv.Itoa(line), `!!document.querySelector('#ed-gutter span[data-line="`+strconv.Itoa(line)+`"].g-error') &&
		document.getElementById('problems').textContent.includes(`+jsString(at)+`)`)
	if got := x.text("#ed-status"); !strings.Contains(got, "个错误") {
		t.Fatalf("status with a typo %q", got)
	}
	if got := x.text("#problems .error"); !strings.Contains(got, "boolean") {
		t.Fatalf("the error says %q", got)
	}
	x.shot("editor-error-1366x768")
	// Clicking the error puts the cursor on its line.
	x.do(chromedp.Click(chromedp.CSS("#problems .error button"), chromedp.NodeVisible))
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const ta = document.getElementById('ed-text'); return ta.value.slice(0, ta.selectionStart).split('\n').length; })()`)); got != line {
		t.Fatalf("after clicking the error the cursor is on line %d, want %d", got, line)
	}

	// Fixed: no error; the field is not in the form layout yet, so the
	// preview lacks it. Placed in the notes section, the preview shows it.
	x.caret(`ta.value.indexOf('type: boolean') + 6`, 7)
	x.do(chromedp.KeyEvent("bool"))
	x.waitJS("no error", `document.getElementById('ed-status').className === 'ok'`)
	if got := x.text("#ed-status"); got != "没有错误" {
		t.Fatalf("status after the fix %q", got)
	}
	if n := x.count(`#preview label[for="f-gift_wrap"]`); n != 0 {
		t.Fatal("the preview shows a field the form layout does not place")
	}
	x.caret(`ta.value.indexOf('fields: [note, cancel_reason]') + 'fields: [note, cancel_reason'.length`, 0)
	x.do(chromedp.KeyEvent(", gift_wrap"))
	x.waitJS("the new field in the preview", `!!document.querySelector('#preview label[for="f-gift_wrap"]')`)
	if got := x.text(`#preview label[for="f-gift_wrap"]`); got != "礼品包装" {
		t.Fatalf("preview label %q", got)
	}
	if got := x.text("#preview h1"); !strings.Contains(got, "批发订货单") {
		t.Fatalf("preview heading %q", got)
	}
	if n := x.count(`a[data-file="sales_order.yaml"].changed`); n != 1 {
		t.Fatal("the edited file is not marked changed")
	}
	// The preview as a salesperson hides what sales may not see.
	x.choose("#preview-role", "销售员 (sales)")
	x.waitJS("the salesperson's preview", `!!document.querySelector('#preview label[for="f-gift_wrap"]') && !document.querySelector('#preview #f-margin')`)
	x.do(chromedp.ScrollIntoView(chromedp.ID("ed")))
	// The preview pane scrolls to the new field.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const p = document.querySelector('.ed-preview');
		const l = document.querySelector('#preview label[for="f-gift_wrap"]');
		p.scrollTop += l.getBoundingClientRect().top - p.getBoundingClientRect().top - 160; return true; })()`)); err != nil {
		t.Fatal(err)
	}
	x.shot("editor-1366x768")
	x.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	x.do(chromedp.ScrollIntoView(chromedp.ID("ed-status")))
	x.shot("editor-390x844")
	x.do(chromedp.EmulateViewport(1366, 768))
	// Publish: the plan shows the new field and nothing that blocks.
	x.submit("#publish")
	plan := x.text("#plan")
	if !strings.Contains(plan, "新增字段 批发订货单.礼品包装 (gift_wrap)") || !strings.Contains(plan, "sales_order.yaml") {
		t.Fatalf("plan %q", plan)
	}
	if n := x.count("#plan-blocking"); n != 0 {
		t.Fatal("adding an optional field blocks")
	}
	x.shot("publish-plan-1366x768")
	x.do(chromedp.SendKeys(chromedp.ID("note"), "礼品包装"))
	x.submit("#confirm")
	if got := x.text(".flash"); !strings.Contains(got, "已发布") {
		t.Fatalf("after publishing the page says %q", got)
	}
	if got := x.text("h1 .tag"); got != "sales 1.0.0 #2" {
		t.Fatalf("editor heading after publishing %q", got)
	}
	if n := x.count("a[data-file].changed"); n != 0 {
		t.Fatal("files are still marked changed after publishing")
	}

	// The salesperson, same server, sees the new field.
	x.relogin("sales1", salesPassword)
	x.open(co.base + "/r/sales_order/new")
	if got := x.text(`label[for="f-gift_wrap"]`); got != "礼品包装" {
		t.Fatalf("new-order form label %q, want 礼品包装", got)
	}

	// Versions: the diff with the first version, then a rollback to it.
	x.relogin("admin", adminPassword)
	x.open(co.base + "/admin/packages/sales/versions")
	if n := x.count("#versions tbody tr"); n != 2 {
		t.Fatalf("%d versions, want 2", n)
	}
	if got := x.text("#v-2"); !strings.Contains(got, "admin") || !strings.Contains(got, "礼品包装") || !strings.Contains(got, "当前") {
		t.Fatalf("version #2 row %q", got)
	}
	x.submit("#diff-1")
	diff := x.text("#diff")
	if !strings.Contains(diff, "sales_order.yaml") || !strings.Contains(diff, "+  gift_wrap: {type: bool") {
		t.Fatalf("diff %q", diff)
	}
	if n := x.count("#diff .del"); n != 1 {
		t.Fatalf("%d removed lines in the diff, want 1 (the form line)", n)
	}
	x.shot("versions-1366x768")
	x.submit("#rollback-1")
	if got := x.text("#plan"); !strings.Contains(got, "礼品包装 (gift_wrap)") || !strings.Contains(got, "0 条记录") {
		t.Fatalf("rollback plan %q", got)
	}
	x.submit("#confirm")
	if got := x.text(".flash"); !strings.Contains(got, "已回滚") {
		t.Fatalf("after the rollback the page says %q", got)
	}
	if got := x.text("#v-3"); !strings.Contains(got, "当前") || !strings.Contains(got, "#1") {
		t.Fatalf("version #3 after the rollback %q", got)
	}
	x.relogin("sales1", salesPassword)
	x.open(co.base + "/r/sales_order/new")
	if n := x.count(`label[for="f-gift_wrap"]`); n != 0 {
		t.Fatal("the field is still in the form after the rollback")
	}
	if got := x.text(`label[for="f-customer"]`); !strings.HasPrefix(got, "客户") {
		t.Fatalf("the form after the rollback: customer label %q", got)
	}
}

// An admin adds a user with a role; the user signs in with the one-time
// password and must change it first; the admin then changes the user's
// roles (logged) and deactivates the user, who can no longer sign in.
func TestAdminManagesUsers(t *testing.T) {
	co := startCompany(t)
	ctx := context.WithValue(browser(t), baseKey{}, co.base)
	x := &b{t: t, ctx: ctx, dir: shots(t)}

	x.login("admin", adminPassword)
	x.do(chromedp.Click(chromedp.CSS(".admin-menu summary"), chromedp.NodeVisible))
	x.submit("#nav-admin-users")
	if got := x.text("#u-sales1"); !strings.Contains(got, "张伟") || !strings.Contains(got, "销售员") {
		t.Fatalf("sales1 row %q", got)
	}
	x.do(
		chromedp.SendKeys(chromedp.ID("nu-username"), "clerk1"),
		chromedp.SendKeys(chromedp.ID("nu-name"), "陈静"),
		chromedp.Click(chromedp.ID("nu-role-sales")),
	)
	x.choose("#nu-lang", "英文")
	x.submit("#nu-create")
	if got := x.text("#user-done"); !strings.Contains(got, "clerk1") {
		t.Fatalf("after adding: %q", got)
	}
	pw := x.text("#one-time")
	if len(pw) < 16 {
		t.Fatalf("one-time password %q", pw)
	}
	if got := x.text("#u-clerk1"); !strings.Contains(got, "陈静") || !strings.Contains(got, "销售员") || !strings.Contains(got, "英文") || !strings.Contains(got, "须修改密码") {
		t.Fatalf("clerk1 row %q", got)
	}
	if got := x.text("#user-audit"); !strings.Contains(got, "创建了用户 clerk1") {
		t.Fatalf("audit after adding %q", got)
	}
	x.shot("users-1366x768")
	// A taken username is refused with a message, nothing added.
	x.do(chromedp.SendKeys(chromedp.ID("nu-username"), "sales1"), chromedp.SendKeys(chromedp.ID("nu-password"), "another-password-1"))
	x.submit("#nu-create")
	if got := x.text("#add-user-error"); got != "用户名已存在" {
		t.Fatalf("adding a taken username: %q", got)
	}
	if n := x.count("#users tbody tr"); n != 7 {
		t.Fatalf("%d users after a refused add, want 7", n)
	}

	// The new user signs in and is sent to change the password, in English
	// (the user's language).
	x.relogin("clerk1", pw)
	if got := x.text("#must-change"); !strings.Contains(got, "change it before you go on") {
		t.Fatalf("a user with a one-time password sees %q", got)
	}
	x.open(co.base + "/r/sales_order")
	if !strings.HasPrefix(x.location(), co.base+"/password") {
		t.Fatalf("a user who must change the password reached %s", x.location())
	}
	x.do(chromedp.SendKeys(chromedp.ID("pw-current"), pw), chromedp.SendKeys(chromedp.ID("pw-new"), "clerk1-new-password"),
		chromedp.SendKeys(chromedp.ID("pw-repeat"), "clerk1-other-password"))
	x.submit("#pw-submit")
	if got := x.text("#pw-repeat-err"); got != "The two new passwords differ" {
		t.Fatalf("mismatched repeat: %q", got)
	}
	x.do(chromedp.SendKeys(chromedp.ID("pw-current"), pw), chromedp.SendKeys(chromedp.ID("pw-new"), "clerk1-new-password"),
		chromedp.SendKeys(chromedp.ID("pw-repeat"), "clerk1-new-password"))
	x.submit("#pw-submit")
	if got := x.text(".flash"); got != "Your password is changed" {
		t.Fatalf("after the change: %q", got)
	}
	if !strings.HasSuffix(x.location(), "/r/sales_order") {
		t.Fatalf("after the change the user is at %s, want the page asked for", x.location())
	}
	if n := x.count("#nav-admin-packages"); n != 0 {
		t.Fatal("a salesperson sees the admin menu")
	}

	// The admin gives clerk1 the manager role: the change is logged.
	x.relogin("admin", adminPassword)
	x.open(co.base + "/admin/users")
	x.submit("#u-clerk1 a")
	x.do(chromedp.Click(chromedp.ID("role-sales_manager")))
	x.submit("#save-user")
	if got := x.text("#user-audit"); !strings.Contains(got, "修改角色") || !strings.Contains(got, "sales → sales,sales_manager") {
		t.Fatalf("audit after the role change %q", got)
	}
	// The last admin cannot take away their own admin role.
	x.open(co.base + "/admin/users")
	x.submit("#u-admin a")
	x.do(chromedp.Click(chromedp.ID("role-admin")))
	x.submit("#save-user")
	if got := x.text("#user-error"); got != "至少要保留一个启用的管理员" {
		t.Fatalf("removing the last admin: %q", got)
	}
	// Deactivated, clerk1 cannot sign in.
	x.open(co.base + "/admin/users")
	x.submit("#u-clerk1 a")
	x.submit("#disable-user")
	if got := x.text("#user-state"); got != "已停用" {
		t.Fatalf("state after deactivating %q", got)
	}
	x.submit(".top form button")
	x.login("clerk1", "clerk1-new-password")
	if got := x.text(".error-box"); got != "用户名或密码错误" {
		t.Fatalf("a deactivated user signing in sees %q", got)
	}
}
