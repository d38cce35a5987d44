package records

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// auditColl holds one entry per change of a record.
const auditColl = "sys_audit"

// Change is one field that changed. Tables are compared row by row (by row
// key): Path is "lines[<row>].qty" for a changed cell, Op "row_added" or
// "row_removed" for whole rows.
type Change struct {
	Path string `json:"path"`
	Op   string `json:"op"` // set, row_added, row_removed
	From any    `json:"from,omitempty"`
	To   any    `json:"to,omitempty"`
}

// Entry is one audit entry.
type Entry struct {
	Action     string         `json:"action"` // create, update, delete, transition, feedback, link_created, link_revoked
	Transition string         `json:"transition,omitempty"`
	Input      map[string]any `json:"input,omitempty"`
	Note       string         `json:"note,omitempty"`
	Link       string         `json:"link,omitempty"` // the tracking link of feedback, link_created, link_revoked
	User       string         `json:"user"`
	At         string         `json:"at"`
	Version    int64          `json:"version"`
	Changes    []Change       `json:"changes"`
}

// audit writes the entry of one change, after the record. (Create and Update
// write the record and its entry in one store batch instead: one commit on
// SQLite.)
func (e *Engine) audit(ctx context.Context, u User, ent *template.Entity, action string, before, after Record) error {
	return e.auditEntry(ctx, u, ent, action, before, after, nil)
}

// auditTransition records a transition: its name, the input given, the
// reason of an assignment, and the changes (state, owner, fields set).
func (e *Engine) auditTransition(ctx context.Context, u User, ent *template.Entity, name string, before, after Record, input map[string]any, note string) error {
	extra := store.Doc{"transition": name}
	if len(input) > 0 {
		extra["input"] = map[string]any(input)
	}
	if note != "" {
		extra["note"] = note
	}
	return e.auditEntry(ctx, u, ent, "transition", before, after, extra)
}

func (e *Engine) auditEntry(ctx context.Context, u User, ent *template.Entity, action string, before, after Record, extra store.Doc) error {
	return e.auditIn(ctx, e.st, u, ent, action, before, after, extra)
}

// auditIn writes the audit entry through w (the batch of the change it
// records, or the store).
func (e *Engine) auditIn(ctx context.Context, w store.Writer, u User, ent *template.Entity, action string, before, after Record, extra store.Doc) error {
	entry := e.auditDoc(u, ent, action, before, after, extra)
	if _, err := w.Insert(ctx, auditColl, entry); err != nil {
		return fmt.Errorf("records: audit %s %v: %w", ent.Name, entry["record"], err)
	}
	return nil
}

// auditDoc builds the audit entry of one change.
func (e *Engine) auditDoc(u User, ent *template.Entity, action string, before, after Record, extra store.Doc) store.Doc {
	var ver int64
	id := ""
	if after != nil {
		ver, id = after.Version(), after.ID()
	} else {
		ver, id = before.Version()+1, before.ID()
	}
	// A creation is recorded without a diff: the first version of the record
	// holds its initial values, and copying them would double every insert.
	var changes []Change
	if action != "create" {
		changes = diff(before, after)
	}
	list := make([]any, len(changes))
	for i, c := range changes {
		m := map[string]any{"path": c.Path, "op": c.Op}
		if c.From != nil {
			m["from"] = c.From
		}
		if c.To != nil {
			m["to"] = c.To
		}
		list[i] = m
	}
	entry := store.Doc{
		"entity": ent.Name, "record": id, "version": ver, "action": action,
		"user": u.ID, "at": e.stamp(), "changes": list,
	}
	for k, v := range extra {
		entry[k] = v
	}
	return entry
}

// skipInDiff are bookkeeping fields that change with every write.
var skipInDiff = []string{fVersion, fUpdatedAt, fUpdatedBy, fPosting}

// diff lists the changed fields between two versions of a record.
func diff(before, after Record) []Change {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var out []Change
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if slices.Contains(skipInDiff, k) || k == fID {
			continue
		}
		b, a := before[k], after[k]
		if equalValue(b, a) {
			continue
		}
		if rows, ok := tableOf(b, a); ok {
			out = append(out, diffRows(k, rows[0], rows[1])...)
			continue
		}
		out = append(out, Change{Path: k, Op: "set", From: b, To: a})
	}
	return out
}

// tableOf returns both sides as row lists when the field is a table.
func tableOf(b, a any) ([2][]any, bool) {
	bs, bok := b.([]any)
	as, aok := a.([]any)
	isRows := func(xs []any) bool {
		for _, x := range xs {
			if _, ok := x.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	if (bok || b == nil) && (aok || a == nil) && (bok || aok) && isRows(bs) && isRows(as) {
		return [2][]any{bs, as}, true
	}
	return [2][]any{}, false
}

func diffRows(table string, before, after []any) []Change {
	byKey := func(rows []any) (map[string]map[string]any, []string) {
		m := map[string]map[string]any{}
		var order []string
		for i, r := range rows {
			row := r.(map[string]any)
			k := asString(row[rowKey])
			if k == "" {
				k = fmt.Sprintf("#%d", i)
			}
			m[k] = row
			order = append(order, k)
		}
		return m, order
	}
	bm, border := byKey(before)
	am, aorder := byKey(after)
	var out []Change
	for _, k := range border {
		if _, still := am[k]; !still {
			out = append(out, Change{Path: table + "[" + k + "]", Op: "row_removed", From: bm[k]})
		}
	}
	for _, k := range aorder {
		brow, had := bm[k]
		if !had {
			out = append(out, Change{Path: table + "[" + k + "]", Op: "row_added", To: am[k]})
			continue
		}
		cols := map[string]bool{}
		for c := range brow {
			cols[c] = true
		}
		for c := range am[k] {
			cols[c] = true
		}
		for _, c := range slices.Sorted(maps.Keys(cols)) {
			if !equalValue(brow[c], am[k][c]) {
				out = append(out, Change{Path: table + "[" + k + "]." + c, Op: "set", From: brow[c], To: am[k][c]})
			}
		}
	}
	return out
}
