package ui

// The phone screens (issue #8, point 6): scanning documents one-handed at
// 390×844, with the camera (BarcodeDetector), a keyboard-wedge scanner or
// typing, offline, synchronised through the idempotent batch API.
//
// No screen is written for one entity. Two generic rules find what can be
// scanned in the installed templates:
//
//   - a line document: an entity with states whose table has a link column
//     to an entity with a barcode field (the item), a barcode column (what
//     was scanned) and a quantity column the user may change (the count):
//     goods receipt, goods issue, stocktake, shipping notice (pick
//     verification), stock transfer, returns, ...
//   - a check list: an entity with states, a barcode field of its own and a
//     link to an entity with a barcode field (the customer), grouped by its
//     other required link (the campaign): the customer audit's checks.
//
// The pages carry what they need offline (the document, the barcodes of the
// items or customers); the script keeps scans in a queue in localStorage and
// sends them with POST /api/v1/batch, one idempotency key per operation.

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	tpl "github.com/yerp/yerp/engine/template"
)

// phoneTexts are the phone screens' words; the ph_js_ ones go to the script.
var phoneTexts = map[string][2]string{
	"ph_nav":            {"手机扫码", "Phone scanning"},
	"ph_title":          {"扫码作业", "Scanning"},
	"ph_intro":          {"选择要扫码的单据。断网时可继续扫描，联网后自动同步。", "Choose a document to scan. Scanning goes on offline and syncs when the connection is back."},
	"ph_no_tasks":       {"目前没有需要您扫码的单据", "Nothing to scan for you now"},
	"ph_open":           {"打开", "Open"},
	"ph_scan_label":     {"扫描或输入条码", "Scan or type a barcode"},
	"ph_enter":          {"确定", "Enter"},
	"ph_camera":         {"相机扫码", "Scan with camera"},
	"ph_lines":          {"扫描明细", "Scanned lines"},
	"ph_checks":         {"核实任务", "Checks"},
	"ph_submit":         {"提交", "Submit"},
	"ph_submit_hint":    {"全部同步后才能提交", "Submit once everything is synced"},
	"ph_full_page":      {"完整页面", "Full page"},
	"ph_back":           {"返回扫码首页", "Back to scanning"},
	"ph_n_lines":        {"{n} 行", "{n} lines"},
	"ph_n_checks":       {"{n} 个待核实", "{n} to check"},
	"ph_none_group":     {"未分组", "Ungrouped"},
	"ph_expected_col":   {"应有", "Expected"},
	"ph_js_waiting":     {"{n} 条待同步", "{n} waiting to sync"},
	"ph_js_synced":      {"已同步", "Synced"},
	"ph_js_offline":     {"离线", "Offline"},
	"ph_js_syncing":     {"正在同步…", "Syncing…"},
	"ph_js_unknown":     {"未知条码：{code}", "Unknown barcode: {code}"},
	"ph_js_not_on_doc":  {"{item} 不在本单据中", "{item} is not on this document"},
	"ph_js_counted":     {"{item}：{n}", "{item}: {n}"},
	"ph_js_counted_exp": {"{item}：{n} / {e}", "{item}: {n} of {e}"},
	"ph_js_over":        {"超出：{item} 已扫 {n}，应有 {e}", "Too many: {item} scanned {n}, expected {e}"},
	"ph_js_added":       {"新增一行：{item}", "New line: {item}"},
	"ph_js_refused":     {"未保存：{msg}", "Not saved: {msg}"},
	"ph_js_checked":     {"已扫描：{who}", "Scanned: {who}"},
	"ph_js_already":     {"{who} 已扫描过", "{who} was scanned already"},
	"ph_js_not_mine":    {"{who} 不在本次核实任务中", "{who} is not among these checks"},
	"ph_js_to_check":    {"待核实", "To check"},
	"ph_js_done":        {"已核实", "Checked"},
	"ph_js_queued":      {"待同步", "Waiting to sync"},
	"ph_js_undo":        {"撤销", "Undo"},
	"ph_js_more":        {"加一：{item}", "One more: {item}"},
	"ph_js_less":        {"减一：{item}", "One less: {item}"},
	"ph_js_signin":      {"登录已过期，请重新登录后同步", "Your session expired; sign in again to sync"},
	"ph_js_camera_off":  {"关闭相机", "Stop camera"},
	"ph_js_camera_fail": {"无法打开相机", "The camera could not be started"},
}

