package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Notifications are written in the transition's posting, so they exist only
// if the transition does; webhooks go to an outbox in the same posting and are
// delivered after it, with retries (outbox.go).
const (
	notificationsColl = "sys_notifications"
	outboxColl        = "sys_outbox"
)

// Notification is an in-app message to one user.
type Notification struct {
	ID      string            `json:"id"`
	Entity  string            `json:"entity"`
	Record  string            `json:"record"`
	Message map[string]string `json:"message"`
	Kind    string            `json:"kind"` // notify, assigned
	Read    bool              `json:"read"`
	At      string            `json:"at"`
}

// notifyWrites plans the notifications and the webhook of a notify effect.
func (ev *evaluator) notifyWrites(eff template.EffectDecl, place string, rec Record, in map[string]any) ([]write, error) {
	b := &eff.Body
	to := map[string]bool{}
	if b.ToUsers.IsSet() {
		out, err := ev.runValue(place+".to_users", rec, in)
		if err != nil {
			return nil, err
		}
		switch x := out.(type) {
		case string:
			to[x] = true
		case []any:
			for _, u := range x {
				to[fmt.Sprint(u)] = true
			}
		case []string:
			for _, u := range x {
				to[u] = true
			}
		}
	}
	if len(b.ToRoles) > 0 {
		dir, ok := ev.e.users.(roleDirectory)
		if !ok {
			return nil, fmt.Errorf("records: notify to roles needs a user directory")
		}
		roles := make([]string, len(b.ToRoles))
		for i, r := range b.ToRoles {
			roles[i] = r.V
		}
		ids, err := dir.WithRoles(ev.ctx, roles)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			to[id] = true
		}
	}
	var out []write
	for user := range to {
		if user == "" {
			continue
		}
		out = append(out, ev.notification(user, "notify", b.Message.Text, rec))
	}
	if b.Webhook.V != "" {
		// The delivery id lets the receiver drop a repeat: a webhook whose
		// sender died mid-send is sent again (outbox.go).
		id := store.NewID()
		payload, err := json.Marshal(map[string]any{"delivery": id, "entity": ev.ent.Name, "record": rec.ID(), "number": rec[fNumber],
			"state": rec[fState], "message": b.Message.Text, "at": ev.e.stamp()})
		if err != nil {
			return nil, err
		}
		out = append(out, write{Op: "insert", Coll: outboxColl, ID: id, Doc: map[string]any{
			"url": b.Webhook.V, "payload": string(payload), "entity": ev.ent.Name, "record": rec.ID(),
			"status": outboxPending, "attempts": 0, "next_at": ev.e.stamp(), "created_at": ev.e.stamp(),
		}})
	}
	return out, nil
}

// notification is the insert of one notification.
func (ev *evaluator) notification(user, kind string, msg map[string]string, rec Record) write {
	m := map[string]any{}
	for k, v := range msg {
		m[k] = v
	}
	return write{Op: "insert", Coll: notificationsColl, ID: store.NewID(), Doc: map[string]any{
		"user": user, "kind": kind, "entity": ev.ent.Name, "record": rec.ID(), "message": m, "read": false, "at": ev.e.stamp(),
	}}
}

// notificationIndexes serve a user's list newest first and the unread count.
var notificationIndexes = []store.Index{
	{Name: "user_at", Keys: []store.SortKey{store.Asc("user"), store.Desc("at")}},
	{Name: "user_read", Keys: []store.SortKey{store.Asc("user"), store.Asc("read")}},
}

// Notifications lists u's notifications, newest first, and how many are unread.
func (e *Engine) Notifications(ctx context.Context, u User, limit int) ([]Notification, int64, error) {
	if err := e.ensureSysIndexes(ctx, notificationsColl, notificationIndexes...); err != nil {
		return nil, 0, fmt.Errorf("records: notifications: %w", err)
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	page, err := e.st.Find(ctx, notificationsColl, store.Query{Filter: store.Eq("user", u.ID), Sort: []store.SortKey{store.Desc("at")}, Limit: limit})
	if err != nil {
		return nil, 0, fmt.Errorf("records: notifications: %w", err)
	}
	out := make([]Notification, 0, len(page.Docs))
	for _, d := range page.Docs {
		n := Notification{ID: d.ID(), Message: map[string]string{}}
		n.Entity, _ = d["entity"].(string)
		n.Record, _ = d["record"].(string)
		n.Kind, _ = d["kind"].(string)
		n.Read, _ = d["read"].(bool)
		n.At, _ = d["at"].(string)
		if m, ok := d["message"].(map[string]any); ok {
			for k, v := range m {
				n.Message[k] = fmt.Sprint(v)
			}
		}
		out = append(out, n)
	}
	unread, err := e.st.Count(ctx, notificationsColl, store.And(store.Eq("user", u.ID), store.Eq("read", false)))
	if err != nil {
		return nil, 0, fmt.Errorf("records: notifications: %w", err)
	}
	return out, unread, nil
}

// MarkRead marks one of u's notifications read.
func (e *Engine) MarkRead(ctx context.Context, u User, id string) error {
	d, err := e.st.Get(ctx, notificationsColl, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && d["user"] != u.ID {
		return fmt.Errorf("%w: notification %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("records: notification: %w", err)
	}
	if d["read"] == true {
		return nil
	}
	d["read"] = true
	if _, err := e.st.Replace(ctx, notificationsColl, d); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("records: notification: %w", err)
	}
	return nil
}

// Assignment is an open record handed over to a user (转交): it is still theirs
// and not in a final state.
type Assignment struct {
	Entity string `json:"entity"`
	Record Record `json:"record"` // as the user may read it
	At     string `json:"assigned_at"`
}

// Assigned lists the records handed over to u, newest hand-over first, that u
// still owns and that are not finished; at most limit (50 when 0).
func (e *Engine) Assigned(ctx context.Context, u User, limit int) ([]Assignment, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	if err := e.ensureSysIndexes(ctx, notificationsColl, notificationIndexes...); err != nil {
		return nil, fmt.Errorf("records: assigned: %w", err)
	}
	q := store.Query{Filter: store.And(store.Eq("user", u.ID), store.Eq("kind", "assigned")),
		Sort: []store.SortKey{store.Desc("at")}, Limit: 200}
	seen := map[string]bool{}
	var out []Assignment
	for {
		page, err := e.st.Find(ctx, notificationsColl, q)
		if err != nil {
			return nil, fmt.Errorf("records: assigned: %w", err)
		}
		for _, d := range page.Docs {
			entity, _ := d["entity"].(string)
			id, _ := d["record"].(string)
			if seen[entity+"/"+id] {
				continue
			}
			seen[entity+"/"+id] = true
			rec, err := e.Get(ctx, u, entity, id)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) {
				continue // gone, or no longer readable
			} else if err != nil {
				return nil, err
			}
			if rec[fOwner] != u.ID || e.finalState(entity, rec) {
				continue
			}
			at, _ := d["at"].(string)
			out = append(out, Assignment{Entity: entity, Record: rec, At: at})
			if len(out) == limit {
				return out, nil
			}
		}
		if page.Next == "" {
			return out, nil
		}
		q.After = page.Next
	}
}

// finalState reports whether rec is in a final state of entity.
func (e *Engine) finalState(entity string, rec Record) bool {
	ent := e.model().Entities[entity]
	if ent == nil {
		return false
	}
	s, ok := ent.Decl.States.Get(fmt.Sprint(rec[fState]))
	return ok && s != nil && s.Final
}
