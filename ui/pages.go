package ui

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
)

// recordRef is a record shown as a link: its entity's label and its title.
type recordRef struct {
	URL, Entity, Title string
}

// ref builds links to records of one entity, reading their titles at once.
func (u *UI) refs(c fiber.Ctx, entity string, ids []string) (map[string]recordRef, error) {
	out := map[string]recordRef{}
	ent := u.d.Packages.Model().Entities[entity]
	if ent == nil {
		return out, nil
	}
	titles, err := u.d.Records.Titles(c.Context(), engineUser(c), entity, ids)
	if err != nil {
		return nil, err
	}
	l := lang(c)
	for _, id := range ids {
		title := titles[id]
		if title == "" || title == id {
			// No title expression and no code or name: the number, if any.
			title = id
			if rec, err := u.d.Records.Get(c.Context(), engineUser(c), entity, id); err == nil {
				if n, _ := rec["number"].(string); n != "" {
					title = n
				}
			}
		}
		out[id] = recordRef{URL: "/r/" + entity + "/" + url.PathEscape(id), Entity: entityLabel(ent, l), Title: title}
	}
	return out, nil
}

type inboxApproval struct {
	ID         string
	Record     recordRef
	Transition string
	Requester  string
	Step       string
}

type inboxNote struct {
	ID      string
	Message string
	At      string
	Record  recordRef
}

type homeData struct {
	Approvals     []inboxApproval
	MoreApprovals bool // more wait than the page shows
	Assigned      []recordRef
	Notifications []inboxNote
	More          *homeMore // low-stock alerts (reports.go)
}

// homeApprovals is how many approvals the home page lists.
const homeApprovals = 50

func (u *UI) home(c fiber.Ctx) error {
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	m := u.d.Packages.Model()
	ppl, err := u.people(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	// The oldest approvals first, a page of them: a manager may have
	// thousands waiting.
	approvals, more, err := u.d.Records.InboxPage(ctx, usr, homeApprovals)
	if err != nil {
		return u.fail(c, err)
	}
	data := &homeData{MoreApprovals: more}
	ids := map[string][]string{} // the records of the approvals, by entity
	for _, a := range approvals {
		ids[a.Entity] = append(ids[a.Entity], a.Record)
	}
	refs := map[string]map[string]recordRef{}
	for entity, list := range ids {
		if refs[entity], err = u.refs(c, entity, list); err != nil {
			return u.fail(c, err)
		}
	}
	for _, a := range approvals {
		ia := inboxApproval{ID: a.ID, Record: refs[a.Entity][a.Record], Transition: a.Transition, Requester: ppl.name(a.Requester)}
		if ent := m.Entities[a.Entity]; ent != nil {
			if tr, ok := ent.Decl.Transitions.Get(a.Transition); ok && tr != nil {
				ia.Transition = label(tr.Label, l)
			}
			ia.Step = records.StepLabel(ent, a.Transition, int(a.Current), l)
		}
		data.Approvals = append(data.Approvals, ia)
	}
	assigned, err := u.d.Records.Assigned(ctx, usr, 50)
	if err != nil {
		return u.fail(c, err)
	}
	for _, as := range assigned {
		refs, err := u.refs(c, as.Entity, []string{as.Record.ID()})
		if err != nil {
			return u.fail(c, err)
		}
		data.Assigned = append(data.Assigned, refs[as.Record.ID()])
	}
	notes, _, err := u.d.Records.Notifications(ctx, usr, 50)
	if err != nil {
		return u.fail(c, err)
	}
	for _, n := range notes {
		if n.Read {
			continue
		}
		in := inboxNote{ID: n.ID, Message: n.Message[l], At: shortTime(n.At)}
		if in.Message == "" {
			for _, s := range n.Message {
				in.Message = s
				break
			}
		}
		if n.Entity != "" && n.Record != "" {
			refs, err := u.refs(c, n.Entity, []string{n.Record})
			if err != nil {
				return u.fail(c, err)
			}
			in.Record = refs[n.Record]
		}
		data.Notifications = append(data.Notifications, in)
	}
	if data.More, err = u.homeExtras(c); err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "home", u.newPage(c, t(l, "inbox"), data))
}

// shortTime shows a stored moment as 2006-01-02 15:04 in local time.
func shortTime(s string) string {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return tm.Local().Format("2006-01-02 15:04")
}

