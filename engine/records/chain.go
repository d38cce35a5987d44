package records

// Effects of one transition that change the same linked record (an update of
// a purchase order's lines, then a transition of that purchase order) build
// on each other: the later effect sees the record as the earlier one left it,
// and the posting writes the record once, from the version that was read.
// Two writes of one record in one posting could not both be recognised as
// done when a crash is recovered, and the second would conflict with the
// first.

// current returns the record of entity with id as the effects planned so far
// in this transition left it, or as it is stored.
func (ev *evaluator) current(entity, id string) (Record, error) {
	if r, ok := ev.changed[entity+"/"+id]; ok {
		return r, nil
	}
	return ev.e.get(ev.ctx, entity, id)
}

// chain appends the writes ws of one effect to the writes others of the
// effects before it. A replace of a record that an earlier effect replaces
// too is merged into that earlier write (its version and its record before
// stay; the record written is the later one); later effects, and the
// expressions of this transition, then see the record as planned.
func (ev *evaluator) chain(others, ws []write) []write {
	if ev.changed == nil {
		ev.changed = map[string]Record{}
	}
	for _, w := range ws {
		if w.Op != "replace" {
			others = append(others, w)
			continue
		}
		merged := false
		for i := range others {
			if others[i].Op == "replace" && others[i].Coll == w.Coll && others[i].ID == w.ID {
				others[i].Doc = w.Doc
				w = others[i]
				merged = true
				break
			}
		}
		if !merged {
			others = append(others, w)
		}
		planned := Record{}
		for k, v := range w.Doc {
			planned[k] = v
		}
		planned[fID], planned[fVersion] = w.ID, w.From
		key := w.Coll + "/" + w.ID
		ev.changed[key] = planned
		ev.links[key] = planned
	}
	return others
}
