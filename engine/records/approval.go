package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Approvals: a transition whose approval condition holds does not move the
// record; it opens an approval with the template's steps. Approvers decide on
// the record as it was submitted: a change of the record afterwards voids the
// approval. When the last step completes, the transition is taken for the
// requester. At most one approval is open per record (a lock document whose id
// names the record); every decision is one version-guarded write, so two
// approvers acting at once cannot both count for a "quorum: any" step.
const (
	approvalsColl = "sys_approvals"
	locksColl     = "sys_approval_locks"
)

// Approval statuses.
const (
	ApprovalOpen      = "open"
	ApprovalApproved  = "approved"
	ApprovalRejected  = "rejected"
	ApprovalWithdrawn = "withdrawn"
	ApprovalVoided    = "voided"
	ApprovalReturned  = "returned"
)

// ErrApprovalPending is a second request while one is open for the record.
var ErrApprovalPending = errors.New("records: an approval is already open for this record")

// roleDirectory is what approvals need beyond Directory: who holds a role.
type roleDirectory interface {
	WithRoles(ctx context.Context, roles []string) ([]string, error)
}

// openApproval opens the approval of transition name on rec for u.
func (e *Engine) openApproval(ctx context.Context, u User, ev *evaluator, t *template.TransitionDecl, name string, rec Record, in map[string]any) (string, error) {
	place := ev.transitionPlace(t)
	var steps []any
	first := -1
	for i, st := range t.Approval.Steps {
		status := "pending"
		if st.When.IsSet() {
			ok, err := ev.runWith(fmt.Sprintf("%s.approval.steps[%d].when", place, i), rec, in)
			if err != nil {
				return "", err
			}
			if !ok {
				status = "skipped"
			}
		}
		if status == "pending" && first < 0 {
			first = i
		}
		roles := make([]any, len(st.Roles))
		for j, r := range st.Roles {
			roles[j] = r.V
		}
		quorum := st.Quorum.V
		if quorum == "" {
			quorum = "any"
		}
		steps = append(steps, map[string]any{"name": st.Name.V, "roles": roles, "quorum": quorum, "status": status, "decisions": []any{}, "extra": []any{}})
	}
	if first < 0 {
		return "", nil // every step skipped: no approval needed
	}
	lock := ev.ent.Name + ":" + rec.ID()
	id := store.NewID()
	if _, err := e.st.Insert(ctx, locksColl, store.Doc{store.IDField: lock, "approval": id}); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return "", ErrApprovalPending
		}
		return "", fmt.Errorf("records: approval: %w", err)
	}
	snapshot := map[string]any{}
	for k, v := range rec {
		snapshot[k] = v
	}
	pkgVersion := ""
	if p := e.model().Packages[ev.ent.Package]; p != nil {
		pkgVersion = p.Version.String()
	}
	inMap := map[string]any{}
	for k, v := range in {
		inMap[k] = v
	}
	_, err := e.st.Insert(ctx, approvalsColl, store.Doc{
		store.IDField: id, "entity": ev.ent.Name, "record": rec.ID(), "transition": name, "input": inMap,
		"requester": u.ID, "status": ApprovalOpen, "submitted_version": rec.Version(), "snapshot": snapshot,
		"package_version": pkgVersion, "self_approval": t.Approval.SelfApproval,
		"steps": steps, "current": first, "pending_for": pendingFor(steps[first].(map[string]any)), "created_at": e.stamp(),
	})
	if err != nil {
		_ = e.st.Delete(ctx, locksColl, lock, 1)
		return "", fmt.Errorf("records: approval: %w", err)
	}
	extra := store.Doc{"approval": id, "transition": name}
	if err := e.auditEntry(ctx, u, ev.ent, "approval_requested", rec, rec, extra); err != nil {
		return "", err
	}
	return id, nil
}

// Decision is what an approver does.
type Decision string

