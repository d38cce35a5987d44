package records

import (
	"context"
	"fmt"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Checked is what a write would store, as found by ValidateCreate or
// ValidateUpdate without writing anything.
type Checked struct {
	// Record is the record the write would store, with the fields the user
	// may read: defaults filled, computed fields computed. A create has no
	// number yet (numbers are taken only when a record is written).
	Record Record
	// Changed reports whether an update would change any value (false: it
	// would only write a new version with the same values). True for a create.
	Changed bool
	// Changes lists what an update would change that the user may see, as its
	// audit entry would. Nil for a create.
	Changes []Change
}

// ValidateCreate runs every check Create runs on values — access to the
// entity and to single fields, value types, min and max, options, required
// and required_when, links that exist and may be read, the template's rules,
// the create rule — plus a check that unique fields are not already used, and
// writes nothing. It returns the same errors Create would (a
// *ValidationError listing every problem, ErrForbidden, ErrNotFound), or what
// Create would store. It is the dry run of an import.
func (e *Engine) ValidateCreate(ctx context.Context, u User, entity string, values map[string]any) (Checked, error) {
	ent, rec, fa, err := e.checkCreate(ctx, u, entity, values)
	if err != nil {
		return Checked{}, err
	}
	if err := e.checkUnique(ctx, ent, "", rec); err != nil {
		return Checked{}, err
	}
	return Checked{Record: project(rec, fa), Changed: true}, nil
}

// ValidateUpdate runs every check Update runs (including the version: a
// stale one is ErrConflict, and read-only fields and state locks) plus a
// check that unique fields are not used by another record, and writes
// nothing. Checked.Changed says whether the update would change anything.
func (e *Engine) ValidateUpdate(ctx context.Context, u User, entity, id string, version int64, values map[string]any) (Checked, error) {
	ent, ev, rec, err := e.checkUpdate(ctx, u, entity, id, version, values)
	if err != nil {
		return Checked{}, err
	}
	if err := e.checkUnique(ctx, ent, id, rec); err != nil {
		return Checked{}, err
	}
	rfa, err := ev.fields("read", rec)
	if err != nil {
		return Checked{}, err
	}
	all := diff(ev.before, rec)
	var changes []Change
	for _, c := range all {
		if !hiddenPath(c.Path, rfa) {
			changes = append(changes, c)
		}
	}
	return Checked{Record: project(rec, rfa), Changed: len(all) > 0, Changes: changes}, nil
}

// checkUnique reports the unique fields of rec whose value another record
// (not id) already holds. The store's unique indexes are what guard a write;
// this check lets a dry run report the same problem.
func (e *Engine) checkUnique(ctx context.Context, ent *template.Entity, id string, rec Record) error {
	ve := &ValidationError{}
	for _, fe := range ent.Decl.Fields {
		if fe.Val == nil || !fe.Val.Unique || isEmpty(rec[fe.Key.V]) {
			continue
		}
		page, err := e.st.Find(ctx, ent.Name, store.Query{Filter: store.Eq(fe.Key.V, rec[fe.Key.V]), Limit: 2, Fields: []string{fe.Key.V}})
		if err != nil {
			return fmt.Errorf("records: unique %s of %s: %w", fe.Key.V, ent.Name, err)
		}
		for _, d := range page.Docs {
			if d.ID() != id {
				ve.add(fe.Key.V, "unique", nil)
				break
			}
		}
	}
	return ve.orNil()
}

// Entity returns the installed entity named name in the active model, or an
// error wrapping ErrNotFound.
func (e *Engine) Entity(name string) (*template.Entity, error) {
	_, ent, err := e.entity(name)
	return ent, err
}
