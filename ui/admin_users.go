package ui

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/server"
)

// Users and roles (admins only), and the change-password page every user
// has, where a user whose password must change is sent after signing in.

func init() { maps.Copy(texts, admUserTexts) }

var admUserTexts = map[string][2]string{
	"adm_user":                     {"用户", "User"},
	"adm_name":                     {"姓名", "Name"},
	"adm_roles":                    {"角色", "Roles"},
	"adm_other_roles":              {"其他角色（以逗号分隔）", "Other roles (comma separated)"},
	"adm_status":                   {"状态", "Status"},
	"adm_enabled_state":            {"启用", "Active"},
	"adm_disabled_state":           {"已停用", "Deactivated"},
	"adm_must_change":              {"须修改密码", "Must change password"},
	"adm_add_user":                 {"新增用户", "Add a user"},
	"adm_initial_password":         {"初始密码", "Initial password"},
	"adm_initial_password_help":    {"留空则自动生成；只显示一次。", "Leave empty to generate one; it is shown once."},
	"adm_must_change_first":        {"首次登录时须修改密码", "Must change the password at first sign-in"},
	"adm_create":                   {"创建用户", "Create user"},
	"adm_save_user":                {"保存", "Save"},
	"adm_disable":                  {"停用", "Deactivate"},
	"adm_enable":                   {"启用", "Reactivate"},
	"adm_reset":                    {"重置密码", "Reset password"},
	"adm_reset_confirm":            {"重置后旧密码立即失效，用户须在下次登录时修改新密码。", "The old password stops working at once; the user must change the new one at the next sign-in."},
	"adm_one_time":                 {"请把此密码交给用户，它只显示这一次：", "Hand this password to the user; it is shown only this once:"},
	"adm_user_created":             {"已创建用户 {u}。", "User {u} is created."},
	"adm_password_reset":           {"已重置 {u} 的密码。", "The password of {u} is reset."},
	"adm_audit":                    {"用户变更与登录记录", "Changes to users and sign-ins"},
	"adm_audit_created":            {"创建了用户", "created the user"},
	"adm_audit_roles":              {"修改角色", "changed the roles"},
	"adm_audit_language":           {"修改语言", "changed the language"},
	"adm_audit_disabled":           {"停用了用户", "deactivated the user"},
	"adm_audit_enabled":            {"启用了用户", "reactivated the user"},
	"adm_audit_password_reset":     {"重置了密码", "reset the password"},
	"adm_audit_login":              {"登录成功", "signed in"},
	"adm_audit_login_failed":       {"登录失败（用户名或密码错误）", "failed to sign in (wrong username or password)"},
	"adm_audit_login_rate_limited": {"登录被拒绝（失败次数过多）", "was refused sign-in (too many failed attempts)"},
	"adm_audit_logout":             {"退出登录", "signed out"},
	"adm_audit_token_created":      {"创建了 API 令牌", "created an API token"},
	"adm_audit_token_revoked":      {"吊销了 API 令牌", "revoked an API token"},
	"adm_audit_cli":                {"命令行", "command line"},
	"adm_err_exists":               {"用户名已存在", "The username is taken"},
	"adm_err_username":             {"用户名须为 2–32 个小写字母、数字或 . _ -", "A username is 2 to 32 of a-z, 0-9, '.', '_', '-'"},
	"adm_err_role":                 {"角色须为小写英文标识，如 sales_manager", "A role is a lower-case identifier such as sales_manager"},
	"adm_err_weak":                 {"密码至少 10 个字符，且不能与用户名相同", "A password has at least 10 characters and differs from the username"},
	"adm_err_last_admin":           {"至少要保留一个启用的管理员", "At least one active administrator must remain"},
	"adm_err_invalid":              {"输入无效：", "Invalid input: "},
	"adm_lang_zh-CN":               {"中文", "Chinese"},
	"adm_lang_en":                  {"英文", "English"},
	"adm_change_password":          {"修改密码", "Change password"},
	"adm_must_change_notice":       {"您的密码是管理员设置的临时密码，请先修改密码再继续使用。", "Your password was set by an administrator; change it before you go on."},
	"adm_current_password":         {"当前密码", "Current password"},
	"adm_new_password":             {"新密码", "New password"},
	"adm_repeat_password":          {"再次输入新密码", "New password again"},
	"adm_err_current":              {"当前密码不正确", "The current password is wrong"},
	"adm_err_repeat":               {"两次输入的新密码不一致", "The two new passwords differ"},
	"msg_adm_user_saved":           {"已保存", "Saved"},
	"msg_adm_password_changed":     {"密码已修改", "Your password is changed"},
}

