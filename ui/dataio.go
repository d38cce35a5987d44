package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/dataio"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/server"
)

// Import with progress (issue #8, point 7):
//
//	GET  /import/{entity}      the upload form (CSV or XLSX)
//	POST /import/{entity}      starts a dataio import job as the user, then
//	                           shows its page
//	GET  /imports/{id}         the job: rows done of total, errors so far with
//	                           their row numbers; reports.js polls the JSON
//	                           below every 500 ms while it runs
//	GET  /ui/imports/{id}      the job as JSON, messages in the user's language
//
// The job is dataio's (kept in the store, run through the records engine,
// every row checked as a form submission); its owner or an admin may read it.
// Exports of the list page stream from GET /api/v1/export page by page (the
// download starts at once and the browser shows its progress; dataio has no
// export job).

var importTexts = map[string][2]string{
	"imp_import":      {"导入", "Import"},
	"imp_title":       {"导入{entity}", "Import: {entity}"},
	"imp_file":        {"文件（CSV 或 XLSX）", "File (CSV or XLSX)"},
	"imp_file_help":   {"第一行为标题行：字段名称或字段名，例如：{columns}", "The first row holds the headers: field labels or names, e.g. {columns}"},
	"imp_dry_run":     {"仅检查，不保存", "Check only, save nothing"},
	"imp_start":       {"开始导入", "Start the import"},
	"imp_no_file":     {"请选择要导入的文件", "Choose a file to import"},
	"imp_empty_file":  {"文件是空的", "The file is empty"},
	"imp_progress":    {"导入进度", "Import progress"},
	"imp_running":     {"正在导入…", "Importing…"},
	"imp_done":        {"导入完成", "Import finished"},
	"imp_done_dry":    {"检查完成（未保存任何内容）", "Check finished (nothing was saved)"},
	"imp_failed":      {"文件无法导入，未保存任何内容", "The file could not be imported; nothing was saved"},
	"imp_rows":        {"数据行", "Rows"},
	"imp_processed":   {"已处理记录", "Records done"},
	"imp_total":       {"记录总数", "Records"},
	"imp_created":     {"新建", "Created"},
	"imp_updated":     {"更新", "Updated"},
	"imp_unchanged":   {"未变化", "Unchanged"},
	"imp_failed_n":    {"失败", "Failed"},
	"imp_errors":      {"错误", "Errors"},
	"imp_row":         {"行号", "Row"},
	"imp_column":      {"列", "Column"},
	"imp_message":     {"问题", "Problem"},
	"imp_no_errors":   {"没有错误", "No errors"},
	"imp_truncated":   {"错误太多，仅显示前面部分", "Too many errors; only the first are shown"},
	"imp_back":        {"返回列表", "Back to the list"},
	"imp_again":       {"再导入一个文件", "Import another file"},
	"imp_not_allowed": {"您不能新建这种记录，因此不能导入", "You may not create these records, so you may not import them"},
	"imp_file_row":    {"整个文件", "whole file"},
}

func init() { maps.Copy(texts, importTexts) }

// mountImports registers the import pages; they need the full store (jobs
// are kept there).
func (u *UI) mountImports(g fiber.Router) error {
	for _, name := range []string{"import", "import_job"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: %s: %w", name, err)
		}
		u.pages[name] = t
	}
	st, ok := u.d.Store.(store.Store)
	if !ok {
		return nil
	}
	jobs := dataio.NewJobs(st)
	g.Get("/import/:entity", u.importForm)
	g.Post("/import/:entity", func(c fiber.Ctx) error { return u.startImport(c, jobs) })
	g.Get("/imports/:id", func(c fiber.Ctx) error { return u.importJob(c, jobs) })
	g.Get("/ui/imports/:id", func(c fiber.Ctx) error { return u.importJobJSON(c, jobs) })
	return nil
}

type importData struct {
	Entity, EntityLabel string
	Title               string
	Help                string
	Error               string
	DryRun              bool
}

// mayImport tells whether the user may create records of the entity (the
// import page is offered where the list offers New).
func (u *UI) mayImport(c fiber.Ctx, entity string) (bool, error) {
	fa, _, err := u.d.Records.FormAccess(c.Context(), engineUser(c), entity, "")
	if err != nil {
		return false, err
	}
	ent := u.d.Packages.Model().Entities[entity]
	return fa.Allowed && ent != nil && !ent.Decl.Singleton, nil
}

// importPage shows the upload form with status and an optional error.
func (u *UI) importPage(c fiber.Ctx, status int, errText string) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	l := lang(c)
	may, err := u.mayImport(c, ent.Name)
	if err != nil {
		return u.fail(c, err)
	}
	if !may {
		return u.errorPage(c, fiber.StatusForbidden, t(l, "imp_not_allowed"))
	}
	hidden := records.HiddenFields(ent, engineUser(c))
	var cols []string
	for _, k := range ent.Decl.Fields.Keys() {
		f, _ := ent.Decl.Fields.Get(k)
		if f == nil || hidden[k] || f.Compute.IsSet() || f.Type.V == "table" || f.Type.V == "attachment" {
			continue
		}
		cols = append(cols, fieldLabel(ent, k, l))
		if len(cols) == 6 {
			break
		}
	}
	el := entityLabel(ent, l)
	data := &importData{Entity: ent.Name, EntityLabel: el, Title: strings.ReplaceAll(t(l, "imp_title"), "{entity}", el),
		Help: strings.ReplaceAll(t(l, "imp_file_help"), "{columns}", strings.Join(cols, l10nComma(l))), Error: errText}
	return u.render(c, status, "import", u.newPage(c, data.Title, data))
}

