package template

import "strings"

// TrackingFields are the system fields a tracking page may show.
var trackingSystemFields = []string{"number", "state", "created_at"}

// tracking checks the fields a tracking link shows: fields of the entity,
// number, state or created_at, a table, or one column of a table. A field that
// some role may not see is shown to customers only if the author meant it:
// the checker warns.
func (ec *entityCheck) tracking() {
	t := ec.e.Tracking
	if t == nil {
		return
	}
	seen := map[string]bool{}
	for _, f := range t.Fields {
		if seen[f.V] {
			ec.d.errorf(f.Pos, "list each field once", "tracking.fields: %q is listed twice", f.V)
			continue
		}
		seen[f.V] = true
		name, _, nested := strings.Cut(f.V, ".")
		if !nested && !ec.hasField(name, false) {
			if ec.hasField(name, true) && name != "owner" && name != "id" {
				continue // number, state, created_at
			}
			ec.d.errorf(f.Pos, didYouMean(name, append(ec.e.Fields.Keys(), trackingSystemFields...)), "tracking.fields: unknown field %q", name)
			continue
		}
		before := len(*ec.out)
		ec.fieldPath(f, "tracking.fields")
		if len(*ec.out) != before {
			continue
		}
		for _, a := range ec.e.Access {
			if a.Val == nil || a.Val.Fields == nil {
				continue
			}
			for _, h := range a.Val.Fields.Hide {
				if h.V == f.V || h.V == name {
					ec.d.warnf(f.Pos, "customers see it on the tracking page; remove it unless that is meant", "tracking.fields: %q is hidden from role %s", f.V, a.Key.V)
				}
			}
		}
	}
}
