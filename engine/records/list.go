package records

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/yerp/yerp/engine/query"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// ListQuery selects a page of records.
type ListQuery struct {
	Filter string   // expression syntax: state == 'draft' && total > 100
	Sort   []string // field names, "-" for descending: ["-order_date", "number"]
	Limit  int      // 1..MaxPage (0: DefaultPage)
	After  string   // cursor from the previous page
	Count  bool     // also count every matching record (costs a scan on big lists)
}

// Page sizes.
const (
	DefaultPage = 50
	MaxPage     = 200
)

// Page is one page of records.
type Page struct {
	Records []Record
	Next    string // cursor of the next page, "" on the last
	Total   int64  // with ListQuery.Count
}

// List returns the records the user may read that match q. The user's read
// rules become part of the store filter, so a page of 50 is 50 readable
// records; fields the user may not read can neither be seen, filtered nor
// sorted on (they do not exist for that user).
func (e *Engine) List(ctx context.Context, u User, entity string, q ListQuery) (Page, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return Page{}, err
	}
	ev := e.evaluator(ctx, ent, u)
	schema := e.querySchema(ent, u)
	vars := query.Vars{"user": map[string]any{"id": u.ID, "name": u.Name, "roles": u.Roles}}
	readable, err := e.readFilter(ent, u, schema, vars)
	if err != nil {
		return Page{}, err
	}
	filter := readable
	if strings.TrimSpace(q.Filter) != "" {
		uf, err := query.Parse(q.Filter, schema, vars)
		if err != nil {
			return Page{}, listError("filter", err)
		}
		filter = store.And(readable, uf)
	}
	sq := store.Query{Filter: filter, Limit: q.Limit, After: q.After}
	switch {
	case sq.Limit == 0:
		sq.Limit = DefaultPage
	case sq.Limit < 0 || sq.Limit > MaxPage:
		return Page{}, &ValidationError{Errors: []FieldError{{Path: "limit", Code: "max", Params: map[string]any{"max": MaxPage}}}}
	}
	for _, s := range q.Sort {
		name := strings.TrimPrefix(s, "-")
		f, ok := schema[name]
		if !ok || f.Type == "table" || f.Type == "multiselect" || f.Type == "json" {
			return Page{}, &ValidationError{Errors: []FieldError{{Path: "sort", Code: "unknown_field", Params: map[string]any{"field": name}}}}
		}
		key := store.SortKey{Path: name, Desc: strings.HasPrefix(s, "-")}
		if name == fID {
			key.Path = store.IDField
		}
		sq.Sort = append(sq.Sort, key)
	}
	if err := e.ensureIndexes(ctx, ent); err != nil {
		return Page{}, err
	}
	page, err := e.st.Find(ctx, entity, sq)
	if err != nil {
		return Page{}, listError("cursor", err)
	}
	out := Page{Next: page.Next, Records: make([]Record, 0, len(page.Docs))}
	for _, d := range page.Docs {
		rec := fromDoc(d)
		fa, err := ev.fields("read", rec)
		if err != nil {
			return Page{}, err
		}
		out.Records = append(out.Records, project(rec, fa))
	}
	if q.Count {
		if out.Total, err = e.st.Count(ctx, entity, filter); err != nil {
			return Page{}, fmt.Errorf("records: count %s: %w", entity, err)
		}
	}
	return out, nil
}

// listError turns a malformed filter or cursor into a field error.
func listError(param string, err error) error {
	var qe *query.Error
	if errors.As(err, &qe) {
		return &ValidationError{Errors: []FieldError{{Path: param, Code: "invalid_filter", Params: map[string]any{"column": qe.Col, "message": qe.Msg}}}}
	}
	if errors.Is(err, store.ErrInvalid) {
		return &ValidationError{Errors: []FieldError{{Path: param, Code: "invalid", Params: map[string]any{"message": err.Error()}}}}
	}
	return fmt.Errorf("records: list: %w", err)
}

// readFilter is the union of what the user's roles may read, as a store
// filter: a role whose rule is true reads everything; an expression becomes a
// filter; no granting role reads nothing.
func (e *Engine) readFilter(ent *template.Entity, u User, schema query.Schema, vars query.Vars) (store.Filter, error) {
	if u.IsAdmin() {
		return store.And(), nil
	}
	// The read rules see every field, hidden or not: the template wrote them.
	full := e.querySchema(ent, User{Roles: []string{AdminRole}})
	var grants []store.Filter
	for _, role := range u.Roles {
		acc, ok := ent.Decl.Access.Get(role)
		if !ok || acc == nil || acc.Read == nil {
			continue
		}
		if acc.Read.Const != nil {
			if *acc.Read.Const {
				return store.And(), nil
			}
			continue
		}
		f, err := query.Parse(acc.Read.Expr.Src, full, vars)
		if err != nil {
			return nil, fmt.Errorf("records: the read rule of %s for %s cannot be used as a filter: %w", ent.Name, role, err)
		}
		grants = append(grants, f)
	}
	return store.Or(grants...), nil
}

// HiddenFields lists the fields (and "table.column"s) hidden from every role
// of u that may read ent: what u can never see, filter or sort on, whatever
// the record. Per record, Get and List may hide less (see fields).
func HiddenFields(ent *template.Entity, u User) map[string]bool {
	hidden := map[string]bool{}
	if u.IsAdmin() {
		return hidden
	}
	counts, readers := map[string]int{}, 0
	for _, role := range u.Roles {
		acc, ok := ent.Decl.Access.Get(role)
		if !ok || acc == nil || acc.Read == nil || (acc.Read.Const != nil && !*acc.Read.Const) {
			continue
		}
		readers++
		if acc.Fields != nil {
			for _, f := range acc.Fields.Hide {
				counts[f.V]++
			}
		}
	}
	for f, n := range counts {
		if n == readers {
			hidden[f] = true
		}
	}
	return hidden
}

// Readable reports whether one of u's roles may read some records of ent.
func Readable(ent *template.Entity, u User) bool {
	if u.IsAdmin() {
		return true
	}
	for _, role := range u.Roles {
		if acc, ok := ent.Decl.Access.Get(role); ok && acc != nil && acc.Read != nil && (acc.Read.Const == nil || *acc.Read.Const) {
			return true
		}
	}
	return false
}

// querySchema lists the fields a user may filter and sort on: the entity's
// fields minus those hidden from the user, plus the system fields.
func (e *Engine) querySchema(ent *template.Entity, u User) query.Schema {
	hidden := HiddenFields(ent, u)
	return template.EntitySchema(ent.Decl, func(path string) bool { return hidden[path] })
}
