package ui

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	ytemplate "github.com/yerp/yerp/engine/template"
)

// The webhook outbox (admins only): the deliveries waiting for their next
// try, those that failed (each with a button to send it again) and those
// delivered lately, with their tries, next try and last error. The records
// engine keeps the outbox and says who may see it; the page shows it.

func init() {
	maps.Copy(texts, admOutboxTexts)
	flashes["adm_outbox_retried"] = true
}

var admOutboxTexts = map[string][2]string{
	"adm_outbox":                  {"Webhook 发送队列", "Webhook outbox"},
	"adm_outbox_intro":            {"通知类动作触发的 Webhook 在此排队发送；目标不可用时会自动重试，间隔逐次加长，多次失败后标为失败，可在此重新发送。", "Webhooks of notify effects wait here to be sent; when the target is down they are tried again with growing pauses, and after many failures they are marked failed and can be sent again here."},
	"adm_outbox_pending":          {"待发送", "Waiting"},
	"adm_outbox_failed":           {"发送失败", "Failed"},
	"adm_outbox_delivered":        {"最近已送达", "Delivered lately"},
	"adm_outbox_status_pending":   {"等待重试", "Waiting"},
	"adm_outbox_status_sending":   {"发送中", "Sending"},
	"adm_outbox_status_failed":    {"失败", "Failed"},
	"adm_outbox_status_delivered": {"已送达", "Delivered"},
	"adm_outbox_target":           {"目标地址", "Target"},
	"adm_outbox_record":           {"单据", "Record"},
	"adm_outbox_status":           {"状态", "Status"},
	"adm_outbox_attempts":         {"已尝试次数", "Tries"},
	"adm_outbox_next":             {"下次尝试", "Next try"},
	"adm_outbox_last":             {"最近尝试", "Last try"},
	"adm_outbox_error":            {"最近错误", "Last error"},
	"adm_outbox_retry":            {"重新发送", "Send again"},
	"adm_outbox_not_failed":       {"该 Webhook 已不是失败状态，无需重新发送。", "This webhook is no longer failed; there is nothing to send again."},
	"msg_adm_outbox_retried":      {"已重新排队，将在下一轮发送。", "Queued again; it is sent in the next round."},
}

// outboxRow is one delivery as the page shows it.
type outboxRow struct {
	records.OutboxEntry
	EntityLabel, StatusLabel, StatusClass string
	Next, Last                            string // local times
}

type outboxData struct {
	Pending, Failed, Delivered []outboxRow
}

func (u *UI) mountOutbox(g fiber.Router) error {
	t, err := template.New("layout.html").Funcs(funcs).Funcs(template.FuncMap{
		// outboxArgs packs what one section's table needs.
		"outboxArgs": func(p *page, kind string, rows []outboxRow) map[string]any {
			return map[string]any{"Page": p, "Kind": kind, "Rows": rows}
		},
	}).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/admin_outbox.html")
	if err != nil {
		return fmt.Errorf("ui: admin_outbox: %w", err)
	}
	u.pages["admin_outbox"] = t
	a := g.Group("/admin/outbox", u.adminOnly)
	a.Get("", u.outboxPage)
	a.Post("/:id/retry", u.retryWebhook)
	return nil
}

func (u *UI) outboxPage(c fiber.Ctx) error {
	l, me := lang(c), engineUser(c)
	data := &outboxData{}
	for status, dst := range map[string]*[]outboxRow{"pending": &data.Pending, "failed": &data.Failed, "delivered": &data.Delivered} {
		list, err := u.d.Records.Outbox(c.Context(), me, status, 100)
		if err != nil {
			return u.fail(c, err)
		}
		for _, o := range list {
			*dst = append(*dst, u.outboxRow(o, l))
		}
	}
	return u.render(c, fiber.StatusOK, "admin_outbox", u.newPage(c, t(l, "adm_outbox"), data))
}

func (u *UI) outboxRow(o records.OutboxEntry, l string) outboxRow {
	r := outboxRow{OutboxEntry: o, EntityLabel: o.Entity, StatusLabel: t(l, "adm_outbox_status_"+o.Status),
		Next: localTime(o.NextAt), Last: localTime(o.LastAttemptAt)}
	if ent := u.d.Packages.Model().Entities[o.Entity]; ent != nil {
		r.EntityLabel = entityLabel(ent, l)
	}
	switch o.Status {
	case "failed":
		r.StatusClass = "red"
	case "delivered":
		r.StatusClass = "green"
	case "sending":
		r.StatusClass = "blue"
	default:
		r.StatusClass = "yellow"
	}
	return r
}

// localTime shows a stored time in the server's zone; "" stays "".
func localTime(s string) string {
	at, err := time.Parse(ytemplate.DateTimeLayout, s)
	if err != nil {
		return s
	}
	return at.Local().Format("2006-01-02 15:04:05")
}

func (u *UI) retryWebhook(c fiber.Ctx) error {
	err := u.d.Records.RetryWebhook(c.Context(), engineUser(c), c.Params("id"))
	if errors.Is(err, records.ErrConflict) {
		return u.errorPage(c, fiber.StatusConflict, t(lang(c), "adm_outbox_not_failed"))
	}
	if err != nil {
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/admin/outbox?msg=adm_outbox_retried")
}
