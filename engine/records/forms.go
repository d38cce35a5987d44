package records

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// What the browser UI (package ui) needs of records beyond reads and writes:
// records formatted for people, which fields a form may offer, and the open
// approval of a record. The rules stay here; the UI only shows their answers.

// Views formats records that u has read (from Get or List, so without what u
// may not see) in lang, as print layouts see them: money with two places,
// option labels, links as the linked record's title. fields names the fields
// of each View (system fields number, state and created_at included); nil
// gives number, state and every declared field. Links of all the records are
// read with one query per linked entity.
func (e *Engine) Views(ctx context.Context, u User, entity string, recs []Record, fields []string, lang string) ([]*View, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, err
	}
	if fields == nil {
		fields = append([]string{fNumber, fState}, ent.Decl.Fields.Keys()...)
	}
	ev := e.evaluator(ctx, ent, u)
	want := map[string][]string{}
	for _, rec := range recs {
		for _, fe := range ent.Decl.Fields {
			f := fe.Val
			if f == nil {
				continue
			}
			if f.Type.V == "link" {
				if id, ok := rec[fe.Key.V].(string); ok && id != "" {
					want[f.To.V] = append(want[f.To.V], id)
				}
				continue
			}
			if f.Type.V != "table" {
				continue
			}
			rows, _ := rec[fe.Key.V].([]any)
			for _, r := range rows {
				row, _ := r.(map[string]any)
				for _, col := range f.Fields {
					if col.Val != nil && col.Val.Type.V == "link" {
						if id, ok := row[col.Key.V].(string); ok && id != "" {
							want[col.Val.To.V] = append(want[col.Val.To.V], id)
						}
					}
				}
			}
		}
	}
	for linked, ids := range want {
		if err := ev.fetchLinks(linked, ids); err != nil {
			return nil, err
		}
	}
	v := e.viewer(ctx, u, lang, false)
	sel := selection{fields: fields, columns: map[string][]string{}}
	// Table columns the user never sees are left out, rather than shown
	// empty.
	hidden := HiddenFields(ent, u)
	for _, fe := range ent.Decl.Fields {
		if fe.Val == nil || fe.Val.Type.V != "table" {
			continue
		}
		cols := []string{}
		for _, c := range fe.Val.Fields.Keys() {
			if !hidden[fe.Key.V+"."+c] {
				cols = append(cols, c)
			}
		}
		sel.columns[fe.Key.V] = cols
	}
	out := make([]*View, 0, len(recs))
	for _, rec := range recs {
		view, err := v.viewWith(ev, ent, rec, sel)
		if err != nil {
			return nil, err
		}
		out = append(out, view)
	}
	return out, nil
}

// FormAccess says what a form may offer u for a record of an entity.
type FormAccess struct {
	// Allowed: u may create such a record (new) or update this one now
	// (access rules, and the state's editable_by).
	Allowed bool
	// Hidden lists the fields and table columns ("lines.cost") u may not see.
	Hidden map[string]bool
	// Readonly lists the fields and table columns u may not change: by the
	// role's access, declared readonly, computed, or readonly_when holding on
	// the record as stored.
	Readonly map[string]bool
}

// FormAccess works out, for a new record (id "") or the record id, what u may
// change, with the same rules Create and Update apply. The record is returned
// as u may read it (nil for a new one).
func (e *Engine) FormAccess(ctx context.Context, u User, entity, id string) (FormAccess, Record, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return FormAccess{}, nil, err
	}
	ev := e.evaluator(ctx, ent, u)
	var rec Record
	op := "create"
	if id == "" {
		rec = Record{fOwner: u.ID}
	} else {
		var fa fieldAccess
		rec, fa, err = e.readable(ctx, u, entity, id)
		if err != nil {
			return FormAccess{}, nil, err
		}
		op = "update"
		rec = project(rec, fa)
	}
	var allowed bool
	if id == "" {
		// As Create decides before it sees values (its create rule may
		// still refuse some values).
		allowed = u.IsAdmin() || e.mayCreate(ent, u)
	} else {
		allowed, err = ev.can(op, rec)
		if err != nil {
			return FormAccess{}, nil, err
		}
		allowed = allowed && lockedInState(ent.Decl, rec, u) == nil
	}
	fa, err := ev.fields(op, rec)
	if err != nil {
		return FormAccess{}, nil, err
	}
	fa = fa.withDeclared(ent.Decl)
	out := FormAccess{Allowed: allowed, Hidden: maps.Clone(fa.hidden), Readonly: maps.Clone(fa.readonly)}
	if out.Hidden == nil {
		out.Hidden = map[string]bool{}
	}
	if out.Readonly == nil {
		out.Readonly = map[string]bool{}
	}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		if f.Compute.IsSet() {
			out.Readonly[fe.Key.V] = true
		}
		for _, c := range f.Fields {
			if c.Val != nil && c.Val.Compute.IsSet() {
				out.Readonly[fe.Key.V+"."+c.Key.V] = true
			}
		}
		if id != "" && f.ReadonlyWhen.IsSet() {
			locked, err := ev.runBool("fields."+fe.Key.V+".readonly_when", rec, nil, nil)
			if err != nil {
				return FormAccess{}, nil, err
			}
			if locked {
				out.Readonly[fe.Key.V] = true
			}
		}
	}
	if id == "" {
		rec = nil
	}
	return out, rec, nil
}

// OpenApproval returns the open approval request of a record u may read, nil
// when there is none.
func (e *Engine) OpenApproval(ctx context.Context, u User, entity, id string) (*Approval, error) {
	if _, _, err := e.readable(ctx, u, entity, id); err != nil {
		return nil, err
	}
	lock, err := e.st.Get(ctx, locksColl, entity+":"+id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("records: approval of %s %s: %w", entity, id, err)
	}
	apID, _ := lock["approval"].(string)
	doc, err := e.st.Get(ctx, approvalsColl, apID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("records: approval of %s %s: %w", entity, id, err)
	}
	a := approvalOf(doc)
	if a.Status != ApprovalOpen {
		return nil, nil
	}
	return &a, nil
}

// StepLabel is the label of step i of the approval of a transition, in lang
// (the step's name when it has no label).
func StepLabel(ent *template.Entity, transition string, i int, lang string) string {
	t, ok := ent.Decl.Transitions.Get(transition)
	if !ok || t == nil || t.Approval == nil || i < 0 || i >= len(t.Approval.Steps) {
		return ""
	}
	st := t.Approval.Steps[i]
	if s := st.Label.Text[lang]; s != "" {
		return s
	}
	for _, s := range st.Label.Text {
		return s
	}
	return st.Name.V
}