// Decisions.
const (
	Approve  Decision = "approve"
	Reject   Decision = "reject"
	Withdraw Decision = "withdraw"
	// Return sends the request back to the requester for changes (a comment is
	// required); the requester submits again after editing.
	Return Decision = "return"
	// Reassign gives the current step to one user instead of its roles.
	Reassign Decision = "reassign"
	// AddApprover lets one more user decide the current step (with quorum all,
	// that user must approve too).
	AddApprover Decision = "add_approver"
)

// Decide records u's decision on approval id. Approve counts toward the current
// step (its quorum: any, all holders of its roles, or a number) and, after the
// last step, takes the transition for the requester; reject closes it (a
// comment is required); withdraw is the requester's, before any decision.
// A record changed since it was submitted voids the approval (ErrConflict).
func (e *Engine) Decide(ctx context.Context, u User, id string, d Decision, comment string) (Approval, error) {
	return e.decide(ctx, u, id, d, comment, "")
}

// Delegate is Reassign or AddApprover of approval id's current step to user
// other, by someone who may decide the step.
func (e *Engine) Delegate(ctx context.Context, u User, id string, d Decision, other, comment string) (Approval, error) {
	if d != Reassign && d != AddApprover {
		return Approval{}, fmt.Errorf("%w: %q is not a delegation", ErrForbidden, d)
	}
	return e.decide(ctx, u, id, d, comment, other)
}

// MaxCommentLength is the longest comment of an approval decision, in
// characters.
const MaxCommentLength = 2000

func (e *Engine) decide(ctx context.Context, u User, id string, d Decision, comment, other string) (Approval, error) {
	switch {
	case !utf8.ValidString(comment) || strings.ContainsRune(comment, 0):
		return Approval{}, &ValidationError{Errors: []FieldError{{Path: "comment", Code: "not_text"}}}
	case utf8.RuneCountInString(comment) > MaxCommentLength:
		return Approval{}, &ValidationError{Errors: []FieldError{{Path: "comment", Code: "max_length", Params: map[string]any{"max": MaxCommentLength}}}}
	}
	doc, err := e.st.Get(ctx, approvalsColl, id)
	if errors.Is(err, store.ErrNotFound) {
		return Approval{}, fmt.Errorf("%w: approval %s", ErrNotFound, id)
	}
	if err != nil {
		return Approval{}, fmt.Errorf("records: approval: %w", err)
	}
	a := approvalOf(doc)
	if a.Status != ApprovalOpen {
		return a, fmt.Errorf("%w: the approval is %s", ErrNotAvailable, a.Status)
	}
	_, ent, err := e.entity(a.Entity)
	if err != nil {
		return a, err
	}
	rec, err := e.get(ctx, a.Entity, a.Record)
	if err != nil {
		return a, err
	}
	if rec.Version() != a.SubmittedVersion {
		e.close(ctx, doc, ApprovalVoided)
		return a, fmt.Errorf("%w: the record changed after it was submitted; the approval is void", ErrConflict)
	}
	steps, _ := doc["steps"].([]any)
	cur := int(a.Current)
	step, _ := steps[cur].(map[string]any)
	decisions, _ := step["decisions"].([]any)
	switch d {
	case Withdraw:
		if u.ID != a.Requester {
			return a, forbidden("withdraw the approval of", a.Entity)
		}
		if anyDecision(steps) {
			return a, fmt.Errorf("%w: a decision was made already", ErrNotAvailable)
		}
		return e.finish(ctx, doc, ApprovalWithdrawn, u, ent, rec, comment)
	case Reject, Approve, Return, Reassign, AddApprover:
	default:
		return a, fmt.Errorf("%w: unknown decision %q", ErrForbidden, d)
	}
	if !e.mayDecide(u, step) {
		return a, forbidden("decide step "+fmt.Sprint(step["name"])+" of", a.Entity)
	}
	if d == Reassign || d == AddApprover {
		if e.users == nil {
			return a, fmt.Errorf("records: %s needs a user directory", d)
		}
		if _, ok, err := e.users.Roles(ctx, other); err != nil || !ok {
			if err != nil {
				return a, err
			}
			return a, &ValidationError{Errors: []FieldError{{Path: "user", Code: "unknown_user", Params: map[string]any{"user": other}}}}
		}
		if other == a.Requester && !a.SelfApproval {
			return a, fmt.Errorf("%w: the requester cannot approve their own request", ErrForbidden)
		}
		key := "extra"
		if d == Reassign {
			key = "assignees"
			step["assignees"] = []any{}
		}
		list, _ := step[key].([]any)
		step[key] = append(list, other)
		doc["pending_for"] = pendingFor(step)
		saved, err := e.st.Replace(ctx, approvalsColl, doc)
		if err != nil {
			return a, fmt.Errorf("records: approval: %w", err)
		}
		return approvalOf(saved), e.auditEntry(ctx, u, ent, "approval_"+string(d), rec, rec, store.Doc{"approval": id, "note": comment, "to": other})
	}
	if u.ID == a.Requester && !a.SelfApproval {
		return a, fmt.Errorf("%w: you cannot approve your own request", ErrForbidden)
	}
	if decided(step, u.ID) {
		return a, fmt.Errorf("%w: you decided this step already", ErrNotAvailable)
	}
	if (d == Reject || d == Return) && comment == "" {
		return a, &ValidationError{Errors: []FieldError{{Path: "comment", Code: "required"}}}
	}
	step["decisions"] = append(decisions, map[string]any{"user": u.ID, "decision": string(d), "comment": comment, "at": e.stamp()})
	switch d {
	case Reject:
		return e.finish(ctx, doc, ApprovalRejected, u, ent, rec, comment)
	case Return:
		return e.finish(ctx, doc, ApprovalReturned, u, ent, rec, comment)
	}
	done, err := e.stepDone(ctx, step, a)
	if err != nil {
		return a, err
	}
	if done {
		step["status"] = "approved"
		next := -1
		for i := cur + 1; i < len(steps); i++ {
			if s, _ := steps[i].(map[string]any); s["status"] == "pending" {
				next = i
				break
			}
		}
		if next < 0 {
			return e.finish(ctx, doc, ApprovalApproved, u, ent, rec, comment)
		}
		doc["current"] = int64(next)
		doc["pending_for"] = pendingFor(steps[next].(map[string]any))
	}
	saved, err := e.st.Replace(ctx, approvalsColl, doc)
	if err != nil {
		return a, fmt.Errorf("records: approval: %w", err) // a concurrent decision wins: ErrConflict
	}
	return approvalOf(saved), e.auditEntry(ctx, u, ent, "approval_"+string(d), rec, rec, store.Doc{"approval": id, "note": comment})
}

