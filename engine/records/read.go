package records

import (
	"context"
	"fmt"
	"strings"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Get returns a record the user may read, without the fields it may not see.
// A record the user may not read is reported as not found.
func (e *Engine) Get(ctx context.Context, u User, entity, id string) (Record, error) {
	rec, fa, err := e.readable(ctx, u, entity, id)
	if err != nil {
		return nil, err
	}
	return project(rec, fa), nil
}

// readable loads a record the user may read, with what the user may see of it;
// a record the user may not read does not exist for that user.
func (e *Engine) readable(ctx context.Context, u User, entity, id string) (Record, fieldAccess, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return nil, fieldAccess{}, err
	}
	if err := usableBy(ent, u); err != nil {
		return nil, fieldAccess{}, err
	}
	rec, err := e.get(ctx, entity, id)
	if err != nil {
		return nil, fieldAccess{}, err
	}
	ev := e.evaluator(ctx, ent, u)
	ok, err := ev.can("read", rec)
	if err != nil {
		return nil, fieldAccess{}, err
	}
	if !ok {
		return nil, fieldAccess{}, fmt.Errorf("%w: %s %s", ErrNotFound, entity, id)
	}
	fa, err := ev.fields("read", rec)
	return rec, fa, err
}

// usableBy is nil when u may read some records of ent, else the error every
// record route answers for any id of ent: the entity is not u's at all
// (forbidden). A record u may not read among those it may is not found,
// as an id that does not exist is, so neither answer tells a record exists.
func usableBy(ent *template.Entity, u User) error {
	if Readable(ent, u) {
		return nil
	}
	return forbidden("read", ent.Name)
}

// History returns the audit entries of a record the user may read, oldest
// first, without changes to fields the user may not see.
func (e *Engine) History(ctx context.Context, u User, entity, id string) ([]Entry, error) {
	_, fa, err := e.readable(ctx, u, entity, id)
	if err != nil {
		return nil, err
	}
	var out []Entry
	q := store.Query{Filter: store.And(store.Eq("entity", entity), store.Eq("record", id)), Sort: []store.SortKey{store.Asc("version")}, Limit: 500}
	for {
		page, err := e.st.Find(ctx, auditColl, q)
		if err != nil {
			return nil, fmt.Errorf("records: history of %s %s: %w", entity, id, err)
		}
		for _, d := range page.Docs {
			out = append(out, entryOf(d, fa))
		}
		if page.Next == "" {
			return out, nil
		}
		q.After = page.Next
	}
}

func entryOf(d store.Doc, fa fieldAccess) Entry {
	en := Entry{}
	en.Action, _ = d["action"].(string)
	en.User, _ = d["user"].(string)
	en.At, _ = d["at"].(string)
	en.Transition, _ = d["transition"].(string)
	en.Note, _ = d["note"].(string)
	en.Link, _ = d["link"].(string)
	en.Input, _ = d["input"].(map[string]any)
	if v, ok := toDecimal(d["version"]); ok {
		en.Version, _ = v.Int64()
	}
	changes, _ := d["changes"].([]any)
	for _, c := range changes {
		m, _ := c.(map[string]any)
		ch := Change{From: m["from"], To: m["to"]}
		ch.Path, _ = m["path"].(string)
		ch.Op, _ = m["op"].(string)
		if hiddenPath(ch.Path, fa) {
			continue
		}
		if row, ok := ch.From.(map[string]any); ok {
			ch.From = projectRows(tableName(ch.Path), []any{row}, fa)[0]
		}
		if row, ok := ch.To.(map[string]any); ok {
			ch.To = projectRows(tableName(ch.Path), []any{row}, fa)[0]
		}
		en.Changes = append(en.Changes, ch)
	}
	return en
}

// hiddenPath reports whether a change path ("cost", "lines[k].cost") touches a
// field the user may not see.
func hiddenPath(path string, fa fieldAccess) bool {
	table := tableName(path)
	if fa.hidden[table] {
		return true
	}
	if i := strings.LastIndex(path, "]."); i >= 0 {
		return fa.hidden[table+"."+path[i+2:]]
	}
	return false
}

func tableName(path string) string {
	if i := strings.IndexByte(path, '['); i >= 0 {
		return path[:i]
	}
	return path
}
