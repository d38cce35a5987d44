package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// CreateResult is the outcome of one row of CreateMany.
type CreateResult struct {
	// Record is the stored record as the user may read it; nil when the row
	// was not written.
	Record Record
	// Err is why the row was not written: the error Create would have
	// returned for it (a *ValidationError, ErrForbidden, ErrNotFound, or a
	// failure of the store).
	Err error
}

// CreateMany creates one record of entity per element of values, as Create
// would one by one, with fewer store round trips: links are read with one
// query per linked entity for all rows, unique fields are checked with one
// query per field (against the store and between the rows), the numbers of
// the rows that pass are taken with one increment of their series (in row
// order, so a row refused takes no number), and the records and then their
// audit entries are written with one InsertMany each.
//
// Every row gets every check Create runs; a row that fails any of them is
// not written and its Err says why (the others are written). If a write of
// the batch fails (a unique value taken by a concurrent writer meanwhile),
// the rows from the failing one on are written one by one, so that each gets
// its own error and none is lost or written twice.
//
// The returned error is a failure of the store that stopped the call: the
// rows with a Record were written (with their audit entries), the others
// were not. Under an idempotency key (a Batch operation) the rows go through
// Create one by one.
func (e *Engine) CreateMany(ctx context.Context, u User, entity string, values []map[string]any) ([]CreateResult, error) {
	out := make([]CreateResult, len(values))
	if len(values) == 0 {
		return out, nil
	}
	if requestOf(ctx) != nil {
		// An idempotency key reserves one record id and one posting id: the
		// single path knows how to use them.
		for i, v := range values {
			out[i].Record, out[i].Err = e.Create(ctx, u, entity, v)
		}
		return out, nil
	}
	_, ent, err := e.entity(entity)
	if err == nil && !u.IsAdmin() && !e.mayCreate(ent, u) {
		err = forbidden("create", entity)
	}
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out, nil
	}
	ev := e.evaluator(ctx, ent, u)
	fa, err := ev.fields("create", Record{fOwner: u.ID})
	if err != nil {
		return out, err
	}
	if err := ev.prefetchRows(values); err != nil {
		return out, err
	}

	// Every check of Create, row by row, with one evaluator: the linked
	// records read for one row serve the next.
	recs := make([]Record, len(values))
	for i, v := range values {
		if len(ev.bins) > 0 || len(ev.planned) > 0 {
			// stock() and on_hand() read the bins afresh for each record.
			ev.bins, ev.planned = map[string]store.Doc{}, map[string]map[string]decimal.Decimal{}
		}
		rec, err := e.prepareCreate(ev, fa, v)
		if err != nil {
			if !rowError(err) {
				return out, err // the store failed: nothing of this call is written
			}
			out[i].Err = err
			continue
		}
		recs[i] = rec
	}
	if err := e.uniqueMany(ctx, ent, recs, out); err != nil {
		return out, err
	}
	var good []int
	for i, rec := range recs {
		if rec != nil && out[i].Err == nil {
			good = append(good, i)
		}
	}
	if len(good) == 0 {
		return out, nil
	}
	if err := e.ensureIndexes(ctx, ent); err != nil {
		return out, err
	}
	w := &createWriter{e: e, ctx: ctx, u: u, ent: ent, fa: fa, out: out}
	if ent.Decl.Number.V != "" {
		if err := w.takeNumbers(len(good)); err != nil {
			return out, err
		}
	}
	docs := make([]store.Doc, len(good))
	for k, i := range good {
		if w.numbered {
			recs[i][fNumber] = w.ns.format(w.first + int64(k))
		}
		d, err := store.PrepareInsert(toDoc(recs[i]))
		if err != nil {
			w.release(0)
			return out, fmt.Errorf("records: %s: %w", ent.Name, err)
		}
		docs[k] = d
	}
	err = w.insert(good, docs)
	if rerr := w.release(w.used); err == nil {
		err = rerr
	}
	if aerr := w.audit(); err == nil {
		err = aerr
	}
	return out, err
}

