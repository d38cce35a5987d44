// Package records is the records engine: create, read, update, delete and list
// the records of any installed entity, enforcing on the server everything the
// template declares (defaults, computed fields, required and conditional
// rules, read-only fields and state locks, value checks, rules, access per role
// and per field), keeping versions for optimistic locking, numbering series and
// an audit entry with a field-level diff for every change. It knows no HTTP.
package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Errors callers branch on (with errors.Is).
var (
	ErrNotFound  = errors.New("records: not found")
	ErrForbidden = errors.New("records: forbidden")
	ErrConflict  = store.ErrConflict // the record changed since it was read
)

// User is who acts: the engine checks every access against its roles.
type User struct {
	ID    string
	Name  string
	Roles []string
	Lang  string
}

// AdminRole may do everything.
const AdminRole = "admin"

// IsAdmin reports whether u has the admin role.
func (u User) IsAdmin() bool { return slices.Contains(u.Roles, AdminRole) }

// Record is a record as a user may see it: the stored values of the fields it
// may read, plus id, version, state, number, owner and timestamps.
type Record map[string]any

// ID returns the record's id.
func (r Record) ID() string { s, _ := r["id"].(string); return s }

// Version returns the record's version (for If-Match).
func (r Record) Version() int64 { v, _ := r["version"].(int64); return v }

// Engine runs records against the active model.
type Engine struct {
	st      store.Store
	model   func() *template.Model
	now     func() time.Time
	indexed sync.Map // *template.Entity, or a system collection name → true once its indexes are declared
	users   Directory
	modelAt func(ctx context.Context, pkg, version string) (*template.Model, error)
	opts    Options
	track   trackingKey // the key that signs tracking links (tracking.go)
}

// Options tune an Engine; the zero value is fine.
type Options struct {
	Now   func() time.Time // the clock (tests)
	Users Directory        // other users, for assign (order transfer)
	// ModelAt returns the model with package pkg at version: an approval
	// finishes under the template version it was opened with.
	ModelAt func(ctx context.Context, pkg, version string) (*template.Model, error)
}

// New returns an engine over st that reads the active model from model (e.g.
// packages.Service.Model), so a publish takes effect for the next call.
func New(st store.Store, model func() *template.Model, opt Options) *Engine {
	e := &Engine{st: st, model: model, now: opt.Now, users: opt.Users, modelAt: opt.ModelAt, opts: opt}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// System fields every record has; templates cannot declare them.
const (
	fID        = "id"
	fVersion   = "version"
	fState     = "state"
	fNumber    = "number"
	fOwner     = "owner"
	fCreatedAt = "created_at"
	fCreatedBy = "created_by"
	fUpdatedAt = "updated_at"
	fUpdatedBy = "updated_by"
)

var systemFields = []string{fID, fVersion, fState, fNumber, fOwner, fCreatedAt, fCreatedBy, fUpdatedAt, fUpdatedBy, fPosting}

// entity returns the model and entity, or ErrNotFound.
func (e *Engine) entity(name string) (*template.Model, *template.Entity, error) {
	m := e.model()
	if m == nil {
		return nil, nil, fmt.Errorf("%w: no template is installed", ErrNotFound)
	}
	ent := m.Entities[name]
	if ent == nil {
		return nil, nil, fmt.Errorf("%w: entity %q is not installed", ErrNotFound, name)
	}
	return m, ent, nil
}

// fromDoc turns a stored document into a Record.
// adoptDoc is fromDoc for a document nobody else holds: it renames the
// store's id and version keys in place instead of copying every field.
func adoptDoc(d store.Doc) Record {
	if id, ok := d[store.IDField]; ok {
		delete(d, store.IDField)
		d[fID] = id
	}
	if v, ok := d[store.VersionField]; ok {
		delete(d, store.VersionField)
		d[fVersion] = v
	}
	return Record(d)
}

func fromDoc(d store.Doc) Record {
	r := Record{}
	for k, v := range d {
		switch k {
		case store.IDField:
			r[fID] = v
		case store.VersionField:
			r[fVersion] = v
		default:
			r[k] = v
		}
	}
	return r
}

// toDoc turns a Record into a document for the store.
func toDoc(r Record) store.Doc {
	d := store.Doc{}
	for k, v := range r {
		switch k {
		case fID:
			d[store.IDField] = v
		case fVersion:
			d[store.VersionField] = v
		default:
			d[k] = v
		}
	}
	return d
}

func (e *Engine) stamp() string { return e.now().UTC().Format(template.DateTimeLayout) }

// get reads the stored record (no access check).
func (e *Engine) get(ctx context.Context, entity, id string) (Record, error) {
	d, err := e.st.Get(ctx, entity, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, entity, id)
	}
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	return fromDoc(d), nil
}
