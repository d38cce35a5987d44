// Package packages is the lifecycle of template packages: install from the
// built-in catalog, upgrade, publish an imported version, roll back, uninstall,
// and export/import between installations. Every published version is kept in
// the store; the set of active versions is one document, replaced atomically,
// and the compiled Model the engine runs is swapped in one step after it.
//
// The CLI (yerp template ...) and, later, the admin API are thin callers of
// Service.
package packages

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing/fstest"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Collections of the package registry. Entity names cannot start with "sys_".
const (
	versionsColl = "sys_package_versions"
	activeColl   = "sys_packages"
	archiveColl  = "sys_archive"
	activeID     = "active"
)

// Errors callers branch on.
var (
	// ErrInvalid: the package does not pass the checker; the error lists why.
	ErrInvalid = errors.New("packages: template has errors")
	// ErrBreaking: publishing would break existing records; the Plan says which.
	ErrBreaking = errors.New("packages: the change would break existing records")
	// ErrInUse: uninstalling would lose records (use force to archive them).
	ErrInUse = errors.New("packages: records exist")
	// ErrUnknown: no such package or version.
	ErrUnknown = errors.New("packages: unknown package or version")
)

// CheckError carries the diagnostics of a refused template.
type CheckError struct{ Diagnostics template.Diagnostics }

func (e *CheckError) Error() string {
	n, _ := e.Diagnostics.Count()
	return fmt.Sprintf("%d errors in the template:\n%s", n, e.Diagnostics.String())
}

func (e *CheckError) Unwrap() error { return ErrInvalid }

// Service manages the packages of one store. It is safe for concurrent use;
// changes are serialized in the process and guarded by versions in the store.
type Service struct {
	st      store.Store
	catalog fs.FS
	mu      sync.Mutex // one change at a time in this process
	model   atomic.Pointer[template.Model]
	// activeV is the version of the active-set document the model was built
	// from; Refresh compares it with the store's to see another process's
	// publish.
	activeV atomic.Int64
	pinned  sync.Map // "pkg@version" → *template.Model, see ModelAt
}

// Version is one published version of a package.
type Version struct {
	Package     string
	Version     string
	N           int64 // publish number: 1, 2, 3, ... per package
	Files       map[string]string
	PublishedAt string
	By          string
	Note        string
}

