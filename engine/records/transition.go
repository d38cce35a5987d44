package records

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// ErrNotAvailable is a transition that cannot be taken from the record's
// current state (or no longer, because someone took it first).
var ErrNotAvailable = errors.New("records: transition not available")

// ErrNeedsApproval is a transition whose approval could not be opened.
var ErrNeedsApproval = errors.New("records: transition needs an approval")

// Directory tells the engine about other users (for assign: the receiver must
// be able to read the record). auth.Service satisfies it through an adapter.
type Directory interface {
	// Roles returns the roles of an active user; ok is false for an unknown or
	// disabled user.
	Roles(ctx context.Context, userID string) (roles []string, ok bool, err error)
}

// supportedEffects are the effects the engine runs: set and assign change the
// record itself; create, update, notify, transition (on a linked record),
// stock and ledger write other records or balances, and then the whole
// transition goes through a posting (all or nothing).
var supportedEffects = []string{"set", "assign", "create", "update", "notify", "transition", "stock", "ledger"}

// Option is one transition as a user sees it on one record.
type Option struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	To      string `json:"to,omitempty"`
	Allowed bool   `json:"allowed"`
	// Reason says why a transition is not allowed: "state", "role",
	// "check" (with Message), "approval_pending" (a request for it is open),
	// "effects".
	Reason  string            `json:"reason,omitempty"`
	Message map[string]string `json:"message,omitempty"`
	// NeedsApproval: taking it opens an approval request instead of changing
	// the record at once.
	NeedsApproval bool `json:"needs_approval,omitempty"`
}

// Transitions lists the transitions of a record the user may read: those
// available now, and the others with the reason.
func (e *Engine) Transitions(ctx context.Context, u User, entity, id string) ([]Option, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, err
	}
	rec, _, err := e.readable(ctx, u, entity, id)
	if err != nil {
		return nil, err
	}
	ev := e.evaluator(ctx, ent, u)
	var out []Option
	for _, te := range ent.Decl.Transitions {
		t := te.Val
		if t.EffectOnly {
			continue // not the user's to take
		}
		o := Option{Name: te.Key.V, Label: labelText(t.Label, u.Lang), To: t.To.V, Allowed: true}
		switch reason, msg, err := ev.blocked(t, rec, nil); {
		case err != nil:
			return nil, err
		case reason == "approval":
			o.NeedsApproval = true
			if _, err := e.st.Get(ctx, locksColl, entity+":"+id); err == nil {
				o.Allowed, o.Reason = false, "approval_pending"
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("records: transitions: %w", err)
			}
		case reason != "":
			o.Allowed, o.Reason, o.Message = false, reason, msg
		}
		out = append(out, o)
	}
	return out, nil
}

func labelText(l template.Label, lang string) string {
	if t := l.Text[lang]; t != "" {
		return t
	}
	return l.Text["zh-CN"]
}

// blocked says why t cannot be taken on rec by the evaluator's user (with
// input, when given; nil skips the checks that read input).
func (ev *evaluator) blocked(t *template.TransitionDecl, rec Record, input map[string]any) (string, map[string]string, error) {
	state, _ := rec[fState].(string)
	if t.EffectOnly && !ev.byEffect {
		return "effect_only", nil, nil
	}
	if !slices.ContainsFunc(t.From, func(s template.Str) bool { return s.V == state }) {
		return "state", nil, nil
	}
	if ok, err := ev.mayTake(t, rec); err != nil || !ok {
		return "role", nil, err
	}
	for _, eff := range t.Effects {
		if !slices.Contains(supportedEffects, eff.Kind.V) {
			return "effects", nil, nil
		}
	}
	// Without input (listing what a user may take), the checks and the
	// approval condition that read input wait until it is given.
	place := ev.transitionPlace(t)
	readsInput := func(p string) bool {
		prog := ev.ent.Programs[p]
		return input == nil && len(t.Input) > 0 && prog != nil && slices.Contains(prog.Names, "input")
	}
	for i, c := range t.Checks {
		p := fmt.Sprintf("%s.checks[%d]", place, i)
		if c.Warn || readsInput(p) {
			continue
		}
		ok, err := ev.runWith(p, rec, input)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return "check", c.Message.Text, nil
		}
	}
	if t.Approval != nil && !readsInput(place+".approval.when") {
		needs := true
		if t.Approval.When.IsSet() {
			var err error
			if needs, err = ev.runWith(place+".approval.when", rec, input); err != nil {
				return "", nil, err
			}
		}
		if needs {
			return "approval", nil, nil
		}
	}
	return "", nil, nil
}

