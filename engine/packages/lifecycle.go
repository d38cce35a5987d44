package packages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Options of a change.
type Options struct {
	DryRun bool   // compute and return the plan, change nothing
	By     string // who publishes (kept with the version)
	Note   string
}

// Publish makes files (a whole package folder: package.yaml, entity files,
// prints) the active version of its package. The package is checked together
// with the other installed packages; a template with errors is refused with a
// *CheckError, and a change that would break existing records with ErrBreaking
// and the plan that says which records. With DryRun nothing changes.
func (s *Service) Publish(ctx context.Context, files map[string]string, opt Options) (*Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publish(ctx, files, opt)
}

func (s *Service) publish(ctx context.Context, files map[string]string, opt Options) (*Plan, error) {
	name, version, err := manifest(files)
	if err != nil {
		return nil, err
	}
	// The plan compares with the model now active, which another process
	// may have published since this one last refreshed.
	if _, err := s.load(ctx); err != nil {
		return nil, err
	}
	active, av, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	next, ds, err := s.build(ctx, active, name, files)
	if err != nil {
		return nil, err
	}
	if next == nil {
		return nil, &CheckError{ds}
	}
	var oldFiles map[string]string
	if n, ok := active[name]; ok {
		v, err := s.version(ctx, name, n)
		if err != nil {
			return nil, err
		}
		oldFiles = v.Files
	}
	plan, err := s.plan(ctx, name, s.Model(), next, oldFiles, files)
	if err != nil {
		return nil, fmt.Errorf("packages: plan %s: %w", name, err)
	}
	plan.Diagnostics = ds
	if plan.Blocking() {
		return plan, fmt.Errorf("%w:\n%s", ErrBreaking, plan)
	}
	if opt.DryRun {
		return plan, nil
	}
	if oldFiles != nil && maps.Equal(oldFiles, files) {
		return plan, nil // nothing changes
	}
	n, err := s.st.Count(ctx, versionsColl, store.Eq("package", name))
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	// Paths hold dots, which document keys cannot: a list of {path, text}.
	fileDoc := make([]any, 0, len(files))
	for _, k := range slices.Sorted(maps.Keys(files)) {
		fileDoc = append(fileDoc, map[string]any{"path": k, "text": files[k]})
	}
	_, err = s.st.Insert(ctx, versionsColl, store.Doc{
		store.IDField: fmt.Sprintf("%s@%d", name, n+1),
		"package":     name, "n": n + 1, "version": version, "files": fileDoc,
		"published_at": time.Now(), "by": opt.By, "note": opt.Note,
	})
	if err != nil {
		return nil, fmt.Errorf("packages: record %s %s: %w", name, version, err)
	}
	// Convert the data before the new version becomes active: both steps leave
	// converted records alone, so an interrupted publish is finished by
	// publishing again.
	if err := s.applyRenames(ctx, plan); err != nil {
		return plan, err
	}
	if err := s.applyMigrations(ctx, plan, next); err != nil {
		return plan, err
	}
	active[name] = n + 1
	if err := s.setActive(ctx, active, av, next); err != nil {
		return nil, fmt.Errorf("packages: activate %s %s: %w", name, version, err)
	}
	return plan, nil
}

// applyMigrations converts the values of fields whose type changed with their
// migrate expression, evaluated on each record as the old version typed it.
func (s *Service) applyMigrations(ctx context.Context, plan *Plan, next *template.Model) error {
	old := s.Model()
	for _, c := range plan.Changes {
		if c.Kind != "type_changed" || c.Records == 0 {
			continue
		}
		oe, ne := old.Entities[c.Entity], next.Entities[c.Entity]
		nf, _ := ne.Decl.Fields.Get(c.Name)
		of, _ := oe.Decl.Fields.Get(c.Name)
		prog, err := template.CompileIn(oe.Env, nf.Migrate.Src)
		if err != nil {
			return fmt.Errorf("packages: migrate %s.%s: %w", c.Entity, c.Name, err)
		}
		q := store.Query{Filter: store.Exists(c.Name, true), Limit: 200}
		for {
			page, err := s.st.Find(ctx, c.Entity, q)
			if err != nil {
				return fmt.Errorf("packages: migrate %s.%s: %w", c.Entity, c.Name, err)
			}
			for _, d := range page.Docs {
				if err := s.migrateRecord(ctx, c.Entity, d, c.Name, of.Type.V, nf.Type.V, prog); err != nil {
					return err
				}
			}
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
	}
	return nil
}

func (s *Service) migrateRecord(ctx context.Context, coll string, d store.Doc, field, oldType, newType string, prog *template.Program) error {
	return s.rewrite(ctx, coll, d, func(d store.Doc) (bool, error) {
		if storageKind(newType) != storageKind(oldType) && storageKind(newType) == kindOf(d[field]) {
			return false, nil // converted by an earlier, interrupted run
		}
		env, err := prog.Env(d)
		if err != nil {
			return false, fmt.Errorf("packages: migrate %s %s: %w", coll, d.ID(), err)
		}
		out, err := prog.Run(env)
		if err != nil {
			return false, fmt.Errorf("packages: migrate %s.%s of %s: %w", coll, field, d.ID(), err)
		}
		v, err := template.StoreValue(newType, out)
		if err != nil {
			return false, fmt.Errorf("packages: migrate %s.%s of %s: %w", coll, field, d.ID(), err)
		}
		d[field] = v
		return true, nil
	})
}

// storageKind is how the store holds a field type's values.
func storageKind(fieldType string) string {
	switch fieldType {
	case "int", "decimal", "money", "quantity", "percent":
		return "number"
	case "bool":
		return "bool"
	case "table", "multiselect":
		return "list"
	case "json":
		return "object"
	}
	return "text"
}

func kindOf(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case string:
		return "text"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	case nil:
		return ""
	}
	return "number"
}

