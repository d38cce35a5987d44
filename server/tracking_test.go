package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
)

func TestTrackingLinks(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startShip(t, st)
		links := "/api/v1/records/shipment/" + sh.shipment + "/tracking-links"

		// Only a user who may update the record shares it: fin reads but may
		// not update, sue may not even read it.
		sh.call(sh.fin, "POST", links, "", nil, 403, nil)
		sh.call(sh.sue, "POST", links, "", nil, 404, nil)
		var created struct {
			ID        string `json:"id"`
			URL       string `json:"url"`
			CreatedAt string `json:"created_at"`
		}
		sh.call(sh.sam, "POST", links, `{"expires_in_days": 30}`, nil, 201, &created)
		u, err := url.Parse(created.URL)
		if err != nil || !strings.HasPrefix(u.Path, "/t/") || created.ID == "" || created.CreatedAt == "" {
			t.Fatalf("created %+v", created)
		}
		token := strings.TrimPrefix(u.Path, "/t/")
		if len(token) < 43 { // at least 32 bytes in base64url
			t.Fatalf("short token %q", token)
		}

		// The link, without cookies or credentials: company, number, state,
		// the declared fields (the customer's and item's titles, the lines,
		// money formatted), never a cost.
		status, hdr, body := sh.page(nil, "GET", u.Path, "", nil)
		if status != 200 || hdr.Get("Referrer-Policy") != "no-referrer" || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("page: %d %v\n%s", status, hdr, body)
		}
		contains(t, "the tracking page", body,
			[]string{`<html lang="zh-CN">`, "杭州示例贸易有限公司", "发货单 SH-00001", `<span class="state">草稿</span>`, "顺丰速运", "SF1234567890",
				"2026-03-02", "C1 华东贸易", "<td>A100 Widget</td>", `<td class="n">3</td><td class="n">1,234.50</td>`, "3,703.50", `name="text"`},
			[]string{"777.77", "987.65", "内部成本", "成本", "0571-8888 6666"})
		_, _, body = sh.page(nil, "GET", u.Path+"?lang=en", "", nil)
		contains(t, "the English page", body, []string{`<html lang="en">`, "Shipment SH-00001", "Draft", "Carrier", "Feedback"}, []string{"777.77"})
		_, _, body = sh.page(nil, "GET", u.Path, "", map[string]string{"Accept-Language": "en-US,en;q=0.9"})
		contains(t, "the page by Accept-Language", body, []string{"Tracking number"}, nil)

		// A tampered token is refused before the store is read.
		tampered := []byte(token)
		tampered[5] ^= 1
		if tampered[5] == '-' || tampered[5] == '_' {
			tampered[5] = 'A'
		}
		before := sh.st.reads.Load()
		status, _, body = sh.page(nil, "GET", "/t/"+string(tampered), "", nil)
		if status != 404 || !strings.Contains(body, "此链接无效") {
			t.Fatalf("tampered token: %d\n%s", status, body)
		}
		if reads := sh.st.reads.Load() - before; reads != 0 {
			t.Fatalf("a tampered token read the store %d times", reads)
		}
		if status, _, _ = sh.page(nil, "GET", "/t/not-a-token", "", nil); status != 404 {
			t.Fatalf("garbage token: %d", status)
		}

		// Feedback from the form lands in the history with the link, and in
		// the owner's notifications.
		status, hdr, _ = sh.page(nil, "POST", u.Path+"/feedback", url.Values{"text": {"请周五前送到，谢谢 <b>"}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if status != 303 || !strings.Contains(hdr.Get("Location"), "sent=1") {
			t.Fatalf("feedback: %d %v", status, hdr)
		}
		_, _, body = sh.page(nil, "GET", hdr.Get("Location"), "", nil)
		contains(t, "the page after feedback", body, []string{"感谢您的反馈"}, nil)
		var hist struct{ Entries []records.Entry }
		sh.call(sh.sam, "GET", "/api/v1/records/shipment/"+sh.shipment+"/history", "", nil, 200, &hist)
		var fb *records.Entry
		for i, e := range hist.Entries {
			if e.Action == "feedback" {
				fb = &hist.Entries[i]
			}
		}
		if fb == nil || fb.Note != "请周五前送到，谢谢 <b>" || fb.Link != created.ID {
			t.Fatalf("history %+v", hist.Entries)
		}
		if last := hist.Entries[len(hist.Entries)-1]; last.Action != "feedback" || hist.Entries[len(hist.Entries)-2].Action != "link_created" {
			t.Fatalf("history order %+v", hist.Entries)
		}
		var notes struct{ Notifications []records.Notification }
		sh.call(sh.sam, "GET", "/api/v1/notifications", "", nil, 200, &notes)
		if len(notes.Notifications) != 1 || notes.Notifications[0].Kind != "feedback" || notes.Notifications[0].Record != sh.shipment ||
			!strings.Contains(notes.Notifications[0].Message["zh-CN"], "SH-00001") || !strings.Contains(notes.Notifications[0].Message["en"], "请周五前送到") {
			t.Fatalf("notifications %+v", notes)
		}

		// Bad feedback: a clear error in the customer's language, nothing written.
		var prob Problem
		sh.call(nil, "POST", u.Path+"/feedback", `{"text":"   "}`, map[string]string{"Accept-Language": "en"}, 422, &prob)
		if len(prob.Errors) != 1 || prob.Errors[0].Field != "text" || prob.Errors[0].Message != "is required" {
			t.Fatalf("empty feedback: %+v", prob)
		}
		long := strings.Repeat("好", records.FeedbackMaxLen+1)
		status, _, body = sh.page(nil, "POST", u.Path+"/feedback", url.Values{"text": {long}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if status != 422 || !strings.Contains(body, "反馈内容最多 1000 个字符") || !strings.Contains(body, long) {
			t.Fatalf("long feedback: %d", status)
		}
		sh.call(sh.sam, "GET", "/api/v1/records/shipment/"+sh.shipment+"/history", "", nil, 200, &hist)
		n := 0
		for _, e := range hist.Entries {
			if e.Action == "feedback" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("refused feedback was stored: %d entries", n)
		}

		// Rate limit per link: the first FeedbackPerLink pass, the next is 429.
		for i := 1; i < records.FeedbackPerLink; i++ {
			sh.call(nil, "POST", u.Path+"/feedback", `{"text":"again"}`, nil, 201, nil)
		}
		hdr = sh.call(nil, "POST", u.Path+"/feedback", `{"text":"once more"}`, map[string]string{"Accept-Language": "zh-CN"}, 429, &prob)
		if hdr.Get("Retry-After") == "" || prob.Detail != "提交过于频繁，请稍后再试。" {
			t.Fatalf("rate limit: %v %+v", hdr, prob)
		}

		// Staff list the links, never the token or its hash.
		var list struct{ Links []records.TrackingLink }
		sh.call(sh.fin, "GET", links, "", nil, 200, &list)
		if len(list.Links) != 1 || list.Links[0].ID != created.ID || !list.Links[0].Active || list.Links[0].ExpiresAt == "" {
			t.Fatalf("links %+v", list)
		}
		raw, _ := json.Marshal(list)
		if strings.Contains(string(raw), token[:20]) || strings.Contains(string(raw), "hash") {
			t.Fatalf("the list shows the token: %s", raw)
		}

		// Revoked: fin may not, sam may; the next request is 410 everywhere.
		sh.call(sh.fin, "DELETE", links+"/"+created.ID, "", nil, 403, nil)
		sh.call(sh.sam, "DELETE", links+"/nope", "", nil, 404, nil)
		sh.call(sh.sam, "DELETE", links+"/"+created.ID, "", nil, 204, nil)
		status, _, body = sh.page(nil, "GET", u.Path, "", nil)
		if status != 410 || !strings.Contains(body, "此链接已失效") || strings.Contains(body, "SF1234567890") {
			t.Fatalf("revoked link: %d\n%s", status, body)
		}
		status, _, body = sh.page(nil, "GET", u.Path+"?lang=en", "", nil)
		if status != 410 || !strings.Contains(body, "This link is no longer valid") {
			t.Fatalf("revoked link in English: %d\n%s", status, body)
		}
		sh.call(nil, "POST", u.Path+"/feedback", `{"text":"hello?"}`, nil, 410, nil)
		sh.call(sh.sam, "GET", links, "", nil, 200, &list)
		if len(list.Links) != 1 || list.Links[0].Active || list.Links[0].RevokedAt == "" {
			t.Fatalf("revoked link listed as %+v", list.Links)
		}

		// A second link works on its own; an entity without tracking has none.
		var second struct{ URL string }
		sh.call(sh.sam, "POST", links, "", nil, 201, &second)
		u2, _ := url.Parse(second.URL)
		if status, _, _ = sh.page(nil, "GET", u2.Path, "", nil); status != 200 || u2.Path == u.Path {
			t.Fatalf("second link: %d", status)
		}
		sh.call(sh.admin, "POST", "/api/v1/records/customer/"+sh.ids["C1"]+"/tracking-links", "", nil, 404, nil)
	})
}

func TestTrackingRateLimitPerAddress(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startShip(t, st)
		links := "/api/v1/records/shipment/" + sh.shipment + "/tracking-links"
		sent := 0
		for sent < records.FeedbackPerIP {
			var created struct{ URL string }
			sh.call(sh.sam, "POST", links, "", nil, 201, &created)
			u, _ := url.Parse(created.URL)
			for i := 0; i < records.FeedbackPerLink && sent < records.FeedbackPerIP; i++ {
				sh.call(nil, "POST", u.Path+"/feedback", `{"text":"hi"}`, nil, 201, nil)
				sent++
			}
		}
		// A fresh link from the same address is still refused.
		var created struct{ URL string }
		sh.call(sh.sam, "POST", links, "", nil, 201, &created)
		u, _ := url.Parse(created.URL)
		sh.call(nil, "POST", u.Path+"/feedback", `{"text":"hi"}`, nil, 429, nil)
	})
}