// mustChangeExempt are the pages a user whose password must change may
// still open.
func mustChangeExempt(p string) bool {
	return p == "/password" || p == "/logout"
}

// requirePasswordChange sends a user whose password must change to the
// change-password page; it reports whether it answered.
func (u *UI) requirePasswordChange(c fiber.Ctx) (bool, error) {
	s := session(c)
	if s == nil || s.User == nil || !s.User.MustChangePassword || mustChangeExempt(c.Path()) {
		return false, nil
	}
	if c.Method() != fiber.MethodGet {
		return true, u.errorPage(c, fiber.StatusForbidden, t(lang(c), "adm_must_change_notice"))
	}
	return true, c.Redirect().Status(fiber.StatusSeeOther).To("/password?next=" + url.QueryEscape(c.OriginalURL()))
}

type passwordData struct {
	Next       string
	MustChange bool
	Errors     map[string]string
}

func (u *UI) passwordPage(c fiber.Ctx) error {
	l := lang(c)
	data := &passwordData{Next: localPath(c.Query("next")), MustChange: session(c).User.MustChangePassword, Errors: map[string]string{}}
	return u.render(c, fiber.StatusOK, "admin_password", u.newPage(c, t(l, "adm_change_password"), data))
}

// changePassword checks the current password, sets the new one, and signs
// the user in again (the change ends the sessions that began before it).
func (u *UI) changePassword(c fiber.Ctx) error {
	l := lang(c)
	me := session(c).User
	data := &passwordData{Next: localPath(c.FormValue("next")), MustChange: me.MustChangePassword, Errors: map[string]string{}}
	next := c.FormValue("new")
	if next != c.FormValue("repeat") {
		data.Errors["repeat"] = t(l, "adm_err_repeat")
		return u.render(c, fiber.StatusUnprocessableEntity, "admin_password", u.newPage(c, t(l, "adm_change_password"), data))
	}
	err := u.d.Auth.ChangePassword(c.Context(), me.ID, c.FormValue("current"), next)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		data.Errors["current"] = t(l, "adm_err_current")
	case errors.Is(err, auth.ErrWeakPassword):
		data.Errors["new"] = t(l, "adm_err_weak")
	case err != nil:
		return u.fail(c, err)
	}
	if len(data.Errors) > 0 {
		return u.render(c, fiber.StatusUnprocessableEntity, "admin_password", u.newPage(c, t(l, "adm_change_password"), data))
	}
	s, err := u.d.Auth.Login(c.Context(), me.Username, next, c.IP())
	if err != nil {
		return u.fail(c, err)
	}
	c.Cookie(&fiber.Cookie{Name: server.SessionCookie, Value: s.Token, Path: "/", HTTPOnly: true, Secure: u.d.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: s.ExpiresAt})
	to := data.Next
	if to == "/password" || strings.HasPrefix(to, "/password?") {
		to = "/"
	}
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To(to + sep + "msg=adm_password_changed")
}

type userRow struct {
	ID, Username, Name, Roles, Language string
	Disabled, MustChange                bool
}

type auditRow struct {
	When, Actor, Target, Action, From, To, IP string
}

// auditRowOf shows an audit entry; name gives a user's name from an id.
// A sign-in event names its user once, as the actor; a failed sign-in for
// a username that belongs to no user shows the username tried.
func auditRowOf(l string, e auth.AuditEntry, name func(id string) string) auditRow {
	r := auditRow{When: e.At.Local().Format("2006-01-02 15:04"), Action: t(l, "adm_audit_"+e.Action), From: e.From, To: e.To, IP: e.IP}
	switch {
	case e.Actor == auth.ActorCLI:
		r.Actor = t(l, "adm_audit_cli")
	case e.Actor != "":
		r.Actor = name(e.Actor)
	}
	if e.Target != "" && e.Target != e.Actor {
		r.Target = name(e.Target)
	}
	if r.Actor == "" {
		r.Actor = e.Username
		if e.Target != "" {
			r.Actor, r.Target = name(e.Target), ""
		}
	}
	return r
}