func anyDecision(steps []any) bool {
	for _, s := range steps {
		m, _ := s.(map[string]any)
		if ds, _ := m["decisions"].([]any); len(ds) > 0 {
			return true
		}
	}
	return false
}

// pendingFor lists who may decide step now, as {to: "role:R"} and
// {to: "user:ID"} entries: the approvals collection is filtered on it (an
// inbox is one indexed query, not a scan of every open approval).
func pendingFor(step map[string]any) []any {
	var out []any
	add := func(kind string, list any) {
		l, _ := list.([]any)
		for _, x := range l {
			out = append(out, map[string]any{"to": kind + ":" + fmt.Sprint(x)})
		}
	}
	if assignees, _ := step["assignees"].([]any); len(assignees) > 0 {
		add("user", assignees)
	} else {
		add("role", step["roles"])
	}
	add("user", step["extra"])
	return out
}

// decided reports whether user decided step already (quorum all or N waits
// for the others).
func decided(step map[string]any, user string) bool {
	ds, _ := step["decisions"].([]any)
	for _, d := range ds {
		if m, _ := d.(map[string]any); m["user"] == user {
			return true
		}
	}
	return false
}

// mayDecide: the user the step was reassigned to, or else a holder of one of
// its roles, or a user added to it.
func (e *Engine) mayDecide(u User, step map[string]any) bool {
	if assignees, _ := step["assignees"].([]any); len(assignees) > 0 {
		return slices.Contains(assignees, any(u.ID)) || slices.Contains(e.extra(step), u.ID)
	}
	if slices.Contains(e.extra(step), u.ID) {
		return true
	}
	roles, _ := step["roles"].([]any)
	for _, r := range roles {
		if slices.Contains(u.Roles, fmt.Sprint(r)) {
			return true
		}
	}
	return false
}

