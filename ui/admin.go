package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	ytemplate "github.com/yerp/yerp/engine/template"
)

// The admin pages (admins only; everyone else gets 403, whatever URL they
// type): the template catalog, the template editor with its live check and
// preview, publish with the plan shown first, versions with a diff and
// rollback (this file), and users and roles (admin_users.go). Every change
// goes through packages.Service or auth.Service; the pages only show their
// answers.

func init() {
	maps.Copy(texts, admTexts)
	flashes["adm_published"] = true
	flashes["adm_installed"] = true
	flashes["adm_upgraded"] = true
	flashes["adm_uninstalled"] = true
	flashes["adm_rolled_back"] = true
	flashes["adm_user_saved"] = true
	flashes["adm_password_changed"] = true
}

var admTexts = map[string][2]string{
	"adm_admin":                {"管理", "Admin"},
	"adm_packages":             {"模板管理", "Templates"},
	"adm_users":                {"用户与角色", "Users and roles"},
	"adm_package":              {"模板包", "Package"},
	"adm_installed_version":    {"已安装版本", "Installed version"},
	"adm_active_n":             {"发布号", "Publish no."},
	"adm_catalog_version":      {"内置目录版本", "Catalog version"},
	"adm_not_installed":        {"未安装", "Not installed"},
	"adm_not_in_catalog":       {"（导入的模板包）", "(imported package)"},
	"adm_install":              {"安装", "Install"},
	"adm_upgrade":              {"升级", "Upgrade"},
	"adm_uninstall":            {"卸载", "Uninstall"},
	"adm_edit":                 {"编辑模板", "Edit templates"},
	"adm_versions":             {"版本历史", "Versions"},
	"adm_actions":              {"操作", "Actions"},
	"adm_entities":             {"实体", "Entities"},
	"adm_files":                {"文件", "Files"},
	"adm_editor":               {"模板编辑器", "Template editor"},
	"adm_editor_hint":          {"Tab 键插入两个空格；先按 Esc 再按 Tab 可离开编辑区。", "Tab inserts two spaces; press Esc, then Tab, to leave the editor."},
	"adm_problems":             {"检查结果", "Checker report"},
	"adm_no_problems":          {"没有错误", "No errors"},
	"adm_n_errors":             {"{n} 个错误", "{n} errors"},
	"adm_n_warnings":           {"{n} 个提示", "{n} warnings"},
	"adm_error":                {"错误", "Error"},
	"adm_warning":              {"提示", "Warning"},
	"adm_checking":             {"正在检查…", "Checking…"},
	"adm_check_failed":         {"检查失败，请稍后重试", "The check failed; try again"},
	"adm_preview":              {"预览", "Preview"},
	"adm_preview_as":           {"预览角色", "Preview as"},
	"adm_preview_admin":        {"管理员（全部字段）", "Admin (all fields)"},
	"adm_preview_stale":        {"模板有错误，预览显示的是最后一个没有错误的版本。", "The template has errors; the preview shows the last version without errors."},
	"adm_preview_none":         {"选择一个实体文件即可预览其表单。", "Choose an entity file to preview its form."},
	"adm_preview_denied":       {"此角色不能新建该实体的记录。", "This role cannot create records of this entity."},
	"adm_publish":              {"发布…", "Publish…"},
	"adm_publish_now":          {"确认发布", "Publish now"},
	"adm_discard":              {"放弃修改", "Discard changes"},
	"adm_discard_confirm":      {"放弃所有未发布的修改？", "Discard every unpublished change?"},
	"adm_changed":              {"已修改", "changed"},
	"adm_note":                 {"版本说明", "Version note"},
	"adm_plan":                 {"发布计划", "Plan"},
	"adm_plan_intro":           {"发布前请确认对现有记录的影响：", "Check the impact on existing records before you go on:"},
	"adm_plan_blocking":        {"标红的变更会破坏现有记录，不能发布。", "The changes marked in red would break existing records; this cannot be published."},
	"adm_plan_none":            {"模板变更不影响现有记录。", "The change does not touch existing records."},
	"adm_plan_same":            {"与当前版本相同，发布不会产生新版本。", "Same as the active version; publishing makes no new version."},
	"adm_refused_errors":       {"模板有错误，不能发布：", "The template has errors and cannot be published:"},
	"adm_back_editor":          {"返回编辑器", "Back to the editor"},
	"adm_back_catalog":         {"返回模板管理", "Back to templates"},
	"adm_confirm":              {"确认", "Confirm"},
	"adm_install_title":        {"安装 {p}", "Install {p}"},
	"adm_upgrade_title":        {"升级 {p}", "Upgrade {p}"},
	"adm_uninstall_title":      {"卸载 {p}", "Uninstall {p}"},
	"adm_publish_title":        {"发布 {p}", "Publish {p}"},
	"adm_rollback_title":       {"回滚 {p} 到 #{n}", "Roll {p} back to #{n}"},
	"adm_uninstall_archive":    {"卸载前，以下记录将复制到归档（sys_archive）后删除：", "Before the uninstall these records are copied to the archive (sys_archive), then deleted:"},
	"adm_uninstall_empty":      {"此模板包没有记录，卸载不会删除数据。", "The package has no records; uninstalling deletes no data."},
	"adm_records":              {"条记录", "records"},
	"adm_conflict":             {"模板包在您查看后已被他人发布新版本，请重新检查后再发布。", "Someone published the package since you opened it; review the changes again."},
	"adm_versions_of":          {"{p} 的版本历史", "Versions of {p}"},
	"adm_version":              {"版本", "Version"},
	"adm_by":                   {"发布人", "By"},
	"adm_when":                 {"发布时间", "When"},
	"adm_active":               {"当前", "active"},
	"adm_diff":                 {"与当前比较", "Diff with active"},
	"adm_rollback":             {"回滚到此版本…", "Roll back to this…"},
	"adm_diff_title":           {"#{n} 与当前版本 #{m} 的差异", "Changes from #{n} to the active #{m}"},
	"adm_diff_same":            {"两个版本的文件相同。", "The two versions have the same files."},
	"adm_file_added":           {"新增", "added"},
	"adm_file_removed":         {"删除", "removed"},
	"adm_file_changed":         {"修改", "changed"},
	"adm_lines_changed":        {"+{a} −{r} 行", "+{a} −{r} lines"},
	"adm_forbidden":            {"只有管理员可以访问此页面", "Only administrators may open this page"},
	"adm_entity_added":         {"新增实体 {e}", "New entity {e}"},
	"adm_entity_removed":       {"删除实体 {e}；现有 {n} 条记录", "Entity {e} is removed; {n} records exist"},
	"adm_field_added":          {"新增字段 {f}", "New field {f}"},
	"adm_field_removed":        {"从模板移除字段 {f}；{n} 条记录中的数据保留（隐藏），直到清除", "Field {f} leaves the template; the data of {n} records is kept (hidden) until purged"},
	"adm_field_renamed":        {"字段 {from} 改名为 {f}；{n} 条记录的数据随之迁移", "Field {from} is renamed to {f}; the data of {n} records moves with it"},
	"adm_type_changed":         {"字段 {f} 改变类型；migrate 表达式将转换 {n} 条记录", "Field {f} changes type; migrate converts {n} records"},
	"adm_type_changed_block":   {"字段 {f} 改变类型但没有 migrate 表达式；{n} 条记录有值", "Field {f} changes type without migrate; {n} records hold a value"},
	"adm_now_required":         {"字段 {f} 必填且没有默认值；{n} 条现有记录缺少此值", "Field {f} is required without a default; {n} existing records lack it"},
	"adm_state_added":          {"新增状态 {f}", "New state {f}"},
	"adm_state_removed":        {"删除状态 {f}；{n} 条记录处于此状态", "State {f} is removed; {n} records are in it"},
	"adm_warnings":             {"检查提示", "Checker warnings"},
	"msg_adm_published":        {"已发布，新版本立即生效", "Published; the new version is in use now"},
	"msg_adm_installed":        {"已安装", "Installed"},
	"msg_adm_upgraded":         {"已升级", "Upgraded"},
	"msg_adm_uninstalled":      {"已卸载", "Uninstalled"},
	"msg_adm_rolled_back":      {"已回滚，所选版本立即生效", "Rolled back; the chosen version is in use now"},
	"adm_changes_kept_locally": {"未发布的修改保存在此浏览器中，直到发布或放弃。", "Unpublished changes are kept in this browser until you publish or discard them."},
}

