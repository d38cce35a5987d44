package records

import (
	"context"
	"fmt"
	"maps"

	"github.com/yerp/yerp/engine/template"
)

// Access rules come from the template's access section: per role, read,
// create, update and delete are true, false or an expression on the record;
// fields.hide and fields.readonly restrict single fields. A role without an
// entry has no rights; admin has every right.

// allows evaluates op ("read", "create", ...) for one role on rec.
func (ev *evaluator) allows(role, op string, rec Record) (bool, error) {
	acc, ok := ev.ent.Decl.Access.Get(role)
	if !ok || acc == nil {
		return false, nil
	}
	var rule *template.BoolOrExpr
	switch op {
	case "read":
		rule = acc.Read
	case "create":
		rule = acc.Create
	case "update":
		rule = acc.Update
	case "delete":
		rule = acc.Delete
	}
	if rule == nil {
		return false, nil
	}
	if rule.Const != nil {
		return *rule.Const, nil
	}
	return ev.runBool("access."+role+"."+op, rec, nil, nil)
}

// grantingRoles returns the user's roles that allow op on rec.
func (ev *evaluator) grantingRoles(op string, rec Record) ([]string, error) {
	var out []string
	for _, role := range ev.user.Roles {
		ok, err := ev.allows(role, op, rec)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, role)
		}
	}
	return out, nil
}

// can reports whether the user may do op on rec.
func (ev *evaluator) can(op string, rec Record) (bool, error) {
	if ev.user.IsAdmin() {
		return true, nil
	}
	roles, err := ev.grantingRoles(op, rec)
	return len(roles) > 0, err
}

// canRead reports whether u may read rec of entity ent.
func (e *Engine) canRead(ctx context.Context, u User, ent *template.Entity, rec Record) (bool, error) {
	return e.evaluator(ctx, ent, u).can("read", rec)
}

// fieldAccess is what a user may do with single fields of one record.
type fieldAccess struct {
	hidden   map[string]bool // fields (or "table.column") the user may not read
	readonly map[string]bool // fields the user may not write
	// effect marks a write by one of the template's own effects: the template
	// authorises it, so neither field access nor the fields' readonly and
	// readonly_when apply (readonly means users cannot edit a field).
	effect bool
}

// withDeclared adds the fields and table columns the template declares
// readonly: true to fa's read-only fields, for a write by a user.
func (fa fieldAccess) withDeclared(ent *template.EntityDecl) fieldAccess {
	if fa.effect {
		return fa
	}
	ro := maps.Clone(fa.readonly)
	if ro == nil {
		ro = map[string]bool{}
	}
	for _, f := range ent.Fields {
		if f.Val == nil {
			continue
		}
		if f.Val.Readonly {
			ro[f.Key.V] = true
		}
		for _, c := range f.Val.Fields {
			if c.Val != nil && c.Val.Readonly && !c.Val.Compute.IsSet() {
				ro[f.Key.V+"."+c.Key.V] = true
			}
		}
	}
	fa.readonly = ro
	return fa
}

// fields works out field access for rec: a field is hidden (or read-only) only
// if every role that grants the operation hides it (or makes it read-only), so
// a user with several roles gets, per record, what one of its granting roles
// allows.
func (ev *evaluator) fields(op string, rec Record) (fieldAccess, error) {
	fa := fieldAccess{hidden: map[string]bool{}, readonly: map[string]bool{}}
	if ev.user.IsAdmin() {
		return fa, nil
	}
	roles, err := ev.grantingRoles(op, rec)
	if err != nil {
		return fa, err
	}
	if len(roles) == 0 {
		return fa, nil
	}
	count := func(pick func(*template.FieldAccessDecl) []template.Str) map[string]bool {
		n := map[string]int{}
		for _, role := range roles {
			acc, _ := ev.ent.Decl.Access.Get(role)
			if acc == nil || acc.Fields == nil {
				continue
			}
			for _, f := range pick(acc.Fields) {
				n[f.V]++
			}
		}
		out := map[string]bool{}
		for f, c := range n {
			if c == len(roles) {
				out[f] = true
			}
		}
		return out
	}
	fa.hidden = count(func(f *template.FieldAccessDecl) []template.Str { return f.Hide })
	fa.readonly = count(func(f *template.FieldAccessDecl) []template.Str {
		return append(append([]template.Str{}, f.Readonly...), f.Hide...)
	})
	return fa, nil
}

// project removes what the user may not read from rec.
func project(rec Record, fa fieldAccess) Record {
	if len(fa.hidden) == 0 {
		return rec
	}
	out := Record{}
	for k, v := range rec {
		if fa.hidden[k] {
			continue
		}
		if rows, ok := v.([]any); ok {
			v = projectRows(k, rows, fa)
		}
		out[k] = v
	}
	return out
}

func projectRows(table string, rows []any, fa fieldAccess) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		row, ok := r.(map[string]any)
		if !ok {
			out[i] = r
			continue
		}
		nr := map[string]any{}
		for k, v := range row {
			if !fa.hidden[table+"."+k] {
				nr[k] = v
			}
		}
		out[i] = nr
	}
	return out
}

// forbidden is the error for an operation the user's roles do not allow.
func forbidden(op, entity string) error {
	return fmt.Errorf("%w: you may not %s %s", ErrForbidden, op, entity)
}
