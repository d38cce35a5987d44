package records

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Create stores a new record of entity from the client's values, after every
// check; it gets the initial state, the next number of its series, and the
// user as owner. A *ValidationError lists every problem; nothing is written.
func (e *Engine) Create(ctx context.Context, u User, entity string, values map[string]any) (Record, error) {
	ent, rec, fa, err := e.checkCreate(ctx, u, entity, values)
	if err != nil {
		return nil, err
	}
	if err := e.ensureIndexes(ctx, ent); err != nil {
		return nil, err
	}
	if id := reservedID(ctx); id != "" {
		rec[fID] = id // under an idempotency key (batch.go): a second run meets this id
	}
	// The number, the record and its audit entry are one store batch: one
	// commit on SQLite, where a failed insert also gives its number back.
	var saved Record
	err = e.st.Batch(ctx, func(w store.Writer) error {
		if ent.Decl.Number.V != "" {
			n, err := e.numberIn(ctx, w, ent)
			if err != nil {
				return err
			}
			rec[fNumber] = n
		}
		d, err := w.Insert(ctx, entity, toDoc(rec))
		if err != nil {
			return e.writeError(ent, err)
		}
		saved = fromDoc(d)
		return e.auditIn(ctx, w, u, ent, "create", nil, saved, nil)
	})
	if err != nil {
		return nil, err
	}
	return project(saved, fa), nil
}

// checkCreate runs every check of Create and returns the record it would
// store (without its number) and the field access it was checked with.
// Nothing is written.
func (e *Engine) checkCreate(ctx context.Context, u User, entity string, values map[string]any) (*template.Entity, Record, fieldAccess, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, nil, fieldAccess{}, err
	}
	ev := e.evaluator(ctx, ent, u)
	if !u.IsAdmin() && !e.mayCreate(ent, u) {
		return nil, nil, fieldAccess{}, forbidden("create", entity)
	}
	// Field access for a record that does not exist yet: what the roles that
	// may create allow.
	fa, err := ev.fields("create", Record{fOwner: u.ID})
	if err != nil {
		return nil, nil, fieldAccess{}, err
	}
	rec, err := e.prepareCreate(ev, fa, values)
	if err != nil {
		return nil, nil, fieldAccess{}, err
	}
	return ent, rec, fa, nil
}

// prepareCreate is the part of checkCreate that depends on the values: the
// record ev's user would create with field access fa (CreateMany runs it for
// each row with one evaluator and one fa). Nothing is written.
func (e *Engine) prepareCreate(ev *evaluator, fa fieldAccess, values map[string]any) (Record, error) {
	u := ev.user
	rec, err := ev.prepare(nil, values, fa)
	if err != nil {
		return nil, err
	}
	if init := initialState(ev.ent.Decl); init != "" {
		rec[fState] = init
	}
	now := e.stamp()
	rec[fOwner], rec[fCreatedBy], rec[fUpdatedBy] = u.ID, u.ID, u.ID
	rec[fCreatedAt], rec[fUpdatedAt] = now, now
	// The create rule may look at the values (e.g. only for own customers).
	if ok, err := ev.can("create", rec); err != nil || !ok {
		if err != nil {
			return nil, err
		}
		return nil, forbidden("create", ev.ent.Name)
	}
	return rec, nil
}

// mayCreate reports whether one of the user's roles has any create rule.
func (e *Engine) mayCreate(ent *template.Entity, u User) bool {
	for _, role := range u.Roles {
		if acc, ok := ent.Decl.Access.Get(role); ok && acc != nil && acc.Create != nil && (acc.Create.Const == nil || *acc.Create.Const) {
			return true
		}
	}
	return false
}

func initialState(e *template.EntityDecl) string {
	for _, s := range e.States {
		if s.Val != nil && s.Val.Initial {
			return s.Key.V
		}
	}
	return ""
}

