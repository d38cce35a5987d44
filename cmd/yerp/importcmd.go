package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/dataio"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/server"
)

const importUsage = `usage: yerp import --entity NAME --file FILE [--dry-run] [--as USER] [flags]

Import records from a CSV or XLSX file, as USER (default admin), with every
check of the records engine. Records are matched by their code (or number):
existing ones are updated, new ones created, unchanged ones left alone.
With --dry-run every row is checked and nothing is written.

`

// importCmd runs "yerp import": one dataio.Import against the store. The
// exit status is 0 when every record passed, 1 when some failed or the file
// could not be imported, 2 for a wrong command line.
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importUsage)
		fs.PrintDefaults()
	}
	data, storeURI := storeFlags(fs)
	entity := fs.String("entity", "", "the entity to import into (customer, item, sales_order, ...)")
	file := fs.String("file", "", "the CSV or XLSX file")
	dryRun := fs.Bool("dry-run", false, "check every row and write nothing")
	as := fs.String("as", "admin", "the user who imports: their roles and field access apply")
	sheet := fs.String("sheet", "", "the XLSX sheet to read (default: the first)")
	format := fs.String("format", "", "csv or xlsx (default: from the file)")
	lang := fs.String("lang", "", "language of the messages: zh-CN or en (default: the user's)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	f, ok := dataio.ParseFormat(*format)
	if fs.NArg() > 0 || *entity == "" || *file == "" || !ok {
		fmt.Fprint(stderr, "yerp import: --entity and --file are required; --format is csv or xlsx\n\n")
		fs.Usage()
		return 2
	}
	if f == "" && strings.HasSuffix(strings.ToLower(*file), ".xlsx") {
		f = dataio.XLSX
	}
	in, err := os.Open(*file)
	if err != nil {
		fmt.Fprintf(stderr, "yerp import: %v\n", err)
		return 1
	}
	defer in.Close()
	users, eng, done, ok := existingEngine(ctx, "import", *storeURI, *data, stderr)
	if !ok {
		return 1
	}
	defer done()
	who, err := users.UserByName(ctx, *as)
	if err != nil {
		fmt.Fprintf(stderr, "yerp import: --as %s: %v\n", *as, err)
		return 1
	}
	u := records.User{ID: who.ID, Name: who.Name, Roles: who.Roles, Lang: who.Language}
	if *lang == "" {
		*lang = who.Language
	}
	started := time.Now()
	res, err := dataio.Import(ctx, eng, u, *entity, in, dataio.Options{Format: f, Sheet: *sheet, DryRun: *dryRun, Lang: *lang, Message: server.Message,
		Progress: func(r dataio.Result) {
			if r.Processed < r.Total {
				fmt.Fprintf(stderr, "%d/%d\r", r.Processed, r.Total)
			}
		}})
	var fe *dataio.FileError
	if errors.As(err, &fe) {
		for _, p := range fe.Problems {
			fe := records.FieldError{Path: p.Column, Code: p.Code, Params: p.Params}
			fmt.Fprintf(stderr, "%s\n", server.Message(*lang, fe))
		}
		fmt.Fprintf(stderr, "yerp import: nothing imported\n")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "yerp import: %v\n", err)
		return 1
	}
	for _, e := range res.Errors {
		col := e.Column
		if col == "" {
			col = "-"
		}
		fmt.Fprintf(stdout, "row %d, %s: %s\n", e.Row, col, e.Message)
	}
	verb := "imported"
	if *dryRun {
		verb = "dry run, nothing written"
	}
	fmt.Fprintf(stdout, "%s: %d rows, %d records: %d created, %d updated, %d unchanged, %d failed (%s)\n",
		verb, res.Rows, res.Total, res.Created, res.Updated, res.Unchanged, res.Failed, time.Since(started).Round(time.Millisecond))
	if res.Partial {
		fmt.Fprintf(stdout, "the %d failed records were not written; the others were\n", res.Failed)
	}
	if res.Failed > 0 {
		return 1
	}
	return 0
}