// mayTake: the transition's roles, or, when it names none, the right to update.
func (ev *evaluator) mayTake(t *template.TransitionDecl, rec Record) (bool, error) {
	if ev.user.IsAdmin() {
		return true, nil
	}
	if len(t.Roles) == 0 {
		return ev.can("update", rec)
	}
	for _, r := range t.Roles {
		if slices.Contains(ev.user.Roles, r.V) {
			return ev.can("read", rec)
		}
	}
	return false, nil
}

// transitionPlace is the program prefix of t ("transitions.confirm").
func (ev *evaluator) transitionPlace(t *template.TransitionDecl) string {
	for _, te := range ev.ent.Decl.Transitions {
		if te.Val == t {
			return "transitions." + te.Key.V
		}
	}
	return ""
}

// runWith evaluates a condition with the transition's input.
func (ev *evaluator) runWith(place string, rec Record, input map[string]any) (bool, error) {
	r := Record{}
	for k, v := range rec {
		r[k] = v
	}
	r["input"] = input
	return ev.runBool(place, r, nil, nil)
}

// Taken is the result of a transition: the record, and the warnings of checks
// marked warn that did not hold.
type Taken struct {
	Record   Record
	Warnings []map[string]string
	Approval string // the approval opened instead of taking the transition
}

// Transition takes transition name on a record at version: it checks the
// state, the roles, the input and the checks, applies the effects, moves the
// state, and writes it all as one version of the record (a concurrent change
// makes it fail with ErrConflict; nothing of it stays). When the transition's
// approval condition holds, it opens an approval instead (Taken.Approval) and
// the record stays as it is until the approval completes.
func (e *Engine) Transition(ctx context.Context, u User, entity, id, name string, version int64, input map[string]any) (Taken, error) {
	return e.transition(ctx, u, entity, id, name, version, input, false)
}

