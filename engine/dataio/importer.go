package dataio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
)

// batchSize is how many records are looked up (keys and links) with one
// query each, created together (records.CreateMany), and how often progress
// is reported.
const batchSize = 500

// Import reads a CSV or XLSX file of entity's records and creates or updates
// them as u, with every check of the records engine (see the package
// documentation). With opt.DryRun it writes nothing. Problems of single
// records are in Result.Errors and do not stop the import; the returned error
// is a *FileError when the file cannot be imported at all (unreadable, a
// header that names no field) and nothing was written, or a failure of the
// store.
func Import(ctx context.Context, eng *records.Engine, u records.User, entity string, r io.Reader, opt Options) (Result, error) {
	res := Result{Entity: entity, DryRun: opt.DryRun, Errors: []RowError{}}
	ent, err := eng.Entity(entity)
	if err != nil {
		if errors.Is(err, records.ErrNotFound) {
			return res, &FileError{Problems: []RowError{{Code: "no_entity", Params: map[string]any{"entity": entity}}}}
		}
		return res, err
	}
	sh, err := readSheet(r, opt.Format, opt.Sheet)
	if err != nil {
		return res, err
	}
	lay, err := mapColumns(ent, sh.header, sh.rows)
	if err != nil {
		return res, err
	}
	// A column the user may not even read cannot be written: the engine
	// would keep the stored value of a hidden table column without a word.
	var hidden []RowError
	never := records.HiddenFields(ent, u)
	for _, c := range lay.cols {
		if !c.output && (never[c.path()] || never[c.field]) {
			hidden = append(hidden, RowError{Row: 1, Column: c.header, Code: "hidden_column", Params: map[string]any{"column": c.header}})
		}
	}
	if len(hidden) > 0 {
		return res, &FileError{Problems: hidden}
	}
	res.Key = lay.keyField
	im := &importer{ctx: ctx, eng: eng, u: u, ent: ent, lay: lay, sh: sh, opt: opt, lang: lang(opt.Lang),
		loc: time.Local, res: &res, created: map[string]string{}, unique: map[string]map[string]bool{}}
	groups := im.group()
	res.Total = len(groups)
	for start := 0; start < len(groups); start += batchSize {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		batch := groups[start:min(start+batchSize, len(groups))]
		if err := im.batch(batch); err != nil {
			return res, err
		}
		if opt.Progress != nil {
			opt.Progress(res)
		}
	}
	res.Partial = !opt.DryRun && res.Failed > 0
	return res, nil
}

// group is one record of the file: the rows with the same key.
type group struct {
	key  string
	rows []int // indexes into sheet.rows
	errs []RowError
}

type importer struct {
	ctx  context.Context
	eng  *records.Engine
	u    records.User
	ent  *template.Entity
	lay  *layout
	sh   *sheet
	opt  Options
	lang string
	loc  *time.Location
	res  *Result
	// links maps a link's text (code, number or id) to the id it names, per
	// target entity, for the batch at hand.
	links map[string]map[string]string
	// created maps the keys of records created by this import to their ids,
	// so that a later row can link to an earlier one of the same entity.
	created map[string]string
	// unique holds the values of unique fields seen on a dry run, which the
	// store cannot yet refuse (field → value → seen).
	unique map[string]map[string]bool
	// pending are the new records of the batch checked and written together
	// (records.CreateMany) when the batch ends (pending.go).
	pending []pendingCreate
	// slots holds the problems of each record of the batch; slot is the
	// record at hand.
	slots [][]RowError
	slot  int
}

// fileRow is the spreadsheet row number of data row i (the header is 1).
func fileRow(i int) int { return i + 2 }

func (im *importer) cell(i int, c *column) string {
	row := im.sh.rows[i]
	if c.index >= len(row) {
		return ""
	}
	s := strings.TrimSpace(strings.ReplaceAll(row[c.index], "\u3000", " "))
	return s
}

// group forms the records: rows with the same key are one record; a keyless
// row with only table cells continues the record above.
func (im *importer) group() []*group {
	var out []*group
	byKey := map[string]*group{}
	var last *group
	for i, row := range im.sh.rows {
		if blank(row) {
			continue
		}
		im.res.Rows++
		key := ""
		if im.lay.key != nil {
			key = im.cell(i, im.lay.key)
		}
		if key != "" {
			g := byKey[key]
			if g == nil {
				g = &group{key: key}
				byKey[key] = g
				out = append(out, g)
			}
			g.rows = append(g.rows, i)
			last = g
			continue
		}
		if !im.hasRecordValues(i) && last != nil {
			last.rows = append(last.rows, i)
			continue
		}
		g := &group{rows: []int{i}}
		if !im.hasRecordValues(i) {
			g.errs = append(g.errs, RowError{Row: fileRow(i), Code: "orphan_row"})
		}
		out = append(out, g)
		last = g
	}
	return out
}