// mountAdmin registers the admin routes on g (signed-in users) behind the
// admin check.
func (u *UI) mountAdmin(g fiber.Router) error {
	for _, name := range []string{"admin_packages", "admin_editor", "admin_plan", "admin_versions", "admin_users", "admin_user", "admin_password"} {
		t, err := template.New("layout.html").Funcs(funcs).Funcs(admFuncs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: %s: %w", name, err)
		}
		u.pages[name] = t
	}
	g.Get("/password", u.passwordPage)
	g.Post("/password", u.changePassword)
	a := g.Group("/admin", u.adminOnly)
	a.Get("/packages", u.catalog)
	a.Get("/packages/:name/install", u.installPlan)
	a.Post("/packages/:name/install", u.install)
	a.Get("/packages/:name/upgrade", u.upgradePlan)
	a.Post("/packages/:name/upgrade", u.upgrade)
	a.Get("/packages/:name/uninstall", u.uninstallPlan)
	a.Post("/packages/:name/uninstall", u.uninstall)
	a.Get("/packages/:name/edit", u.editor)
	a.Post("/packages/:name/check", u.checkCandidate)
	a.Post("/packages/:name/plan", u.publishPlan)
	a.Post("/packages/:name/publish", u.publish)
	a.Get("/packages/:name/versions", u.versions)
	a.Get("/packages/:name/rollback", u.rollbackPlan)
	a.Post("/packages/:name/rollback", u.rollback)
	a.Get("/users", u.usersPage)
	a.Post("/users", u.addUser)
	a.Get("/users/:id", u.userPage)
	a.Post("/users/:id", u.saveUser)
	a.Post("/users/:id/disable", u.disableUser)
	a.Post("/users/:id/enable", u.enableUser)
	a.Post("/users/:id/reset", u.resetPassword)
	return nil
}