type usersData struct {
	Users     []userRow
	Roles     []option // known roles, for the add form
	Languages []option
	Form      map[string]string
	Error     string
	OneTime   string // a generated password, shown once
	Done      string
	Audit     []auditRow
}

// knownRoles are the roles of the installed packages and admin, with
// labels, those in selected checked.
func (u *UI) knownRoles(l string, selected []string) []option {
	m := u.d.Packages.Model()
	names := append(slices.Collect(maps.Keys(m.Roles)), auth.AdminRole)
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]option, 0, len(names))
	for _, r := range names {
		text := r
		if lb, ok := m.Roles[r]; ok {
			if s := label(lb, l); s != "" {
				text = s
			}
		} else if r == auth.AdminRole {
			text = t(l, "adm_admin")
		}
		out = append(out, option{Value: r, Label: text + " (" + r + ")", Selected: slices.Contains(selected, r)})
	}
	return out
}

func languages(l, selected string) []option {
	out := make([]option, 0, len(auth.Languages))
	for _, code := range auth.Languages {
		out = append(out, option{Value: code, Label: t(l, "adm_lang_"+code), Selected: code == selected})
	}
	return out
}

// roleLabels shows roles by their labels.
func (u *UI) roleLabels(roles []string, l string) string {
	m := u.d.Packages.Model()
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if lb, ok := m.Roles[r]; ok && label(lb, l) != "" {
			out = append(out, label(lb, l))
		} else if r == auth.AdminRole {
			out = append(out, t(l, "adm_admin"))
		} else {
			out = append(out, r)
		}
	}
	sep := "、"
	if l == "en" {
		sep = ", "
	}
	return strings.Join(out, sep)
}

func (u *UI) usersData(c fiber.Ctx) (*usersData, error) {
	l := lang(c)
	list, err := u.d.Auth.Users(c.Context())
	if err != nil {
		return nil, err
	}
	data := &usersData{Roles: u.knownRoles(l, nil), Languages: languages(l, "zh-CN"), Form: map[string]string{"must_change": "1"}}
	byID := map[string]string{}
	for _, x := range list {
		byID[x.ID] = x.Username
		data.Users = append(data.Users, userRow{ID: x.ID, Username: x.Username, Name: x.Name, Roles: u.roleLabels(x.Roles, l),
			Language: t(l, "adm_lang_"+x.Language), Disabled: x.Disabled, MustChange: x.MustChangePassword})
	}
	log, err := u.d.Auth.AuditLog(c.Context(), "", 50)
	if err != nil {
		return nil, err
	}
	for _, e := range log {
		data.Audit = append(data.Audit, auditRowOf(l, e, func(id string) string { return byID[id] }))
	}
	return data, nil
}

func (u *UI) usersPage(c fiber.Ctx) error {
	data, err := u.usersData(c)
	if err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "admin_users", u.newPage(c, t(lang(c), "adm_users"), data))
}

// postedRoles reads the checked roles and the other roles typed.
func postedRoles(c fiber.Ctx) []string {
	var roles []string
	for _, v := range c.Request().PostArgs().PeekMulti("roles") {
		roles = append(roles, string(v))
	}
	return append(roles, strings.FieldsFunc(c.FormValue("other_roles"), func(r rune) bool { return r == ',' || r == '，' || r == ' ' })...)
}

// userError says what is wrong with a refused user change.
func userError(err error, l string) (string, bool) {
	switch {
	case errors.Is(err, auth.ErrExists):
		return t(l, "adm_err_exists"), true
	case errors.Is(err, auth.ErrWeakPassword):
		return t(l, "adm_err_weak"), true
	case errors.Is(err, auth.ErrInvalid):
		msg := err.Error()
		switch {
		case strings.Contains(msg, "username"):
			return t(l, "adm_err_username"), true
		case strings.Contains(msg, "role"):
			return t(l, "adm_err_role"), true
		}
		return t(l, "adm_err_invalid") + msg, true
	}
	return "", false
}

