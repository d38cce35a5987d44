package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/yerp/yerp/engine/templatetest"
	"github.com/yerp/yerp/templates"
)

// testCmd runs "yerp test DIR": the tests/*.yaml of a package (or of every
// package of a catalog folder) against a fresh temporary store each, packages
// they require taken from the built-in catalog. Exit 1 when one fails.
func testCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: yerp test DIR   (a package folder, or a catalog of them)")
		return 2
	}
	abs, err := filepath.Abs(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "yerp test: %v\n", err)
		return 2
	}
	fsys := os.DirFS(filepath.Dir(abs))
	var dirs []string
	base := filepath.Base(abs)
	if _, err := fs.Stat(fsys, path.Join(base, "package.yaml")); err == nil {
		dirs = []string{base}
	} else {
		entries, err := fs.ReadDir(fsys, base)
		if err != nil {
			fmt.Fprintf(stderr, "yerp test: %v\n", err)
			return 2
		}
		for _, e := range entries {
			if _, err := fs.Stat(fsys, path.Join(base, e.Name(), "package.yaml")); e.IsDir() && err == nil {
				dirs = append(dirs, path.Join(base, e.Name()))
			}
		}
	}
	tmp, err := os.MkdirTemp("", "yerp-test-")
	if err != nil {
		fmt.Fprintf(stderr, "yerp test: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	passed, failed := 0, 0
	for _, dir := range dirs {
		results, err := templatetest.RunPackage(ctx, fsys, dir, templates.FS, tmp)
		if err != nil {
			fmt.Fprintf(stderr, "yerp test: %s: %v\n", dir, err)
			return 1
		}
		for _, r := range results {
			if r.Passed() {
				passed++
				fmt.Fprintf(stdout, "ok    %s  %s\n", r.File, r.Name)
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL  %s  %s\n      %s\n", r.File, r.Name, strings.Join(r.Failures, "\n      "))
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