var admFuncs = template.FuncMap{
	"inc": func(i int) int { return i + 1 },
}

// adminOnly lets admins through and answers 403 to everyone else.
func (u *UI) adminOnly(c fiber.Ctx) error {
	if s := session(c); s == nil || s.User == nil || !s.User.HasRole(auth.AdminRole) {
		return u.errorPage(c, fiber.StatusForbidden, t(lang(c), "adm_forbidden"))
	}
	return c.Next()
}

// fill replaces {key} placeholders in a UI text.
func fill(s string, kv ...string) string { return strings.NewReplacer(kv...).Replace(s) }

// byName is who acts, as package versions record it.
func byName(c fiber.Ctx) string { return session(c).User.Username }

// --- Catalog -------------------------------------------------------------

type catalogRow struct {
	Name, Label       string
	Installed, Active string // active version and publish number; "" when not installed
	Catalog           string // version in the built-in catalog; "" when not there
	Entities          int
	CanUpgrade        bool
}

func (u *UI) catalog(c fiber.Ctx) error {
	ctx, l := c.Context(), lang(c)
	entries, err := u.d.Packages.Catalog(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	m := u.d.Packages.Model()
	rows := map[string]*catalogRow{}
	for _, e := range entries {
		rows[e.Name] = &catalogRow{Name: e.Name, Label: label(e.Label, l), Catalog: e.Version}
	}
	for name, p := range m.Packages {
		r := rows[name]
		if r == nil {
			r = &catalogRow{Name: name}
			rows[name] = r
		}
		if p.Decl != nil {
			if s := label(p.Decl.Label, l); s != "" {
				r.Label = s
			}
		}
		r.Installed, r.Entities = p.Version.String(), len(p.Entities)
		act, err := u.d.Packages.Active(ctx, name)
		if err != nil {
			return u.fail(c, err)
		}
		r.Active = "#" + strconv.FormatInt(act.N, 10)
		r.CanUpgrade = r.Catalog != "" && r.Catalog != r.Installed
	}
	out := make([]*catalogRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == "core") != (out[j].Name == "core") {
			return out[i].Name == "core"
		}
		return out[i].Name < out[j].Name
	})
	return u.render(c, fiber.StatusOK, "admin_packages", u.newPage(c, t(l, "adm_packages"), out))
}

// --- Plans -----------------------------------------------------------------

type diagView struct {
	File, Severity, SevLabel, Message, Hint string
	Line, Col                               int
}

func diagViews(ds ytemplate.Diagnostics, l string) []diagView {
	out := make([]diagView, 0, len(ds))
	for _, d := range ds {
		sev := "error"
		if d.Severity == ytemplate.Warning {
			sev = "warning"
		}
		out = append(out, diagView{File: d.File, Line: d.Pos.Line, Col: d.Pos.Col, Severity: sev,
			SevLabel: t(l, "adm_"+sev), Message: d.Message, Hint: d.Hint})
	}
	return out
}

type changeView struct {
	Text     string
	Blocking bool
}

type fileChangeView struct {
	Name, Kind, Lines string
}

type planView struct {
	Package, From, To string
	Files             []fileChangeView
	Changes           []changeView
	Warnings          []diagView
	Blocking          bool
}

// hidden is a field a confirm form carries on.
type hidden struct{ Name, Value string }

type planData struct {
	Package  string
	Intro    string
	Plans    []planView
	Errors   []diagView // the checker's errors of a refused version
	Error    string     // another refusal, in words
	Archive  []archiveRow
	Archived bool   // the uninstall shows what it archives
	Confirm  string // where the confirm form posts; "" when it cannot go on
	Hidden   []hidden
	Back     string
	BackText string
	AskNote  bool
	Button   string
}