func init() { maps.Copy(texts, phoneTexts) }

// mountPhone adds the phone screens to the signed-in routes.
func (u *UI) mountPhone(g fiber.Router) error {
	for _, name := range []string{"phone", "phone_scan"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: %s: %w", name, err)
		}
		u.pages[name] = t
	}
	g.Get("/m", u.phoneHome)
	g.Get("/m/d/:entity/:id", u.phoneDoc)
	g.Get("/m/c/:entity/:group", u.phoneChecks)
	g.Get("/m/lookup/:entity", u.phoneLookup)
	return nil
}

// phoneBarcodeField is the first barcode field of ent ("" when it has none).
func phoneBarcodeField(ent *tpl.Entity) string {
	for _, fe := range ent.Decl.Fields {
		if fe.Val != nil && fe.Val.Type.V == "barcode" {
			return fe.Key.V
		}
	}
	return ""
}

// phoneLines is how a line document is scanned: its table, the link column to
// the barcoded entity, the barcode column and the quantity columns.
type phoneLines struct {
	Table, ItemCol, Target, ScanCol string
	Qty                             []string // quantity columns, in order
}

// phoneLineRule finds the phoneScannable table of ent, if any.
func phoneLineRule(m *tpl.Model, ent *tpl.Entity) (phoneLines, bool) {
	if len(ent.Decl.States) == 0 {
		return phoneLines{}, false
	}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil || f.Type.V != "table" || f.Compute.IsSet() {
			continue
		}
		r := phoneLines{Table: fe.Key.V}
		writableQty := false
		for _, ce := range f.Fields {
			c := ce.Val
			if c == nil {
				continue
			}
			switch c.Type.V {
			case "link":
				if t := m.Entities[c.To.V]; r.ItemCol == "" && t != nil && phoneBarcodeField(t) != "" {
					r.ItemCol, r.Target = ce.Key.V, c.To.V
				}
			case "barcode":
				if r.ScanCol == "" && !c.Compute.IsSet() {
					r.ScanCol = ce.Key.V
				}
			case "quantity":
				r.Qty = append(r.Qty, ce.Key.V)
				if !c.Compute.IsSet() && !c.Readonly {
					writableQty = true
				}
			}
		}
		if r.ItemCol != "" && r.ScanCol != "" && writableQty {
			return r, true
		}
	}
	return phoneLines{}, false
}

// phoneChecksRule is how a check list is scanned: the link to the barcoded entity,
// the record's own barcode field, the link that groups the checks and a
// select field that records how the target was found (when it offers
// "barcode").
type phoneChecksRule struct {
	Field, Target, ScanField, Group, FoundBy string
}

func phoneCheckRule(m *tpl.Model, ent *tpl.Entity) (phoneChecksRule, bool) {
	if len(ent.Decl.States) == 0 {
		return phoneChecksRule{}, false
	}
	r := phoneChecksRule{ScanField: phoneBarcodeField(ent)}
	if r.ScanField == "" {
		return r, false
	}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil || f.Type.V != "link" || f.Compute.IsSet() {
			continue
		}
		if t := m.Entities[f.To.V]; r.Field == "" && t != nil && phoneBarcodeField(t) != "" {
			r.Field, r.Target = fe.Key.V, f.To.V
		}
	}
	for _, fe := range ent.Decl.Fields {
		f := fe.Val
		if f == nil {
			continue
		}
		if r.Group == "" && f.Type.V == "link" && f.Required && fe.Key.V != r.Field {
			r.Group = fe.Key.V
		}
		if r.FoundBy == "" && f.Type.V == "select" && slices.ContainsFunc(f.Options, func(o tpl.Str) bool { return o.V == "barcode" }) {
			r.FoundBy = fe.Key.V
		}
	}
	return r, r.Field != ""
}

// phoneWorkStates are the states of ent in which usr may still change a record
// (not final, and editable by one of the user's roles when the state says).
func phoneWorkStates(ent *tpl.Entity, usr records.User) []string {
	var out []string
	for _, se := range ent.Decl.States {
		s := se.Val
		if s == nil || s.Final {
			continue
		}
		ok := len(s.EditableBy) == 0 || usr.IsAdmin()
		for _, r := range s.EditableBy {
			if slices.Contains(usr.Roles, r.V) {
				ok = true
			}
		}
		if ok {
			out = append(out, se.Key.V)
		}
	}
	return out
}

