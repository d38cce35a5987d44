package dataio

// pendingCreate is a new record of the batch, checked by the importer and
// waiting to be created with the others (flush).
type pendingCreate struct {
	g    *group
	b    *built
	slot int // the record's slot of problems in the batch
}

// dependsOnPending reports whether a link cell of g names a record that a
// pending create of this import makes (a row linking to an earlier row of
// the same entity): that record needs its id first.
func (im *importer) dependsOnPending(g *group) bool {
	if len(im.pending) == 0 {
		return false
	}
	for _, c := range im.lay.cols {
		if c.decl == nil || c.output || c.decl.Type.V != "link" || c.decl.To.V != im.ent.Name {
			continue
		}
		for _, i := range g.rows {
			s := im.cell(i, c)
			if s == "" {
				continue
			}
			if _, found := im.links[c.decl.To.V][s]; found {
				continue
			}
			for _, p := range im.pending {
				if p.g.key == s {
					return true
				}
			}
		}
	}
	return false
}

// flush creates the pending records with one records.CreateMany: each gets
// every check of a single create, and a refused one is reported at its rows
// while the others are written. A failure of the store stops the import
// after the records written so far are counted.
func (im *importer) flush() error {
	if len(im.pending) == 0 {
		return nil
	}
	pending := im.pending
	im.pending = nil
	values := make([]map[string]any, len(pending))
	for k, p := range pending {
		values[k] = p.b.values
	}
	results, err := im.eng.CreateMany(im.ctx, im.u, im.ent.Name, values)
	for k, p := range pending {
		r := results[k]
		im.slot = p.slot
		switch {
		case r.Record != nil:
			if p.g.key != "" {
				im.created[p.g.key] = r.Record.ID()
			}
			im.res.Created++
		case r.Err != nil:
			if ferr := im.refused(p.g, p.b, r.Err); ferr != nil && err == nil {
				err = ferr
			}
		}
	}
	return err
}
