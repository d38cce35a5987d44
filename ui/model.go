package ui

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
)

// label picks the text of a label in language l (the other one when missing).
func label(lb template.Label, l string) string {
	if s := lb.Text[l]; s != "" {
		return s
	}
	for _, other := range []string{"zh-CN", "en"} {
		if s := lb.Text[other]; s != "" {
			return s
		}
	}
	return ""
}

// navGroup is one installed package in the navigation, with the entities the
// user may read.
type navGroup struct {
	Label    string
	Entities []navEntity
}

type navEntity struct {
	Name, Label string
}

// nav lists the installed packages and the entities u may read, in package
// order of the catalog (core first) and entity order of the package.
func (u *UI) nav(usr records.User, l string) []navGroup {
	m := u.d.Packages.Model()
	if m == nil {
		return nil
	}
	names := make([]string, 0, len(m.Packages))
	for n := range m.Packages {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "core") != (names[j] == "core") {
			return names[i] == "core"
		}
		return names[i] < names[j]
	})
	var out []navGroup
	for _, n := range names {
		p := m.Packages[n]
		g := navGroup{Label: n}
		if p.Decl != nil {
			if s := label(p.Decl.Label, l); s != "" {
				g.Label = s
			}
		}
		for _, e := range p.Entities {
			ent := m.Entities[e]
			if ent == nil || !records.Readable(ent, usr) {
				continue
			}
			g.Entities = append(g.Entities, navEntity{Name: e, Label: entityLabel(ent, l)})
		}
		if len(g.Entities) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func entityLabel(ent *template.Entity, l string) string {
	if s := label(ent.Decl.Label, l); s != "" {
		return s
	}
	return ent.Name
}

// fieldLabel is the label of field name of ent (system fields included).
func fieldLabel(ent *template.Entity, name, l string) string {
	switch name {
	case "number", "state", "owner", "created_at", "updated_at":
		return t(l, name)
	}
	if f, ok := ent.Decl.Fields.Get(name); ok && f != nil {
		if s := label(f.Label, l); s != "" {
			return s
		}
	}
	return name
}

// stateLabel is the label of a state, with its colour.
func stateLabel(ent *template.Entity, state, l string) (string, string) {
	if st, ok := ent.Decl.States.Get(state); ok && st != nil {
		if s := label(st.Label, l); s != "" {
			return s, st.Color.V
		}
	}
	return state, ""
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// selectOptions lists a select field's options with their labels.
func selectOptions(f *template.FieldDecl, l string, selected map[string]bool) []option {
	out := make([]option, 0, len(f.Options))
	for _, o := range f.Options {
		text := o.V
		if ol, ok := f.OptionLabels.Get(o.V); ok {
			if s := label(ol, l); s != "" {
				text = s
			}
		}
		out = append(out, option{Value: o.V, Label: text, Selected: selected[o.V]})
	}
	return out
}

// maxLinkOptions bounds the records a link select offers.
const maxLinkOptions = 200

// linkOptions lists up to maxLinkOptions records of the entity a link field
// points to that u may read, by title; the field's filter narrows them when
// it can run as a query (the engine checks it again on save). The current
// value is always offered.
func (u *UI) linkOptions(ctx context.Context, usr records.User, f *template.FieldDecl, current string) ([]option, error) {
	opts, _, err := u.linkChoices(ctx, usr, f, current, "", maxLinkOptions)
	return opts, err
}

// linkChoices lists up to limit records a link field may point to, whose
// number, code or name starts with search (all when ""); more tells that
// there are others.
func (u *UI) linkChoices(ctx context.Context, usr records.User, f *template.FieldDecl, current, search string, limit int) (opts []option, more bool, err error) {
	target := f.To.V
	ent := u.d.Packages.Model().Entities[target]
	if ent == nil {
		return nil, false, nil
	}
	var cond []string
	if search != "" {
		var anyOf []string
		for _, name := range searchFields(ent, records.HiddenFields(ent, usr)) {
			anyOf = append(anyOf, name+" startsWith "+strconv.Quote(search))
		}
		if len(anyOf) == 0 {
			return nil, false, nil
		}
		cond = append(cond, "("+strings.Join(anyOf, " || ")+")")
	}
	q := records.ListQuery{Limit: limit, Filter: strings.Join(cond, " && ")}
	if f.Filter.IsSet() {
		q.Filter = strings.Join(append(cond, "("+f.Filter.Src+")"), " && ")
	}
	page, err := u.d.Records.List(ctx, usr, target, q)
	if err != nil && f.Filter.IsSet() {
		// A filter that cannot run as a query: the engine checks it on save.
		q.Filter = strings.Join(cond, " && ")
		page, err = u.d.Records.List(ctx, usr, target, q)
	}
	if err != nil {
		return nil, false, err
	}
	more = page.Next != ""
	ids := make([]string, 0, len(page.Records)+1)
	for _, r := range page.Records {
		ids = append(ids, r.ID())
	}
	if current != "" && !slices.Contains(ids, current) {
		ids = append(ids, current)
	}
	titles, err := u.d.Records.Titles(ctx, usr, target, ids)
	if err != nil {
		return nil, false, err
	}
	out := make([]option, 0, len(ids))
	for _, id := range ids {
		title := titles[id]
		if title == "" {
			title = id
		}
		out = append(out, option{Value: id, Label: title, Selected: id == current})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, more, nil
}

// people are the users, by id, read once per request.
type people map[string]*auth.User

func (u *UI) people(ctx context.Context) (people, error) {
	list, err := u.d.Auth.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := people{}
	for _, p := range list {
		out[p.ID] = p
	}
	return out, nil
}

// name is the display name of user id (the id when unknown).
func (p people) name(id string) string {
	if x := p[id]; x != nil {
		if x.Name != "" {
			return x.Name
		}
		return x.Username
	}
	return id
}

// options lists the active users, those with role when set.
func (p people) options(role, current string) []option {
	var out []option
	for _, x := range p {
		if x.Disabled || (role != "" && !x.HasRole(role)) {
			continue
		}
		out = append(out, option{Value: x.ID, Label: p.name(x.ID), Selected: x.ID == current})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

// inputValue is a stored value as an input shows it: decimals as their exact
// text, dates as 2006-01-02, moments as 2006-01-02T15:04 in local time.
func inputValue(f *template.FieldDecl, v any) string {
	if v == nil {
		return ""
	}
	switch f.Type.V {
	case "date":
		switch x := v.(type) {
		case time.Time:
			return x.Format("2006-01-02")
		case string:
			if len(x) >= 10 {
				return x[:10]
			}
			return x
		}
	case "datetime":
		var tm time.Time
		switch x := v.(type) {
		case time.Time:
			tm = x
		case string:
			var err error
			if tm, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return x
			}
		}
		return tm.Local().Format("2006-01-02T15:04")
	case "bool":
		if b, _ := v.(bool); b {
			return "true"
		}
		return ""
	}
	return fmt.Sprint(v)
}

// isNumber tells the types entered as exact decimal text.
func isNumber(typ string) bool {
	switch typ {
	case "int", "decimal", "money", "quantity", "percent":
		return true
	}
	return false
}

// htmlID turns a form name (lines.0.qty) into an element id (f-lines-0-qty).
func htmlID(name string) string { return "f-" + strings.ReplaceAll(name, ".", "-") }