// rowError reports whether err, returned by the checks of one record, is
// about that record (so the other records go on) rather than a failure of
// the store.
func rowError(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict)
}

// prefetchRows loads, with one query per linked entity, every record that
// the links in values point to (top-level links and the links of table
// rows): the links of a whole import chunk, or of one record (prefetch).
func (ev *evaluator) prefetchRows(values []map[string]any) error {
	want := map[string][]any{} // entity → ids not cached yet
	add := func(f *template.FieldDecl, v any) {
		id, ok := v.(string)
		if !ok || id == "" || f.Type.V != "link" {
			return
		}
		if _, cached := ev.links[f.To.V+"/"+id]; !cached {
			ev.links[f.To.V+"/"+id] = nil // asked for; stays nil if missing
			want[f.To.V] = append(want[f.To.V], id)
		}
	}
	for _, fe := range ev.ent.Decl.Fields {
		if fe.Val == nil {
			continue
		}
		for _, vals := range values {
			if fe.Val.Type.V != "table" {
				add(fe.Val, vals[fe.Key.V])
				continue
			}
			rows, _ := vals[fe.Key.V].([]any)
			for _, r := range rows {
				row, _ := r.(map[string]any)
				for _, col := range fe.Val.Fields {
					if col.Val != nil {
						add(col.Val, row[col.Key.V])
					}
				}
			}
		}
	}
	for entity, ids := range want {
		if _, known := ev.e.model().Entities[entity]; !known {
			continue // checkLink reports it
		}
		if err := ev.load(entity, ids); err != nil {
			return err
		}
	}
	return nil
}