// phoneStateFilter is "state in [...]" as a filter expression.
func phoneStateFilter(states []string) string {
	q := make([]string, len(states))
	for i, s := range states {
		q[i] = strconv.Quote(s)
	}
	return "state in [" + strings.Join(q, ", ") + "]"
}

// phoneScannable lists the entities usr may read, in the navigation's order.
func (u *UI) phoneScannable(usr records.User) []*tpl.Entity {
	m := u.d.Packages.Model()
	var out []*tpl.Entity
	for _, g := range u.nav(usr, "en") {
		for _, e := range g.Entities {
			if ent := m.Entities[e.Name]; ent != nil {
				out = append(out, ent)
			}
		}
	}
	return out
}

type phoneDocLink struct {
	URL, Title, State, Color, Info string
}

type phoneTask struct {
	Entity, Label string
	Docs          []phoneDocLink
}

// maxPhoneDocs bounds the documents listed per task on the phone's home.
const maxPhoneDocs = 30

// phoneHome lists the scan tasks of the user with their open documents.
func (u *UI) phoneHome(c fiber.Ctx) error {
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	m := u.d.Packages.Model()
	var tasks []phoneTask
	for _, ent := range u.phoneScannable(usr) {
		states := phoneWorkStates(ent, usr)
		if len(states) == 0 {
			continue
		}
		task := phoneTask{Entity: ent.Name, Label: entityLabel(ent, l)}
		if lr, ok := phoneLineRule(m, ent); ok {
			page, err := u.d.Records.List(ctx, usr, ent.Name, records.ListQuery{Filter: phoneStateFilter(states), Limit: maxPhoneDocs})
			if err != nil {
				return u.fail(c, err)
			}
			for _, rec := range page.Records {
				fa, _, err := u.d.Records.FormAccess(ctx, usr, ent.Name, rec.ID())
				if err != nil {
					return u.fail(c, err)
				}
				if !fa.Allowed {
					continue
				}
				refs, err := u.refs(c, ent.Name, []string{rec.ID()})
				if err != nil {
					return u.fail(c, err)
				}
				state, _ := rec["state"].(string)
				sl, color := stateLabel(ent, state, l)
				rows, _ := rec[lr.Table].([]any)
				task.Docs = append(task.Docs, phoneDocLink{URL: "/m/d/" + ent.Name + "/" + url.PathEscape(rec.ID()), Title: refs[rec.ID()].Title,
					State: sl, Color: color, Info: strings.ReplaceAll(t(l, "ph_n_lines"), "{n}", strconv.Itoa(len(rows)))})
			}
		} else if cr, ok := phoneCheckRule(m, ent); ok {
			page, err := u.d.Records.List(ctx, usr, ent.Name, records.ListQuery{Filter: phoneStateFilter(states), Limit: records.MaxPage})
			if err != nil {
				return u.fail(c, err)
			}
			counts := map[string]int{}
			var groups []string
			for _, rec := range page.Records {
				g, _ := rec[cr.Group].(string)
				if counts[g] == 0 {
					groups = append(groups, g)
				}
				counts[g]++
			}
			titles := map[string]recordRef{}
			if cr.Group != "" {
				f, _ := ent.Decl.Fields.Get(cr.Group)
				if titles, err = u.refs(c, f.To.V, groups); err != nil {
					return u.fail(c, err)
				}
			}
			for _, g := range groups {
				title := titles[g].Title
				if title == "" {
					title = t(l, "ph_none_group")
				}
				key := g
				if key == "" {
					key = "-"
				}
				task.Docs = append(task.Docs, phoneDocLink{URL: "/m/c/" + ent.Name + "/" + url.PathEscape(key), Title: title,
					Info: strings.ReplaceAll(t(l, "ph_n_checks"), "{n}", strconv.Itoa(counts[g]))})
			}
		} else {
			continue
		}
		if len(task.Docs) > 0 {
			tasks = append(tasks, task)
		}
	}
	meta, err := phoneJSON(u.phoneMeta(c, "home"))
	if err != nil {
		return u.fail(c, err)
	}
	p := u.newPage(c, t(l, "ph_title"), map[string]any{"Tasks": tasks, "Meta": meta})
	return u.render(c, fiber.StatusOK, "phone", p)
}

