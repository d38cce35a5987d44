package template

import (
	"fmt"
	"slices"
	"strconv"
)

func (ec *entityCheck) states() {
	e := ec.e
	if len(e.States) == 0 {
		if len(e.Transitions) > 0 {
			ec.d.errorf(e.Transitions[0].Key.Pos, "declare states: with one initial state", "transitions need states, and entity %q has none", e.Entity.V)
		}
		return
	}
	var initial []Str
	for _, s := range e.States {
		if s.Val == nil {
			continue
		}
		ec.label(ec.d, s.Val.Label, "state "+s.Key.V)
		if s.Val.Initial {
			initial = append(initial, s.Key)
		}
		if s.Val.Initial && s.Val.Final {
			ec.d.errorf(s.Key.Pos, "", "state %q is both initial and final", s.Key.V)
		}
		for _, r := range s.Val.EditableBy {
			ec.role(r)
		}
	}
	switch {
	case len(initial) == 0:
		ec.d.errorf(e.States[0].Key.Pos, "mark the state new records start in with initial: true", "entity %q has no initial state", e.Entity.V)
	case len(initial) > 1:
		for _, s := range initial[1:] {
			ec.d.errorf(s.Pos, "keep initial: true on one state only", "state %q is a second initial state (%q is initial too)", s.V, initial[0].V)
		}
	}
	// Reachability from the initial state, through transitions that change state.
	if len(initial) == 1 {
		reached := map[string]bool{initial[0].V: true}
		for changed := true; changed; {
			changed = false
			for _, t := range e.Transitions {
				if t.Val == nil || t.Val.To.V == "" || reached[t.Val.To.V] {
					continue
				}
				for _, from := range t.Val.From {
					if reached[from.V] {
						reached[t.Val.To.V] = true
						changed = true
						break
					}
				}
			}
		}
		for _, s := range e.States {
			if !reached[s.Key.V] {
				ec.d.warnf(s.Key.Pos, "add a transition into it, or remove it", "state %q cannot be reached from %q", s.Key.V, initial[0].V)
			}
		}
	}
}

func (ec *entityCheck) state(s Str, where string) bool {
	if _, ok := ec.e.States.Get(s.V); ok {
		return true
	}
	ec.d.errorf(s.Pos, didYouMean(s.V, ec.e.States.Keys()), "%s: unknown state %q", where, s.V)
	return false
}

func (ec *entityCheck) transitions() {
	for _, te := range ec.e.Transitions {
		name, t := te.Key, te.Val
		if t == nil {
			continue
		}
		place := "transitions." + name.V
		ec.label(ec.d, t.Label, "transition "+name.V)
		if len(t.From) == 0 {
			ec.d.errorf(name.Pos, "say from which states it can be taken: from: draft", "transition %q has no from", name.V)
		}
		for _, from := range t.From {
			if ec.state(from, place+".from") {
				if st, _ := ec.e.States.Get(from.V); st != nil && st.Final {
					ec.d.errorf(from.Pos, "a final state ends the record's life; remove final: true or this transition", "transition %q leaves final state %q", name.V, from.V)
				}
			}
		}
		if t.To.V != "" {
			ec.state(t.To, place+".to")
		}
		for _, r := range t.Roles {
			ec.role(r)
		}
		if t.EffectOnly {
			// Effects take it on the template's authority, with no input,
			// and nobody could decide an approval on their behalf.
			for _, c := range []struct {
				what string
				set  bool
			}{{"roles", len(t.Roles) > 0}, {"input", len(t.Input) > 0}, {"approval", t.Approval != nil}} {
				if c.set {
					ec.d.errorf(name.Pos, "remove "+c.what+", or effect_only", "transition %q is effect_only, so it cannot have %s", name.V, c.what)
				}
			}
		}
		ec.fields(t.Input, place+".input", nil)
		s := scope{input: t.Input, before: true}
		for _, in := range t.Input {
			if in.Val == nil {
				continue
			}
			w := ec.types.fieldWant(in.Val)
			ip := place + ".input." + in.Key.V
			ec.compile(in.Val.Default, scope{before: true}, w, ip+".default")
			ec.compile(in.Val.RequiredWhen, s, wantBool, ip+".required_when")
			ec.compile(in.Val.VisibleWhen, s, wantBool, ip+".visible_when")
		}
		for i, chk := range t.Checks {
			ec.compile(chk.Check, s, wantBool, fmt.Sprintf("%s.checks[%d]", place, i))
			ec.label(ec.d, chk.Message, "the message of a check")
		}
		if a := t.Approval; a != nil {
			ec.compile(a.When, s, wantBool, place+".approval.when")
			if len(a.Steps) == 0 {
				ec.d.errorf(name.Pos, "add steps: [{name: manager, roles: [sales_manager]}]", "transition %q: the approval has no steps", name.V)
			}
			seen := map[string]bool{}
			for i, st := range a.Steps {
				sp := fmt.Sprintf("%s.approval.steps[%d]", place, i)
				if seen[st.Name.V] {
					ec.d.errorf(st.Name.Pos, "", "approval step %q is listed twice", st.Name.V)
				}
				seen[st.Name.V] = true
				if len(st.Roles) == 0 {
					ec.d.errorf(st.Name.Pos, "say who approves: roles: [sales_manager]", "approval step %q has no roles", st.Name.V)
				}
				for _, r := range st.Roles {
					ec.role(r)
				}
				ec.compile(st.When, s, wantBool, sp+".when")
				ec.label(ec.d, st.Label, "approval step "+st.Name.V)
				if q := st.Quorum.V; q != "" && q != "any" && q != "all" {
					if n, err := strconv.Atoi(q); err != nil || n < 1 {
						ec.d.errorf(st.Quorum.Pos, "any, all, or a number of approvals from 1 up", "approval step %q: quorum %q", st.Name.V, q)
					}
				}
			}
		}
		for i, eff := range t.Effects {
			ec.effect(eff, s, fmt.Sprintf("%s.effects[%d]", place, i))
		}
	}
}

