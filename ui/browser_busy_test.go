package ui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yerp/yerp/engine/records"
)

// TestFormIsSentOnce: a form on its way to the server says so on the button
// that sent it, and a second click does not send it again.
func TestFormIsSentOnce(t *testing.T) {
	co := startCompany(t)
	x := &b{t: t, ctx: context.WithValue(browser(t), baseKey{}, co.base), dir: shots(t)}
	x.login("admin", adminPassword)
	x.open(co.base + "/r/warehouse/new")
	x.do(chromedp.SendKeys(chromedp.ID("f-code"), "WH9"), chromedp.SendKeys(chromedp.ID("f-name"), "宁波前置仓"))
	// Both clicks in one task: the first submit is under way when the
	// second comes.
	state, err := chromedp.Run(x.ctx, chromedp.Evaluate[[]string](`(() => {
		const b = document.getElementById('save');
		b.click();
		const s = [b.textContent.trim(), b.form.getAttribute('aria-busy') || ''];
		b.click();
		return s;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(state) != 2 || state[0] != "处理中…" || state[1] != "true" {
		t.Fatalf("the save button while the form is sent: %q, want 处理中… and aria-busy", state)
	}
	// The page navigates under the script: ask where it is until it has
	// arrived at the new record.
	for {
		loc, err := chromedp.Run(x.ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, "/r/warehouse/") && !strings.HasSuffix(loc, "/new") {
			if n, err := chromedp.Run(x.ctx, chromedp.Evaluate[int](`document.querySelectorAll('h1').length`)); err == nil && n > 0 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	page, err := co.eng.List(context.Background(), co.admin, "warehouse", records.ListQuery{Filter: "code == 'WH9'"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 {
		t.Fatalf("%d warehouses WH9 after two clicks on save, want 1", len(page.Records))
	}
	if got := x.text("h1"); !strings.Contains(got, "WH9") {
		t.Fatalf("the record page after saving shows %q", got)
	}
}