func (u *UI) addUser(c fiber.Ctx) error {
	l := lang(c)
	ctx := c.Context()
	pw := c.FormValue("password")
	generated := pw == ""
	if generated {
		pw = auth.GeneratePassword()
	}
	roles := postedRoles(c)
	nu := auth.NewUser{Username: c.FormValue("username"), Name: c.FormValue("name"), Roles: roles, Language: c.FormValue("language"),
		Password: pw, MustChangePassword: generated || c.FormValue("must_change") == "1"}
	created, err := u.d.Auth.CreateUser(ctx, nu)
	if err != nil {
		msg, ok := userError(err, l)
		if !ok {
			return u.fail(c, err)
		}
		data, derr := u.usersData(c)
		if derr != nil {
			return u.fail(c, derr)
		}
		data.Error = msg
		data.Roles = u.knownRoles(l, roles)
		data.Languages = languages(l, nu.Language)
		data.Form = map[string]string{"username": nu.Username, "name": nu.Name, "other_roles": c.FormValue("other_roles"), "must_change": c.FormValue("must_change")}
		return u.render(c, fiber.StatusUnprocessableEntity, "admin_users", u.newPage(c, t(l, "adm_users"), data))
	}
	if err := u.d.Auth.Audit(ctx, auth.AuditEntry{Action: auth.AuditCreated, Actor: session(c).User.ID, Target: created.ID,
		To: strings.Join(created.Roles, ",")}); err != nil {
		return u.fail(c, err)
	}
	data, err := u.usersData(c)
	if err != nil {
		return u.fail(c, err)
	}
	data.Done = fill(t(l, "adm_user_created"), "{u}", created.Username)
	if generated {
		data.OneTime = pw
	}
	return u.render(c, fiber.StatusOK, "admin_users", u.newPage(c, t(l, "adm_users"), data))
}

type userData struct {
	User       *auth.User
	Roles      []option
	OtherRoles string
	Languages  []option
	Error      string
	OneTime    string
	Done       string
	Audit      []auditRow
}

func (u *UI) userData(c fiber.Ctx, x *auth.User) (*userData, error) {
	l := lang(c)
	data := &userData{User: x, Roles: u.knownRoles(l, x.Roles), Languages: languages(l, x.Language)}
	var other []string
	for _, r := range x.Roles {
		if !slices.ContainsFunc(data.Roles, func(o option) bool { return o.Value == r }) {
			other = append(other, r)
		}
	}
	data.OtherRoles = strings.Join(other, ", ")
	people, err := u.people(c.Context())
	if err != nil {
		return nil, err
	}
	log, err := u.d.Auth.AuditLog(c.Context(), x.ID, 50)
	if err != nil {
		return nil, err
	}
	for _, e := range log {
		r := auditRowOf(l, e, people.name)
		if r.Target != "" {
			r.Target = x.Username
		}
		data.Audit = append(data.Audit, r)
	}
	return data, nil
}

// target reads the user in the route, or answers 404.
func (u *UI) target(c fiber.Ctx) (*auth.User, bool, error) {
	x, err := u.d.Auth.User(c.Context(), c.Params("id"))
	if errors.Is(err, auth.ErrNotFound) {
		return nil, false, u.errorPage(c, fiber.StatusNotFound, "")
	}
	if err != nil {
		return nil, false, u.fail(c, err)
	}
	return x, true, nil
}

func (u *UI) userPage(c fiber.Ctx) error {
	x, ok, err := u.target(c)
	if !ok {
		return err
	}
	data, err := u.userData(c, x)
	if err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "admin_user", u.newPage(c, t(lang(c), "adm_user")+" "+x.Username, data))
}

// lastAdmin reports whether x is the only active admin.
func (u *UI) lastAdmin(c fiber.Ctx, x *auth.User) (bool, error) {
	if !x.HasRole(auth.AdminRole) || x.Disabled {
		return false, nil
	}
	list, err := u.d.Auth.Users(c.Context())
	if err != nil {
		return false, err
	}
	for _, o := range list {
		if o.ID != x.ID && !o.Disabled && o.HasRole(auth.AdminRole) {
			return false, nil
		}
	}
	return true, nil
}

// userRefused shows the user page again with a message.
func (u *UI) userRefused(c fiber.Ctx, x *auth.User, msg string) error {
	data, err := u.userData(c, x)
	if err != nil {
		return u.fail(c, err)
	}
	data.Error = msg
	return u.render(c, fiber.StatusUnprocessableEntity, "admin_user", u.newPage(c, t(lang(c), "adm_user")+" "+x.Username, data))
}

