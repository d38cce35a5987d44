package records

import (
	"context"
	"fmt"

	"github.com/yerp/yerp/engine/query"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// What the reports engine (package engine/reports) needs of records: the
// collections of the ledgers, the read scope of a user as a store filter, and
// the titles of linked records.

// Collections of the ledgers, for reports.
const (
	BinsCollection        = binsColl
	StockLedgerCollection = stockLedgerColl
	PartyLedgerCollection = partyLedgerColl
)

// ReadScope returns the records of ent that u may read, as a store filter to
// be part of a query's match (the union of u's roles' read rules; everything
// for admin; nothing without a granting role), with the vars the read rules
// and report conditions see (user.id, user.name, user.roles).
func ReadScope(ent *template.Entity, u User) (store.Filter, query.Vars, error) {
	var e *Engine // readFilter and querySchema read nothing of the engine
	vars := query.Vars{"user": map[string]any{"id": u.ID, "name": u.Name, "roles": u.Roles}}
	f, err := e.readFilter(ent, u, e.querySchema(ent, u), vars)
	return f, vars, err
}

// Titles returns the titles of the records of entity with the given ids, read
// in one query per store.MaxLimit ids: the entity's title expression, else
// "code name". Ids of missing records are left out; a user who may not read
// the entity gets no titles.
func (e *Engine) Titles(ctx context.Context, u User, entity string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	_, ent, err := e.entity(entity)
	if err != nil || !Readable(ent, u) || len(ids) == 0 {
		return out, nil
	}
	ev := e.evaluator(ctx, ent, u)
	if err := ev.fetchLinks(entity, ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		rec := ev.links[entity+"/"+id]
		if rec == nil {
			continue
		}
		title := ""
		if ent.Programs["title"] != nil {
			v, err := ev.run("title", rec, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("records: title of %s %s: %w", entity, id, err)
			}
			title, _ = v.(string)
		}
		if title == "" {
			title = label(rec)
		}
		out[id] = title
	}
	return out, nil
}