// effect checks one effect: the properties its kind needs and the types of its
// expressions.
func (ec *entityCheck) effect(eff EffectDecl, s scope, place string) {
	b := &eff.Body
	k := eff.Kind
	ec.compile(b.When, s, wantBool, place+".when")
	need := func(set bool, prop, example string) bool {
		if !set {
			ec.d.errorf(k.Pos, "e.g. "+example, "%s effect needs %s", k.V, prop)
		}
		return set
	}
	switch k.V {
	case "set":
		if need(len(b.Values) > 0, "values", "set: {values: {paid: true}}") {
			ec.values(ec.e, b.Values, s, place+".values")
		}
	case "create":
		if !need(b.Entity.V != "", "entity", "create: {entity: delivery_note, values: {...}}") {
			return
		}
		target, ok := ec.decls[b.Entity.V]
		if !ok {
			ec.d.errorf(b.Entity.Pos, didYouMean(b.Entity.V, mapKeys(ec.decls)), "create: entity %q does not exist", b.Entity.V)
			return
		}
		ec.values(target, b.Values, s, place+".values")
		if b.LinkBack.V != "" {
			if f, ok := target.Fields.Get(b.LinkBack.V); !ok || f == nil || f.Type.V != "link" || f.To.V != ec.e.Entity.V {
				ec.d.errorf(b.LinkBack.Pos, "name a link field of "+b.Entity.V+" that points to "+ec.e.Entity.V, "create: link_back %q is not a link from %s to %s", b.LinkBack.V, b.Entity.V, ec.e.Entity.V)
			}
		}
		if b.Link.V != "" {
			if f, ok := ec.e.Fields.Get(b.Link.V); !ok || f == nil || f.Type.V != "link" || f.To.V != b.Entity.V {
				ec.d.errorf(b.Link.Pos, "name a link field of "+ec.e.Entity.V+" that points to "+b.Entity.V, "create: link %q is not a link from %s to %s", b.Link.V, ec.e.Entity.V, b.Entity.V)
			}
		}
	case "update", "transition":
		if !need(b.Link.V != "", "link", k.V+": {link: sales_order, ...}") {
			return
		}
		if k.V == "update" && b.Lines.V != "" {
			ec.updateRows(k, b, s, place)
			return
		}
		if k.V == "transition" && b.Lines.V != "" {
			ec.transitionRows(b)
			return
		}
		f, ok := ec.e.Fields.Get(b.Link.V)
		if !ok || f == nil || f.Type.V != "link" {
			ec.d.errorf(b.Link.Pos, didYouMean(b.Link.V, ec.e.Fields.Keys()), "%s: %q is not a link field of %s", k.V, b.Link.V, ec.e.Entity.V)
			return
		}
		target, ok := ec.decls[f.To.V]
		if !ok {
			return // reported on the field
		}
		if k.V == "update" {
			if need(len(b.Values) > 0, "values", "update: {link: sales_order, values: {invoiced: true}}") {
				ec.values(target, b.Values, s, place+".values")
			}
			return
		}
		if need(b.Name.V != "", "name", "transition: {link: sales_order, name: complete}") {
			if _, ok := target.Transitions.Get(b.Name.V); !ok {
				ec.d.errorf(b.Name.Pos, didYouMean(b.Name.V, target.Transitions.Keys()), "transition: %s has no transition %q", f.To.V, b.Name.V)
			}
		}
	case "stock":
		moves := []string{"in", "out", "reserve", "release", "transfer", "count"}
		if !slices.Contains(moves, b.Move.V) {
			ec.d.errorf(b.Move.Pos, didYouMean(b.Move.V, moves), "stock: unknown move %q", b.Move.V)
		}
		need(b.Warehouse.IsSet(), "warehouse", "warehouse: warehouse")
		ec.compile(b.Warehouse, s, want{what: "a warehouse", typ: tString, link: "warehouse"}, place+".warehouse")
		if b.Move.V == "transfer" && need(b.ToWarehouse.IsSet(), "to_warehouse for a transfer", "to_warehouse: to_warehouse") {
			ec.compile(b.ToWarehouse, s, want{what: "a warehouse", typ: tString, link: "warehouse"}, place+".to_warehouse")
		}
		need(b.Item.IsSet(), "item", "item: .item")
		need(b.Qty.IsSet(), "qty", "qty: .qty")
		for _, x := range []Expr{b.CountedAt, b.Confirmed} {
			if x.IsSet() && b.Move.V != "count" {
				ec.d.errorf(x.Pos, "remove it, or use move: count", "stock: counted_at and confirmed belong to move count")
			}
		}
		if b.Lines.V == "" {
			ec.compile(b.Item, s, want{what: "an item", typ: tString, link: "item"}, place+".item")
			ec.compile(b.Qty, s, want{what: "a quantity", typ: tDecimal}, place+".qty")
			ec.compile(b.CountedAt, s, want{what: "a time", typ: tTime}, place+".counted_at")
			ec.compile(b.Confirmed, s, want{what: "a condition", typ: tBool}, place+".confirmed")
			return
		}
		if f, ok := ec.e.Fields.Get(b.Lines.V); !ok || f == nil || f.Type.V != "table" {
			var tables []string
			for _, f := range ec.e.Fields {
				if f.Val != nil && f.Val.Type.V == "table" {
					tables = append(tables, f.Key.V)
				}
			}
			ec.d.errorf(b.Lines.Pos, didYouMean(b.Lines.V, tables), "stock: lines %q is not a table of %s", b.Lines.V, ec.e.Entity.V)
			return
		}
		ec.rowExpr(b.Item, s, b.Lines.V, want{what: "an item", typ: tString, link: "item"}, place+".item")
		ec.rowExpr(b.Qty, s, b.Lines.V, want{what: "a quantity", typ: tDecimal}, place+".qty")
		ec.rowExpr(b.CountedAt, s, b.Lines.V, want{what: "a time", typ: tTime}, place+".counted_at")
		ec.rowExpr(b.Confirmed, s, b.Lines.V, want{what: "a condition", typ: tBool}, place+".confirmed")
	case "ledger":
		accounts := []string{"receivable", "payable", "provisional"}
		if !slices.Contains(accounts, b.Account.V) {
			ec.d.errorf(b.Account.Pos, didYouMean(b.Account.V, accounts), "ledger: unknown account %q", b.Account.V)
		}
		if need(b.Party.IsSet(), "party", "party: customer") {
			ec.compile(b.Party, s, want{what: "a customer or supplier", typ: tString, link: "party"}, place+".party")
		}
		if b.Debit.IsSet() == b.Credit.IsSet() {
			ec.d.errorf(k.Pos, "e.g. debit: total", "ledger effect needs exactly one of debit and credit")
		}
		ec.compile(b.Debit, s, want{what: "an amount", typ: tDecimal}, place+".debit")
		ec.compile(b.Credit, s, want{what: "an amount", typ: tDecimal}, place+".credit")
		ec.compile(b.Voucher, s, want{}, place+".voucher")
		ec.compile(b.Due, s, want{what: "a date", typ: tTime}, place+".due")
	case "assign":
		if need(b.To.IsSet(), "to", "assign: {to: input.to_user, note: input.reason}") {
			ec.compile(b.To, s, want{what: "a user", typ: tString}, place+".to")
		}
		ec.compile(b.Note, s, want{what: "text", typ: tString}, place+".note")
	case "notify":
		need(b.ToUsers.IsSet() || len(b.ToRoles) > 0, "to_users or to_roles", "notify: {to_roles: [finance], message: {...}}")
		ec.compile(b.ToUsers, s, want{}, place+".to_users")
		for _, r := range b.ToRoles {
			ec.role(r)
		}
		ec.label(ec.d, b.Message, "the message of a notification")
	default:
		ec.d.errorf(k.Pos, didYouMean(k.V, effectKinds), "unknown effect %q", k.V)
	}
}

