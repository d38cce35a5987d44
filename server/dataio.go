package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/dataio"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
)

// The import and export API:
//
//	POST /api/v1/import/:entity?format=csv|xlsx&dry_run=true&sheet=S&wait=true
//	     the file as the body, or as the form part "file"; answers 202 with the
//	     job (poll GET /api/v1/imports/:id), or with wait=true 200 with the
//	     finished job
//	GET  /api/v1/imports/:id      the job: counts so far and every problem
//	GET  /api/v1/export/:entity?format=csv|xlsx&filter=&sort=&fields=&headers=names&lang=
//
// Imports run as the caller, through the records engine: every row gets the
// checks of a form submission.

func init() {
	// The problem codes of imports render like every other field problem.
	for code, texts := range dataio.Messages {
		if _, ok := messages[code]; !ok {
			messages[code] = texts
		}
	}
}

// Message renders a field error in language l ("zh-CN" or "en") as API
// problems do (for the command line).
func Message(l string, fe records.FieldError) string { return message(l, fe) }

// dataIO serves imports and exports; jobs live in the store.
type dataIO struct {
	a    *api
	jobs *dataio.Jobs
}

// mountDataIO registers the import and export routes on the authenticated
// group. Jobs are kept in the store, so the routes are served only when
// Deps.Store is the full store (as yerp serve passes it).
func mountDataIO(r fiber.Router, a *api) {
	st, ok := a.d.Store.(store.Store)
	if !ok {
		return
	}
	h := &dataIO{a: a, jobs: dataio.NewJobs(st)}
	r.Post("/import/:entity", h.importFile)
	r.Get("/imports/:id", h.job)
	r.Get("/export/:entity", h.export)
}

// importFile starts an import job of the uploaded file.
func (h *dataIO) importFile(c fiber.Ctx) error {
	entity := c.Params("entity")
	format, ok := dataio.ParseFormat(c.Query("format"))
	if !ok {
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "format", Code: "not_an_option", Params: map[string]any{"options": []string{"csv", "xlsx"}}}})
	}
	if _, err := h.a.d.Records.Entity(entity); err != nil {
		return fail(c, err)
	}
	f, name, err := requestFile(c)
	if err != nil {
		return fileError(c, err)
	}
	data, err := io.ReadAll(f) // a copy: the job outlives the request's body
	f.Close()
	if err != nil {
		return fail(c, err)
	}
	if format == "" {
		switch {
		case strings.HasSuffix(strings.ToLower(name), ".xlsx"):
			format = dataio.XLSX
		case strings.HasSuffix(strings.ToLower(name), ".csv"):
			format = dataio.CSV
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "file", Code: "no_header"}})
	}
	u := user(c)
	opt := dataio.Options{Format: format, Sheet: c.Query("sheet"), DryRun: c.Query("dry_run") == "true", Lang: lang(c), Message: message}
	job, err := h.jobs.Start(c.Context(), u, entity, name, opt)
	if err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderLocation, "/api/v1/imports/"+job.ID)
	if c.Query("wait") != "true" {
		go func() {
			// The job outlives the request; its own context bounds it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			if _, err := h.jobs.Run(ctx, h.a.d.Records, u, job, bytes.NewReader(data), opt); err != nil {
				var fe *dataio.FileError
				if !errors.As(err, &fe) {
					slog.Error("import failed", "job", job.ID, "entity", entity, "err", err)
				}
			}
		}()
		return c.Status(fiber.StatusAccepted).JSON(jobJSON(job))
	}
	done, err := h.jobs.Run(c.Context(), h.a.d.Records, u, job, bytes.NewReader(data), opt)
	var fe *dataio.FileError
	switch {
	case errors.As(err, &fe):
		return problem(c, fiber.StatusUnprocessableEntity, fe.Error(), fe.FieldErrors())
	case err != nil:
		return fail(c, err)
	}
	done, err = h.jobs.Get(c.Context(), u, done.ID, lang(c))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(jobJSON(done))
}

// job answers the state of an import job of the caller.
func (h *dataIO) job(c fiber.Ctx) error {
	job, err := h.jobs.Get(c.Context(), user(c), c.Params("id"), lang(c))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(jobJSON(job))
}

func jobJSON(j dataio.Job) fiber.Map {
	r := j.Result
	errs := r.Errors
	if errs == nil {
		errs = []dataio.RowError{}
	}
	return fiber.Map{"id": j.ID, "entity": j.Entity, "file": j.File, "status": j.Status, "dry_run": r.DryRun,
		"key": r.Key, "rows": r.Rows, "total": r.Total, "processed": r.Processed, "created": r.Created,
		"updated": r.Updated, "unchanged": r.Unchanged, "failed": r.Failed, "partial": r.Partial,
		"errors": errs, "errors_truncated": j.Truncated, "problem": j.Problem,
		"started_at": j.StartedAt, "finished_at": j.FinishedAt}
}

// export streams a filtered list as CSV or XLSX.
func (h *dataIO) export(c fiber.Ctx) error {
	entity := c.Params("entity")
	format, ok := dataio.ParseFormat(c.Query("format"))
	if !ok {
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "format", Code: "not_an_option", Params: map[string]any{"options": []string{"csv", "xlsx"}}}})
	}
	if format == "" {
		format = dataio.CSV
	}
	opt := dataio.ExportOptions{Format: format, Filter: c.Query("filter"), Names: c.Query("headers") == "names", Lang: lang(c)}
	if l := c.Query("lang"); l != "" {
		opt.Lang = l
	}
	if s := c.Query("sort"); s != "" {
		opt.Sort = strings.Split(s, ",")
	}
	if f := c.Query("fields"); f != "" {
		opt.Fields = strings.Split(f, ",")
	}
	u := user(c)
	ent, err := h.a.d.Records.Entity(entity)
	if err != nil {
		return fail(c, err)
	}
	if !records.Readable(ent, u) {
		return problem(c, fiber.StatusForbidden, "you may not read "+entity, nil)
	}
	// A bad filter or sort is answered before the file starts.
	if _, err := h.a.d.Records.List(c.Context(), u, entity, records.ListQuery{Filter: opt.Filter, Sort: opt.Sort, Limit: 1}); err != nil {
		var ve *records.ValidationError
		if errors.As(err, &ve) {
			return problem(c, fiber.StatusBadRequest, "", ve.Errors)
		}
		return fail(c, err)
	}
	name := fmt.Sprintf("%s-%s.%s", entity, time.Now().Format("20060102-150405"), format)
	if format == dataio.XLSX {
		c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	} else {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	}
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	eng := h.a.d.Records
	return c.SendStreamWriter(func(w *bufio.Writer) {
		// Pages are read while the answer is written: the request's context
		// is gone by then.
		if _, err := dataio.Export(context.Background(), eng, u, entity, w, opt); err != nil {
			slog.Error("export failed", "entity", entity, "err", err)
		}
		_ = w.Flush()
	})
}
