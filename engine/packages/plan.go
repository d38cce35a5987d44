package packages

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Plan is what publishing a version would do: the template changes, how many
// existing records each touches, and which would break records (and so block).
type Plan struct {
	Package     string
	From, To    string // versions; From is "" for a new install
	Changes     []Change
	Files       []FileChange
	Diagnostics template.Diagnostics // warnings of the checker
}

// Blocking reports whether any change blocks the publish.
func (p *Plan) Blocking() bool {
	for _, c := range p.Changes {
		if c.Blocking {
			return true
		}
	}
	return false
}

// String renders the plan for people: one change per line, blocking ones first.
func (p *Plan) String() string {
	var b strings.Builder
	from := p.From
	if from == "" {
		from = "(not installed)"
	}
	fmt.Fprintf(&b, "%s: %s -> %s\n", p.Package, from, p.To)
	for _, f := range p.Files {
		fmt.Fprintf(&b, "  file %s: %s (+%d -%d lines)\n", f.Name, f.Kind, f.Added, f.Removed)
	}
	for _, c := range p.Changes {
		mark := " "
		if c.Blocking {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, c.Message)
	}
	if p.Blocking() {
		b.WriteString("refused: the changes marked ! would break existing records\n")
	}
	return b.String()
}

// Change is one effect of a new version on the data.
type Change struct {
	Kind     string // entity_added, entity_removed, field_added, field_removed, field_renamed, type_changed, now_required, state_added, state_removed
	Entity   string
	Name     string // field or state
	From     string // for field_renamed: the old name
	Records  int64  // existing records it touches
	Blocking bool
	Message  string
}

// FileChange is a file that differs between two versions.
type FileChange struct {
	Name           string
	Kind           string // added, removed, changed
	Added, Removed int    // lines
}

