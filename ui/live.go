package ui

import (
	"errors"
	"maps"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
)

// Live forms: while the user types, static/live.js posts the form, encoded
// exactly as its save, to the preview route; the records engine works out
// what a save would compute and which fields are shown, required and
// read-only (records.Engine.Preview, the template's compiled expressions),
// and the page shows the answer. Nothing is decided here or in the browser;
// the save checks everything again.
//
//	POST /ui/preview/{entity}          a new-record form (JSON answer)
//	POST /ui/preview/{entity}/{id}     an edit form, with its _version
//	POST /ui/upload/{entity}/{field}   a file for an attachment field (JSON)

var liveTexts = map[string][2]string{
	"live_unsaved":       {"有未保存的修改", "You have unsaved changes"},
	"live_stale_changes": {"打开此表单之后的修改：", "Changed since you opened this form:"},
	"live_reload_form":   {"重新载入表单（放弃我的修改）", "Reload the form (discard my changes)"},
	"live_kept":          {"您填写的内容仍保留在下方，可复制后重新载入。", "What you typed is still below; copy what you need, then reload."},
	"live_move_up":       {"上移此行", "Move row up"},
	"live_move_down":     {"下移此行", "Move row down"},
	"live_file_current":  {"当前文件", "Current file"},
	"live_file_uploaded": {"已上传：", "Uploaded: "},
	"live_file_failed":   {"上传失败", "Upload failed"},
}

func init() { maps.Copy(texts, liveTexts) }

func (u *UI) mountLive(g fiber.Router) {
	g.Post("/ui/preview/:entity", u.livePreview)
	g.Post("/ui/preview/:entity/:id", u.livePreview)
	g.Post("/ui/upload/:entity/:field", u.liveUpload)
}

// liveField is the answer for one field or table cell, by form name.
type liveField struct {
	Visible  bool `json:"visible"`
	Required bool `json:"required"`
	Readonly bool `json:"readonly"`
	// Text is the value of a read-only or computed field as the form shows
	// it (the engine's formatting: exact decimals, option labels, titles).
	Text *string `json:"text,omitempty"`
	// Default is what a save fills into an input left empty (its
	// placeholder).
	Default string `json:"default,omitempty"`
	// Error is what a save would say about the field, in the user's
	// language ("" when nothing).
	Error string `json:"error,omitempty"`
}

// liveAnswer is the preview route's answer.
type liveAnswer struct {
	Fields map[string]liveField `json:"fields"`
	// Errors are the problems a save would report that belong to no field.
	Errors []string `json:"errors,omitempty"`
	// Stale is set when the record changed since the edit form was opened.
	Stale *liveStale `json:"stale,omitempty"`
}

type liveStale struct {
	Message string         `json:"message"`
	Changes []historyEntry `json:"changes"`
}