// New opens the registry in st and builds the active model. catalog holds the
// built-in packages (one folder each).
func New(ctx context.Context, st store.Store, catalog fs.FS) (*Service, error) {
	s := &Service{st: st, catalog: catalog}
	if err := st.EnsureIndexes(ctx, versionsColl,
		store.Index{Name: "package_n", Keys: []store.SortKey{store.Asc("package"), store.Asc("n")}, Unique: true}); err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	if _, err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Refresh loads the active set from the store and, when another process has
// published, rolled back, installed or uninstalled since this one last
// looked, builds and swaps in the new model. It reports whether the model
// changed. Several server processes over one store call it every second, so
// a publish on one is served by all within that time; it costs one read by
// id when nothing changed.
func (s *Service) Refresh(ctx context.Context) (bool, error) {
	doc, err := s.st.Get(ctx, activeColl, activeID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if s.activeV.Load() == 0 {
			return false, nil
		}
	case err != nil:
		return false, fmt.Errorf("packages: refresh: %w", err)
	case doc.Version() == s.activeV.Load():
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

// load builds the model of the store's active set and swaps it in unless it
// is the one already loaded; the caller holds mu (or is New).
func (s *Service) load(ctx context.Context) (bool, error) {
	active, av, err := s.active(ctx)
	if err != nil {
		return false, err
	}
	if av == s.activeV.Load() && s.model.Load() != nil {
		return false, nil
	}
	model, ds, err := s.build(ctx, active, "", nil)
	if err != nil {
		return false, err
	}
	if model == nil {
		return false, &CheckError{ds}
	}
	s.model.Store(model)
	s.activeV.Store(av)
	return true, nil
}

// Model returns the active model. It never changes; a publish swaps in another.
func (s *Service) Model() *template.Model { return s.model.Load() }

// active reads the active set: package → publish number, and the document's
// version for the guarded swap.
func (s *Service) active(ctx context.Context) (map[string]int64, int64, error) {
	doc, err := s.st.Get(ctx, activeColl, activeID)
	if errors.Is(err, store.ErrNotFound) {
		return map[string]int64{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("packages: %w", err)
	}
	out := map[string]int64{}
	pk, _ := doc["packages"].(map[string]any)
	for name, v := range pk {
		if n, ok := toInt(v); ok {
			out[name] = n
		}
	}
	return out, doc.Version(), nil
}

// setActive replaces the active set if it is still at version v (0: none yet)
// and makes next the model of this process.
func (s *Service) setActive(ctx context.Context, set map[string]int64, v int64, next *template.Model) error {
	pk := map[string]any{}
	for name, n := range set {
		pk[name] = n
	}
	doc := store.Doc{store.IDField: activeID, "packages": pk, "changed_at": time.Now()}
	var saved store.Doc
	var err error
	if v == 0 {
		saved, err = s.st.Insert(ctx, activeColl, doc)
		if errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("packages: another change was published meanwhile: %w", store.ErrConflict)
		}
	} else {
		doc[store.VersionField] = v
		saved, err = s.st.Replace(ctx, activeColl, doc)
	}
	if err != nil {
		return err
	}
	s.model.Store(next)
	s.activeV.Store(saved.Version())
	return nil
}

// version reads one published version.
func (s *Service) version(ctx context.Context, pkg string, n int64) (*Version, error) {
	doc, err := s.st.Get(ctx, versionsColl, fmt.Sprintf("%s@%d", pkg, n))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s version #%d", ErrUnknown, pkg, n)
	}
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	v := &Version{Package: pkg, N: n, Files: map[string]string{}}
	v.Version, _ = doc["version"].(string)
	v.PublishedAt, _ = doc["published_at"].(string)
	v.By, _ = doc["by"].(string)
	v.Note, _ = doc["note"].(string)
	files, _ := doc["files"].([]any)
	for _, f := range files {
		m, _ := f.(map[string]any)
		name, _ := m["path"].(string)
		v.Files[name], _ = m["text"].(string)
	}
	return v, nil
}

// Versions lists every published version of pkg, oldest first.
func (s *Service) Versions(ctx context.Context, pkg string) ([]*Version, error) {
	var out []*Version
	q := store.Query{Filter: store.Eq("package", pkg), Sort: []store.SortKey{store.Asc("n")}, Limit: 500, Fields: []string{"n"}}
	for {
		page, err := s.st.Find(ctx, versionsColl, q)
		if err != nil {
			return nil, fmt.Errorf("packages: %w", err)
		}
		for _, d := range page.Docs {
			n, _ := toInt(d["n"])
			v, err := s.version(ctx, pkg, n)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if page.Next == "" {
			return out, nil
		}
		q.After = page.Next
	}
}

// build loads the active packages (with pkg replaced by files when files is
// not nil, or removed when files is an empty map) and checks them together.
func (s *Service) build(ctx context.Context, active map[string]int64, pkg string, files map[string]string) (*template.Model, template.Diagnostics, error) {
	var sources []*template.Source
	var ds template.Diagnostics
	names := make([]string, 0, len(active)+1)
	for name := range active {
		names = append(names, name)
	}
	if pkg != "" && files != nil && len(files) > 0 {
		if _, ok := active[pkg]; !ok {
			names = append(names, pkg)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var fsFiles map[string]string
		if name == pkg && files != nil {
			if len(files) == 0 {
				continue // being removed
			}
			fsFiles = files
		} else {
			v, err := s.version(ctx, name, active[name])
			if err != nil {
				return nil, nil, err
			}
			fsFiles = v.Files
		}
		src, d := template.LoadPackage(mapFS(name, fsFiles), name)
		ds = append(ds, d...)
		if src != nil {
			sources = append(sources, src)
		}
	}
	model, cds := template.Check(sources)
	ds = append(ds, cds...)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds, nil
	}
	return model, ds, nil
}

func mapFS(dir string, files map[string]string) fs.FS {
	m := fstest.MapFS{}
	for name, text := range files {
		m[path.Join(dir, name)] = &fstest.MapFile{Data: []byte(text)}
	}
	return m
}

// readFiles reads every file of a package folder (YAML, prints, tests).
func readFiles(fsys fs.FS, dir string) (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, dir+"/")] = string(data)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packages: read %s: %w", dir, err)
	}
	return files, nil
}

// manifest reads name and version from a package's files.
func manifest(files map[string]string) (name, version string, err error) {
	src, ds := template.LoadPackage(mapFS("p", files), "p")
	if src == nil {
		return "", "", &CheckError{ds}
	}
	if _, err := semver.StrictNewVersion(src.Package.Version.V); err != nil {
		return "", "", fmt.Errorf("%w: version %q", ErrInvalid, src.Package.Version.V)
	}
	return src.Package.Package.V, src.Package.Version.V, nil
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case interface{ Int64() (int64, bool) }:
		return x.Int64()
	}
	return 0, false
}

// ModelAt returns the model in which package pkg is at the latest publish of
// version (the other packages as they are now): the model an approval opened
// under that version finishes with. Models are built once per key and kept.
func (s *Service) ModelAt(ctx context.Context, pkg, version string) (*template.Model, error) {
	cur := s.Model()
	if p := cur.Packages[pkg]; p != nil && p.Version.String() == version {
		return cur, nil
	}
	key := pkg + "@" + version
	if m, ok := s.pinned.Load(key); ok {
		return m.(*template.Model), nil
	}
	versions, err := s.Versions(ctx, pkg)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	for _, v := range versions {
		if v.Version == version {
			files = v.Files
		}
	}
	if files == nil {
		return nil, fmt.Errorf("%w: %s has no version %s", ErrUnknown, pkg, version)
	}
	active, _, err := s.active(ctx)
	if err != nil {
		return nil, err
	}
	m, ds, err := s.build(ctx, active, pkg, files)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &CheckError{ds}
	}
	s.pinned.Store(key, m)
	return m, nil
}