// hasRecordValues reports whether row i has a value in a record-level
// (non-table) column that is written.
func (im *importer) hasRecordValues(i int) bool {
	for _, c := range im.lay.cols {
		if c.col == "" && im.cell(i, c) != "" {
			return true
		}
	}
	return false
}

// batch imports a batch of records: their keys and links are looked up with
// one query each, then each record is checked and written on its own.
func (im *importer) batch(gs []*group) error {
	existing, err := im.existing(gs)
	if err != nil {
		return err
	}
	if err := im.resolveLinks(gs); err != nil {
		return err
	}
	// Each record's problems go to its own slot, so that the problems of
	// records created together at the end are reported in file order.
	im.slots = make([][]RowError, len(gs))
	defer im.report()
	for k, g := range gs {
		im.slot = k
		if im.dependsOnPending(g) {
			if err := im.flush(); err != nil {
				return err
			}
			im.slot = k
		}
		if err := im.record(g, existing[g.key]); err != nil {
			return err
		}
		im.res.Processed++
	}
	return im.flush()
}

// report adds the problems of the batch's records to the result, in file
// order.
func (im *importer) report() {
	for _, errs := range im.slots {
		im.res.Errors = append(im.res.Errors, errs...)
	}
	im.slots = nil
}

// existing reads the stored records the batch's keys name (as the user: a
// record the user may not read is not found, and its key is then refused as
// taken when it is created).
func (im *importer) existing(gs []*group) (map[string]records.Record, error) {
	out := map[string]records.Record{}
	if im.lay.keyField == "" {
		return out, nil
	}
	var keys []string
	for _, g := range gs {
		if g.key != "" {
			keys = append(keys, g.key)
		}
	}
	recs, err := im.find(im.ent.Name, im.lay.keyField, keys)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if k, ok := r[im.lay.keyField].(string); ok {
			out[k] = r
		}
	}
	return out, nil
}

// find lists the records of entity whose field is one of values, as the user.
func (im *importer) find(entity, field string, values []string) ([]records.Record, error) {
	return findIn(im.ctx, im.eng, im.u, entity, []string{field}, values)
}

// findIn lists the records of entity (as u) that have one of values in one
// of fields, a page of records.MaxPage at a time.
func findIn(ctx context.Context, eng *records.Engine, u records.User, entity string, fields []string, values []string) ([]records.Record, error) {
	var out []records.Record
	const chunk = 50
	for start := 0; start < len(values); start += chunk {
		part := values[start:min(start+chunk, len(values))]
		quoted := make([]string, len(part))
		for i, v := range part {
			quoted[i] = strconv.Quote(v)
		}
		list := "[" + strings.Join(quoted, ", ") + "]"
		conds := make([]string, len(fields))
		for i, f := range fields {
			conds[i] = f + " in " + list
		}
		q := records.ListQuery{Filter: strings.Join(conds, " || "), Limit: records.MaxPage}
		for {
			page, err := eng.List(ctx, u, entity, q)
			if err != nil {
				return nil, fmt.Errorf("dataio: look up %s: %w", entity, err)
			}
			out = append(out, page.Records...)
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
	}
	return out, nil
}

// resolveLinks looks up every link cell of the batch by the target's code,
// number or id, one query per target entity.
func (im *importer) resolveLinks(gs []*group) error {
	want := map[string]map[string]bool{}
	for _, c := range im.lay.cols {
		if c.decl == nil || c.output || c.decl.Type.V != "link" {
			continue
		}
		to := c.decl.To.V
		if want[to] == nil {
			want[to] = map[string]bool{}
		}
		for _, g := range gs {
			for _, i := range g.rows {
				if s := im.cell(i, c); s != "" {
					want[to][s] = true
				}
			}
		}
	}
	im.links = map[string]map[string]string{}
	for to, set := range want {
		target, err := im.eng.Entity(to)
		if err != nil {
			continue // the engine reports the link
		}
		values := make([]string, 0, len(set))
		for v := range set {
			values = append(values, v)
		}
		fields := []string{"id"}
		if f, ok := target.Decl.Fields.Get("code"); ok && f != nil {
			fields = append(fields, "code")
		}
		if target.Decl.Number.V != "" {
			fields = append(fields, "number")
		}
		recs, err := findIn(im.ctx, im.eng, im.u, to, fields, values)
		if err != nil {
			return err
		}
		m := map[string]string{}
		// An id wins over a code, a code over a number.
		for i := len(fields) - 1; i >= 0; i-- {
			for _, r := range recs {
				if s, ok := r[fields[i]].(string); ok && set[s] {
					m[s] = r.ID()
				}
			}
		}
		im.links[to] = m
	}
	return nil
}

// linkID is the id a link cell names: looked up, or created earlier by this
// import (links to the entity itself), or the text as given (the engine then
// reports the link as not found).
func (im *importer) linkID(f *template.FieldDecl, s string) string {
	if id, ok := im.links[f.To.V][s]; ok {
		return id
	}
	if f.To.V == im.ent.Name {
		if id, ok := im.created[s]; ok {
			return id
		}
	}
	return s
}