// Update changes fields of a record the user may update, if it is still at
// version (the one the client read: a stale version fails with ErrConflict).
// The state cannot be changed here (transitions do that), and a record is
// locked in states that the user's roles may not edit.
func (e *Engine) Update(ctx context.Context, u User, entity, id string, version int64, values map[string]any) (Record, error) {
	ent, ev, rec, err := e.checkUpdate(ctx, u, entity, id, version, values)
	if err != nil {
		return nil, err
	}
	before := ev.before
	rec[fUpdatedAt], rec[fUpdatedBy] = e.stamp(), u.ID
	stampRequest(ctx, rec) // its posting is done (settled): this write is not part of it
	var saved Record
	err = e.st.Batch(ctx, func(w store.Writer) error {
		d, err := w.Replace(ctx, entity, toDoc(rec))
		if err != nil {
			return e.writeError(ent, err)
		}
		saved = fromDoc(d)
		return e.auditIn(ctx, w, u, ent, "update", before, saved, nil)
	})
	if err != nil {
		return nil, err
	}
	rfa, err := ev.fields("read", saved)
	if err != nil {
		return nil, err
	}
	return project(saved, rfa), nil
}

// checkUpdate runs every check of Update and returns the record it would
// store (before its timestamps); ev.before is the stored record. Nothing is
// written.
func (e *Engine) checkUpdate(ctx context.Context, u User, entity, id string, version int64, values map[string]any) (*template.Entity, *evaluator, Record, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := usableBy(ent, u); err != nil {
		return nil, nil, nil, err
	}
	before, err := e.get(ctx, entity, id)
	if err != nil {
		return nil, nil, nil, err
	}
	ev := e.evaluator(ctx, ent, u)
	if ok, err := ev.can("read", before); err != nil || !ok {
		if err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, fmt.Errorf("%w: %s %s", ErrNotFound, entity, id)
	}
	if before.Version() != version {
		return nil, nil, nil, fmt.Errorf("%w: %s %s is at version %d, not %d", ErrConflict, entity, id, before.Version(), version)
	}
	if err := e.settled(ctx, before); err != nil {
		return nil, nil, nil, err
	}
	if ok, err := ev.can("update", before); err != nil || !ok {
		if err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, forbidden("update", entity)
	}
	if err := lockedInState(ent.Decl, before, u); err != nil {
		return nil, nil, nil, err
	}
	if _, ok := values[fState]; ok {
		return nil, nil, nil, &ValidationError{Errors: []FieldError{{Path: fState, Code: "use_transition"}}}
	}
	fa, err := ev.fields("update", before)
	if err != nil {
		return nil, nil, nil, err
	}
	rec, err := ev.prepare(before, values, fa)
	if err != nil {
		return nil, nil, nil, err
	}
	return ent, ev, rec, nil
}