// livePreview answers what the posted form would give on save.
func (u *UI) livePreview(c fiber.Ctx) error {
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	ent := u.d.Packages.Model().Entities[c.Params("entity")]
	if ent == nil || !records.Readable(ent, usr) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": server.Title(l, fiber.StatusNotFound)})
	}
	id := c.Params("id")
	fa, _, err := u.d.Records.FormAccess(ctx, usr, ent.Name, id)
	if err != nil {
		return u.liveFail(c, err)
	}
	fv := postedValues(c, ent, fa)
	version, _ := strconv.ParseInt(c.FormValue("_version"), 10, 64)
	p, err := u.d.Records.Preview(ctx, usr, ent.Name, id, version, engineValues(ent, fa, fv, id == ""))
	if err != nil {
		return u.liveFail(c, err)
	}
	views, err := u.d.Records.Views(ctx, usr, ent.Name, []records.Record{p.Record}, nil, l)
	if err != nil {
		return u.liveFail(c, err)
	}
	text := map[string]string{}
	cells := map[string][][]string{}
	cols := map[string]map[string]int{}
	for _, vf := range views[0].Fields {
		text[vf.Name] = vf.Text
		if vf.Columns != nil {
			cells[vf.Name] = vf.Rows
			cols[vf.Name] = map[string]int{}
			for i, col := range vf.Columns {
				cols[vf.Name][col.Name] = i
			}
		}
	}
	// The engine numbers rows as sent (empty rows left out); the form
	// numbers them as laid out.
	formIndex := func(table string, i int) string {
		if rows := fv.rows[table]; i < len(rows) {
			return strconv.Itoa(rows[i].index)
		}
		return strconv.Itoa(i)
	}
	ans := liveAnswer{Fields: map[string]liveField{}}
	inForm := formFields(ent)
	for name, st := range p.Fields {
		f, _ := ent.Decl.Fields.Get(name)
		if f == nil || !inForm[name] {
			continue
		}
		lf := liveField{Visible: st.Visible, Required: st.Required, Readonly: st.Readonly}
		if st.Readonly || f.Compute.IsSet() {
			s := text[name]
			lf.Text = &s
		} else if f.Type.V != "table" && len(nonEmpty(fv.top[name])) == 0 {
			lf.Default = liveDefault(f, p.Record[name])
		}
		ans.Fields[name] = lf
		rows, _ := p.Record[name].([]any)
		for i, states := range p.Rows[name] {
			row, _ := rows[i].(map[string]any)
			var typed map[string]string
			if i < len(fv.rows[name]) {
				typed = fv.rows[name][i].cells
			}
			for col, cs := range states {
				cf, _ := f.Fields.Get(col)
				if cf == nil {
					continue
				}
				lc := liveField{Visible: cs.Visible, Required: cs.Required, Readonly: cs.Readonly}
				if cs.Readonly || cf.Compute.IsSet() {
					s := ""
					if ci, ok := cols[name][col]; ok && i < len(cells[name]) && ci < len(cells[name][i]) {
						s = cells[name][i][ci]
					}
					lc.Text = &s
				} else if strings.TrimSpace(typed[col]) == "" {
					lc.Default = liveDefault(cf, row[col])
				}
				ans.Fields[name+"."+formIndex(name, i)+"."+col] = lc
			}
		}
	}
	if p.Problems != nil {
		at, top := fieldErrors(ent, p.Problems, l, func(n string) bool {
			_, ok := ans.Fields[n]
			if m := rowIndexRE.FindStringSubmatch(n); m != nil {
				i, _ := strconv.Atoi(m[2])
				_, ok = ans.Fields[m[1]+"."+formIndex(m[1], i)+"."+m[3]]
			}
			return ok
		})
		for n, msg := range at {
			if m := rowIndexRE.FindStringSubmatch(n); m != nil {
				i, _ := strconv.Atoi(m[2])
				n = m[1] + "." + formIndex(m[1], i) + "." + m[3]
			}
			lf := ans.Fields[n]
			lf.Error = msg
			ans.Fields[n] = lf
		}
		ans.Errors = top
	}
	if p.Stale {
		changes, err := u.liveStaleChanges(c, ent, id, version)
		if err != nil {
			return u.liveFail(c, err)
		}
		ans.Stale = &liveStale{Message: t(l, "stale"), Changes: changes}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(ans)
}

// liveDefault is a value a save fills in, as an input would hold it: money
// with its two places (12.50, not 12.5), other numbers exact.
func liveDefault(f *template.FieldDecl, v any) string {
	if d, ok := v.(decimal.Decimal); ok && f.Type.V == "money" {
		return d.StringFixed(2)
	}
	return inputValue(f, v)
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// liveFail answers an engine error as JSON with its status.
func (u *UI) liveFail(c fiber.Ctx, err error) error {
	l := lang(c)
	status := fiber.StatusInternalServerError
	var ve *records.ValidationError
	switch {
	case errors.As(err, &ve):
		status = fiber.StatusUnprocessableEntity
		msgs := make([]string, len(ve.Errors))
		for i, fe := range ve.Errors {
			msgs[i] = server.Message(l, fe)
		}
		return c.Status(status).JSON(fiber.Map{"error": strings.Join(msgs, "；")})
	case errors.Is(err, records.ErrNotFound):
		status = fiber.StatusNotFound
	case errors.Is(err, records.ErrForbidden):
		status = fiber.StatusForbidden
	case errors.Is(err, records.ErrConflict):
		status = fiber.StatusConflict
	}
	return c.Status(status).JSON(fiber.Map{"error": server.Title(l, status)})
}

// liveStaleChanges are the history entries of record id after version, the
// version a form was opened with: who changed what, and when.
func (u *UI) liveStaleChanges(c fiber.Ctx, ent *template.Entity, id string, version int64) ([]historyEntry, error) {
	entries, err := u.d.Records.History(c.Context(), engineUser(c), ent.Name, id)
	if err != nil {
		return nil, err
	}
	ppl, err := u.people(c.Context())
	if err != nil {
		return nil, err
	}
	var out []historyEntry
	for _, e := range entries {
		if e.Version > version {
			out = append(out, u.historyEntry(ent, e, ppl, lang(c)))
		}
	}
	return out, nil
}

// liveUpload stores a file for an attachment field through the records engine
// (size limit and content types checked there) and answers its id and name,
// or the field's error in the user's language.
func (u *UI) liveUpload(c fiber.Ctx) error {
	l := lang(c)
	ent := u.d.Packages.Model().Entities[c.Params("entity")]
	if ent == nil || !records.Readable(ent, engineUser(c)) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": server.Title(l, fiber.StatusNotFound)})
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": t(l, "live_file_failed")})
	}
	r, err := fh.Open()
	if err != nil {
		return u.liveFail(c, err)
	}
	defer r.Close()
	info, err := u.d.Records.Upload(c.Context(), engineUser(c), ent.Name, c.Params("field"), fh.Filename, r)
	if err != nil {
		return u.liveFail(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(info)
}