func (e *Engine) transition(ctx context.Context, u User, entity, id, name string, version int64, input map[string]any, approved bool) (Taken, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return Taken{}, err
	}
	t, ok := ent.Decl.Transitions.Get(name)
	if !ok || t == nil {
		return Taken{}, fmt.Errorf("%w: %s has no transition %q", ErrNotFound, entity, name)
	}
	before, _, err := e.readable(ctx, u, entity, id)
	if err != nil {
		return Taken{}, err
	}
	if before.Version() != version {
		return Taken{}, fmt.Errorf("%w: %s %s is at version %d, not %d", ErrConflict, entity, id, before.Version(), version)
	}
	if err := e.settled(ctx, before); err != nil {
		return Taken{}, err
	}
	ev := e.evaluator(ctx, ent, u)
	// Whether the user may take it at all is answered before its input is
	// checked: a user who may not take it learns nothing of what it asks.
	if !t.EffectOnly {
		if ok, err := ev.mayTake(t, before); err != nil {
			return Taken{}, err
		} else if !ok {
			return Taken{}, forbidden("take "+name+" on", entity)
		}
	}
	in, err := ev.transitionInput(t, input)
	if err != nil {
		return Taken{}, err
	}
	reason, msg, err := ev.blocked(t, before, in)
	switch {
	case err != nil:
		return Taken{}, err
	case reason == "effect_only":
		return Taken{}, fmt.Errorf("%w: %s is taken only by the effects of other records", ErrNotAvailable, name)
	case reason == "state":
		return Taken{}, fmt.Errorf("%w: %s is in state %v", ErrNotAvailable, name, before[fState])
	case reason == "role":
		return Taken{}, forbidden("take "+name+" on", entity)
	case reason == "check":
		return Taken{}, &ValidationError{Errors: []FieldError{{Path: "", Code: "check", Params: map[string]any{"message": msg}}}}
	case reason == "approval" && !approved:
		aid, err := e.openApproval(ctx, u, ev, t, name, before, in)
		if err != nil || aid != "" {
			return Taken{Record: before, Approval: aid}, err
		}
	case reason == "effects":
		return Taken{}, fmt.Errorf("%w: %s has stock or ledger effects, which this version does not run", ErrForbidden, name)
	}
	var out Taken
	rec, others, note, warnings, err := ev.plan(t, name, before, in, 0)
	if err != nil {
		return Taken{}, err
	}
	out.Warnings = warnings
	var saved Record
	if len(others) == 0 {
		stampRequest(ctx, rec) // a write of its own, not part of an earlier posting
		d, err := e.st.Replace(ctx, entity, toDoc(rec))
		if err != nil {
			return Taken{}, e.writeError(ent, err)
		}
		saved = fromDoc(d)
		if err := e.auditTransition(ctx, u, ent, name, before, saved, in, note); err != nil {
			return Taken{}, err
		}
	} else {
		// The record, the other records and every audit entry: one posting.
		after := Record{}
		for k, v := range rec {
			after[k] = v
		}
		after[fVersion] = before.Version() + 1
		// Numbers are taken now that every effect is planned and checked.
		for i := range others {
			if others[i].numberOf != nil {
				if others[i].Doc[fNumber], err = e.nextNumber(ctx, others[i].numberOf); err != nil {
					return Taken{}, err
				}
			}
		}
		writes := orderPosting(write{Op: "replace", Coll: entity, ID: id, From: before.Version(), Doc: bare(rec), Before: bare(before)}, others)
		writes = append(writes, write{Op: "insert", Coll: auditColl, ID: store.NewID(),
			Doc: e.auditDoc(u, ent, "transition", before, after, transitionExtra(name, in, note))})
		if err := e.post(ctx, writes); err != nil {
			return Taken{}, e.writeError(ent, err)
		}
		if saved, err = e.get(ctx, entity, id); err != nil {
			return Taken{}, err
		}
	}
	fa, err := ev.fields("read", saved)
	if err != nil {
		return Taken{}, err
	}
	out.Record = project(saved, fa)
	return out, nil
}

// transitionInput checks the values asked by the transition like record fields.
func (ev *evaluator) transitionInput(t *template.TransitionDecl, input map[string]any) (map[string]any, error) {
	ve := &ValidationError{}
	in := map[string]any{}
	for k, v := range input {
		f, ok := t.Input.Get(k)
		if !ok || f == nil {
			ve.add("input."+k, "unknown_field", nil)
			continue
		}
		if nv, ok := coerce(ve, "input."+k, f, v); ok && nv != nil {
			in[k] = nv
		}
	}
	for _, fe := range t.Input {
		if fe.Val != nil && fe.Val.Required && isEmpty(in[fe.Key.V]) && !slices.ContainsFunc(ve.Errors, func(e FieldError) bool { return e.Path == "input."+fe.Key.V }) {
			ve.add("input."+fe.Key.V, "required", nil)
		}
		if fe.Val != nil && fe.Val.Type.V == "user" {
			if err := ev.checkUser(ve, "input."+fe.Key.V, fe.Val, in[fe.Key.V], nil); err != nil {
				return nil, err
			}
		}
	}
	if err := ve.orNil(); err != nil {
		return nil, err
	}
	return in, nil
}