// applyRenames moves the data of renamed fields to their new names. It is
// idempotent: a record that already has the new name is left alone, so a
// publish interrupted here is finished by running it again.
func (s *Service) applyRenames(ctx context.Context, plan *Plan) error {
	for _, c := range plan.Changes {
		if c.Kind != "field_renamed" {
			continue
		}
		from := c.From
		q := store.Query{Filter: store.Exists(from, true), Limit: 200}
		for {
			page, err := s.st.Find(ctx, c.Entity, q)
			if err != nil {
				return fmt.Errorf("packages: rename %s.%s: %w", c.Entity, from, err)
			}
			for _, d := range page.Docs {
				if err := s.moveField(ctx, c.Entity, d, from, c.Name); err != nil {
					return err
				}
			}
			if page.Next == "" {
				return nil
			}
			q.After = page.Next
		}
	}
	return nil
}

func (s *Service) moveField(ctx context.Context, coll string, d store.Doc, from, to string) error {
	return s.rewrite(ctx, coll, d, func(d store.Doc) (bool, error) {
		if _, done := d[to]; !done {
			d[to] = d[from]
		}
		delete(d, from)
		return true, nil
	})
}

// rewrite applies change to record d and replaces it; when another writer
// changed the record meanwhile, it reads it again and applies change again.
// change returns false to leave the record as it is.
func (s *Service) rewrite(ctx context.Context, coll string, d store.Doc, change func(store.Doc) (bool, error)) error {
	id := d.ID()
	for attempt := 0; attempt < 10; attempt++ {
		write, err := change(d)
		if err != nil || !write {
			return err
		}
		_, err = s.st.Replace(ctx, coll, d)
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("packages: rewrite %s/%s: %w", coll, id, err)
			}
			return nil
		}
		if d, err = s.st.Get(ctx, coll, id); err != nil {
			return fmt.Errorf("packages: rewrite %s/%s: %w", coll, id, err)
		}
	}
	return fmt.Errorf("packages: rewrite %s/%s: the record keeps changing: %w", coll, id, store.ErrConflict)
}

// CatalogEntry is one package of the built-in catalog.
type CatalogEntry struct {
	Name, Version string
	Label         template.Label
	Installed     string // the active version, "" when not installed
}

// Catalog lists the built-in packages and what is installed of them.
func (s *Service) Catalog(ctx context.Context) ([]CatalogEntry, error) {
	sources, ds := template.LoadDir(s.catalog, ".")
	if ds.HasErrors() {
		return nil, &CheckError{ds}
	}
	model := s.Model()
	var out []CatalogEntry
	for _, src := range sources {
		e := CatalogEntry{Name: src.Package.Package.V, Version: src.Package.Version.V, Label: src.Package.Label}
		if p := model.Packages[e.Name]; p != nil {
			e.Installed = p.Version.String()
		}
		out = append(out, e)
	}
	return out, nil
}

// catalogFiles reads a package of the built-in catalog.
func (s *Service) catalogFiles(name string) (map[string]string, error) {
	if _, err := fs.Stat(s.catalog, name+"/package.yaml"); err != nil {
		return nil, fmt.Errorf("%w: %q is not in the catalog", ErrUnknown, name)
	}
	return readFiles(s.catalog, name)
}

