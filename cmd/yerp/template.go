package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/templates"
)

const templateUsage = `usage: yerp template COMMAND [flags]

  list                      the catalog's packages and what is installed
  versions NAME             every published version of a package
  install NAME              install a catalog package (and what it requires)
  upgrade NAME              publish the catalog's version of an installed package
  rollback NAME VERSION     republish an earlier version (1.2.0, or #3 for a publish number)
  uninstall NAME            remove a package (refused while it has records, unless --force)
  purge ENTITY FIELD        delete the kept data of a field removed from the template
  export NAME               write the active version as a bundle (to -o FILE, or stdout)
  import FILE               publish a bundle exported elsewhere

flags: --data DIR, --store URI, --dry-run (show the plan only),
--force (uninstall: archive and delete the records), -o FILE (export)
`

// templateCmd runs "yerp template ...": one call of the packages service.
func templateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, templateUsage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("template "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data, storeURI := storeFlags(fs)
	dryRun := fs.Bool("dry-run", false, "show what would change, change nothing")
	force := fs.Bool("force", false, "uninstall: archive and delete the package's records")
	out := fs.String("o", "", "export: write the bundle to this file")
	a, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return 2
	}
	want := map[string]int{"list": 0, "versions": 1, "install": 1, "upgrade": 1, "rollback": 2, "uninstall": 1, "export": 1, "import": 1, "purge": 2}
	n, known := want[cmd]
	if !known {
		fmt.Fprintf(stderr, "yerp template: unknown command %q\n\n%s", cmd, templateUsage)
		return 2
	}
	if len(a) != n {
		fmt.Fprintf(stderr, "yerp template %s: want %d argument(s), got %d\n\n%s", cmd, n, len(a), templateUsage)
		return 2
	}
	st, _, err := openStore(ctx, *storeURI, *data)
	if err != nil {
		fmt.Fprintf(stderr, "yerp template: %v\n", err)
		return 1
	}
	defer st.Close()
	svc, err := packages.New(ctx, st, templates.FS)
	if err != nil {
		fmt.Fprintf(stderr, "yerp template: %v\n", err)
		return 1
	}
	opt := packages.Options{DryRun: *dryRun, By: currentUser()}
	var plans []*packages.Plan
	switch cmd {
	case "list":
		entries, err := svc.Catalog(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		for _, e := range entries {
			inst := "not installed"
			if e.Installed != "" {
				inst = "installed " + e.Installed
			}
			fmt.Fprintf(stdout, "%-14s %-8s %-16s %s / %s\n", e.Name, e.Version, inst, e.Label.Text["zh-CN"], e.Label.Text["en"])
		}
		return 0
	case "versions":
		vs, err := svc.Versions(ctx, a[0])
		if err != nil {
			return fail(stderr, err)
		}
		for _, v := range vs {
			fmt.Fprintf(stdout, "#%-3d %-8s %s %s %s\n", v.N, v.Version, v.PublishedAt, v.By, v.Note)
		}
		return 0
	case "install":
		plans, err = svc.Install(ctx, a[0], opt)
	case "upgrade":
		var p *packages.Plan
		p, err = svc.Upgrade(ctx, a[0], opt)
		plans = append(plans, p)
	case "rollback":
		var p *packages.Plan
		p, err = svc.Rollback(ctx, a[0], a[1], opt)
		plans = append(plans, p)
	case "import":
		bundle, rerr := os.ReadFile(a[0])
		if rerr != nil {
			return fail(stderr, rerr)
		}
		var p *packages.Plan
		p, err = svc.Import(ctx, bundle, opt)
		plans = append(plans, p)
	case "uninstall":
		rep, err := svc.Uninstall(ctx, a[0], *force, opt)
		if err != nil {
			return fail(stderr, err)
		}
		if *dryRun {
			fmt.Fprintf(stdout, "%s can be uninstalled (dry run)\n", a[0])
			return 0
		}
		fmt.Fprintf(stdout, "uninstalled %s", a[0])
		if rep.Archived {
			fmt.Fprintf(stdout, "; records archived: %v", rep.Records)
		}
		fmt.Fprintln(stdout)
		return 0
	case "purge":
		n, err := svc.Purge(ctx, a[0], a[1], opt)
		if err != nil {
			return fail(stderr, err)
		}
		verb := "purged"
		if *dryRun {
			verb = "would purge (dry run)"
		}
		fmt.Fprintf(stdout, "%s %s.%s in %d records\n", verb, a[0], a[1], n)
		return 0
	case "export":
		bundle, err := svc.Export(ctx, a[0])
		if err != nil {
			return fail(stderr, err)
		}
		if *out == "" {
			_, err = stdout.Write(append(bundle, '\n'))
		} else {
			err = os.WriteFile(*out, bundle, 0o644)
		}
		if err != nil {
			return fail(stderr, err)
		}
		return 0
	}
	for _, p := range plans {
		if p != nil {
			fmt.Fprint(stdout, p.String())
			for _, d := range p.Diagnostics {
				fmt.Fprintln(stdout, d.String())
			}
		}
	}
	if err != nil {
		return fail(stderr, err)
	}
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: nothing was changed")
	}
	return 0
}

// parseInterleaved parses flags wherever they stand among the arguments
// (yerp template install core --data d) and returns the other arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func fail(stderr io.Writer, err error) int {
	var ce *packages.CheckError
	if errors.As(err, &ce) {
		fmt.Fprint(stderr, ce.Diagnostics.String())
		n, _ := ce.Diagnostics.Count()
		fmt.Fprintf(stderr, "yerp template: refused, %d errors\n", n)
		return 1
	}
	fmt.Fprintf(stderr, "yerp template: %s\n", strings.TrimSpace(err.Error()))
	return 1
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