// applyEffect applies one single-record effect to rec; it returns the note
// for history (assign's reason).
func (ev *evaluator) applyEffect(eff template.EffectDecl, place string, rec Record, in map[string]any, note string) (string, error) {
	switch eff.Kind.V {
	case "set":
		for _, v := range eff.Body.Values {
			f, _ := ev.ent.Decl.Fields.Get(v.Key.V)
			out, err := ev.runValue(place+".values."+v.Key.V, rec, in)
			if err != nil {
				return note, err
			}
			if f == nil { // owner
				if s, ok := out.(string); ok {
					rec[v.Key.V] = s
				}
				continue
			}
			if rec[v.Key.V], err = stored(f, out); err != nil {
				return note, fmt.Errorf("records: %s: %w", place, err)
			}
		}
	case "assign":
		out, err := ev.runValue(place+".to", rec, in)
		if err != nil {
			return note, err
		}
		to, _ := out.(string)
		if err := ev.mayReceive(to, rec); err != nil {
			return note, err
		}
		rec[fOwner] = to
		if eff.Body.Note.IsSet() {
			if n, err := ev.runValue(place+".note", rec, in); err == nil {
				note, _ = n.(string)
			}
		}
	}
	return note, nil
}

func (ev *evaluator) runValue(place string, rec Record, in map[string]any) (any, error) {
	r := Record{}
	for k, v := range rec {
		r[k] = v
	}
	r["input"] = in
	return ev.run(place, r, nil, nil)
}

// mayReceive refuses an assignment to a user who could not read the record.
func (ev *evaluator) mayReceive(to string, rec Record) error {
	if to == "" {
		return &ValidationError{Errors: []FieldError{{Path: "input", Code: "assign_to_nobody"}}}
	}
	if ev.e.users == nil {
		return fmt.Errorf("records: assign needs a user directory")
	}
	roles, ok, err := ev.e.users.Roles(ev.ctx, to)
	if err != nil {
		return err
	}
	if !ok {
		return &ValidationError{Errors: []FieldError{{Path: "input", Code: "unknown_user", Params: map[string]any{"user": to}}}}
	}
	moved := Record{}
	for k, v := range rec {
		moved[k] = v
	}
	moved[fOwner] = to
	receiver := ev.e.evaluator(ev.ctx, ev.ent, User{ID: to, Roles: roles})
	if ok, err := receiver.can("read", moved); err != nil || !ok {
		if err != nil {
			return err
		}
		return &ValidationError{Errors: []FieldError{{Path: "input", Code: "receiver_cannot_read", Params: map[string]any{"user": to}}}}
	}
	return nil
}

// bare is a record without its id and version, as a posting stores it.
func bare(r Record) map[string]any {
	out := map[string]any{}
	for k, v := range r {
		if k != fID && k != fVersion {
			out[k] = v
		}
	}
	return out
}

func transitionExtra(name string, in map[string]any, note string) store.Doc {
	extra := store.Doc{"transition": name}
	if len(in) > 0 {
		extra["input"] = map[string]any(in)
	}
	if note != "" {
		extra["note"] = note
	}
	return extra
}

// otherRecord computes the writes of a create or update effect (see
// recordWrites).
func (ev *evaluator) otherRecord(eff template.EffectDecl, place string, rec Record, in map[string]any) ([]write, error) {
	e := ev.e
	b := &eff.Body
	var target *template.Entity
	var current Record
	if eff.Kind.V == "create" {
		target = e.model().Entities[b.Entity.V]
	} else {
		f, _ := ev.ent.Decl.Fields.Get(b.Link.V)
		linkID, _ := rec[b.Link.V].(string)
		if f == nil || linkID == "" {
			return nil, fmt.Errorf("%w: %s is empty", ErrNotFound, b.Link.V)
		}
		target = e.model().Entities[f.To.V]
		var err error
		if current, err = ev.current(f.To.V, linkID); err != nil {
			return nil, err
		}
	}
	if target == nil {
		return nil, fmt.Errorf("%w: the effect's entity is not installed", ErrNotFound)
	}
	values := map[string]any{}
	for _, v := range b.Values {
		out, err := ev.runValue(place+".values."+v.Key.V, rec, in)
		if err != nil {
			return nil, err
		}
		f, _ := target.Decl.Fields.Get(v.Key.V)
		if f == nil {
			continue
		}
		if values[v.Key.V], err = stored(f, out); err != nil {
			return nil, fmt.Errorf("%s: %w", v.Key.V, err)
		}
	}
	if b.LinkBack.V != "" {
		values[b.LinkBack.V] = rec.ID()
	}
	return ev.recordWrites(target, current, values)
}