// phoneMeta is what the script needs on every phone page: who (the queue is
// per user), the CSRF token for the batch API, the language and the words.
func (u *UI) phoneMeta(c fiber.Ctx, mode string) map[string]any {
	l := lang(c)
	words := map[string]string{}
	for k := range phoneTexts {
		if name, ok := strings.CutPrefix(k, "ph_js_"); ok {
			words[name] = t(l, k)
		}
	}
	s := session(c)
	return map[string]any{"mode": mode, "user": s.User.ID, "csrf": s.CSRF, "lang": l, "texts": words}
}

// phoneJSON is v as the text of a <script type="application/json"> block:
// encoding/json escapes <, > and & so the block cannot be closed early.
func phoneJSON(v any) (template.JS, error) {
	b, err := json.Marshal(v)
	return template.JS(b), err
}

// phoneItem is a barcoded record as the script knows it.
type phoneItem struct {
	Title   string `json:"title"`
	Barcode string `json:"barcode,omitempty"`
	Code    string `json:"code,omitempty"`
}

// maxPhoneCatalog bounds the barcoded records a page carries for offline use;
// the server lookup finds the others while online.
const maxPhoneCatalog = 2000

// catalog reads up to maxPhoneCatalog records of entity with a barcode, plus
// those of ids, as id → item.
func (u *UI) phoneCatalog(c fiber.Ctx, entity string, ids []string) (map[string]phoneItem, error) {
	ctx, usr := c.Context(), engineUser(c)
	ent := u.d.Packages.Model().Entities[entity]
	bf := phoneBarcodeField(ent)
	out := map[string]phoneItem{}
	add := func(recs []records.Record) error {
		var list []string
		for _, r := range recs {
			list = append(list, r.ID())
		}
		titles, err := u.d.Records.Titles(ctx, usr, entity, list)
		if err != nil {
			return err
		}
		for _, r := range recs {
			bc, _ := r[bf].(string)
			code, _ := r["code"].(string)
			title := titles[r.ID()]
			if title == "" {
				title = r.ID()
			}
			out[r.ID()] = phoneItem{Title: title, Barcode: bc, Code: code}
		}
		return nil
	}
	after := ""
	for len(out) < maxPhoneCatalog {
		page, err := u.d.Records.List(ctx, usr, entity, records.ListQuery{Limit: records.MaxPage, After: after, Filter: bf + ` != ""`})
		if err != nil {
			return nil, err
		}
		if err := add(page.Records); err != nil {
			return nil, err
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	var missing []records.Record
	for _, id := range ids {
		if _, ok := out[id]; ok || id == "" {
			continue
		}
		r, err := u.d.Records.Get(ctx, usr, entity, id)
		if err != nil {
			continue // not readable: the line shows its id
		}
		missing = append(missing, r)
	}
	if len(missing) > 0 {
		if err := add(missing); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// phoneAction is a transition offered at the bottom of a scan screen.
type phoneAction struct {
	Name, Label, URL string
}

// actions are the transitions usr may take on the record now without input
// (the others are on the record page).
func (u *UI) phoneActions(c fiber.Ctx, ent *tpl.Entity, id string) ([]phoneAction, error) {
	opts, err := u.d.Records.Transitions(c.Context(), engineUser(c), ent.Name, id)
	if err != nil {
		return nil, err
	}
	var out []phoneAction
	for _, o := range opts {
		tr, _ := ent.Decl.Transitions.Get(o.Name)
		if !o.Allowed || tr == nil || len(tr.Input) > 0 {
			continue
		}
		out = append(out, phoneAction{Name: o.Name, Label: o.Label, URL: "/r/" + ent.Name + "/" + url.PathEscape(id) + "/t/" + o.Name})
	}
	return out, nil
}

// phoneScan is what the scan page template shows.
type phoneScan struct {
	Title, State, Color string
	Mode                string // lines or check
	Version             int64
	RecordURL           string
	Actions             []phoneAction
	Data                template.JS // JSON for the script
	ExpectedLabel       string
	CountLabel          string
}

// phoneDoc is the scan screen of one line document.
func (u *UI) phoneDoc(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	lr, ok := phoneLineRule(u.d.Packages.Model(), ent)
	if !ok {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	id := c.Params("id")
	fa, rec, err := u.d.Records.FormAccess(ctx, usr, ent.Name, id)
	if err != nil {
		return u.fail(c, err)
	}
	table, _ := ent.Decl.Fields.Get(lr.Table)
	col := func(name string) *tpl.FieldDecl { f, _ := table.Fields.Get(name); return f }
	ro := func(name string) bool {
		return !fa.Allowed || fa.Readonly[lr.Table] || fa.Readonly[lr.Table+"."+name] || fa.Hidden[lr.Table+"."+name] || col(name).Compute.IsSet() || col(name).Readonly
	}
	// The count: the first quantity column the user may change; the
	// expectation: the first other quantity column they may only read that
	// does not follow from the count.
	count, expected := "", ""
	for _, q := range lr.Qty {
		if count == "" && !ro(q) {
			count = q
		}
	}
	for _, q := range lr.Qty {
		f := col(q)
		if q == count || fa.Hidden[lr.Table+"."+q] || !ro(q) || (count != "" && strings.Contains(f.Compute.Src, count)) {
			continue
		}
		expected = q
		break
	}
	// What a row is written with: every stored column the user may change
	// (the engine keeps the others as they are).
	var send, now []string
	for _, ce := range table.Fields {
		if ce.Val == nil || ro(ce.Key.V) {
			continue
		}
		send = append(send, ce.Key.V)
		if ce.Val.Type.V == "datetime" && strings.TrimSpace(ce.Val.Default.Src) == "now()" {
			now = append(now, ce.Key.V)
		}
	}
	rows, _ := rec[lr.Table].([]any)
	if rows == nil {
		rows = []any{}
	}
	var ids []string
	for _, r := range rows {
		if m, ok := r.(map[string]any); ok {
			s, _ := m[lr.ItemCol].(string)
			ids = append(ids, s)
		}
	}
	items, err := u.phoneCatalog(c, lr.Target, ids)
	if err != nil {
		return u.fail(c, err)
	}
	refs, err := u.refs(c, ent.Name, []string{id})
	if err != nil {
		return u.fail(c, err)
	}
	state, _ := rec["state"].(string)
	sl, color := stateLabel(ent, state, l)
	scan := &phoneScan{Title: entityLabel(ent, l) + " " + refs[id].Title, State: sl, Color: color, Mode: "lines",
		Version: rec.Version(), RecordURL: "/r/" + ent.Name + "/" + url.PathEscape(id)}
	if expected != "" {
		scan.ExpectedLabel = label(col(expected).Label, l)
	}
	if count != "" {
		scan.CountLabel = label(col(count).Label, l)
	}
	if scan.Actions, err = u.phoneActions(c, ent, id); err != nil {
		return u.fail(c, err)
	}
	meta := u.phoneMeta(c, "lines")
	meta["doc"] = map[string]any{
		"entity": ent.Name, "id": id, "version": rec.Version(), "table": lr.Table, "itemCol": lr.ItemCol,
		"countCol": count, "expectedCol": expected, "scanCol": lr.ScanCol, "timeCols": now, "send": send,
		"canAdd": count != "" && !ro(lr.ItemCol), "rows": rows, "items": items,
		"lookup": "/m/lookup/" + lr.Target,
	}
	if scan.Data, err = phoneJSON(meta); err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "phone_scan", u.newPage(c, scan.Title, scan))
}

// phoneCheck is one check of a check list as the script knows it.
type phoneCheck struct {
	ID         string `json:"id"`
	Version    int64  `json:"version"`
	Target     string `json:"target"`
	Title      string `json:"title"`
	Info       string `json:"info,omitempty"`
	Barcode    string `json:"barcode,omitempty"`
	Code       string `json:"code,omitempty"`
	Transition string `json:"transition,omitempty"`
	Done       bool   `json:"done,omitempty"`
	State      string `json:"state"`
}

// phoneCheckTransition is the first transition usr may take from state without
// input: what a scan completes (the engine checks it when it arrives).
func phoneCheckTransition(ent *tpl.Entity, usr records.User, state string) string {
	for _, te := range ent.Decl.Transitions {
		tr := te.Val
		if tr == nil || tr.EffectOnly || len(tr.Input) > 0 || tr.Approval != nil {
			continue
		}
		if !slices.ContainsFunc(tr.From, func(s tpl.Str) bool { return s.V == state }) {
			continue
		}
		ok := len(tr.Roles) == 0 || usr.IsAdmin()
		for _, r := range tr.Roles {
			ok = ok || slices.Contains(usr.Roles, r.V)
		}
		if ok {
			return te.Key.V
		}
	}
	return ""
}

// phoneChecks is the scan screen of the checks of one group (a campaign).
func (u *UI) phoneChecks(c fiber.Ctx) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	m := u.d.Packages.Model()
	cr, ok := phoneCheckRule(m, ent)
	if !ok {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	group := c.Params("group")
	filter := ""
	title := t(l, "ph_none_group")
	if group != "-" && cr.Group != "" {
		filter = cr.Group + " == " + strconv.Quote(group)
		gf, _ := ent.Decl.Fields.Get(cr.Group)
		refs, err := u.refs(c, gf.To.V, []string{group})
		if err != nil {
			return u.fail(c, err)
		}
		title = refs[group].Title
	}
	page, err := u.d.Records.List(ctx, usr, ent.Name, records.ListQuery{Filter: filter, Limit: records.MaxPage})
	if err != nil {
		return u.fail(c, err)
	}
	open := phoneWorkStates(ent, usr)
	var targets []string
	for _, r := range page.Records {
		s, _ := r[cr.Field].(string)
		targets = append(targets, s)
	}
	tent := m.Entities[cr.Target]
	tbf := phoneBarcodeField(tent)
	tp, err := u.d.Records.Titles(ctx, usr, cr.Target, targets)
	if err != nil {
		return u.fail(c, err)
	}
	var checks []phoneCheck
	for _, r := range page.Records {
		target, _ := r[cr.Field].(string)
		state, _ := r["state"].(string)
		ck := phoneCheck{ID: r.ID(), Version: r.Version(), Target: target, Title: tp[target], State: state}
		if ck.Title == "" {
			ck.Title = target
		}
		ck.Done = !slices.Contains(open, state)
		if !ck.Done {
			ck.Transition = phoneCheckTransition(ent, usr, state)
		}
		if tr, err := u.d.Records.Get(ctx, usr, cr.Target, target); err == nil {
			ck.Barcode, _ = tr[tbf].(string)
			ck.Code, _ = tr["code"].(string)
			ck.Info, _ = tr["address"].(string)
		}
		checks = append(checks, ck)
	}
	scan := &phoneScan{Title: entityLabel(ent, l) + " · " + title, Mode: "check"}
	meta := u.phoneMeta(c, "check")
	values := map[string]any{}
	if cr.FoundBy != "" {
		values[cr.FoundBy] = "barcode"
	}
	meta["checks"] = map[string]any{"entity": ent.Name, "scanField": cr.ScanField, "values": values, "list": checks,
		"lookup": "/m/lookup/" + cr.Target}
	if scan.Data, err = phoneJSON(meta); err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "phone_scan", u.newPage(c, scan.Title, scan))
}

// phoneLookup finds a barcoded record by its barcode or code:
// GET /m/lookup/{entity}?code=… answers {id, title, barcode} or 404.
func (u *UI) phoneLookup(c fiber.Ctx) error {
	ctx, usr := c.Context(), engineUser(c)
	ent := u.d.Packages.Model().Entities[c.Params("entity")]
	c.Set(fiber.HeaderCacheControl, "no-store")
	if ent == nil || !records.Readable(ent, usr) {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{})
	}
	bf := phoneBarcodeField(ent)
	code := strings.TrimSpace(c.Query("code"))
	if bf == "" || code == "" || records.HiddenFields(ent, usr)[bf] {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{})
	}
	filter := bf + " == " + strconv.Quote(code)
	if f, ok := ent.Decl.Fields.Get("code"); ok && f != nil && f.Type.V == "text" {
		filter += " || code == " + strconv.Quote(code)
	}
	page, err := u.d.Records.List(ctx, usr, ent.Name, records.ListQuery{Filter: filter, Limit: 1})
	if err != nil {
		return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{})
	}
	if len(page.Records) == 0 {
		return c.Status(fiber.StatusNotFound).JSON(fiber.Map{})
	}
	r := page.Records[0]
	titles, err := u.d.Records.Titles(ctx, usr, ent.Name, []string{r.ID()})
	if err != nil {
		return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{})
	}
	bc, _ := r[bf].(string)
	cd, _ := r["code"].(string)
	return c.JSON(fiber.Map{"id": r.ID(), "title": titles[r.ID()], "barcode": bc, "code": cd})
}