type archiveRow struct {
	Entity, Label string
	Records       int64
}

// planOf renders a plan in language l, with the labels of the current model
// (or of next, for what only the new version has).
func (u *UI) planOf(p *packages.Plan, next *ytemplate.Model, l string) planView {
	pv := planView{Package: p.Package, From: p.From, To: p.To, Blocking: p.Blocking()}
	if pv.From == "" {
		pv.From = t(l, "adm_not_installed")
	}
	for _, f := range p.Files {
		pv.Files = append(pv.Files, fileChangeView{Name: f.Name, Kind: t(l, "adm_file_"+f.Kind),
			Lines: fill(t(l, "adm_lines_changed"), "{a}", strconv.Itoa(f.Added), "{r}", strconv.Itoa(f.Removed))})
	}
	models := []*ytemplate.Model{u.d.Packages.Model(), next}
	entName := func(e string) string {
		for _, m := range models {
			if m != nil && m.Entities[e] != nil {
				return entityLabel(m.Entities[e], l) + " (" + e + ")"
			}
		}
		return e
	}
	fieldName := func(e, f string) string {
		for _, m := range models {
			if m == nil || m.Entities[e] == nil {
				continue
			}
			ent := m.Entities[e]
			if fd, ok := ent.Decl.Fields.Get(f); ok && fd != nil {
				if s := label(fd.Label, l); s != "" {
					return entityLabel(ent, l) + "." + s + " (" + f + ")"
				}
			}
			if st, ok := ent.Decl.States.Get(f); ok && st != nil {
				if s := label(st.Label, l); s != "" {
					return entityLabel(ent, l) + "." + s + " (" + f + ")"
				}
			}
		}
		return e + "." + f
	}
	for _, ch := range p.Changes {
		key := "adm_" + ch.Kind
		if ch.Kind == "type_changed" && ch.Blocking {
			key = "adm_type_changed_block"
		}
		text := ch.Message
		if _, ok := texts[key]; ok {
			text = fill(t(l, key), "{e}", entName(ch.Entity), "{f}", fieldName(ch.Entity, ch.Name),
				"{from}", ch.Entity+"."+ch.From, "{n}", strconv.FormatInt(ch.Records, 10))
		}
		pv.Changes = append(pv.Changes, changeView{Text: text, Blocking: ch.Blocking})
	}
	for _, d := range diagViews(p.Diagnostics, l) {
		if d.Severity == "warning" {
			pv.Warnings = append(pv.Warnings, d)
		}
	}
	return pv
}

// refusal fills data from the error of a refused change; it reports
// whether err was one the page can show.
func refusal(data *planData, err error, l string) bool {
	var ce *packages.CheckError
	switch {
	case errors.As(err, &ce):
		for _, d := range diagViews(ce.Diagnostics, l) {
			if d.Severity == "error" {
				data.Errors = append(data.Errors, d)
			}
		}
	case errors.Is(err, packages.ErrBreaking):
		// The plan, with its blocking changes, says why.
	case errors.Is(err, packages.ErrInvalid), errors.Is(err, packages.ErrUnknown), errors.Is(err, packages.ErrInUse),
		strings.HasPrefix(err.Error(), "packages: "):
		data.Error = err.Error()
	default:
		return false
	}
	data.Confirm = ""
	return true
}

func (u *UI) renderPlan(c fiber.Ctx, status int, title string, data *planData) error {
	return u.render(c, status, "admin_plan", u.newPage(c, title, data))
}