// updateRows plans an update effect with lines: the record each row's link
// column points to gets the row's values. Two rows may not name one record
// (their writes would race each other within the posting).
func (ev *evaluator) updateRows(eff template.EffectDecl, place string, rec Record, in map[string]any) ([]write, error) {
	e := ev.e
	b := &eff.Body
	col, links, err := ev.rowLinks(b, rec)
	if err != nil {
		return nil, err
	}
	target := e.model().Entities[col.To.V]
	if target == nil {
		return nil, fmt.Errorf("%w: entity %s is not installed", ErrNotFound, col.To.V)
	}
	// Each value is one program over every row: map(lines, expr).
	columns := map[string][]any{}
	for _, v := range b.Values {
		out, err := ev.runValue(place+".values."+v.Key.V, rec, in)
		if err != nil {
			return nil, err
		}
		columns[v.Key.V] = sliceOf(out)
	}
	var ws []write
	for i, linkID := range links {
		current, err := ev.current(col.To.V, linkID)
		if err != nil {
			return nil, err
		}
		values := map[string]any{}
		for _, v := range b.Values {
			var out any
			if c := columns[v.Key.V]; i < len(c) {
				out = c[i]
			}
			f, _ := target.Decl.Fields.Get(v.Key.V)
			if f == nil {
				continue
			}
			if values[v.Key.V], err = stored(f, out); err != nil {
				return nil, fmt.Errorf("%s: %w", v.Key.V, err)
			}
		}
		w, err := ev.recordWrites(target, current, values)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w...)
	}
	return ws, nil
}

// recordWrites computes the writes of a record that an effect creates
// (current nil) or changes: the record, checked against its template like any
// write (the template authorises the effect, so field access does not apply),
// and its audit entry.
func (ev *evaluator) recordWrites(target *template.Entity, current Record, values map[string]any) ([]write, error) {
	e := ev.e
	actor := User{ID: ev.user.ID, Name: ev.user.Name, Roles: []string{AdminRole}, Lang: ev.user.Lang}
	tev := e.evaluator(ev.ctx, target, actor)
	next, err := tev.prepare(current, values, fieldAccess{effect: true})
	if err != nil {
		return nil, err
	}
	now := e.stamp()
	next[fUpdatedAt], next[fUpdatedBy] = now, ev.user.ID
	if current != nil {
		after := Record{}
		for k, v := range next {
			after[k] = v
		}
		after[fVersion] = current.Version() + 1
		return []write{
			{Op: "replace", Coll: target.Name, ID: current.ID(), From: current.Version(), Doc: bare(next), Before: bare(current)},
			{Op: "insert", Coll: auditColl, ID: store.NewID(), Doc: e.auditDoc(ev.user, target, "update", current, after, nil)},
		}, nil
	}
	if init := initialState(target.Decl); init != "" {
		next[fState] = init
	}
	next[fOwner], next[fCreatedBy], next[fCreatedAt] = ev.user.ID, ev.user.ID, now
	if err := e.ensureIndexes(ev.ctx, target); err != nil {
		return nil, err
	}
	id := store.NewID()
	created := Record{}
	for k, v := range next {
		created[k] = v
	}
	created[fID], created[fVersion] = id, int64(1)
	ins := write{Op: "insert", Coll: target.Name, ID: id, Doc: bare(next)}
	if target.Decl.Number.V != "" {
		ins.numberOf = target
	}
	return []write{
		ins,
		{Op: "insert", Coll: auditColl, ID: store.NewID(), Doc: e.auditDoc(ev.user, target, "create", nil, created, nil)},
	}, nil
}