// l10nComma separates the items of a list in language l.
func l10nComma(l string) string {
	if l == "en" {
		return ", "
	}
	return "、"
}

func (u *UI) importForm(c fiber.Ctx) error { return u.importPage(c, fiber.StatusOK, "") }

// maxImportFile bounds an uploaded file (the server's body limit is 8 MiB).
const maxImportFile = 8 << 20

func (u *UI) startImport(c fiber.Ctx, jobs *dataio.Jobs) error {
	ent, ok, err := u.entityOf(c)
	if !ok {
		return err
	}
	l, usr := lang(c), engineUser(c)
	may, err := u.mayImport(c, ent.Name)
	if err != nil {
		return u.fail(c, err)
	}
	if !may {
		return u.errorPage(c, fiber.StatusForbidden, t(l, "imp_not_allowed"))
	}
	fh, err := c.FormFile("file")
	if err != nil || fh == nil || fh.Filename == "" {
		return u.importPage(c, fiber.StatusUnprocessableEntity, t(l, "imp_no_file"))
	}
	f, err := fh.Open()
	if err != nil {
		return u.fail(c, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxImportFile+1))
	f.Close()
	if err != nil {
		return u.fail(c, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return u.importPage(c, fiber.StatusUnprocessableEntity, t(l, "imp_empty_file"))
	}
	format := dataio.Format("")
	switch name := strings.ToLower(fh.Filename); {
	case strings.HasSuffix(name, ".xlsx"):
		format = dataio.XLSX
	case strings.HasSuffix(name, ".csv"):
		format = dataio.CSV
	}
	opt := dataio.Options{Format: format, DryRun: c.FormValue("dry_run") == "true", Lang: l, Message: server.Message}
	job, err := jobs.Start(c.Context(), usr, ent.Name, fh.Filename, opt)
	if err != nil {
		return u.fail(c, err)
	}
	eng := u.d.Records
	go func() {
		// The job outlives the request; its own context bounds it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if _, err := jobs.Run(ctx, eng, usr, job, strings.NewReader(string(data)), opt); err != nil {
			var fe *dataio.FileError
			if !errors.As(err, &fe) {
				slog.Error("ui: import failed", "job", job.ID, "entity", job.Entity, "err", err)
			}
		}
	}()
	return c.Redirect().Status(fiber.StatusSeeOther).To("/imports/" + url.PathEscape(job.ID))
}

type importError struct {
	Row     string
	Column  string
	Message string
}

type importJobData struct {
	ID, Entity, EntityLabel, File string
	Poll                          string // the JSON to poll while the job runs
	Running, Failed, DryRun       bool
	Status                        string
	Rows, Total, Processed        int
	Created, Updated, Unchanged   int
	FailedN                       int
	Errors                        []importError
	Truncated                     bool
}

// jobData is what the page and its JSON show of a job, in language l.
func (u *UI) jobData(job dataio.Job, l string) *importJobData {
	r := job.Result
	d := &importJobData{ID: job.ID, Entity: job.Entity, EntityLabel: job.Entity, File: job.File,
		Running: job.Status == dataio.JobRunning, Failed: job.Status == dataio.JobFailed, DryRun: r.DryRun,
		Rows: r.Rows, Total: r.Total, Processed: r.Processed, Created: r.Created, Updated: r.Updated,
		Unchanged: r.Unchanged, FailedN: r.Failed, Truncated: job.Truncated}
	if ent := u.d.Packages.Model().Entities[job.Entity]; ent != nil {
		d.EntityLabel = entityLabel(ent, l)
	}
	switch {
	case d.Running:
		d.Status = t(l, "imp_running")
		d.Poll = "/ui/imports/" + url.PathEscape(job.ID)
	case d.Failed:
		d.Status = t(l, "imp_failed")
	case d.DryRun:
		d.Status = t(l, "imp_done_dry")
	default:
		d.Status = t(l, "imp_done")
	}
	for _, e := range r.Errors {
		ie := importError{Row: fmt.Sprint(e.Row), Column: e.Column, Message: e.Message}
		if e.Row == 0 {
			ie.Row = t(l, "imp_file_row")
		}
		if ie.Column == "" {
			ie.Column = e.Field
		}
		if ie.Message == "" {
			ie.Message = e.Code
		}
		d.Errors = append(d.Errors, ie)
	}
	return d
}

func (u *UI) importJob(c fiber.Ctx, jobs *dataio.Jobs) error {
	l := lang(c)
	job, err := jobs.Get(c.Context(), engineUser(c), c.Params("id"), l)
	if err != nil {
		return u.fail(c, err)
	}
	d := u.jobData(job, l)
	return u.render(c, fiber.StatusOK, "import_job", u.newPage(c, t(l, "imp_progress")+" · "+d.EntityLabel, d))
}

func (u *UI) importJobJSON(c fiber.Ctx, jobs *dataio.Jobs) error {
	l := lang(c)
	job, err := jobs.Get(c.Context(), engineUser(c), c.Params("id"), l)
	if errors.Is(err, records.ErrNotFound) {
		return c.SendStatus(fiber.StatusNotFound)
	}
	if err != nil {
		return c.SendStatus(fiber.StatusInternalServerError)
	}
	d := u.jobData(job, l)
	errs := make([]fiber.Map, len(d.Errors))
	for i, e := range d.Errors {
		errs[i] = fiber.Map{"row": e.Row, "column": e.Column, "message": e.Message}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"running": d.Running, "failed": d.Failed, "status": d.Status, "rows": d.Rows, "total": d.Total,
		"processed": d.Processed, "created": d.Created, "updated": d.Updated, "unchanged": d.Unchanged,
		"failed_records": d.FailedN, "errors": errs, "truncated": d.Truncated})
}
