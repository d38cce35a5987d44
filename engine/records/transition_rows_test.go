package records

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// A batch of jobs, closed together by one transition effect with lines.
var batchPkg = fstest.MapFS{
	"batch/package.yaml": {Data: []byte("package: batch\nversion: 1.0.0\nlabel: {zh-CN: 批量, en: Batch}\nroles: {clerk: {zh-CN: 文员, en: Clerk}}\n")},
	"batch/job.yaml": {Data: []byte(`entity: job
label: {zh-CN: 任务, en: Job}
fields:
  name: {type: text, required: true, label: {zh-CN: 名称, en: Name}}
states:
  open: {initial: true, label: {zh-CN: 未完成, en: Open}}
  closed: {final: true, label: {zh-CN: 已完成, en: Closed}}
transitions:
  close: {from: open, to: closed, roles: [admin], label: {zh-CN: 完成, en: Close}}
access:
  clerk: {read: true}
`)},
	"batch/run.yaml": {Data: []byte(`entity: run
label: {zh-CN: 批次, en: Run}
fields:
  lines:
    type: table
    label: {zh-CN: 任务, en: Jobs}
    fields:
      job: {type: link, to: job, required: true, label: {zh-CN: 任务, en: Job}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}, editable_by: [clerk]}
  done: {final: true, label: {zh-CN: 完成, en: Done}}
transitions:
  finish:
    from: draft
    to: done
    roles: [clerk]
    label: {zh-CN: 完成, en: Finish}
    effects:
      - transition: {lines: lines, link: job, name: close}
access:
  clerk: {read: true, create: true, update: true}
`)},
}

func TestTransitionEffectWithLines(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := packages.New(ctx, st, batchPkg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "batch", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	eng := New(st, svc.Model, Options{})
	admin, clerk := User{ID: "u-admin", Roles: []string{AdminRole}}, User{ID: "u-clerk", Roles: []string{"clerk"}}
	jobs := map[string]Record{}
	for _, n := range []string{"a", "b", "c"} {
		if jobs[n], err = eng.Create(ctx, admin, "job", map[string]any{"name": n}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(n string) any {
		r, err := eng.Get(ctx, admin, "job", jobs[n].ID())
		if err != nil {
			t.Fatal(err)
		}
		return r[fState]
	}
	run := func(names ...string) Record {
		var lines []any
		for _, n := range names {
			lines = append(lines, map[string]any{"job": jobs[n].ID()})
		}
		r, err := eng.Create(ctx, clerk, "run", map[string]any{"lines": lines})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// The same job twice: refused, naming the second row.
	r := run("a", "a")
	_, err = eng.Transition(ctx, clerk, "run", r.ID(), "finish", r.Version(), nil)
	if got := fmt.Sprint(codes(err)); got != "[lines[1].job:duplicate]" {
		t.Fatalf("duplicate rows: %s", got)
	}
	// Both jobs close with the run.
	r = run("a", "b")
	if _, err := eng.Transition(ctx, clerk, "run", r.ID(), "finish", r.Version(), nil); err != nil {
		t.Fatal(err)
	}
	if state("a") != "closed" || state("b") != "closed" || state("c") != "open" {
		t.Fatalf("states after the run: a %v, b %v, c %v", state("a"), state("b"), state("c"))
	}
	// One job is closed already: nothing of the run is applied, c stays open.
	r = run("c", "b")
	_, err = eng.Transition(ctx, clerk, "run", r.ID(), "finish", r.Version(), nil)
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("a closed job in the run: %v", err)
	}
	if state("c") != "open" {
		t.Fatalf("c is %v after a refused run", state("c"))
	}
	if got, _ := eng.Get(ctx, admin, "run", r.ID()); got[fState] != "draft" {
		t.Fatalf("the refused run is %v", got[fState])
	}
}