// plan works out what taking t on before does, without writing: the record
// after the transition, the writes of its effects on other records, the note
// for history, and the warnings. depth counts transitions taken on linked
// records by effects (bounded, so templates cannot loop).
func (ev *evaluator) plan(t *template.TransitionDecl, name string, before Record, in map[string]any, depth int) (Record, []write, string, []map[string]string, error) {
	place := ev.transitionPlace(t)
	e, ent := ev.e, ev.ent
	var warnings []map[string]string
	for i, c := range t.Checks {
		if !c.Warn {
			continue
		}
		ok, err := ev.runWith(fmt.Sprintf("%s.checks[%d]", place, i), before, in)
		if err != nil {
			return nil, nil, "", nil, err
		}
		if !ok {
			warnings = append(warnings, c.Message.Text)
		}
	}
	rec := Record{}
	for k, v := range before {
		rec[k] = v
	}
	note := ""
	var others []write     // writes of effects on other records
	var short []FieldError // stock lines that cannot be moved, all of them
	var err error
	for i, eff := range t.Effects {
		ep := fmt.Sprintf("%s.effects[%d]", place, i)
		if eff.Body.When.IsSet() {
			ok, err := ev.runWith(ep+".when", rec, in)
			if err != nil {
				return nil, nil, "", nil, err
			}
			if !ok {
				continue
			}
		}
		if eff.Kind.V == "update" && eff.Body.Lines.V != "" {
			ws, err := ev.updateRows(eff, ep, rec, in)
			if err != nil {
				return nil, nil, "", nil, fmt.Errorf("effect %d (update) of %s: %w", i+1, name, err)
			}
			others = ev.chain(others, ws)
			continue
		}
		if eff.Kind.V == "create" || eff.Kind.V == "update" {
			ws, err := ev.otherRecord(eff, ep, rec, in)
			if err != nil {
				return nil, nil, "", nil, fmt.Errorf("effect %d (%s) of %s: %w", i+1, eff.Kind.V, name, err)
			}
			if eff.Kind.V == "create" && eff.Body.Link.V != "" && len(ws) > 0 {
				rec[eff.Body.Link.V] = ws[0].ID // this record links to the new one
			}
			others = ev.chain(others, ws)
			continue
		}
		if eff.Kind.V == "transition" {
			ws, err := ev.linkedTransition(eff, rec, depth)
			if err != nil {
				return nil, nil, "", nil, fmt.Errorf("effect %d (transition) of %s: %w", i+1, name, err)
			}
			others = ev.chain(others, ws)
			continue
		}
		if eff.Kind.V == "stock" {
			ws, sh, err := ev.stockWrites(eff, ep, rec, in)
			if err != nil {
				return nil, nil, "", nil, fmt.Errorf("effect %d (stock) of %s: %w", i+1, name, err)
			}
			short = append(short, sh...)
			others = append(others, ws...)
			continue
		}
		if eff.Kind.V == "ledger" {
			ws, err := ev.ledgerWrites(eff, ep, rec, in)
			if err != nil {
				return nil, nil, "", nil, fmt.Errorf("effect %d (ledger) of %s: %w", i+1, name, err)
			}
			others = append(others, ws...)
			continue
		}
		if eff.Kind.V == "notify" {
			ws, err := ev.notifyWrites(eff, ep, rec, in)
			if err != nil {
				return nil, nil, "", nil, fmt.Errorf("effect %d (notify) of %s: %w", i+1, name, err)
			}
			others = append(others, ws...)
			continue
		}
		if note, err = ev.applyEffect(eff, ep, rec, in, note); err != nil {
			return nil, nil, "", nil, err
		}
		if eff.Kind.V == "assign" {
			// The new owner is told, in the same posting.
			what := fmt.Sprint(rec[fNumber])
			if what == "<nil>" {
				what = rec.ID()
			}
			others = append(others, ev.notification(fmt.Sprint(rec[fOwner]), "assigned", map[string]string{
				"zh-CN": labelText(ent.Decl.Label, "zh-CN") + " " + what + " 已转交给你：" + note,
				"en":    labelText(ent.Decl.Label, "en") + " " + what + " was handed to you: " + note,
			}, rec))
		}
	}
	if len(short) > 0 {
		return nil, nil, "", nil, &ValidationError{Errors: short}
	}
	if t.To.V != "" {
		rec[fState] = t.To.V
	}
	// Computed fields follow what the effects set.
	for _, fe := range ent.Decl.Fields {
		if fe.Val != nil && fe.Val.Compute.IsSet() {
			v, err := ev.run("fields."+fe.Key.V+".compute", rec, nil, nil)
			if err != nil {
				return nil, nil, "", nil, err
			}
			if rec[fe.Key.V], err = stored(fe.Val, v); err != nil {
				return nil, nil, "", nil, err
			}
		}
	}
	rec[fUpdatedAt], rec[fUpdatedBy] = e.stamp(), ev.user.ID
	return rec, others, note, warnings, nil
}

