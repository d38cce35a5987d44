package dataio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
)

// JobsCollection holds one document per import job.
const JobsCollection = "sys_imports"

// maxStoredErrors caps the problems kept in a job document (the Result of
// Import has all of them).
const maxStoredErrors = 1000

// Job statuses.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed" // the file could not be imported at all, or the store failed
)

// Job is an import as stored in JobsCollection: who started it, how far it
// is, and its problems with their messages in both languages.
type Job struct {
	ID         string `json:"id"`
	Entity     string `json:"entity"`
	User       string `json:"user"`
	File       string `json:"file,omitempty"`
	Format     string `json:"format,omitempty"`
	Status     string `json:"status"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at,omitempty"`
	Result            // counts and problems so far
	// Truncated is true when more problems were found than the job keeps.
	Truncated bool `json:"errors_truncated,omitempty"`
	// Problem is why a failed job imported nothing (a file problem or a
	// store failure).
	Problem string `json:"problem,omitempty"`

	version int64
}

// Jobs keeps import jobs in the store so that the progress of an import can
// be read (by its user, or an admin) while it runs.
type Jobs struct {
	st  store.Store
	now func() time.Time
}

// NewJobs returns the jobs kept in st.
func NewJobs(st store.Store) *Jobs { return &Jobs{st: st, now: time.Now} }

// Start records a new running job of u importing entity from the file name.
func (j *Jobs) Start(ctx context.Context, u records.User, entity, file string, opt Options) (Job, error) {
	job := Job{ID: store.NewID(), Entity: entity, User: u.ID, File: file, Format: string(opt.Format),
		Status: JobRunning, StartedAt: j.stamp(), Result: Result{Entity: entity, DryRun: opt.DryRun, Errors: []RowError{}}}
	d, err := j.st.Insert(ctx, JobsCollection, job.doc())
	if err != nil {
		return Job{}, fmt.Errorf("dataio: start import job: %w", err)
	}
	job.version = d.Version()
	return job, nil
}

// Run imports r as Import does and keeps job's document up to date: the
// counts after every batch, then the final result and status. The job
// document is what Get returns meanwhile. Run returns the finished job and
// Import's error.
func (j *Jobs) Run(ctx context.Context, eng *records.Engine, u records.User, job Job, r io.Reader, opt Options) (Job, error) {
	progress := opt.Progress
	opt.Progress = func(res Result) {
		job.Result = res
		// Progress is best effort: a failed write only delays what a reader sees.
		_ = j.save(ctx, &job, opt)
		if progress != nil {
			progress(res)
		}
	}
	res, err := Import(ctx, eng, u, job.Entity, r, opt)
	job.Result = res
	job.Status, job.FinishedAt = JobDone, j.stamp()
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		job.Status = JobFailed
		job.Result.Errors = fe.Problems
		job.Problem = fe.Error()
	case err != nil:
		job.Status = JobFailed
		job.Problem = err.Error()
	}
	// The final state must land even when the caller's context ended.
	if serr := j.save(context.WithoutCancel(ctx), &job, opt); serr != nil && err == nil {
		err = serr
	}
	return job, err
}