// updateRows checks an update effect with lines: link names a link column of
// that table, and each value is an expression over the row (.field) and the
// record, giving a field of the linked entity.
func (ec *entityCheck) updateRows(k Str, b *EffectBody, s scope, place string) {
	target := ec.rowTarget("update", b)
	if target == nil {
		return
	}
	if !needEffectProp(ec.d, k, len(b.Values) > 0, "values", "update: {lines: lines, link: sales_order, values: {remitted: true}}") {
		return
	}
	for _, v := range b.Values {
		f, ok := target.Fields.Get(v.Key.V)
		if !ok || f == nil {
			ec.d.errorf(v.Key.Pos, didYouMean(v.Key.V, target.Fields.Keys()), "%s has no field %q", target.Entity.V, v.Key.V)
			continue
		}
		if f.Compute.IsSet() {
			ec.d.errorf(v.Key.Pos, "it is computed from other fields", "%s.%s is computed and cannot be set", target.Entity.V, v.Key.V)
		}
		ec.rowExpr(v.Val, s, b.Lines.V, ec.types.fieldWant(f), place+".values."+v.Key.V)
	}
}

// rowTarget checks the lines and link of an effect over table rows (kind
// update or transition) and returns the entity the link column points to, or
// nil after reporting what is wrong.
func (ec *entityCheck) rowTarget(kind string, b *EffectBody) *EntityDecl {
	table, ok := ec.e.Fields.Get(b.Lines.V)
	if !ok || table == nil || table.Type.V != "table" {
		var tables []string
		for _, f := range ec.e.Fields {
			if f.Val != nil && f.Val.Type.V == "table" {
				tables = append(tables, f.Key.V)
			}
		}
		ec.d.errorf(b.Lines.Pos, didYouMean(b.Lines.V, tables), "%s: lines %q is not a table of %s", kind, b.Lines.V, ec.e.Entity.V)
		return nil
	}
	col, ok := table.Fields.Get(b.Link.V)
	if !ok || col == nil || col.Type.V != "link" {
		ec.d.errorf(b.Link.Pos, didYouMean(b.Link.V, table.Fields.Keys()), "%s: %q is not a link column of %s", kind, b.Link.V, b.Lines.V)
		return nil
	}
	return ec.decls[col.To.V] // nil when missing: reported on the column
}