// Install installs a catalog package, first installing the packages it
// requires that are not installed yet. It returns the plan of each publish.
func (s *Service) Install(ctx context.Context, name string, opt Options) ([]*Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.install(ctx, name, opt, map[string]bool{})
}

func (s *Service) install(ctx context.Context, name string, opt Options, visiting map[string]bool) ([]*Plan, error) {
	if s.Model().Packages[name] != nil {
		return nil, fmt.Errorf("packages: %s is already installed (use upgrade)", name)
	}
	if visiting[name] {
		return nil, fmt.Errorf("packages: %s requires itself through other packages", name)
	}
	visiting[name] = true
	files, err := s.catalogFiles(name)
	if err != nil {
		return nil, err
	}
	src, ds := template.LoadPackage(mapFS(name, files), name)
	if src == nil {
		return nil, &CheckError{ds}
	}
	var plans []*Plan
	for _, req := range src.Package.Requires {
		if s.Model().Packages[req.Key.V] != nil {
			continue
		}
		ps, err := s.install(ctx, req.Key.V, opt, visiting)
		plans = append(plans, ps...)
		if err != nil {
			return plans, fmt.Errorf("packages: %s requires %s: %w", name, req.Key.V, err)
		}
	}
	p, err := s.publish(ctx, files, opt)
	if p != nil {
		plans = append(plans, p)
	}
	return plans, err
}

// Upgrade publishes the catalog's version of an installed package.
func (s *Service) Upgrade(ctx context.Context, name string, opt Options) (*Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Model().Packages[name] == nil {
		return nil, fmt.Errorf("%w: %s is not installed (use install)", ErrUnknown, name)
	}
	files, err := s.catalogFiles(name)
	if err != nil {
		return nil, err
	}
	return s.publish(ctx, files, opt)
}

// Rollback republishes an earlier version of a package: version is a semantic
// version ("1.2.0": its latest publish) or a publish number ("#3").
func (s *Service) Rollback(ctx context.Context, name, version string, opt Options) (*Plan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	versions, err := s.Versions(ctx, name)
	if err != nil {
		return nil, err
	}
	var pick *Version
	for _, v := range versions {
		if v.Version == version || fmt.Sprintf("#%d", v.N) == version {
			pick = v
		}
	}
	if pick == nil {
		var have []string
		for _, v := range versions {
			have = append(have, fmt.Sprintf("%s (#%d)", v.Version, v.N))
		}
		return nil, fmt.Errorf("%w: %s has no version %q (published: %s)", ErrUnknown, name, version, strings.Join(have, ", "))
	}
	if opt.Note == "" {
		opt.Note = fmt.Sprintf("rollback to %s (#%d)", pick.Version, pick.N)
	}
	return s.publish(ctx, pick.Files, opt)
}

// UninstallReport says what an uninstall did with the records.
type UninstallReport struct {
	Records  map[string]int64 // entity → records archived (or that block)
	Archived bool
}

// Uninstall removes a package. While records of its entities exist it refuses
// with ErrInUse and the counts, unless force is set: then every record is first
// copied to the archive collection (sys_archive) and deleted. Packages that
// require it must be uninstalled first.
func (s *Service) Uninstall(ctx context.Context, name string, force bool, opt Options) (*UninstallReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.load(ctx); err != nil {
		return nil, err
	}
	model := s.Model()
	pkg := model.Packages[name]
	if pkg == nil {
		return nil, fmt.Errorf("%w: %s is not installed", ErrUnknown, name)
	}
	var dependents []string
	for _, other := range model.Packages {
		if _, ok := other.Decl.Requires.Get(name); ok && other.Name != name {
			dependents = append(dependents, other.Name)
		}
	}
	if len(dependents) > 0 {
		sort.Strings(dependents)
		return nil, fmt.Errorf("packages: %s is required by %s; uninstall those first", name, strings.Join(dependents, ", "))
	}
	rep := &UninstallReport{Records: map[string]int64{}}
	total := int64(0)
	for _, ent := range pkg.Entities {
		n, err := s.st.Count(ctx, ent, nil)
		if err != nil {
			return nil, fmt.Errorf("packages: %w", err)
		}
		if n > 0 {
			rep.Records[ent] = n
			total += n
		}
	}
	if total > 0 && !force {
		var parts []string
		for _, ent := range slices.Sorted(maps.Keys(rep.Records)) {
			parts = append(parts, fmt.Sprintf("%s: %d", ent, rep.Records[ent]))
		}
		return rep, fmt.Errorf("%w: %s still has records (%s); uninstall with force to archive and delete them", ErrInUse, name, strings.Join(parts, ", "))
	}
	if opt.DryRun {
		return rep, nil
	}
	active, av, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	next, ds, err := s.build(ctx, active, name, map[string]string{})
	if err != nil {
		return nil, err
	}
	if next == nil {
		return nil, &CheckError{ds}
	}
	for _, ent := range pkg.Entities {
		if err := s.archive(ctx, name, ent); err != nil {
			return rep, err
		}
	}
	rep.Archived = total > 0
	delete(active, name)
	if err := s.setActive(ctx, active, av, next); err != nil {
		return rep, fmt.Errorf("packages: uninstall %s: %w", name, err)
	}
	return rep, nil
}

