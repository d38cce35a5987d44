package ui

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
)

// shownField is a field on the record page.
type shownField struct {
	Name, Label, Text string
	URL               string // a link field: the linked record's page
	Numeric           bool
	Wide              bool
	Columns           []records.ViewColumn
	Rows              [][]string
}

type shownSection struct {
	Label   string
	Columns int
	Fields  []shownField
}

// action is a transition offered on the record page.
type action struct {
	Name, Label   string
	Allowed       bool
	Reason        string
	NeedsApproval bool
	URL           string
	Input         []*formField // the transition's input, when it has some
}

type approvalStep struct {
	Label, Status string
	Current       bool
	Decisions     []string
}

type approvalPanel struct {
	ID         string
	Transition string
	Requester  string
	Steps      []approvalStep
	CanDecide  bool
}

type historyEntry struct {
	At, User, What string
	Note           string // the comment of an approval decision, the note of a hand-over
	Changes        []string
}

type printLink struct{ Label, URL string }

type recordData struct {
	Entity, EntityLabel, ID string
	Number, Title           string
	State, StateColor       string
	Version                 int64
	CanEdit                 bool
	Sections                []shownSection
	Actions                 []action
	Approval                *approvalPanel
	History                 []historyEntry
	Prints                  []printLink
	Errors                  []string
	Warnings                []string
	OpenAction              string // the transition whose input form is shown open (after an error)
}

func (u *UI) record(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	return u.recordPage(c, fiber.StatusOK, ent, c.Params("id"), nil)
}

