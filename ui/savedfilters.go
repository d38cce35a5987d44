package ui

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/store"
)

// Saved filters of list pages (issue #8, point 2): a user names the current
// filters, search and sort of a list and applies them later with one click.
// They are the user's own, kept in the store:
//
//	sys_saved_filters: {user, entity, name, query, created_at}
//
// query is the list page's query string, cut to its filter, search and sort
// parameters; applying a saved filter opens the list with it, so the records
// engine applies its access rules as for any list.
//
//	POST /saved-filters/{entity}               save (name, query); a name
//	                                           the user already used is replaced
//	POST /saved-filters/{entity}/{id}/delete   delete one of the user's own

// SavedFiltersCollection holds the saved filters of every user.
const SavedFiltersCollection = "sys_saved_filters"

// maxSavedFilters bounds the filters a user keeps per list.
const maxSavedFilters = 30

var savedTexts = map[string][2]string{
	"sf_saved":        {"常用筛选", "Saved filters"},
	"sf_name":         {"筛选名称", "Filter name"},
	"sf_save":         {"保存当前筛选", "Save this filter"},
	"sf_delete":       {"删除常用筛选 {name}", "Delete the saved filter {name}"},
	"sf_name_missing": {"请填写筛选名称", "Give the filter a name"},
	"sf_name_long":    {"筛选名称不能超过 40 个字", "The filter name can have at most 40 characters"},
	"sf_too_many":     {"常用筛选已达上限，请先删除一些", "You have too many saved filters here; delete some first"},
	"sf_nothing":      {"当前没有筛选条件可保存", "There is no filter to save"},
	"msg_sf_saved":    {"已保存常用筛选", "Filter saved"},
	"msg_sf_deleted":  {"已删除常用筛选", "Saved filter deleted"},
}

func init() {
	maps.Copy(texts, savedTexts)
	flashes["sf_saved"], flashes["sf_deleted"] = true, true
}

// savedFilter is one saved filter as a list page shows it.
type savedFilter struct {
	ID, Name, URL string
	Active        bool // the list shows exactly this filter
	DeleteLabel   string
}

// listMore is what the list page shows besides the records: the saved
// filters, the query a new one would save, and the import action.
type listMore struct {
	Saved     []savedFilter
	Query     string // the current filters, search and sort ("" when none)
	ImportURL string
}

var savedIndexOnce sync.Once

// savedStore is the full store, or nil (then there are no saved filters).
func (u *UI) savedStore(ctx context.Context) store.Store {
	st, ok := u.d.Store.(store.Store)
	if !ok {
		return nil
	}
	savedIndexOnce.Do(func() {
		_ = st.EnsureIndexes(ctx, SavedFiltersCollection, store.Index{Name: "user_entity_name",
			Keys: []store.SortKey{store.Asc("user"), store.Asc("entity"), store.Asc("name")}})
	})
	return st
}

// listQuery keeps the parameters of a list's filters, search and sort, in
// a canonical order.
func listQuery(q url.Values) string {
	out := url.Values{}
	for k, vs := range q {
		if (strings.HasPrefix(k, "f.") || k == "q" || k == "sort") && len(vs) > 0 && vs[0] != "" {
			out.Set(k, vs[0])
		}
	}
	return out.Encode()
}

// mountSavedFilters registers the saved filter routes.
func (u *UI) mountSavedFilters(g fiber.Router) {
	g.Post("/saved-filters/:entity", u.saveFilter)
	g.Post("/saved-filters/:entity/:id/delete", u.deleteFilter)
}

// listExtras builds the saved filters and the import action of a list page.
func (u *UI) listExtras(c fiber.Ctx, entity string, canCreate bool) (*listMore, error) {
	l := lang(c)
	more := &listMore{}
	cur, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err == nil {
		more.Query = listQuery(cur)
	}
	if canCreate && u.savedStore(c.Context()) != nil {
		more.ImportURL = "/import/" + entity
	}
	st := u.savedStore(c.Context())
	if st == nil {
		return more, nil
	}
	page, err := st.Find(c.Context(), SavedFiltersCollection, store.Query{
		Filter: store.And(store.Eq("user", session(c).User.ID), store.Eq("entity", entity)),
		Sort:   []store.SortKey{store.Asc("name")}, Limit: maxSavedFilters})
	if err != nil {
		return nil, fmt.Errorf("ui: saved filters: %w", err)
	}
	for _, d := range page.Docs {
		name, _ := d["name"].(string)
		q, _ := d["query"].(string)
		sf := savedFilter{ID: d.ID(), Name: name, URL: "/r/" + entity, Active: q == more.Query,
			DeleteLabel: strings.ReplaceAll(t(l, "sf_delete"), "{name}", name)}
		if q != "" {
			sf.URL += "?" + q
		}
		more.Saved = append(more.Saved, sf)
	}
	return more, nil
}

func (u *UI) saveFilter(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	l, ctx := lang(c), c.Context()
	st := u.savedStore(ctx)
	if st == nil {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	name := strings.TrimSpace(c.FormValue("name"))
	qv, _ := url.ParseQuery(c.FormValue("query"))
	query := listQuery(qv)
	switch {
	case name == "":
		return u.errorPage(c, fiber.StatusUnprocessableEntity, t(l, "sf_name_missing"))
	case utf8.RuneCountInString(name) > 40:
		return u.errorPage(c, fiber.StatusUnprocessableEntity, t(l, "sf_name_long"))
	case query == "":
		return u.errorPage(c, fiber.StatusUnprocessableEntity, t(l, "sf_nothing"))
	}
	owner := session(c).User.ID
	mine := store.And(store.Eq("user", owner), store.Eq("entity", ent.Name))
	same, err := st.Find(ctx, SavedFiltersCollection, store.Query{Filter: store.And(mine, store.Eq("name", name)), Limit: 1})
	if err != nil {
		return u.fail(c, err)
	}
	if len(same.Docs) == 1 {
		d := same.Docs[0]
		d["query"] = query
		if _, err := st.Replace(ctx, SavedFiltersCollection, d); err != nil {
			return u.fail(c, err)
		}
	} else {
		n, err := st.Count(ctx, SavedFiltersCollection, mine)
		if err != nil {
			return u.fail(c, err)
		}
		if n >= maxSavedFilters {
			return u.errorPage(c, fiber.StatusUnprocessableEntity, t(l, "sf_too_many"))
		}
		if _, err := st.Insert(ctx, SavedFiltersCollection, store.Doc{"user": owner, "entity": ent.Name, "name": name,
			"query": query, "created_at": time.Now().UTC().Format(time.RFC3339)}); err != nil {
			return u.fail(c, err)
		}
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/r/" + ent.Name + "?" + query + "&msg=sf_saved")
}

func (u *UI) deleteFilter(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	ctx := c.Context()
	st := u.savedStore(ctx)
	if st == nil {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	d, err := st.Get(ctx, SavedFiltersCollection, c.Params("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && (d["user"] != session(c).User.ID || d["entity"] != ent.Name) {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	if err != nil {
		return u.fail(c, err)
	}
	if err := st.Delete(ctx, SavedFiltersCollection, d.ID(), d.Version()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/r/" + ent.Name + "?msg=sf_deleted")
}