// orderPosting orders the writes of a transition's posting so that what may
// be refused comes first and what others may use comes last:
//  1. moves with a guard (stock taken or reserved): most often refused, and a
//     refusal then leaves the record untouched, its version (the client's
//     ETag) too;
//  2. the record, then the other records (version-guarded: may conflict);
//  3. moves without a guard (stock received, ledger entries): they cannot be
//     refused, so once one is applied the posting is never rolled back, and
//     stock that others may take at once is never taken back;
//  4. the rest (audit entries, notifications).
func orderPosting(record write, others []write) []write {
	guarded := func(w write) bool { return w.Op == "bump" && w.Doc["guard"] != "" }
	out := make([]write, 0, len(others)+1)
	for _, w := range others {
		if guarded(w) {
			out = append(out, w)
		}
	}
	out = append(out, record)
	for _, w := range others {
		if w.Op == "replace" || w.Op == "insert" && w.Coll != auditColl && w.Coll != notificationsColl && w.Coll != outboxColl {
			out = append(out, w)
		}
	}
	for _, w := range others {
		if w.Op == "bump" && !guarded(w) {
			out = append(out, w)
		}
	}
	for _, w := range others {
		if w.Op == "insert" && (w.Coll == auditColl || w.Coll == notificationsColl || w.Coll == outboxColl) {
			out = append(out, w)
		}
	}
	return out
}

// maxLinkedTransitions bounds chains of transition effects.
const maxLinkedTransitions = 3

// linkedTransition plans a transition effect: the transition of a linked
// record, with its checks, taken on the template's authority, as part of the
// same posting.
func (ev *evaluator) linkedTransition(eff template.EffectDecl, rec Record, depth int) ([]write, error) {
	if depth >= maxLinkedTransitions {
		return nil, fmt.Errorf("%w: transitions of linked records nest deeper than %d", ErrForbidden, maxLinkedTransitions)
	}
	b := &eff.Body
	if b.Lines.V != "" {
		return ev.transitionRows(eff, rec, depth)
	}
	f, _ := ev.ent.Decl.Fields.Get(b.Link.V)
	linkedID, _ := rec[b.Link.V].(string)
	if f == nil || linkedID == "" {
		return nil, fmt.Errorf("%w: %s is empty", ErrNotFound, b.Link.V)
	}
	return ev.takeLinked(f.To.V, linkedID, b.Name.V, b.Link.V, depth)
}

// transitionRows plans a transition effect with lines: the transition is
// taken on the record each row's link column points to, all of them in the
// one posting or none. Two rows may not name one record.
func (ev *evaluator) transitionRows(eff template.EffectDecl, rec Record, depth int) ([]write, error) {
	b := &eff.Body
	col, links, err := ev.rowLinks(b, rec)
	if err != nil {
		return nil, err
	}
	var ws []write
	for i, linkedID := range links {
		w, err := ev.takeLinked(col.To.V, linkedID, b.Name.V, rowLinkPath(b, i), depth)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w...)
	}
	return ws, nil
}

