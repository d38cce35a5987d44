package server

import (
	"slices"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
)

// label picks the text of a label in language l (the other one when missing).
func label(l template.Label, lang string) string {
	if t := l.Text[lang]; t != "" {
		return t
	}
	for _, t := range l.Text {
		return t
	}
	return ""
}

func (a *api) entities(c fiber.Ctx) error {
	l, u := lang(c), user(c)
	m := a.d.Packages.Model()
	out := []fiber.Map{}
	for _, name := range sortedEntities(m) {
		ent := m.Entities[name]
		if !records.Readable(ent, u) {
			continue
		}
		out = append(out, fiber.Map{"name": name, "package": ent.Package, "label": label(ent.Decl.Label, l)})
	}
	return c.JSON(fiber.Map{"entities": out})
}

func sortedEntities(m *template.Model) []string {
	names := make([]string, 0, len(m.Entities))
	for n := range m.Entities {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// entityMeta describes one entity for building its pages: fields with labels
// in the caller's language, the form, states, transitions, and a JSON Schema
// of the record as this user sees it.
func (a *api) entityMeta(c fiber.Ctx) error {
	l, u := lang(c), user(c)
	ent := a.d.Packages.Model().Entities[c.Params("entity")]
	if ent == nil || !records.Readable(ent, u) {
		return problem(c, fiber.StatusNotFound, "", nil)
	}
	hidden := records.HiddenFields(ent, u)
	fields := []fiber.Map{}
	for _, fe := range ent.Decl.Fields {
		if fe.Val == nil || hidden[fe.Key.V] {
			continue
		}
		fields = append(fields, fieldMeta(fe.Key.V, fe.Val, l, hidden))
	}
	var form []fiber.Map
	for _, s := range ent.Decl.Form {
		var names []string
		for _, f := range s.Fields {
			if !hidden[f.V] {
				names = append(names, f.V)
			}
		}
		form = append(form, fiber.Map{"section": label(s.Section, l), "fields": names, "columns": s.Columns})
	}
	var states, transitions []fiber.Map
	for _, s := range ent.Decl.States {
		states = append(states, fiber.Map{"name": s.Key.V, "label": label(s.Val.Label, l), "initial": s.Val.Initial, "final": s.Val.Final, "color": s.Val.Color.V})
	}
	for _, t := range ent.Decl.Transitions {
		var from []string
		for _, f := range t.Val.From {
			from = append(from, f.V)
		}
		transitions = append(transitions, fiber.Map{"name": t.Key.V, "label": label(t.Val.Label, l), "from": from, "to": t.Val.To.V})
	}
	out := fiber.Map{
		"name": ent.Name, "package": ent.Package, "label": label(ent.Decl.Label, l),
		"fields": fields, "form": form, "states": states, "transitions": transitions,
		"schema": recordSchema(ent, hidden),
	}
	if ent.Decl.List != nil {
		out["list"] = fiber.Map{"columns": strs(ent.Decl.List.Columns, hidden), "filters": strs(ent.Decl.List.Filters, hidden), "sort": ent.Decl.List.Sort.V}
	}
	return c.JSON(out)
}

func strs(ss []template.Str, hidden map[string]bool) []string {
	out := []string{}
	for _, s := range ss {
		if !hidden[s.V] {
			out = append(out, s.V)
		}
	}
	return out
}

func fieldMeta(name string, f *template.FieldDecl, l string, hidden map[string]bool) fiber.Map {
	m := fiber.Map{"name": name, "type": f.Type.V, "label": label(f.Label, l), "required": f.Required,
		"readonly": f.Readonly || f.Compute.IsSet()}
	if f.Help.Text != nil {
		m["help"] = label(f.Help, l)
	}
	if f.To.V != "" {
		m["to"] = f.To.V
	}
	if len(f.Options) > 0 {
		var opts []fiber.Map
		for _, o := range f.Options {
			ol, _ := f.OptionLabels.Get(o.V)
			text := label(ol, l)
			if text == "" {
				text = o.V
			}
			opts = append(opts, fiber.Map{"value": o.V, "label": text})
		}
		m["options"] = opts
	}
	for k, e := range map[string]template.Expr{"required_when": f.RequiredWhen, "visible_when": f.VisibleWhen, "readonly_when": f.ReadonlyWhen} {
		if e.IsSet() {
			m[k] = e.Src
		}
	}
	if f.Type.V == "table" {
		var cols []fiber.Map
		for _, col := range f.Fields {
			if col.Val != nil && !hidden[name+"."+col.Key.V] {
				cols = append(cols, fieldMeta(col.Key.V, col.Val, l, nil))
			}
		}
		m["fields"] = cols
	}
	return m
}
