package records

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// A preview is what a form shows while the user types: the values a save
// would compute from what is typed so far, and which fields are shown,
// required and read-only. It runs the very code a save runs (prepare: the
// template's compiled defaults, computed fields and conditions), writes
// nothing, takes no number and runs no effect; the save checks everything
// again.

// FieldState is how a form shows one field or table cell.
type FieldState struct {
	// Visible: the field's visible_when holds (true without one). A field
	// hidden this way keeps its value.
	Visible bool `json:"visible"`
	// Required: required, or its required_when holds on the values typed.
	Required bool `json:"required"`
	// Readonly: the user may not change it (role access, declared
	// readonly, computed, or readonly_when holding on the record as stored,
	// as a save decides).
	Readonly bool `json:"readonly"`
}

// Preview is the answer of Engine.Preview.
type Preview struct {
	// Record is the record a save would store from the values, with the
	// fields u may read: defaults filled, computed fields and columns
	// computed; values that were refused are left out. A new record has no
	// number.
	Record Record
	// Fields has the state of every top-level field u may see.
	Fields map[string]FieldState
	// Rows has, per table u may see, the state of the cells of each row
	// (in the order of the values), by column; columns u may not see are
	// left out.
	Rows map[string][]map[string]FieldState
	// Problems is what a save of these values would report (nil when it
	// would pass the field checks): the same paths and codes as Create's
	// or Update's *ValidationError.
	Problems *ValidationError
	// Stale: the record is no longer at the version the form was opened
	// with (an edit form only); a save would be refused with ErrConflict.
	// Version is the stored version.
	Stale   bool
	Version int64
}

// Preview works out what a form for entity shows for values, the form's
// current values as a create (id "") or an update of record id would take
// them: u must be allowed to create such a record, or to read and update
// record id in its state (ErrForbidden, ErrNotFound otherwise). version is
// the version the edit form was opened with (0: not known); a different
// stored version is reported as Preview.Stale, not as an error, and the
// preview is made against the stored record.
func (e *Engine) Preview(ctx context.Context, u User, entity, id string, version int64, values map[string]any) (Preview, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return Preview{}, err
	}
	ev := e.evaluator(ctx, ent, u)
	var before Record
	var fa fieldAccess
	out := Preview{}
	if id == "" {
		if !u.IsAdmin() && !e.mayCreate(ent, u) {
			return Preview{}, forbidden("create", entity)
		}
		if fa, err = ev.fields("create", Record{fOwner: u.ID}); err != nil {
			return Preview{}, err
		}
	} else {
		if err := usableBy(ent, u); err != nil {
			return Preview{}, err
		}
		if before, err = e.get(ctx, entity, id); err != nil {
			return Preview{}, err
		}
		if ok, err := ev.can("read", before); err != nil || !ok {
			if err != nil {
				return Preview{}, err
			}
			return Preview{}, fmt.Errorf("%w: %s %s", ErrNotFound, entity, id)
		}
		if ok, err := ev.can("update", before); err != nil || !ok {
			if err != nil {
				return Preview{}, err
			}
			return Preview{}, forbidden("update", entity)
		}
		if err := lockedInState(ent.Decl, before, u); err != nil {
			return Preview{}, err
		}
		if fa, err = ev.fields("update", before); err != nil {
			return Preview{}, err
		}
		out.Version = before.Version()
		out.Stale = version != 0 && version != before.Version()
	}
	// The state cannot be typed into a form; Update would refuse it.
	values = maps.Clone(values)
	delete(values, fState)

	rec, err := ev.prepare(before, values, fa)
	var ve *ValidationError
	if errors.As(err, &ve) {
		out.Problems = ve
	} else if err != nil {
		return Preview{}, err
	}
	if id == "" {
		if init := initialState(ent.Decl); init != "" {
			rec[fState] = init
		}
		rec[fOwner], rec[fCreatedBy] = u.ID, u.ID
		if out.Problems == nil {
			if err := e.checkUnique(ctx, ent, "", rec); errors.As(err, &ve) {
				out.Problems = ve
			} else if err != nil {
				return Preview{}, err
			}
		}
	} else if out.Problems == nil {
		if err := e.checkUnique(ctx, ent, id, rec); errors.As(err, &ve) {
			out.Problems = ve
		} else if err != nil {
			return Preview{}, err
		}
	}

	// What u sees: on a new record what the creating roles hide, else what
	// the roles that may read the record as it would be hide.
	seen := fa
	if id != "" {
		if seen, err = ev.fields("read", rec); err != nil {
			return Preview{}, err
		}
	}
	hidden := func(name string) bool { return seen.hidden[name] || fa.hidden[name] }
	ro := fa.withDeclared(ent.Decl).readonly

	out.Fields = map[string]FieldState{}
	out.Rows = map[string][]map[string]FieldState{}
	for _, fe := range ent.Decl.Fields {
		f, name := fe.Val, fe.Key.V
		if f == nil || hidden(name) {
			continue
		}
		st := FieldState{Visible: true, Required: f.Required, Readonly: ro[name] || f.Compute.IsSet()}
		if f.VisibleWhen.IsSet() {
			if st.Visible, err = ev.runBool("fields."+name+".visible_when", rec, nil, nil); err != nil {
				return Preview{}, err
			}
		}
		if !st.Required && f.RequiredWhen.IsSet() {
			if st.Required, err = ev.runBool("fields."+name+".required_when", rec, nil, nil); err != nil {
				return Preview{}, err
			}
		}
		if id != "" && !st.Readonly && f.ReadonlyWhen.IsSet() {
			// As a save decides: on the record as stored.
			if st.Readonly, err = ev.runBool("fields."+name+".readonly_when", before, nil, nil); err != nil {
				return Preview{}, err
			}
		}
		out.Fields[name] = st
		if f.Type.V != "table" {
			continue
		}
		rows, _ := rec[name].([]any)
		states := make([]map[string]FieldState, len(rows))
		for i, r := range rows {
			row, _ := r.(map[string]any)
			states[i] = map[string]FieldState{}
			for _, ce := range f.Fields {
				col, c := ce.Key.V, ce.Val
				if c == nil || hidden(name+"."+col) {
					continue
				}
				cs := FieldState{Visible: true, Required: c.Required, Readonly: st.Readonly || ro[name+"."+col] || c.Compute.IsSet()}
				if c.VisibleWhen.IsSet() {
					place := "fields." + name + ".fields." + col + ".visible_when"
					if cs.Visible, err = ev.runBool(place, rec, row, f.Fields); err != nil {
						return Preview{}, err
					}
				}
				states[i][col] = cs
			}
		}
		out.Rows[name] = states
	}
	out.Record = project(rec, seen)
	return out, nil
}