// planOutcome ends a change that shows its plan first: a refused change
// shows the plan with the reasons (422), a dry run the plan to confirm, and
// a change made goes on to done.
func (u *UI) planOutcome(c fiber.Ctx, err error, dry bool, l, title string, data *planData, done string) error {
	if err != nil {
		if !refusal(data, err, l) {
			return u.fail(c, err)
		}
		return u.renderPlan(c, fiber.StatusUnprocessableEntity, title, data)
	}
	if dry {
		return u.renderPlan(c, fiber.StatusOK, title, data)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To(done)
}

func (u *UI) installPlan(c fiber.Ctx) error { return u.catalogChange(c, "install", true) }
func (u *UI) install(c fiber.Ctx) error     { return u.catalogChange(c, "install", false) }
func (u *UI) upgradePlan(c fiber.Ctx) error { return u.catalogChange(c, "upgrade", true) }
func (u *UI) upgrade(c fiber.Ctx) error     { return u.catalogChange(c, "upgrade", false) }

// catalogChange installs or upgrades a catalog package; with dry it shows
// the plan and asks to confirm.
func (u *UI) catalogChange(c fiber.Ctx, action string, dry bool) error {
	l, name := lang(c), c.Params("name")
	opt := packages.Options{DryRun: dry, By: byName(c)}
	var plans []*packages.Plan
	var err error
	if action == "install" {
		plans, err = u.d.Packages.Install(c.Context(), name, opt)
	} else {
		var p *packages.Plan
		p, err = u.d.Packages.Upgrade(c.Context(), name, opt)
		if p != nil {
			plans = append(plans, p)
		}
	}
	title := fill(t(l, "adm_"+action+"_title"), "{p}", name)
	data := &planData{Package: name, Intro: t(l, "adm_plan_intro"), Confirm: "/admin/packages/" + name + "/" + action,
		Back: "/admin/packages", BackText: t(l, "adm_back_catalog"), Button: t(l, "adm_"+action)}
	for _, p := range plans {
		pv := u.planOf(p, nil, l)
		if pv.Blocking {
			data.Confirm = ""
		}
		data.Plans = append(data.Plans, pv)
	}
	return u.planOutcome(c, err, dry, l, title, data, "/admin/packages?msg=adm_"+action+"ed")
}

func (u *UI) uninstallPlan(c fiber.Ctx) error { return u.uninstallDo(c, true) }
func (u *UI) uninstall(c fiber.Ctx) error     { return u.uninstallDo(c, false) }

// uninstallDo uninstalls a package; with dry it shows what it would
// archive and asks to confirm.
func (u *UI) uninstallDo(c fiber.Ctx, dry bool) error {
	l, name := lang(c), c.Params("name")
	force := !dry && c.FormValue("force") == "1"
	rep, err := u.d.Packages.Uninstall(c.Context(), name, dry || force, packages.Options{DryRun: dry, By: byName(c)})
	title := fill(t(l, "adm_uninstall_title"), "{p}", name)
	data := &planData{Package: name, Archived: true, Confirm: "/admin/packages/" + name + "/uninstall",
		Back: "/admin/packages", BackText: t(l, "adm_back_catalog"), Button: t(l, "adm_uninstall"),
		Hidden: []hidden{{"force", "1"}}}
	if rep != nil {
		m := u.d.Packages.Model()
		for _, e := range slices.Sorted(maps.Keys(rep.Records)) {
			lb := e
			if ent := m.Entities[e]; ent != nil {
				lb = entityLabel(ent, l)
			}
			data.Archive = append(data.Archive, archiveRow{Entity: e, Label: lb, Records: rep.Records[e]})
		}
	}
	return u.planOutcome(c, err, dry, l, title, data, "/admin/packages?msg=adm_uninstalled")
}

// --- Editor ----------------------------------------------------------------

type editorData struct {
	Package, Label, Version string
	Base                    int64 // the active publish number the edits start from
	Files                   []string
	Current                 string
	Text                    string
	Lines                   []int
	Highlighted             template.HTML
	Check                   *checkResult
	Roles                   []option
	Script                  map[string]any // for editor.js, as JSON
}

// checkResult is what the editor shows of a candidate: the checker's report
// and the preview of one entity's form.
type checkResult struct {
	Errors      int           `json:"errors"`
	Warnings    int           `json:"warnings"`
	Summary     string        `json:"summary"`
	Diagnostics []diagView    `json:"diagnostics"`
	Entity      string        `json:"entity"`
	Preview     template.HTML `json:"preview"`
	Note        string        `json:"note"`
}

func (u *UI) editor(c fiber.Ctx) error {
	ctx, l, name := c.Context(), lang(c), c.Params("name")
	act, err := u.d.Packages.Active(ctx, name)
	if errors.Is(err, packages.ErrUnknown) {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	if err != nil {
		return u.fail(c, err)
	}
	names := sortedFiles(act.Files)
	cur := c.Query("file")
	if _, ok := act.Files[cur]; !ok {
		cur = "package.yaml"
	}
	m := u.d.Packages.Model()
	p := m.Packages[name]
	data := &editorData{Package: name, Version: act.Version, Base: act.N, Files: names, Current: cur, Text: act.Files[cur]}
	if p != nil && p.Decl != nil {
		data.Label = label(p.Decl.Label, l)
	}
	for i := range splitLines(data.Text) {
		data.Lines = append(data.Lines, i+1)
	}
	if len(data.Lines) == 0 {
		data.Lines = []int{1}
	}
	role := c.Query("role")
	data.Check, err = u.check(c, name, act.Files, cur, "", role)
	if err != nil {
		return u.fail(c, err)
	}
	data.Roles = u.previewRoles(m, role, l)
	data.Script = map[string]any{
		"package": name, "base": act.N, "files": act.Files, "current": cur,
		"check": "/admin/packages/" + name + "/check", "csrf": session(c).CSRF, "diagnostics": data.Check.Diagnostics,
		"texts": map[string]string{
			"checking": t(l, "adm_checking"), "failed": t(l, "adm_check_failed"), "changed": t(l, "adm_changed"),
			"discard": t(l, "adm_discard_confirm"),
		},
	}
	title := t(l, "adm_editor") + " · " + name
	return u.render(c, fiber.StatusOK, "admin_editor", u.newPage(c, title, data))
}

// sortedFiles lists package files: package.yaml, the YAML files, then the
// folders (prints, tests).
func sortedFiles(files map[string]string) []string {
	names := slices.Collect(maps.Keys(files))
	rank := func(n string) int {
		switch {
		case n == "package.yaml":
			return 0
		case !strings.Contains(n, "/"):
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if a, b := rank(names[i]), rank(names[j]); a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	return names
}

// previewRoles are the roles the preview may take: admin, then the roles
// of the installed packages.
func (u *UI) previewRoles(m *ytemplate.Model, selected, l string) []option {
	out := []option{{Value: "", Label: t(l, "adm_preview_admin"), Selected: selected == ""}}
	for _, role := range slices.Sorted(maps.Keys(m.Roles)) {
		if role == auth.AdminRole {
			continue
		}
		text := role
		if s := label(m.Roles[role], l); s != "" {
			text = s + " (" + role + ")"
		}
		out = append(out, option{Value: role, Label: text, Selected: role == selected})
	}
	return out
}

// postedFiles reads the files of a candidate: the JSON of every file when
// the editor's script sent it, else the active files with the one posted
// in the plain form replaced.
func (u *UI) postedFiles(c fiber.Ctx, name string) (map[string]string, error) {
	if js := c.FormValue("files"); js != "" {
		var files map[string]string
		if err := json.Unmarshal([]byte(js), &files); err != nil || len(files) == 0 {
			return nil, fmt.Errorf("%w: the files are not a JSON object of texts", packages.ErrInvalid)
		}
		for k := range files {
			if k == "" || path.IsAbs(k) || strings.Contains(k, "..") || strings.HasPrefix(k, ".") {
				return nil, fmt.Errorf("%w: bad file name %q", packages.ErrInvalid, k)
			}
		}
		return files, nil
	}
	act, err := u.d.Packages.Active(c.Context(), name)
	if err != nil {
		return nil, err
	}
	files := maps.Clone(act.Files)
	if f := c.FormValue("file"); f != "" {
		if _, ok := files[f]; !ok {
			return nil, fmt.Errorf("%w: %s has no file %q", packages.ErrUnknown, name, f)
		}
		files[f] = strings.ReplaceAll(c.FormValue("text"), "\r\n", "\n")
	}
	return files, nil
}

// checkCandidate answers the editor's live check: the checker's report on
// the whole candidate package and the preview, as JSON. Nothing is
// published.
func (u *UI) checkCandidate(c fiber.Ctx) error {
	name := c.Params("name")
	files, err := u.postedFiles(c, name)
	if err != nil {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": err.Error()})
	}
	res, err := u.check(c, name, files, c.FormValue("file"), c.FormValue("entity"), c.FormValue("role"))
	if err != nil {
		return u.fail(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(res)
}

// check builds the candidate and renders the preview of the entity of file
// (else entity, else the package's first).
func (u *UI) check(c fiber.Ctx, name string, files map[string]string, file, entity, role string) (*checkResult, error) {
	l := lang(c)
	cand, err := u.d.Packages.Candidate(c.Context(), name, files)
	if err != nil {
		return nil, err
	}
	res := &checkResult{Diagnostics: diagViews(cand.Diagnostics, l)}
	res.Errors, res.Warnings = cand.Diagnostics.Count()
	var parts []string
	if res.Errors == 0 {
		parts = append(parts, t(l, "adm_no_problems"))
	} else {
		parts = append(parts, fill(t(l, "adm_n_errors"), "{n}", strconv.Itoa(res.Errors)))
	}
	if res.Warnings > 0 {
		parts = append(parts, fill(t(l, "adm_n_warnings"), "{n}", strconv.Itoa(res.Warnings)))
	}
	res.Summary = strings.Join(parts, "，")
	if l == "en" {
		res.Summary = strings.Join(parts, ", ")
	}
	if cand.Model == nil {
		res.Note = t(l, "adm_preview_stale")
		return res, nil
	}
	m := cand.Model
	var ent *ytemplate.Entity
	for _, e := range m.Entities {
		if e.Package == name && e.File == name+"/"+file {
			ent = e
		}
	}
	if ent == nil && entity != "" && m.Entities[entity] != nil && m.Entities[entity].Package == name {
		ent = m.Entities[entity]
	}
	if ent == nil && m.Packages[name] != nil && len(m.Packages[name].Entities) > 0 {
		ent = m.Entities[m.Packages[name].Entities[0]]
	}
	if ent == nil {
		res.Note = t(l, "adm_preview_none")
		return res, nil
	}
	res.Entity = ent.Name
	res.Preview, res.Note, err = u.preview(c, m, ent, role)
	return res, err
}

// preview renders the new-record form of ent in candidate model m exactly as
// the form page does, as a user with role (admin when "") sees it.
func (u *UI) preview(c fiber.Ctx, m *ytemplate.Model, ent *ytemplate.Entity, role string) (template.HTML, string, error) {
	l := lang(c)
	me := session(c).User
	usr := records.User{ID: me.ID, Name: me.Name, Roles: []string{auth.AdminRole}, Lang: l}
	if role != "" {
		usr.Roles = []string{role}
	}
	eng := u.d.Records.WithModel(m)
	fa, _, err := eng.FormAccess(c.Context(), usr, ent.Name, "")
	if err != nil {
		return "", "", err
	}
	note := ""
	if !fa.Allowed {
		note = t(l, "adm_preview_denied")
	}
	ppl, err := u.people(c.Context())
	if err != nil {
		return "", "", err
	}
	b := &builder{u: u, ctx: c.Context(), usr: usr, l: l, fa: fa, view: map[string]string{}, rowsV: map[string][][]string{},
		colsV: map[string]map[string]int{}, rowIdx: map[string]map[string]int{}, errs: map[string]string{}, ppl: ppl,
		linkOp: map[string][]option{}, more: map[string]bool{}}
	data := &formData{Entity: ent.Name, EntityLabel: entityLabel(ent, l), Action: "/r/" + ent.Name + "/new", Cancel: "/r/" + ent.Name}
	data.Sections, err = b.form(ent, literalDefaults(ent))
	if err != nil {
		return "", "", err
	}
	p := &page{Lang: l, Title: data.EntityLabel + " · " + t(l, "new"), Data: data}
	var buf bytes.Buffer
	if err := u.pages["form"].ExecuteTemplate(&buf, "content", p); err != nil {
		return "", "", fmt.Errorf("ui: preview: %w", err)
	}
	return template.HTML(buf.String()), note, nil
}

// --- Publish ----------------------------------------------------------------

// publishPlan shows what publishing the edited files would do.
func (u *UI) publishPlan(c fiber.Ctx) error {
	return u.publishStep(c, true)
}

func (u *UI) publish(c fiber.Ctx) error {
	return u.publishStep(c, false)
}

func (u *UI) publishStep(c fiber.Ctx, dry bool) error {
	ctx, l, name := c.Context(), lang(c), c.Params("name")
	title := fill(t(l, "adm_publish_title"), "{p}", name)
	edit := "/admin/packages/" + name + "/edit"
	data := &planData{Package: name, Intro: t(l, "adm_plan_intro"), Confirm: "/admin/packages/" + name + "/publish",
		Back: edit, BackText: t(l, "adm_back_editor"), AskNote: true, Button: t(l, "adm_publish_now")}
	files, err := u.postedFiles(c, name)
	if err != nil {
		if refusal(data, err, l) {
			return u.renderPlan(c, fiber.StatusUnprocessableEntity, title, data)
		}
		return u.fail(c, err)
	}
	act, err := u.d.Packages.Active(ctx, name)
	if err != nil && !errors.Is(err, packages.ErrUnknown) {
		return u.fail(c, err)
	}
	base := c.FormValue("base")
	if act != nil && base != "" && base != strconv.FormatInt(act.N, 10) {
		data.Error, data.Confirm = t(l, "adm_conflict"), ""
		return u.renderPlan(c, fiber.StatusConflict, title, data)
	}
	js, _ := json.Marshal(files)
	data.Hidden = []hidden{{"files", string(js)}, {"base", base}}
	cand, err := u.d.Packages.Candidate(ctx, name, files)
	if err != nil {
		return u.fail(c, err)
	}
	plan, err := u.d.Packages.Publish(ctx, files, packages.Options{DryRun: dry, By: byName(c), Note: c.FormValue("note")})
	done := edit + "?msg=adm_published"
	if plan != nil {
		pv := u.planOf(plan, cand.Model, l)
		data.Plans = append(data.Plans, pv)
		if act != nil && maps.Equal(act.Files, files) {
			data.Intro, data.Confirm = t(l, "adm_plan_same"), ""
		}
		done += "&published=" + url.QueryEscape(plan.To)
	}
	return u.planOutcome(c, err, dry, l, title, data, done)
}

// --- Versions -----------------------------------------------------------------

type versionRow struct {
	N                 int64
	Version, By, When string
	Note              string
	Active            bool
}

type fileDiff struct {
	Name, Kind, Lines string
	Hunks             [][]diffLine
}

type versionsData struct {
	Package  string
	Rows     []versionRow
	DiffN    int64
	ActiveN  int64
	DiffHead string
	Diffs    []fileDiff
}

func (u *UI) versions(c fiber.Ctx) error {
	ctx, l, name := c.Context(), lang(c), c.Params("name")
	vs, err := u.d.Packages.Versions(ctx, name)
	if err != nil {
		return u.fail(c, err)
	}
	if len(vs) == 0 {
		return u.errorPage(c, fiber.StatusNotFound, "")
	}
	act, err := u.d.Packages.Active(ctx, name)
	if err != nil && !errors.Is(err, packages.ErrUnknown) {
		return u.fail(c, err)
	}
	data := &versionsData{Package: name}
	if act != nil {
		data.ActiveN = act.N
	}
	var pick *packages.Version
	n, _ := strconv.ParseInt(c.Query("diff"), 10, 64)
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		data.Rows = append(data.Rows, versionRow{N: v.N, Version: v.Version, By: v.By, When: when(v.PublishedAt), Note: v.Note, Active: v.N == data.ActiveN})
		if v.N == n {
			pick = v
		}
	}
	if pick != nil && act != nil {
		data.DiffN = pick.N
		data.DiffHead = fill(t(l, "adm_diff_title"), "{n}", strconv.FormatInt(pick.N, 10), "{m}", strconv.FormatInt(act.N, 10))
		for _, f := range sortedFiles(mergeKeys(pick.Files, act.Files)) {
			a, had := pick.Files[f]
			b, has := act.Files[f]
			if had && has && a == b {
				continue
			}
			d := lineDiff(a, b)
			add, rm := diffCounts(d)
			kind := "changed"
			switch {
			case !had:
				kind = "added"
			case !has:
				kind = "removed"
			}
			data.Diffs = append(data.Diffs, fileDiff{Name: f, Kind: t(l, "adm_file_"+kind),
				Lines: fill(t(l, "adm_lines_changed"), "{a}", strconv.Itoa(add), "{r}", strconv.Itoa(rm)), Hunks: hunks(d, 3)})
		}
	}
	return u.render(c, fiber.StatusOK, "admin_versions", u.newPage(c, fill(t(l, "adm_versions_of"), "{p}", name), data))
}

func mergeKeys(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	for k, v := range b {
		out[k] = v
	}
	return out
}

// hunks keeps the changed lines of a diff with ctx lines around them.
func hunks(d []diffLine, ctx int) [][]diffLine {
	keep := make([]bool, len(d))
	for i, l := range d {
		if l.Op == " " {
			continue
		}
		for j := max(0, i-ctx); j <= min(len(d)-1, i+ctx); j++ {
			keep[j] = true
		}
	}
	var out [][]diffLine
	var cur []diffLine
	for i, l := range d {
		if keep[i] {
			cur = append(cur, l)
			continue
		}
		if cur != nil {
			out = append(out, cur)
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

// when shows a stored time in local time.
func when(s string) string {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return tm.Local().Format("2006-01-02 15:04")
}

func (u *UI) rollbackPlan(c fiber.Ctx) error { return u.rollbackDo(c, true) }
func (u *UI) rollback(c fiber.Ctx) error     { return u.rollbackDo(c, false) }

// rollbackDo republishes version #n; with dry it shows the plan first.
func (u *UI) rollbackDo(c fiber.Ctx, dry bool) error {
	l, name := lang(c), c.Params("name")
	n, err := strconv.ParseInt(c.FormValue("n"), 10, 64)
	if err != nil || n <= 0 {
		return u.errorPage(c, fiber.StatusBadRequest, "")
	}
	title := fill(t(l, "adm_rollback_title"), "{p}", name, "{n}", strconv.FormatInt(n, 10))
	data := &planData{Package: name, Intro: t(l, "adm_plan_intro"), Confirm: "/admin/packages/" + name + "/rollback",
		Back: "/admin/packages/" + name + "/versions", BackText: t(l, "adm_versions"), Button: t(l, "adm_confirm"),
		Hidden: []hidden{{"n", strconv.FormatInt(n, 10)}}}
	plan, err := u.d.Packages.Rollback(c.Context(), name, "#"+strconv.FormatInt(n, 10), packages.Options{DryRun: dry, By: byName(c)})
	if plan != nil {
		data.Plans = append(data.Plans, u.planOf(plan, nil, l))
	}
	return u.planOutcome(c, err, dry, l, title, data, "/admin/packages/"+name+"/versions?msg=adm_rolled_back")
}