// recordPage renders the page of record id; problem, when set, carries what
// went wrong with a transition the user just tried.
func (u *UI) recordPage(c fiber.Ctx, status int, ent *template.Entity, id string, problem *transitionProblem) error {
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	rec, err := u.d.Records.Get(ctx, usr, ent.Name, id)
	if err != nil {
		return u.fail(c, err)
	}
	ppl, err := u.people(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	views, err := u.d.Records.Views(ctx, usr, ent.Name, []records.Record{rec}, nil, l)
	if err != nil {
		return u.fail(c, err)
	}
	view := views[0]
	data := &recordData{Entity: ent.Name, EntityLabel: entityLabel(ent, l), ID: rec.ID(), Number: view.Number, Version: rec.Version()}
	data.State, data.StateColor = stateLabel(ent, view.State, l)
	titles, err := u.d.Records.Titles(ctx, usr, ent.Name, []string{rec.ID()})
	if err != nil {
		return u.fail(c, err)
	}
	data.Title = titles[rec.ID()]
	fa, _, err := u.d.Records.FormAccess(ctx, usr, ent.Name, rec.ID())
	if err != nil {
		return u.fail(c, err)
	}
	data.CanEdit = fa.Allowed

	// Fields, in the form's sections.
	byName := map[string]records.ViewField{}
	for _, vf := range view.Fields {
		byName[vf.Name] = vf
	}
	for _, s := range formSections(ent) {
		sec := shownSection{Label: label(s.Section, l), Columns: max(1, s.Columns)}
		for _, name := range s.Fields {
			vf, ok := byName[name.V]
			if !ok {
				continue
			}
			sf := shownField{Name: vf.Name, Label: vf.Label, Text: vf.Text, Numeric: isNumber(vf.Type), Columns: vf.Columns, Rows: vf.Rows}
			if l, ok := view.Record[vf.Name].(records.Linked); ok {
				// A link opens the linked record (its page checks access).
				if f, _ := ent.Decl.Fields.Get(vf.Name); f != nil {
					tgt := u.d.Packages.Model().Entities[f.To.V]
					if lid, _ := l["id"].(string); lid != "" && tgt != nil && records.Readable(tgt, usr) {
						sf.URL = "/r/" + f.To.V + "/" + url.PathEscape(lid)
					}
				}
			}
			if fid, _ := rec[vf.Name].(string); vf.Type == "attachment" && fid != "" {
				// The file, through the API's download (it checks access).
				sf.Text, sf.URL = t(l, "live_file_current"), "/api/v1/records/"+ent.Name+"/"+url.PathEscape(rec.ID())+"/files/"+vf.Name
			}
			if vf.Type == "user" {
				if uid, _ := rec[vf.Name].(string); uid != "" {
					sf.Text = ppl.name(uid)
				}
			}
			sf.Wide = vf.Type == "table" || vf.Type == "longtext"
			if sf.Text == "" && len(sf.Rows) == 0 {
				continue // nothing to show
			}
			sec.Fields = append(sec.Fields, sf)
		}
		if len(sec.Fields) == 1 && sec.Fields[0].Columns != nil && sec.Fields[0].Label == sec.Label {
			sec.Fields[0].Label = "" // a section of one table, named alike
		}
		if len(sec.Fields) > 0 {
			data.Sections = append(data.Sections, sec)
		}
	}
	owner, _ := rec["owner"].(string)
	data.Sections = append(data.Sections, shownSection{Columns: 2, Fields: []shownField{
		{Name: "owner", Label: t(l, "owner"), Text: ppl.name(owner)},
		{Name: "created_at", Label: t(l, "created_at"), Text: view.CreatedAt},
	}})

	// Transitions: those available, and those the state allows but
	// something else blocks (with the reason); the ones of other states are
	// left out.
	opts, err := u.d.Records.Transitions(ctx, usr, ent.Name, rec.ID())
	if err != nil {
		return u.fail(c, err)
	}
	for _, o := range opts {
		if !o.Allowed && (o.Reason == "state" || o.Reason == "role") {
			continue
		}
		a := action{Name: o.Name, Label: o.Label, Allowed: o.Allowed, NeedsApproval: o.NeedsApproval,
			URL: "/r/" + ent.Name + "/" + url.PathEscape(rec.ID()) + "/t/" + url.PathEscape(o.Name)}
		if a.Label == "" {
			a.Label = o.Name
		}
		if tr, ok := ent.Decl.Transitions.Get(o.Name); ok && tr != nil {
			if s := label(tr.Label, l); s != "" {
				a.Label = s
			}
			if len(tr.Input) > 0 && o.Allowed {
				a.Input, err = u.transitionInputs(c, tr, problem, o.Name, ppl)
				if err != nil {
					return u.fail(c, err)
				}
			}
		}
		if !o.Allowed {
			a.Reason = reasonText(o, l)
		}
		data.Actions = append(data.Actions, a)
	}

	// The open approval.
	ap, err := u.d.Records.OpenApproval(ctx, usr, ent.Name, rec.ID())
	if err != nil {
		return u.fail(c, err)
	}
	if ap != nil {
		panel, err := u.approvalPanel(c, ent, ap, ppl)
		if err != nil {
			return u.fail(c, err)
		}
		data.Approval = panel
	}

	// History, newest first.
	entries, err := u.d.Records.History(ctx, usr, ent.Name, rec.ID())
	if err != nil {
		return u.fail(c, err)
	}
	for i := len(entries) - 1; i >= 0; i-- {
		data.History = append(data.History, u.historyEntry(ent, entries[i], ppl, l))
	}

	for _, p := range ent.Decl.Prints {
		if p.Val == nil {
			continue
		}
		text := label(p.Val.Label, l)
		if text == "" {
			text = p.Key.V
		}
		data.Prints = append(data.Prints, printLink{Label: t(l, "print") + "：" + text,
			URL: "/api/v1/records/" + ent.Name + "/" + url.PathEscape(rec.ID()) + "/prints/" + url.PathEscape(p.Key.V) + "?lang=" + url.QueryEscape(l)})
	}
	if problem != nil {
		data.Errors, data.OpenAction = problem.messages, problem.transition
	}
	data.Warnings = takeWarnings(c)
	title := data.EntityLabel + " " + data.Number
	if data.Number == "" {
		title = data.EntityLabel + " " + data.Title
	}
	p := u.newPage(c, title, data)
	p.Path = "/r/" + ent.Name + "/" + url.PathEscape(rec.ID()) // also after a POST to a transition
	return u.render(c, status, "record", p)
}

// reasonText says, in language l, why a transition is not available.
func reasonText(o records.Option, l string) string {
	switch o.Reason {
	case "check":
		if s := o.Message[l]; s != "" {
			return s
		}
		for _, s := range o.Message {
			return s
		}
	case "role":
		return t(l, "reason_role")
	case "approval_pending":
		return t(l, "reason_approval")
	case "effects":
		return t(l, "reason_effects")
	case "state":
		return t(l, "reason_state")
	}
	return t(l, "not_allowed")
}

// transitionInputs builds the inputs of a transition's input form.
func (u *UI) transitionInputs(c fiber.Ctx, tr *template.TransitionDecl, problem *transitionProblem, name string, ppl people) ([]*formField, error) {
	b := &builder{u: u, ctx: c.Context(), usr: engineUser(c), l: lang(c), view: map[string]string{}, errs: map[string]string{},
		ppl: ppl, linkOp: map[string][]option{}, more: map[string]bool{}}
	var out []*formField
	for _, fe := range tr.Input {
		if fe.Val == nil || fe.Val.Type.V == "table" {
			continue
		}
		var vs []string
		if problem != nil && problem.transition == name {
			vs = problem.values[fe.Key.V]
			b.errs = problem.fieldErrs
		}
		ff, err := b.input(fe.Val, fe.Key.V, "in."+fe.Key.V, vs)
		if err != nil {
			return nil, err
		}
		ff.ID = "t-" + name + "-" + fe.Key.V
		out = append(out, ff)
	}
	return out, nil
}

func (u *UI) approvalPanel(c fiber.Ctx, ent *template.Entity, ap *records.Approval, ppl people) (*approvalPanel, error) {
	l := lang(c)
	p := &approvalPanel{ID: ap.ID, Transition: ap.Transition, Requester: ppl.name(ap.Requester)}
	if tr, ok := ent.Decl.Transitions.Get(ap.Transition); ok && tr != nil {
		p.Transition = label(tr.Label, l)
	}
	for i, s := range ap.Steps {
		step, _ := s.(map[string]any)
		st := approvalStep{Label: records.StepLabel(ent, ap.Transition, i, l), Current: int64(i) == ap.Current}
		status, _ := step["status"].(string)
		st.Status = t(l, status)
		ds, _ := step["decisions"].([]any)
		for _, d := range ds {
			dm, _ := d.(map[string]any)
			who, _ := dm["user"].(string)
			what, _ := dm["decision"].(string)
			line := ppl.name(who) + " · " + t(l, decisionKeys[what])
			if cm, _ := dm["comment"].(string); cm != "" {
				line += "：" + cm
			}
			if at, _ := dm["at"].(string); at != "" {
				line += "（" + shortTime(at) + "）"
			}
			st.Decisions = append(st.Decisions, line)
		}
		p.Steps = append(p.Steps, st)
	}
	p.CanDecide = u.d.Records.MayDecide(engineUser(c), *ap)
	return p, nil
}

// decisionKeys are the text keys of approval decisions.
var decisionKeys = map[string]string{"approve": "approved", "reject": "rejected", "return": "returned", "withdraw": "withdrawn",
	"reassign": "reassigned", "add_approver": "approver_added"}

// historyEntry describes one audit entry in language l.
func (u *UI) historyEntry(ent *template.Entity, e records.Entry, ppl people, l string) historyEntry {
	h := historyEntry{At: shortTime(e.At), User: ppl.name(e.User), What: e.Action, Note: e.Note}
	if _, known := texts["action_"+e.Action]; known {
		h.What = t(l, "action_"+e.Action)
	}
	if e.Transition != "" {
		if tr, ok := ent.Decl.Transitions.Get(e.Transition); ok && tr != nil {
			h.What += "：" + label(tr.Label, l)
		}
	}
	if e.Action == "create" {
		return h // the first version: every field is new, the page shows them
	}
	for _, ch := range e.Changes {
		base := strings.SplitN(errorName(ch.Path), ".", 2)[0]
		name := fieldLabel(ent, base, l)
		switch ch.Op {
		case "row_added":
			h.Changes = append(h.Changes, name+"："+t(l, "row_added"))
		case "row_removed":
			h.Changes = append(h.Changes, name+"："+t(l, "row_removed"))
		default:
			if base == "state" {
				from, _ := stateLabel(ent, fmt.Sprint(ch.From), l)
				to, _ := stateLabel(ent, fmt.Sprint(ch.To), l)
				ch.From, ch.To = from, to
			}
			text := strings.NewReplacer("{from}", shown(ch.From), "{to}", shown(ch.To)).Replace(t(l, "change_from_to"))
			h.Changes = append(h.Changes, name+" "+text)
		}
	}
	sort.Strings(h.Changes)
	return h
}

func shown(v any) string {
	if v == nil || v == "" {
		return "—"
	}
	return fmt.Sprint(v)
}

// transitionProblem is a transition that failed, to show on the record page.
type transitionProblem struct {
	transition string
	messages   []string
	fieldErrs  map[string]string
	values     map[string][]string
}

// transition takes a transition with its input from the record page.
func (u *UI) transition(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	id, name := c.Params("id"), c.Params("name")
	version, _ := parseVersion(c.FormValue("_version"))
	tr, ok := ent.Decl.Transitions.Get(name)
	if !ok || tr == nil {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	input := map[string]any{}
	raw := map[string][]string{}
	for _, fe := range tr.Input {
		if fe.Val == nil {
			continue
		}
		s := c.FormValue("in." + fe.Key.V)
		raw[fe.Key.V] = []string{s}
		if v := engineValue(fe.Val, s); v != nil {
			input[fe.Key.V] = v
		}
	}
	taken, err := u.d.Records.Transition(ctx, usr, ent.Name, id, name, version, input)
	if err != nil {
		p := &transitionProblem{transition: name, fieldErrs: map[string]string{}, values: raw}
		var ve *records.ValidationError
		switch {
		case errors.As(err, &ve):
			for _, fe := range ve.Errors {
				msg := server.Message(l, fe)
				key := strings.TrimPrefix(errorName(fe.Path), "input.")
				if _, isInput := tr.Input.Get(key); isInput && fe.Path != "" {
					p.fieldErrs["in."+key] = msg
				}
				p.messages = append(p.messages, msg)
			}
			return u.recordPage(c, fiber.StatusUnprocessableEntity, ent, id, p)
		case errors.Is(err, records.ErrConflict):
			p.messages = []string{t(l, "stale")}
			return u.recordPage(c, fiber.StatusConflict, ent, id, p)
		case errors.Is(err, records.ErrNotAvailable), errors.Is(err, records.ErrApprovalPending), errors.Is(err, records.ErrNeedsApproval), errors.Is(err, records.ErrForbidden):
			p.messages = []string{server.Title(l, fiber.StatusConflict)}
			if errors.Is(err, records.ErrApprovalPending) {
				p.messages = []string{t(l, "reason_approval")}
			} else if errors.Is(err, records.ErrForbidden) || errors.Is(err, records.ErrNotAvailable) {
				p.messages = []string{t(l, "not_allowed")}
			}
			return u.recordPage(c, fiber.StatusConflict, ent, id, p)
		}
		return u.fail(c, err)
	}
	q := url.Values{}
	q.Set("msg", "done")
	if taken.Approval != "" {
		q.Set("msg", "submitted")
	}
	var warns []string
	for _, w := range taken.Warnings {
		if s := w[l]; s != "" {
			warns = append(warns, s)
		}
	}
	setWarnings(c, warns)
	return c.Redirect().Status(fiber.StatusSeeOther).To("/r/" + ent.Name + "/" + url.PathEscape(id) + "?" + q.Encode())
}

func parseVersion(s string) (int64, error) {
	var v int64
	_, err := fmt.Sscan(s, &v)
	return v, err
}

// warnCookie carries the warnings of a transition to the page the browser is
// sent to next (never the URL: a link must not put text on a page).
const warnCookie = "yerp_warn"

func setWarnings(c fiber.Ctx, warns []string) {
	if len(warns) == 0 {
		return
	}
	c.Cookie(&fiber.Cookie{Name: warnCookie, Value: url.QueryEscape(strings.Join(warns, "\n")), Path: "/", HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode, MaxAge: 60})
}

func takeWarnings(c fiber.Ctx) []string {
	v := c.Cookies(warnCookie)
	if v == "" {
		return nil
	}
	c.ClearCookie(warnCookie)
	s, err := url.QueryUnescape(v)
	if err != nil {
		return nil
	}
	return strings.Split(s, "\n")
}