// rowLinks returns the link column that an effect over the rows of a table
// names, and the id each row links to, in row order. Every row must link to
// a record, and no two rows to the same one (their writes would race each
// other within the posting).
func (ev *evaluator) rowLinks(b *template.EffectBody, rec Record) (*template.FieldDecl, []string, error) {
	table, _ := ev.ent.Decl.Fields.Get(b.Lines.V)
	if table == nil {
		return nil, nil, fmt.Errorf("%w: %s is not a table", ErrNotFound, b.Lines.V)
	}
	col, _ := table.Fields.Get(b.Link.V)
	if col == nil {
		return nil, nil, fmt.Errorf("%w: %s has no column %s", ErrNotFound, b.Lines.V, b.Link.V)
	}
	rows, _ := rec[b.Lines.V].([]any)
	seen := map[string]int{}
	ids := make([]string, len(rows))
	for i, r := range rows {
		row, _ := r.(map[string]any)
		id, _ := row[b.Link.V].(string)
		if id == "" {
			return nil, nil, &ValidationError{Errors: []FieldError{{Path: rowLinkPath(b, i), Code: "required"}}}
		}
		if j, dup := seen[id]; dup {
			return nil, nil, &ValidationError{Errors: []FieldError{{Path: rowLinkPath(b, i), Code: "duplicate", Params: map[string]any{"row": j + 1}}}}
		}
		seen[id], ids[i] = i, id
	}
	return col, ids, nil
}

func rowLinkPath(b *template.EffectBody, i int) string {
	return fmt.Sprintf("%s[%d].%s", b.Lines.V, i, b.Link.V)
}

// takeLinked plans transition name on the record of entity with id linkedID,
// on the template's authority; path names the link in errors.
func (ev *evaluator) takeLinked(entity, linkedID, name, path string, depth int) ([]write, error) {
	e := ev.e
	target := e.model().Entities[entity]
	if target == nil {
		return nil, fmt.Errorf("%w: entity %s is not installed", ErrNotFound, entity)
	}
	t2, ok := target.Decl.Transitions.Get(name)
	if !ok || t2 == nil {
		return nil, fmt.Errorf("%w: %s has no transition %s", ErrNotFound, entity, name)
	}
	linked, err := ev.current(entity, linkedID)
	if err != nil {
		return nil, err
	}
	actor := User{ID: ev.user.ID, Name: ev.user.Name, Roles: []string{AdminRole}, Lang: ev.user.Lang}
	tev := e.evaluator(ev.ctx, target, actor)
	tev.byEffect = true
	switch reason, msg, err := tev.blocked(t2, linked, map[string]any{}); {
	case err != nil:
		return nil, err
	case reason == "state":
		return nil, fmt.Errorf("%w: %s %s is in state %v", ErrNotAvailable, entity, name, linked[fState])
	case reason == "check":
		return nil, &ValidationError{Errors: []FieldError{{Path: path, Code: "check", Params: map[string]any{"message": msg}}}}
	case reason != "":
		return nil, fmt.Errorf("%w: %s of %s cannot be taken by an effect (%s)", ErrForbidden, name, entity, reason)
	}
	next, others, note, _, err := tev.plan(t2, name, linked, map[string]any{}, depth+1)
	if err != nil {
		return nil, err
	}
	after := Record{}
	for k, v := range next {
		after[k] = v
	}
	after[fVersion] = linked.Version() + 1
	ws := []write{
		{Op: "replace", Coll: entity, ID: linkedID, From: linked.Version(), Doc: bare(next), Before: bare(linked)},
		{Op: "insert", Coll: auditColl, ID: store.NewID(), Doc: e.auditDoc(ev.user, target, "transition", linked, after, transitionExtra(name, nil, note))},
	}
	return append(ws, others...), nil
}
