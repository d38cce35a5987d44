package template

import (
	"io/fs"
	"path"
	"sort"
)

// LoadDir loads the packages in folder dir of fsys: dir itself when it holds a
// package.yaml, otherwise every sub-folder that does (a catalog).
func LoadDir(fsys fs.FS, dir string) ([]*Source, Diagnostics) {
	if _, err := fs.Stat(fsys, path.Join(dir, "package.yaml")); err == nil {
		src, ds := LoadPackage(fsys, dir)
		if src == nil {
			return nil, ds
		}
		return []*Source{src}, ds
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, Diagnostics{{File: dir, Pos: Pos{1, 1}, Message: errorText(err), Hint: "give a package folder (with package.yaml) or a catalog of them"}}
	}
	var sources []*Source
	var ds Diagnostics
	names := []string{}
	for _, e := range entries {
		if e.IsDir() {
			if _, err := fs.Stat(fsys, path.Join(dir, e.Name(), "package.yaml")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, Diagnostics{{File: dir, Pos: Pos{1, 1}, Message: "no package.yaml here or in any sub-folder", Hint: "give a package folder (with package.yaml) or a catalog of them"}}
	}
	for _, name := range names {
		src, d := LoadPackage(fsys, path.Join(dir, name))
		ds = append(ds, d...)
		if src != nil {
			sources = append(sources, src)
		}
	}
	return sources, ds
}

// CheckDir loads and checks the packages in dir together. The Model is nil
// when there is any error.
func CheckDir(fsys fs.FS, dir string) (*Model, Diagnostics) {
	return CheckDirWith(fsys, dir, nil)
}

// CheckDirWith is CheckDir where packages that dir's packages require, and dir
// does not hold, are taken from the catalog (one folder per package), so a
// package of one's own can be checked against the built-in ones. Problems in
// catalog packages are reported too.
func CheckDirWith(fsys fs.FS, dir string, catalog fs.FS) (*Model, Diagnostics) {
	sources, ds := LoadDir(fsys, dir)
	if catalog != nil {
		have := map[string]bool{}
		for _, s := range sources {
			have[s.Package.Package.V] = true
		}
		for i := 0; i < len(sources); i++ { // grows as required packages are added
			for _, req := range sources[i].Package.Requires {
				name := req.Key.V
				if have[name] {
					continue
				}
				if _, err := fs.Stat(catalog, path.Join(name, "package.yaml")); err != nil {
					continue // reported by the checker as not installed
				}
				have[name] = true
				src, d := LoadPackage(catalog, name)
				ds = append(ds, d...)
				if src != nil {
					sources = append(sources, src)
				}
			}
		}
	}
	model, cds := Check(sources)
	ds = append(ds, cds...)
	ds.Sort()
	if ds.HasErrors() {
		return nil, ds
	}
	return model, ds
}