// lockedInState refuses edits in a state whose editable_by does not name one
// of the user's roles (admin edits everywhere).
func lockedInState(e *template.EntityDecl, rec Record, u User) error {
	state, _ := rec[fState].(string)
	if state == "" || u.IsAdmin() {
		return nil
	}
	st, ok := e.States.Get(state)
	if !ok || st == nil {
		return nil
	}
	for _, r := range st.EditableBy {
		for _, have := range u.Roles {
			if r.V == have {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s is locked in state %s", ErrForbidden, e.Entity.V, state)
}

// Delete removes a record the user may delete, at version. Records with states
// can only be deleted in their initial state (drafts); afterwards the
// template's cancel transition applies.
func (e *Engine) Delete(ctx context.Context, u User, entity, id string, version int64) error {
	_, ent, err := e.entity(entity)
	if err != nil {
		return err
	}
	if err := usableBy(ent, u); err != nil {
		return err
	}
	before, err := e.get(ctx, entity, id)
	if err != nil {
		return err
	}
	ev := e.evaluator(ctx, ent, u)
	if ok, err := ev.can("read", before); err != nil || !ok {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s %s", ErrNotFound, entity, id)
	}
	if before.Version() != version {
		return fmt.Errorf("%w: %s %s is at version %d, not %d", ErrConflict, entity, id, before.Version(), version)
	}
	if err := e.settled(ctx, before); err != nil {
		return err
	}
	if ok, err := ev.can("delete", before); err != nil || !ok {
		if err != nil {
			return err
		}
		return forbidden("delete", entity)
	}
	if init := initialState(ent.Decl); init != "" && before[fState] != init {
		return fmt.Errorf("%w: only %s records in state %s can be deleted; cancel it instead", ErrForbidden, entity, init)
	}
	if err := e.st.Delete(ctx, entity, id, version); err != nil {
		return e.writeError(ent, err)
	}
	return e.audit(ctx, u, ent, "delete", before, nil)
}

// writeError maps store errors: a unique key held elsewhere is a field error.
func (e *Engine) writeError(ent *template.Entity, err error) error {
	var dup *store.DuplicateError
	if errors.As(err, &dup) {
		ve := &ValidationError{}
		for _, f := range dup.Fields {
			ve.add(f, "unique", nil)
		}
		return ve
	}
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s changed meanwhile", ErrConflict, ent.Name)
	}
	return fmt.Errorf("records: %s: %w", ent.Name, err)
}

// ensureSysIndexes declares the indexes of a system collection, once per
// engine.
func (e *Engine) ensureSysIndexes(ctx context.Context, coll string, ixs ...store.Index) error {
	if _, done := e.indexed.Load(coll); done {
		return nil
	}
	if err := e.st.EnsureIndexes(ctx, coll, ixs...); err != nil {
		return err
	}
	e.indexed.Store(coll, true)
	return nil
}

// ensureIndexes declares the entity's indexes: unique and indexed fields, the
// template's indexes, the number.
func (e *Engine) ensureIndexes(ctx context.Context, ent *template.Entity) error {
	if _, done := e.indexed.Load(ent); done {
		return nil // declared for this version of the entity already
	}
	var ixs []store.Index
	if ent.Decl.Number.V != "" {
		ixs = append(ixs, store.Index{Name: "number", Keys: []store.SortKey{store.Asc(fNumber)}, Unique: true})
	}
	for _, f := range ent.Decl.Fields {
		if f.Val == nil {
			continue
		}
		if f.Val.Unique || f.Val.Index {
			ixs = append(ixs, store.Index{Name: "f_" + f.Key.V, Keys: []store.SortKey{store.Asc(f.Key.V)}, Unique: f.Val.Unique})
		}
	}
	for i, ix := range ent.Decl.Indexes {
		keys := make([]store.SortKey, len(ix))
		for j, k := range ix {
			keys[j] = store.SortKey{Path: strings.TrimPrefix(k.V, "-"), Desc: strings.HasPrefix(k.V, "-")}
		}
		ixs = append(ixs, store.Index{Name: "t_" + strconv.Itoa(i), Keys: keys})
	}
	if len(ixs) == 0 {
		return nil
	}
	if err := e.st.EnsureIndexes(ctx, ent.Name, ixs...); err != nil {
		return fmt.Errorf("records: indexes of %s: %w", ent.Name, err)
	}
	e.indexed.Store(ent, true)
	return nil
}

// nextNumber takes the next number of the entity's series. The counter is one
// document per series and period, moved by an atomic increment, so concurrent
// creates get consecutive, distinct numbers.
func (e *Engine) nextNumber(ctx context.Context, ent *template.Entity) (string, error) {
	return e.numberIn(ctx, e.st, ent)
}

// numberIn takes the next number of ent's series through w.
func (e *Engine) numberIn(ctx context.Context, w store.Writer, ent *template.Entity) (string, error) {
	ns := e.series(ent)
	d, err := w.Increment(ctx, seriesColl, store.Inc{
		ID: ns.id, Upsert: true, SetOnInsert: store.Doc{"entity": ent.Name},
		Deltas: map[string]decimal.Decimal{"last": decimal.FromInt(1)},
	})
	if err != nil {
		return "", fmt.Errorf("records: number of %s: %w", ent.Name, err)
	}
	n, _ := d["last"].(decimal.Decimal).Int64()
	return ns.format(n), nil
}

// numberSeries is the series a new record of an entity takes its number from
// now: the counter's id and the number's text around the sequence.
type numberSeries struct {
	id, prefix, suffix string
	width              int
}

// series fills the entity's number pattern with the date of now.
func (e *Engine) series(ent *template.Entity) numberSeries {
	now := e.now()
	repl := strings.NewReplacer("{yyyy}", now.Format("2006"), "{yy}", now.Format("06"), "{mm}", now.Format("01"), "{dd}", now.Format("02"))
	filled := repl.Replace(ent.Decl.Number.V)
	start := strings.Index(filled, "{seq:")
	end := strings.Index(filled[start:], "}") + start
	width, _ := strconv.Atoi(filled[start+5 : end])
	return numberSeries{id: ent.Name + ":" + filled[:start] + "#" + filled[end+1:], prefix: filled[:start], suffix: filled[end+1:], width: width}
}

// format is the number with sequence n.
func (ns numberSeries) format(n int64) string {
	return fmt.Sprintf("%s%0*d%s", ns.prefix, ns.width, n, ns.suffix)
}

const seriesColl = "sys_series"