// saveUser sets roles and language, logging each change.
func (u *UI) saveUser(c fiber.Ctx) error {
	l := lang(c)
	ctx := c.Context()
	x, ok, err := u.target(c)
	if !ok {
		return err
	}
	roles := postedRoles(c)
	if !slices.Contains(roles, auth.AdminRole) {
		last, err := u.lastAdmin(c, x)
		if err != nil {
			return u.fail(c, err)
		}
		if last {
			return u.userRefused(c, x, t(l, "adm_err_last_admin"))
		}
	}
	me := session(c).User.ID
	before := strings.Join(x.Roles, ",")
	if err := u.d.Auth.SetRoles(ctx, x.ID, roles); err != nil {
		if msg, ok := userError(err, l); ok {
			return u.userRefused(c, x, msg)
		}
		return u.fail(c, err)
	}
	after, err := u.d.Auth.User(ctx, x.ID)
	if err != nil {
		return u.fail(c, err)
	}
	if now := strings.Join(after.Roles, ","); now != before {
		if err := u.d.Auth.Audit(ctx, auth.AuditEntry{Action: auth.AuditRoles, Actor: me, Target: x.ID, From: before, To: now}); err != nil {
			return u.fail(c, err)
		}
	}
	if lg := c.FormValue("language"); lg != x.Language {
		if err := u.d.Auth.SetLanguage(ctx, x.ID, lg); err != nil {
			if msg, ok := userError(err, l); ok {
				return u.userRefused(c, x, msg)
			}
			return u.fail(c, err)
		}
		if err := u.d.Auth.Audit(ctx, auth.AuditEntry{Action: auth.AuditLanguage, Actor: me, Target: x.ID, From: x.Language, To: lg}); err != nil {
			return u.fail(c, err)
		}
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/admin/users/" + url.PathEscape(x.ID) + "?msg=adm_user_saved")
}

func (u *UI) disableUser(c fiber.Ctx) error { return u.setActive(c, false) }
func (u *UI) enableUser(c fiber.Ctx) error  { return u.setActive(c, true) }

// setActive deactivates or reactivates a user; the last active admin stays.
func (u *UI) setActive(c fiber.Ctx, active bool) error {
	x, ok, err := u.target(c)
	if !ok {
		return err
	}
	action := auth.AuditEnabled
	if active {
		err = u.d.Auth.Enable(c.Context(), x.ID)
	} else {
		last, lerr := u.lastAdmin(c, x)
		if lerr != nil {
			return u.fail(c, lerr)
		}
		if last {
			return u.userRefused(c, x, t(lang(c), "adm_err_last_admin"))
		}
		action = auth.AuditDisabled
		err = u.d.Auth.Disable(c.Context(), x.ID)
	}
	if err != nil {
		return u.fail(c, err)
	}
	if err := u.d.Auth.Audit(c.Context(), auth.AuditEntry{Action: action, Actor: session(c).User.ID, Target: x.ID}); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect().Status(fiber.StatusSeeOther).To("/admin/users/" + url.PathEscape(x.ID) + "?msg=adm_user_saved")
}

// resetPassword sets a generated password, shown once, to be changed at
// the next sign-in.
func (u *UI) resetPassword(c fiber.Ctx) error {
	x, ok, err := u.target(c)
	if !ok {
		return err
	}
	pw, err := u.d.Auth.ResetPassword(c.Context(), x.ID)
	if err != nil {
		return u.fail(c, err)
	}
	if err := u.d.Auth.Audit(c.Context(), auth.AuditEntry{Action: auth.AuditPasswordReset, Actor: session(c).User.ID, Target: x.ID}); err != nil {
		return u.fail(c, err)
	}
	x, err = u.d.Auth.User(c.Context(), x.ID)
	if err != nil {
		return u.fail(c, err)
	}
	data, err := u.userData(c, x)
	if err != nil {
		return u.fail(c, err)
	}
	data.OneTime = pw
	data.Done = fill(t(lang(c), "adm_password_reset"), "{u}", x.Username)
	return u.render(c, fiber.StatusOK, "admin_user", u.newPage(c, t(lang(c), "adm_user")+" "+x.Username, data))
}