// plan compares the entities of pkg in the old model (nil: not installed) with
// the new one and counts the records each change touches.
func (s *Service) plan(ctx context.Context, pkg string, old, next *template.Model, oldFiles, newFiles map[string]string) (*Plan, error) {
	p := &Plan{Package: pkg, Files: diffFiles(oldFiles, newFiles)}
	if old != nil && old.Packages[pkg] != nil {
		p.From = old.Packages[pkg].Version.String()
	}
	if next != nil && next.Packages[pkg] != nil {
		p.To = next.Packages[pkg].Version.String()
	}
	oldEnts, newEnts := entitiesOf(old, pkg), entitiesOf(next, pkg)
	for _, name := range sortedUnion(oldEnts, newEnts) {
		o, n := oldEnts[name], newEnts[name]
		switch {
		case o == nil:
			p.add(Change{Kind: "entity_added", Entity: name, Message: fmt.Sprintf("new entity %s", name)})
		case n == nil:
			cnt, err := s.st.Count(ctx, name, nil)
			if err != nil {
				return nil, err
			}
			p.add(Change{Kind: "entity_removed", Entity: name, Records: cnt, Blocking: cnt > 0,
				Message: fmt.Sprintf("entity %s is removed; %d records exist", name, cnt)})
		default:
			if err := s.planEntity(ctx, p, o.Decl, n.Decl); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func (p *Plan) add(c Change) { p.Changes = append(p.Changes, c) }

func (s *Service) planEntity(ctx context.Context, p *Plan, o, n *template.EntityDecl) error {
	ent := n.Entity.V
	count := func(f store.Filter) (int64, error) { return s.st.Count(ctx, ent, f) }
	renamedFrom := map[string]string{}
	for _, f := range n.Fields {
		if f.Val != nil && f.Val.RenamedFrom.V != "" {
			renamedFrom[f.Val.RenamedFrom.V] = f.Key.V
		}
	}
	for _, f := range n.Fields {
		name, nf := f.Key.V, f.Val
		of, existed := o.Fields.Get(name)
		if nf == nil {
			continue
		}
		if !existed && nf.RenamedFrom.V != "" {
			if _, ok := o.Fields.Get(nf.RenamedFrom.V); ok {
				cnt, err := count(store.Exists(nf.RenamedFrom.V, true))
				if err != nil {
					return err
				}
				p.add(Change{Kind: "field_renamed", Entity: ent, Name: name, From: nf.RenamedFrom.V, Records: cnt,
					Message: fmt.Sprintf("%s.%s is renamed to %s; the data of %d records moves with it", ent, nf.RenamedFrom.V, name, cnt)})
				continue
			}
		}
		needsValue := nf.Required && !nf.Default.IsSet() && !nf.Compute.IsSet()
		if !existed {
			c := Change{Kind: "field_added", Entity: ent, Name: name, Message: fmt.Sprintf("new field %s.%s", ent, name)}
			if needsValue {
				cnt, err := count(nil)
				if err != nil {
					return err
				}
				c.Kind, c.Records, c.Blocking = "now_required", cnt, cnt > 0
				c.Message = fmt.Sprintf("new required field %s.%s has no default; %d existing records would lack it (give it a default)", ent, name, cnt)
			}
			p.add(c)
			continue
		}
		if of != nil && of.Type.V != nf.Type.V {
			cnt, err := count(store.Exists(name, true))
			if err != nil {
				return err
			}
			c := Change{Kind: "type_changed", Entity: ent, Name: name, Records: cnt}
			if nf.Migrate.IsSet() {
				c.Message = fmt.Sprintf("%s.%s changes from %s to %s; migrate converts %d records", ent, name, of.Type.V, nf.Type.V, cnt)
			} else {
				c.Blocking = cnt > 0
				c.Message = fmt.Sprintf("%s.%s changes from %s to %s without migrate:; %d records hold a value (add a migrate: expression)", ent, name, of.Type.V, nf.Type.V, cnt)
			}
			p.add(c)
		}
		if of != nil && !of.Required && needsValue {
			cnt, err := count(store.Eq(name, nil))
			if err != nil {
				return err
			}
			p.add(Change{Kind: "now_required", Entity: ent, Name: name, Records: cnt, Blocking: cnt > 0,
				Message: fmt.Sprintf("%s.%s becomes required without a default; %d records have no value", ent, name, cnt)})
		}
	}
	for _, f := range o.Fields {
		if _, still := n.Fields.Get(f.Key.V); still || renamedFrom[f.Key.V] != "" {
			continue
		}
		cnt, err := count(store.Exists(f.Key.V, true))
		if err != nil {
			return err
		}
		p.add(Change{Kind: "field_removed", Entity: ent, Name: f.Key.V, Records: cnt,
			Message: fmt.Sprintf("%s.%s is removed from the template; the data of %d records is kept (hidden) until purged", ent, f.Key.V, cnt)})
	}
	for _, st := range o.States {
		if _, still := n.States.Get(st.Key.V); still {
			continue
		}
		cnt, err := count(store.Eq("state", st.Key.V))
		if err != nil {
			return err
		}
		p.add(Change{Kind: "state_removed", Entity: ent, Name: st.Key.V, Records: cnt, Blocking: cnt > 0,
			Message: fmt.Sprintf("state %s.%s is removed; %d records are in it", ent, st.Key.V, cnt)})
	}
	for _, st := range n.States {
		if _, had := o.States.Get(st.Key.V); !had {
			p.add(Change{Kind: "state_added", Entity: ent, Name: st.Key.V, Message: fmt.Sprintf("new state %s.%s", ent, st.Key.V)})
		}
	}
	return nil
}

func entitiesOf(m *template.Model, pkg string) map[string]*template.Entity {
	out := map[string]*template.Entity{}
	if m == nil || m.Packages[pkg] == nil {
		return out
	}
	for _, name := range m.Packages[pkg].Entities {
		out[name] = m.Entities[name]
	}
	return out
}

func sortedUnion[V any](a, b map[string]V) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffFiles lists the files that differ, with line counts from a longest
// common subsequence of their lines.
func diffFiles(old, next map[string]string) []FileChange {
	var out []FileChange
	for _, name := range sortedUnion(old, next) {
		o, had := old[name]
		n, has := next[name]
		switch {
		case !had:
			out = append(out, FileChange{Name: name, Kind: "added", Added: len(lines(n))})
		case !has:
			out = append(out, FileChange{Name: name, Kind: "removed", Removed: len(lines(o))})
		case o != n:
			ol, nl := lines(o), lines(n)
			common := lcs(ol, nl)
			out = append(out, FileChange{Name: name, Kind: "changed", Added: len(nl) - common, Removed: len(ol) - common})
		}
	}
	return out
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