// decide approves or rejects an approval from the inbox or the record page.
func (u *UI) decide(c fiber.Ctx) error {
	var d records.Decision
	msg := "approved"
	switch c.FormValue("decision") {
	case "approve":
		d = records.Approve
	case "reject":
		d, msg = records.Reject, "rejected"
	default:
		return u.errorPage(c, fiber.StatusBadRequest, "")
	}
	_, err := u.d.Records.Decide(c.Context(), engineUser(c), c.Params("id"), d, c.FormValue("comment"))
	var ve *records.ValidationError
	if errors.As(err, &ve) {
		l := lang(c)
		var parts []string
		for _, fe := range ve.Errors {
			parts = append(parts, t(l, "comment")+"："+server.Message(l, fe))
		}
		return u.errorPage(c, fiber.StatusUnprocessableEntity, strings.Join(parts, "；"))
	}
	if err != nil {
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To(localPath(c.FormValue("back")) + "?msg=" + msg)
}

func (u *UI) markRead(c fiber.Ctx) error {
	if err := u.d.Records.MarkRead(c.Context(), engineUser(c), c.Params("id")); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/?msg=read")
}

// listColumn is a column header of a list.
type listColumn struct {
	Name, Label string
	SortURL     string
	Sorted      string // "asc", "desc" or ""
	Numeric     bool
}

type listCell struct {
	Text  string
	URL   string // the record's page, on the first column
	State string // the state's colour, on the state column
}

type listRow struct {
	Cells []listCell
}

// listFilter is one filter input above a list.
type listFilter struct {
	Name, ID, Label, Input string
	Value, To              string // To: the end of a date range
	Options                []option
}

type listData struct {
	Entity, EntityLabel string
	Columns             []listColumn
	Rows                []listRow
	Filters             []listFilter
	Search              string
	CanSearch           bool
	CanCreate           bool
	NextURL, PrevURL    string
	FirstURL            string
	ExportCSV           string
	ExportXLSX          string
	Error               string
	More                *listMore // saved filters, import (savedfilters.go)
}

// listFilters reads the filter inputs of ent from the query and turns them
// into a filter expression for the engine (values quoted, so a value is
// never syntax).
func (u *UI) listFilters(c fiber.Ctx, ent *template.Entity, ppl people) ([]listFilter, string, error) {
	l, usr := lang(c), engineUser(c)
	hidden := records.HiddenFields(ent, usr)
	var names []string
	if ent.Decl.List != nil {
		for _, f := range ent.Decl.List.Filters {
			names = append(names, f.V)
		}
	}
	var out []listFilter
	var expr []string
	for _, name := range names {
		if hidden[name] {
			continue
		}
		lf := listFilter{Name: name, ID: "q-" + name, Label: fieldLabel(ent, name, l), Value: c.Query("f." + name), To: c.Query("f." + name + ".to")}
		typ := ""
		var fd *template.FieldDecl
		switch name {
		case "state":
			typ = "state"
		case "owner":
			typ = "user"
		case "created_at", "updated_at":
			typ = "datetime"
		default:
			f, ok := ent.Decl.Fields.Get(name)
			if !ok || f == nil {
				continue
			}
			fd, typ = f, f.Type.V
		}
		switch typ {
		case "state":
			lf.Input = "select"
			for _, s := range ent.Decl.States {
				text, _ := stateLabel(ent, s.Key.V, l)
				lf.Options = append(lf.Options, option{Value: s.Key.V, Label: text, Selected: s.Key.V == lf.Value})
			}
		case "select", "multiselect":
			lf.Input = "select"
			lf.Options = selectOptions(fd, l, map[string]bool{lf.Value: true})
		case "user":
			lf.Input = "select"
			role := ""
			if fd != nil {
				role = fd.Role.V
			}
			lf.Options = ppl.options(role, lf.Value)
		case "link":
			lf.Input = "select"
			opts, err := u.linkOptions(c.Context(), usr, &template.FieldDecl{To: fd.To}, lf.Value)
			if err != nil {
				return nil, "", err
			}
			lf.Options = opts
		case "bool":
			lf.Input = "select"
			lf.Options = []option{{Value: "true", Label: t(l, "yes"), Selected: lf.Value == "true"}, {Value: "false", Label: t(l, "no"), Selected: lf.Value == "false"}}
		case "date", "datetime":
			lf.Input = "daterange"
		case "int", "decimal", "money", "quantity", "percent", "table", "json", "attachment":
			continue
		default:
			lf.Input = "text"
		}
		out = append(out, lf)
		switch {
		case lf.Input == "daterange":
			for i, v := range []string{lf.Value, lf.To} {
				if v == "" {
					continue
				}
				if _, err := time.Parse("2006-01-02", v); err != nil {
					continue
				}
				bound := v
				if typ == "datetime" {
					bound = v + "T00:00:00Z"
					if i == 1 {
						bound = v + "T23:59:59Z"
					}
				}
				op := ">="
				if i == 1 {
					op = "<="
				}
				expr = append(expr, name+" "+op+" "+strconv.Quote(bound))
			}
		case lf.Value == "":
		case typ == "bool":
			if lf.Value == "true" {
				expr = append(expr, name)
			} else {
				expr = append(expr, "!"+name)
			}
		case lf.Input == "text":
			expr = append(expr, name+" startsWith "+strconv.Quote(lf.Value))
		case typ == "multiselect":
			expr = append(expr, strconv.Quote(lf.Value)+" in "+name)
		default:
			expr = append(expr, name+" == "+strconv.Quote(lf.Value))
		}
	}
	// The search box: number, code and name starting with the text.
	if q := strings.TrimSpace(c.Query("q")); q != "" {
		var any []string
		for _, name := range searchFields(ent, hidden) {
			any = append(any, name+" startsWith "+strconv.Quote(q))
		}
		if len(any) > 0 {
			expr = append(expr, "("+strings.Join(any, " || ")+")")
		}
	}
	return out, strings.Join(expr, " && "), nil
}

// searchFields are the fields the search box looks in: the number, and the
// text fields code and name.
func searchFields(ent *template.Entity, hidden map[string]bool) []string {
	var out []string
	if ent.Decl.Number.V != "" {
		out = append(out, "number")
	}
	for _, name := range []string{"code", "name"} {
		if f, ok := ent.Decl.Fields.Get(name); ok && f != nil && f.Type.V == "text" && !hidden[name] {
			out = append(out, name)
		}
	}
	return out
}

func (u *UI) list(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	ppl, err := u.people(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	hidden := records.HiddenFields(ent, usr)
	var cols []string
	defSort, pageSize := "", records.DefaultPage
	if ent.Decl.List != nil {
		for _, cl := range ent.Decl.List.Columns {
			cols = append(cols, cl.V)
		}
		defSort = ent.Decl.List.Sort.V
		if ent.Decl.List.PageSize > 0 {
			pageSize = ent.Decl.List.PageSize
		}
	}
	if len(cols) == 0 {
		if ent.Decl.Number.V != "" {
			cols = append(cols, "number")
		}
		for _, k := range ent.Decl.Fields.Keys() {
			if f, _ := ent.Decl.Fields.Get(k); f != nil && f.Type.V != "table" && f.Type.V != "longtext" && f.Type.V != "json" && len(cols) < 6 {
				cols = append(cols, k)
			}
		}
		if len(ent.Decl.States) > 0 {
			cols = append(cols, "state")
		}
	}
	var shown []string
	for _, cl := range cols {
		if !hidden[cl] {
			shown = append(shown, cl)
		}
	}
	filters, filterExpr, err := u.listFilters(c, ent, ppl)
	if err != nil {
		return u.fail(c, err)
	}
	sortBy := c.Query("sort", defSort)
	data := &listData{Entity: ent.Name, EntityLabel: entityLabel(ent, l), Filters: filters, Search: c.Query("q"),
		CanSearch: len(searchFields(ent, hidden)) > 0}
	fa, _, err := u.d.Records.FormAccess(ctx, usr, ent.Name, "")
	if err != nil {
		return u.fail(c, err)
	}
	data.CanCreate = fa.Allowed && !ent.Decl.Singleton

	// The query without cursor, for sort links and pages.
	base := url.Values{}
	for k, v := range c.Queries() {
		if (strings.HasPrefix(k, "f.") || k == "q") && v != "" {
			base.Set(k, v)
		}
	}
	q := records.ListQuery{Filter: filterExpr, Limit: pageSize, After: c.Query("cursor")}
	// Sort by the chosen field, then by id so pages are stable.
	if sortBy != "" {
		q.Sort = []string{sortBy}
	}
	page, err := u.d.Records.List(ctx, usr, ent.Name, q)
	var ve *records.ValidationError
	if errors.As(err, &ve) {
		var parts []string
		for _, fe := range ve.Errors {
			parts = append(parts, server.Message(l, fe))
		}
		data.Error = strings.Join(parts, "；")
		page, err = u.d.Records.List(ctx, usr, ent.Name, records.ListQuery{Limit: pageSize})
	}
	if err != nil {
		return u.fail(c, err)
	}
	for _, name := range shown {
		col := listColumn{Name: name, Label: fieldLabel(ent, name, l)}
		if f, ok := ent.Decl.Fields.Get(name); ok && f != nil {
			col.Numeric = isNumber(f.Type.V)
		}
		next := name
		switch sortBy {
		case name:
			col.Sorted, next = "asc", "-"+name
		case "-" + name:
			col.Sorted = "desc"
		}
		sq := cloneValues(base)
		sq.Set("sort", next)
		col.SortURL = "/r/" + ent.Name + "?" + sq.Encode()
		data.Columns = append(data.Columns, col)
	}
	views, err := u.d.Records.Views(ctx, usr, ent.Name, page.Records, shown, l)
	if err != nil {
		return u.fail(c, err)
	}
	for i, v := range views {
		rec := page.Records[i]
		row := listRow{}
		for j, name := range shown {
			cell := listCell{}
			switch name {
			case "owner":
				owner, _ := rec["owner"].(string)
				cell.Text = ppl.name(owner)
			case "state":
				cell.Text, cell.State = stateLabel(ent, v.State, l)
				if cell.State == "" {
					cell.State = "grey"
				}
			default:
				if f, ok := ent.Decl.Fields.Get(name); ok && f != nil && f.Type.V == "user" {
					id, _ := rec[name].(string)
					if id != "" {
						cell.Text = ppl.name(id)
					}
				} else if s, ok := v.Record[name]; ok {
					cell.Text = fmt.Sprint(s)
				}
			}
			if j == 0 {
				cell.URL = "/r/" + ent.Name + "/" + url.PathEscape(rec.ID())
				if cell.Text == "" {
					cell.Text = rec.ID()
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		data.Rows = append(data.Rows, row)
	}
	// Pages: the cursors of the earlier pages travel in "back".
	cur := c.Query("cursor")
	back := strings.Fields(c.Query("back"))
	withSort := cloneValues(base)
	if sortBy != defSort {
		withSort.Set("sort", sortBy)
	}
	if page.Next != "" {
		nq := cloneValues(withSort)
		nq.Set("cursor", page.Next)
		nb := back
		if cur != "" || len(back) > 0 {
			nb = append(append([]string{}, back...), orDash(cur))
		} else {
			nb = []string{"-"}
		}
		nq.Set("back", strings.Join(nb, " "))
		data.NextURL = "/r/" + ent.Name + "?" + nq.Encode()
	}
	if len(back) > 0 {
		pq := cloneValues(withSort)
		prev := back[len(back)-1]
		if prev != "-" {
			pq.Set("cursor", prev)
		}
		if len(back) > 1 {
			pq.Set("back", strings.Join(back[:len(back)-1], " "))
		}
		data.PrevURL = "/r/" + ent.Name + "?" + pq.Encode()
		data.FirstURL = "/r/" + ent.Name + "?" + withSort.Encode()
	}
	ex := url.Values{}
	if filterExpr != "" {
		ex.Set("filter", filterExpr)
	}
	if sortBy != "" {
		ex.Set("sort", sortBy)
	}
	ex.Set("lang", l)
	ex.Set("format", "csv")
	data.ExportCSV = "/api/v1/export/" + ent.Name + "?" + ex.Encode()
	ex.Set("format", "xlsx")
	data.ExportXLSX = "/api/v1/export/" + ent.Name + "?" + ex.Encode()
	if data.More, err = u.listExtras(c, ent.Name, data.CanCreate); err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "list", u.newPage(c, data.EntityLabel, data))
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string{}, vs...)
	}
	return out
}

// orDash marks the first page ("" cursor) in the back list.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lookup answers the search box of a link field with more records than its
// select holds: GET /ui/lookup/{entity}/{field}?q=text (field may be a
// table column, lines.item) lists up to 20 records the user may choose,
// whose number, code or name starts with the text, as JSON.
func (u *UI) lookup(c fiber.Ctx) error {
	usr := engineUser(c)
	ent := u.d.Packages.Model().Entities[c.Params("entity")]
	if ent == nil || !records.Readable(ent, usr) {
		return c.SendStatus(fiber.StatusNotFound)
	}
	path := c.Params("field")
	hidden := records.HiddenFields(ent, usr)
	top, col, _ := strings.Cut(path, ".")
	f, ok := ent.Decl.Fields.Get(top)
	if ok && f != nil && col != "" {
		f, ok = f.Fields.Get(col)
	}
	if !ok || f == nil || f.Type.V != "link" || hidden[top] || hidden[path] {
		return c.SendStatus(fiber.StatusNotFound)
	}
	opts, more, err := u.linkChoices(c.Context(), usr, f, "", strings.TrimSpace(c.Query("q")), 20)
	if err != nil {
		return c.SendStatus(fiber.StatusInternalServerError)
	}
	type choice struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	out := []choice{}
	for _, o := range opts {
		out = append(out, choice{o.Value, o.Label})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"options": out, "more": more})
}
