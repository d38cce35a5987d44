package packages

import (
	"context"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/yerp/yerp/engine/template"
)

// Candidate is a version of a package checked together with the installed
// packages but not published: what the template editor shows while an admin
// types. Nothing is written and no record is counted, so it is cheap enough
// to build on every change.
type Candidate struct {
	Package string
	// Model is the model the engine would run once the candidate is
	// published; nil when the candidate has errors.
	Model *template.Model
	// Diagnostics are every problem found, sorted. Files of the candidate's
	// package are named relative to the package folder ("order.yaml");
	// files of other packages keep their folder ("crm/visit.yaml").
	Diagnostics template.Diagnostics
}

// Candidate checks files as the next version of package name (installed or
// not) with the other installed packages as they are now, the same way
// Publish checks them, and returns the model it would publish. Problems of
// the template are diagnostics, never an error; the error is for the store.
func (s *Service) Candidate(ctx context.Context, name string, files map[string]string) (*Candidate, error) {
	c := &Candidate{Package: name}
	src, ds := template.LoadPackage(mapFS(name, files), name)
	if src == nil {
		c.Diagnostics = c.relative(ds)
		return c, nil
	}
	// What manifest checks on Publish, as diagnostics at their line.
	file := name + "/package.yaml"
	if got := src.Package.Package; got.V != name {
		ds = append(ds, template.Diagnostic{File: file, Pos: got.Pos, Severity: template.Error,
			Message: fmt.Sprintf("the package is %q; the editor publishes %q", got.V, name), Hint: "a package keeps its name; copy the files to make a new one"})
	}
	if v := src.Package.Version; v.V != "" {
		if _, err := semver.StrictNewVersion(v.V); err != nil {
			ds = append(ds, template.Diagnostic{File: file, Pos: v.Pos, Severity: template.Error,
				Message: fmt.Sprintf("version %q is not a semantic version", v.V), Hint: "write MAJOR.MINOR.PATCH, e.g. 1.2.0"})
		}
	}
	if ds.HasErrors() {
		ds.Sort()
		c.Diagnostics = c.relative(ds)
		return c, nil
	}
	active, _, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	model, all, err := s.build(ctx, active, name, files)
	if err != nil {
		return nil, err
	}
	c.Model = model
	c.Diagnostics = c.relative(all)
	return c, nil
}

// relative names the files of the candidate's package from its folder.
func (c *Candidate) relative(ds template.Diagnostics) template.Diagnostics {
	out := make(template.Diagnostics, len(ds))
	for i, d := range ds {
		d.File = strings.TrimPrefix(d.File, c.Package+"/")
		out[i] = d
	}
	return out
}

// Active returns the active version of package name with its files, or
// ErrUnknown when it is not installed.
func (s *Service) Active(ctx context.Context, name string) (*Version, error) {
	active, _, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	n, ok := active[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not installed", ErrUnknown, name)
	}
	return s.version(ctx, name, n)
}