// stepDone applies the step's quorum to its approvals. The requester, unless
// self-approval is allowed, is not among the approvers a quorum of all waits for.
func (e *Engine) stepDone(ctx context.Context, step map[string]any, a Approval) (bool, error) {
	decisions, _ := step["decisions"].([]any)
	approvals := 0
	approvers := map[string]bool{}
	for _, d := range decisions {
		m, _ := d.(map[string]any)
		if m["decision"] == string(Approve) {
			approvals++
			approvers[fmt.Sprint(m["user"])] = true
		}
	}
	switch q := fmt.Sprint(step["quorum"]); q {
	case "any":
		return approvals >= 1, nil
	case "all":
		var holders []string
		if assignees, _ := step["assignees"].([]any); len(assignees) > 0 {
			for _, a := range assignees {
				holders = append(holders, fmt.Sprint(a))
			}
		} else {
			dir, ok := e.users.(roleDirectory)
			if !ok {
				return false, fmt.Errorf("records: quorum all needs a user directory that lists roles")
			}
			var roles []string
			for _, r := range step["roles"].([]any) {
				roles = append(roles, fmt.Sprint(r))
			}
			var err error
			if holders, err = dir.WithRoles(ctx, roles); err != nil {
				return false, err
			}
		}
		holders = append(holders, e.extra(step)...)
		needed := 0
		for _, h := range holders {
			if h == a.Requester && !a.SelfApproval {
				continue
			}
			needed++
			if !approvers[h] {
				return false, nil
			}
		}
		return needed > 0, nil
	default:
		n, err := strconv.Atoi(q)
		return err == nil && approvals >= n, nil
	}
}