// archive copies every record of ent to the archive, then deletes it. A copy
// that exists already (an interrupted run) is not written twice.
func (s *Service) archive(ctx context.Context, pkg, ent string) error {
	for {
		page, err := s.st.Find(ctx, ent, store.Query{Limit: 200})
		if err != nil {
			return fmt.Errorf("packages: archive %s: %w", ent, err)
		}
		if len(page.Docs) == 0 {
			return nil
		}
		for _, d := range page.Docs {
			rec := map[string]any{}
			for k, v := range d {
				if k != store.IDField && k != store.VersionField {
					rec[k] = v
				}
			}
			_, err := s.st.Insert(ctx, archiveColl, store.Doc{
				store.IDField: pkg + "/" + ent + "/" + d.ID(), "package": pkg, "entity": ent,
				"record_id": d.ID(), "record": rec, "archived_at": time.Now(),
			})
			if err != nil && !errors.Is(err, store.ErrDuplicate) {
				return fmt.Errorf("packages: archive %s/%s: %w", ent, d.ID(), err)
			}
			if err := s.st.Delete(ctx, ent, d.ID(), d.Version()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("packages: archive %s/%s: %w", ent, d.ID(), err)
			}
		}
	}
}

// Bundle is an exported package: portable between installations.
type Bundle struct {
	Format   string            `json:"format"` // "yerp-package/1"
	Package  string            `json:"package"`
	Version  string            `json:"version"`
	Exported string            `json:"exported"`
	Files    map[string]string `json:"files"`
}

const bundleFormat = "yerp-package/1"

// Export returns the active version of a package as a bundle (JSON).
func (s *Service) Export(ctx context.Context, name string) ([]byte, error) {
	active, _, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	n, ok := active[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not installed", ErrUnknown, name)
	}
	v, err := s.version(ctx, name, n)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(Bundle{Format: bundleFormat, Package: name, Version: v.Version,
		Exported: time.Now().UTC().Format(time.RFC3339), Files: v.Files}, "", "  ")
}

// Import publishes an exported bundle (see Publish; use DryRun first to see the
// plan and the file diff).
func (s *Service) Import(ctx context.Context, data []byte, opt Options) (*Plan, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: not a package bundle: %v", ErrInvalid, err)
	}
	if b.Format != bundleFormat || len(b.Files) == 0 {
		return nil, fmt.Errorf("%w: not a %s bundle", ErrInvalid, bundleFormat)
	}
	if opt.Note == "" {
		opt.Note = "imported " + b.Package + " " + b.Version
	}
	return s.Publish(ctx, b.Files, opt)
}

// Purge deletes the data of a field that the active template no longer has
// (removed fields are hidden, their data kept until purged). It returns how
// many records held it; with DryRun it only counts.
func (s *Service) Purge(ctx context.Context, entity, field string, opt Options) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ent := s.Model().Entities[entity]
	if ent == nil {
		return 0, fmt.Errorf("%w: entity %q is not installed", ErrUnknown, entity)
	}
	if _, ok := ent.Decl.Fields.Get(field); ok || strings.HasPrefix(field, "_") {
		return 0, fmt.Errorf("packages: %s.%s is a field of the active template; remove it from the template first", entity, field)
	}
	if err := store.CheckTopLevel(field); err != nil {
		return 0, fmt.Errorf("packages: purge: %w", err)
	}
	n, err := s.st.Count(ctx, entity, store.Exists(field, true))
	if err != nil || opt.DryRun {
		return n, err
	}
	for {
		page, err := s.st.Find(ctx, entity, store.Query{Filter: store.Exists(field, true), Limit: 200})
		if err != nil {
			return n, fmt.Errorf("packages: purge %s.%s: %w", entity, field, err)
		}
		if len(page.Docs) == 0 {
			return n, nil
		}
		for _, d := range page.Docs {
			err := s.rewrite(ctx, entity, d, func(d store.Doc) (bool, error) {
				_, has := d[field]
				delete(d, field)
				return has, nil
			})
			if err != nil {
				return n, err
			}
		}
	}
}