// uniqueMany refuses, with the code "unique", the records of recs (nil: refused
// already) whose unique fields hold a value that a stored record or an
// earlier record of recs that is written holds, as the store's unique
// indexes would refuse them one after the other.
func (e *Engine) uniqueMany(ctx context.Context, ent *template.Entity, recs []Record, out []CreateResult) error {
	var fields []string
	for _, fe := range ent.Decl.Fields {
		if fe.Val != nil && fe.Val.Unique {
			fields = append(fields, fe.Key.V)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	taken := map[string]map[string]bool{} // field → value key → held
	for _, f := range fields {
		taken[f] = map[string]bool{}
		var vals []any
		seen := map[string]bool{}
		for i, rec := range recs {
			if rec == nil || out[i].Err != nil || isEmpty(rec[f]) {
				continue
			}
			if k := uniqueKey(rec[f]); !seen[k] {
				seen[k] = true
				vals = append(vals, rec[f])
			}
		}
		for start := 0; start < len(vals); start += store.MaxLimit {
			chunk := vals[start:min(start+store.MaxLimit, len(vals))]
			page, err := e.st.Find(ctx, ent.Name, store.Query{Filter: store.In(f, chunk...), Limit: len(chunk), Fields: []string{f}})
			if err != nil {
				return fmt.Errorf("records: unique %s of %s: %w", f, ent.Name, err)
			}
			for _, d := range page.Docs {
				taken[f][uniqueKey(d[f])] = true
			}
		}
	}
	for i, rec := range recs {
		if rec == nil || out[i].Err != nil {
			continue
		}
		ve := &ValidationError{}
		for _, f := range fields {
			if !isEmpty(rec[f]) && taken[f][uniqueKey(rec[f])] {
				ve.add(f, "unique", nil)
			}
		}
		if err := ve.orNil(); err != nil {
			out[i].Err = err
			continue
		}
		for _, f := range fields {
			if !isEmpty(rec[f]) {
				taken[f][uniqueKey(rec[f])] = true // this record holds it once written
			}
		}
	}
	return nil
}

// uniqueKey is a stored value as a key that equal values share (decimals by
// number: 1.50 and 1.5 are one value).
func uniqueKey(v any) string {
	if d, ok, _ := store.ToDecimal(v); ok {
		return "n:" + d.String()
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// createWriter writes the records of one CreateMany that passed every check.
type createWriter struct {
	e   *Engine
	ctx context.Context
	u   User
	ent *template.Entity
	fa  fieldAccess
	out []CreateResult

	numbered    bool
	ns          numberSeries
	first, last int64 // the numbers taken for the call
	used        int   // how many of them the written records hold

	saved []Record // the written records, in row order (for their audit entries)
}

// takeNumbers takes n numbers of the entity's series with one increment.
func (w *createWriter) takeNumbers(n int) error {
	w.numbered, w.ns = true, w.e.series(w.ent)
	d, err := w.e.st.Increment(w.ctx, seriesColl, store.Inc{
		ID: w.ns.id, Upsert: true, SetOnInsert: store.Doc{"entity": w.ent.Name},
		Deltas: map[string]decimal.Decimal{"last": decimal.FromInt(int64(n))},
	})
	if err != nil {
		return fmt.Errorf("records: numbers of %s: %w", w.ent.Name, err)
	}
	w.last, _ = d["last"].(decimal.Decimal).Int64()
	w.first = w.last - int64(n) + 1
	return nil
}

// release gives back the numbers taken but not used (rows the store refused
// at the last moment), if no other writer has taken a number since: the
// series then has no gap. Otherwise the unused numbers stay a gap, as when a
// single create fails after taking its number.
func (w *createWriter) release(used int) error {
	unused := w.last - w.first + 1 - int64(used)
	if !w.numbered || unused <= 0 {
		return nil
	}
	_, err := w.e.st.Increment(w.ctx, seriesColl, store.Inc{
		ID: w.ns.id, If: store.Eq("last", decimal.FromInt(w.last)),
		Deltas: map[string]decimal.Decimal{"last": decimal.FromInt(-unused)},
	})
	if err != nil && !errors.Is(err, store.ErrCondition) {
		return fmt.Errorf("records: numbers of %s: %w", w.ent.Name, err)
	}
	return nil
}

// insert writes docs (the records of rows good) with one InsertMany. If it
// fails, the documents from the failing one on are inserted one by one, each
// with the next number not used yet, so that each row gets its own error.
func (w *createWriter) insert(good []int, docs []store.Doc) error {
	n, err := w.e.st.InsertMany(w.ctx, w.ent.Name, docs)
	if n > len(docs) || n < 0 {
		return fmt.Errorf("records: %s: the store reports %d of %d documents written", w.ent.Name, n, len(docs))
	}
	for k := range n {
		w.written(good[k], docs[k])
	}
	if err == nil {
		return nil
	}
	for k := n; k < len(docs); k++ {
		d := docs[k]
		if w.numbered {
			d[fNumber] = w.ns.format(w.first + int64(w.used))
		}
		if _, err := w.e.st.Insert(w.ctx, w.ent.Name, d); err != nil {
			werr := w.e.writeError(w.ent, err)
			if !rowError(werr) {
				return werr
			}
			w.out[good[k]].Err = werr
			continue
		}
		w.written(good[k], d)
	}
	return nil
}

// written records that row i was stored as d.
func (w *createWriter) written(i int, d store.Doc) {
	saved := fromDoc(d)
	w.saved = append(w.saved, saved)
	w.out[i].Record = project(saved, w.fa)
	if w.numbered {
		w.used++
	}
}

// audit writes the audit entries of the written records with one
// InsertMany (and one by one after a failure of it).
func (w *createWriter) audit() error {
	entries := make([]store.Doc, len(w.saved))
	for k, saved := range w.saved {
		entries[k] = w.e.auditDoc(w.u, w.ent, "create", nil, saved, nil)
	}
	n, err := w.e.st.InsertMany(w.ctx, auditColl, entries)
	if err == nil {
		return nil
	}
	for _, entry := range entries[max(n, 0):] {
		if _, err := w.e.st.Insert(w.ctx, auditColl, entry); err != nil {
			return fmt.Errorf("records: audit %s %v: %w", w.ent.Name, entry["record"], err)
		}
	}
	return nil
}