// Get returns a job that u started (an admin may read every job); another
// user's job is records.ErrNotFound. Messages are in language l.
func (j *Jobs) Get(ctx context.Context, u records.User, id, l string) (Job, error) {
	d, err := j.st.Get(ctx, JobsCollection, id)
	if errors.Is(err, store.ErrNotFound) {
		return Job{}, fmt.Errorf("%w: import %s", records.ErrNotFound, id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("dataio: import job %s: %w", id, err)
	}
	job := jobOf(d, lang(l))
	if job.User != u.ID && !u.IsAdmin() {
		return Job{}, fmt.Errorf("%w: import %s", records.ErrNotFound, id)
	}
	return job, nil
}

func (j *Jobs) stamp() string { return j.now().UTC().Format(time.RFC3339) }

// save writes the job's document at its version.
func (j *Jobs) save(ctx context.Context, job *Job, opt Options) error {
	d := job.docWith(opt)
	d[store.VersionField] = job.version
	saved, err := j.st.Replace(ctx, JobsCollection, d)
	if err != nil {
		return fmt.Errorf("dataio: save import job %s: %w", job.ID, err)
	}
	job.version = saved.Version()
	return nil
}

func (job *Job) doc() store.Doc { return job.docWith(Options{}) }

// docWith is the job's document; problems carry their messages in both
// languages, rendered with opt.Message.
func (job *Job) docWith(opt Options) store.Doc {
	errs := job.Result.Errors
	truncated := job.Truncated || len(errs) > maxStoredErrors
	if len(errs) > maxStoredErrors {
		errs = errs[:maxStoredErrors]
	}
	list := make([]any, len(errs))
	for i, e := range errs {
		fe := records.FieldError{Path: e.Field, Code: e.Code, Params: e.Params}
		m := map[string]any{"row": int64(e.Row), "code": e.Code,
			"message": map[string]any{"zh-CN": render("zh-CN", fe, opt.Message), "en": render("en", fe, opt.Message)}}
		for k, v := range map[string]string{"column": e.Column, "field": e.Field, "key": e.Key} {
			if v != "" {
				m[k] = v
			}
		}
		if p := storable(e.Params); p != nil {
			m["params"] = p
		}
		list[i] = m
	}
	r := job.Result
	d := store.Doc{store.IDField: job.ID, "entity": job.Entity, "user": job.User, "file": job.File, "format": job.Format,
		"status": job.Status, "started_at": job.StartedAt, "finished_at": job.FinishedAt, "problem": job.Problem,
		"dry_run": r.DryRun, "key": r.Key, "rows": int64(r.Rows), "total": int64(r.Total), "processed": int64(r.Processed),
		"created": int64(r.Created), "updated": int64(r.Updated), "unchanged": int64(r.Unchanged), "failed": int64(r.Failed),
		"partial": r.Partial, "errors": list, "errors_truncated": truncated}
	return d
}

// storable keeps the params a document can hold (texts, numbers, lists of
// texts); a rule's message is kept as its texts.
func storable(p map[string]any) map[string]any {
	if len(p) == 0 {
		return nil
	}
	out := map[string]any{}
	for k, v := range p {
		switch x := v.(type) {
		case string, bool, int64:
			out[k] = x
		case int:
			out[k] = int64(x)
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			out[k] = l
		case map[string]string:
			m := map[string]any{}
			for a, b := range x {
				m[a] = b
			}
			out[k] = m
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// jobOf reads a job document, with messages in language l.
func jobOf(d store.Doc, l string) Job {
	str := func(k string) string { s, _ := d[k].(string); return s }
	num := func(v any) int {
		dv, ok, _ := store.ToDecimal(v)
		if !ok {
			return 0
		}
		n, _ := dv.Int64()
		return int(n)
	}
	b := func(k string) bool { v, _ := d[k].(bool); return v }
	job := Job{ID: d.ID(), Entity: str("entity"), User: str("user"), File: str("file"), Format: str("format"),
		Status: str("status"), StartedAt: str("started_at"), FinishedAt: str("finished_at"), Problem: str("problem"),
		Truncated: b("errors_truncated"), version: d.Version()}
	job.Result = Result{Entity: job.Entity, DryRun: b("dry_run"), Key: str("key"), Rows: num(d["rows"]), Total: num(d["total"]),
		Processed: num(d["processed"]), Created: num(d["created"]), Updated: num(d["updated"]), Unchanged: num(d["unchanged"]),
		Failed: num(d["failed"]), Partial: b("partial"), Errors: []RowError{}}
	list, _ := d["errors"].([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		s := func(k string) string { v, _ := m[k].(string); return v }
		e := RowError{Row: num(m["row"]), Column: s("column"), Field: s("field"), Key: s("key"), Code: s("code")}
		e.Params, _ = m["params"].(map[string]any)
		if msgs, ok := m["message"].(map[string]any); ok {
			e.Message, _ = msgs[l].(string)
		}
		job.Result.Errors = append(job.Result.Errors, e)
	}
	return job
}
