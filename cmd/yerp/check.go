package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/templates"
)

// check runs "yerp check DIR": every problem of the packages in DIR, one per
// line as file:line:col: message (hint); exit 1 on any error, 0 with a summary
// otherwise.
func check(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: yerp check DIR   (a package folder with package.yaml, or a catalog of them)")
		return 2
	}
	dir := filepath.Clean(args[0])
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintf(stderr, "yerp check: %v\n", err)
		return 2
	}
	// Read through the file system root, and show paths as the user wrote them.
	root := filepath.ToSlash(strings.TrimPrefix(abs, string(filepath.Separator)))
	// Packages required from the built-in catalog are checked along.
	model, ds := template.CheckDirWith(os.DirFS(string(filepath.Separator)), root, templates.FS)
	for _, d := range ds {
		if rest, ok := strings.CutPrefix(d.File, root); ok {
			d.File = filepath.ToSlash(dir) + rest
		}
		fmt.Fprintln(stderr, d.String())
	}
	errs, warns := ds.Count()
	if errs > 0 {
		fmt.Fprintf(stderr, "%d errors, %d warnings\n", errs, warns)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d packages, %d entities, %d warnings\n", len(model.Packages), len(model.Entities), warns)
	return 0
}