// transitionRows checks a transition effect with lines: link names a link
// column of that table, and name a transition of the entity it links to.
func (ec *entityCheck) transitionRows(b *EffectBody) {
	target := ec.rowTarget("transition", b)
	if target == nil {
		return
	}
	if b.Name.V == "" {
		ec.d.errorf(b.Link.Pos, "e.g. transition: {lines: lines, link: sales_order, name: settle}", "transition effect needs name")
		return
	}
	if _, ok := target.Transitions.Get(b.Name.V); !ok {
		ec.d.errorf(b.Name.Pos, didYouMean(b.Name.V, target.Transitions.Keys()), "transition: %s has no transition %q", target.Entity.V, b.Name.V)
	}
}

// needEffectProp reports a missing effect property; it returns whether it is set.
func needEffectProp(d diags, k Str, set bool, prop, example string) bool {
	if !set {
		d.errorf(k.Pos, "e.g. "+example, "%s effect needs %s", k.V, prop)
	}
	return set
}

// values checks assignments to fields of entity target.
func (ec *entityCheck) values(target *EntityDecl, values Map[Expr], s scope, place string) {
	for _, v := range values {
		f, ok := target.Fields.Get(v.Key.V)
		if !ok || f == nil {
			if v.Key.V == "owner" {
				ec.compile(v.Val, s, want{what: "a user", typ: tString}, place+"."+v.Key.V)
				continue
			}
			ec.d.errorf(v.Key.Pos, didYouMean(v.Key.V, target.Fields.Keys()), "%s has no field %q", target.Entity.V, v.Key.V)
			continue
		}
		if f.Compute.IsSet() {
			ec.d.errorf(v.Key.Pos, "it is computed from other fields", "%s.%s is computed and cannot be set", target.Entity.V, v.Key.V)
		}
		ec.compile(v.Val, s, ec.types.fieldWant(f), place+"."+v.Key.V)
	}
}

// rowExpr checks an expression evaluated once per row of table lines, where
// .field names the row's field.
func (ec *entityCheck) rowExpr(x Expr, s scope, lines string, w want, place string) {
	if !x.IsSet() {
		return
	}
	p := compileExpr(ec.d, x, ec.types.env(ec.e, s), w, place, "map("+lines+", ", ")")
	if p != nil {
		ec.m.Programs[place] = p
	}
}