// extra lists the users added to a step.
func (e *Engine) extra(step map[string]any) []string {
	list, _ := step["extra"].([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// finish closes the approval with status; an approved one takes the
// transition for the requester, on the record as submitted.
func (e *Engine) finish(ctx context.Context, doc store.Doc, status string, u User, ent *template.Entity, rec Record, comment string) (Approval, error) {
	a := approvalOf(doc)
	doc["status"] = status
	doc["closed_at"] = e.stamp()
	saved, err := e.st.Replace(ctx, approvalsColl, doc)
	if err != nil {
		return a, fmt.Errorf("records: approval: %w", err)
	}
	_ = e.st.Delete(ctx, locksColl, a.Entity+":"+a.Record, 1)
	if err := e.auditEntry(ctx, u, ent, "approval_"+status, rec, rec, store.Doc{"approval": a.ID, "note": comment}); err != nil {
		return approvalOf(saved), err
	}
	if status == ApprovalApproved {
		requester := User{ID: a.Requester, Roles: []string{AdminRole}} // authorised by the approval
		if e.users != nil {
			if roles, ok, err := e.users.Roles(ctx, a.Requester); err == nil && ok {
				requester.Roles = roles
			}
		}
		input, _ := doc["input"].(map[string]any)
		run := e
		if pinned, err := e.pinnedTo(ctx, ent, doc); err != nil {
			return approvalOf(saved), err
		} else if pinned != nil {
			run = pinned
		}
		if _, err := run.transition(ctx, requester, a.Entity, a.Record, a.Transition, a.SubmittedVersion, input, true); err != nil {
			return approvalOf(saved), err
		}
	}
	return approvalOf(saved), nil
}

// close ends an approval without a decision (voided).
func (e *Engine) close(ctx context.Context, doc store.Doc, status string) {
	doc["status"] = status
	doc["closed_at"] = e.stamp()
	if _, err := e.st.Replace(ctx, approvalsColl, doc); err == nil {
		a := approvalOf(doc)
		_ = e.st.Delete(ctx, locksColl, a.Entity+":"+a.Record, 1)
	}
}

// Approval is an approval as callers see it.
type Approval struct {
	ID               string `json:"id"`
	Entity           string `json:"entity"`
	Record           string `json:"record"`
	Transition       string `json:"transition"`
	Requester        string `json:"requester"`
	Status           string `json:"status"`
	Current          int64  `json:"current_step"`
	SubmittedVersion int64  `json:"submitted_version"`
	SelfApproval     bool   `json:"-"`
	Steps            []any  `json:"steps"`
}

func approvalOf(d store.Doc) Approval {
	a := Approval{ID: d.ID()}
	a.Entity, _ = d["entity"].(string)
	a.Record, _ = d["record"].(string)
	a.Transition, _ = d["transition"].(string)
	a.Requester, _ = d["requester"].(string)
	a.Status, _ = d["status"].(string)
	a.SelfApproval, _ = d["self_approval"].(bool)
	a.Steps, _ = d["steps"].([]any)
	if v, ok := toDecimal(d["current"]); ok {
		a.Current, _ = v.Int64()
	}
	if v, ok := toDecimal(d["submitted_version"]); ok {
		a.SubmittedVersion, _ = v.Int64()
	}
	return a
}

// InboxPage lists the open approvals whose current step waits for u (or one
// of u's roles), oldest first, except u's own requests: the first limit of
// them (every one when limit is 0), and whether more wait after them. The open approvals are read in
// creation order from an index on (status, created_at), so a first page
// costs about its own size however many approvals wait.
func (e *Engine) InboxPage(ctx context.Context, u User, limit int) ([]Approval, bool, error) {
	if err := e.ensureSysIndexes(ctx, approvalsColl,
		store.Index{Name: "pending_for", Keys: []store.SortKey{store.Asc("pending_for.to")}},
		store.Index{Name: "open_by_time", Keys: []store.SortKey{store.Asc("status"), store.Asc("created_at")}}); err != nil {
		return nil, false, fmt.Errorf("records: inbox: %w", err)
	}
	to := []any{"user:" + u.ID}
	for _, r := range u.Roles {
		to = append(to, "role:"+r)
	}
	var out []Approval
	q := store.Query{Filter: store.And(store.Eq("status", ApprovalOpen), store.In("pending_for.to", to...)),
		Sort: []store.SortKey{store.Asc("created_at")}, Limit: 500}
	if limit > 0 {
		q.Limit = min(500, limit+1) // one more tells whether more wait
	}
	for {
		page, err := e.st.Find(ctx, approvalsColl, q)
		if err != nil {
			return nil, false, fmt.Errorf("records: inbox: %w", err)
		}
		for _, d := range page.Docs {
			a := approvalOf(d)
			if e.MayDecide(u, a) {
				if limit > 0 && len(out) == limit {
					return out, true, nil
				}
				out = append(out, a)
			}
		}
		if page.Next == "" {
			return out, false, nil
		}
		q.After = page.Next
	}
}

// MayDecide reports whether u may decide the current step of open approval
// a now: one of the step's approvers, not its requester (unless the step
// allows self-approval), and not already decided by u.
func (e *Engine) MayDecide(u User, a Approval) bool {
	if a.Status != ApprovalOpen || a.Requester == u.ID && !a.SelfApproval || int(a.Current) >= len(a.Steps) {
		return false
	}
	step, _ := a.Steps[a.Current].(map[string]any)
	return e.mayDecide(u, step) && !decided(step, u.ID)
}

// pinnedTo returns an engine on the model the approval was opened under, when
// the entity's package has been published in another version since (nil when
// it has not, or no ModelAt was given).
func (e *Engine) pinnedTo(ctx context.Context, ent *template.Entity, doc store.Doc) (*Engine, error) {
	version, _ := doc["package_version"].(string)
	p := e.model().Packages[ent.Package]
	if e.modelAt == nil || version == "" || p == nil || p.Version.String() == version {
		return nil, nil
	}
	m, err := e.modelAt(ctx, ent.Package, version)
	if err != nil {
		return nil, fmt.Errorf("records: the template version the approval began under: %w", err)
	}
	return New(e.st, func() *template.Model { return m }, e.opts), nil
}
