package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Operations of a batch (a batch is explained in idempotency.go).
const (
	OpCreate     = "create"
	OpUpdate     = "update"
	OpTransition = "transition"
)

const (
	// MaxBatch is the most operations one batch may hold.
	MaxBatch = 200

	// MaxKeyLength is the longest idempotency key accepted.
	MaxKeyLength = 200
)

// ErrInProgress is a key held by another attempt that has not finished yet:
// try again shortly (the same key returns its result once it has one).
var ErrInProgress = fmt.Errorf("%w: a request with this idempotency key is still being applied; try again", ErrConflict)

// ErrBatchTooLarge is a batch of more than MaxBatch operations.
var ErrBatchTooLarge = fmt.Errorf("records: a batch holds at most %d operations", MaxBatch)

// Op is one write of a batch.
type Op struct {
	// Key is the client's idempotency key, unique per user (at most
	// MaxKeyLength characters).
	Key string `json:"key"`
	// Op is create, update or transition.
	Op     string `json:"op"`
	Entity string `json:"entity"`
	// ID is the record to update or take a transition on: its id, or "$n"
	// for the record written by operation n (from 0) of the same batch.
	ID string `json:"id,omitempty"`
	// Ref names the record by the key of an earlier operation of the same
	// batch instead of ID.
	Ref string `json:"ref,omitempty"`
	// Version is the version the client read (required for update and
	// transition; optional when the record is one of the same batch, whose
	// version is then the one that operation left).
	Version int64 `json:"version,omitempty"`
	// Values are the field values of a create or update.
	Values map[string]any `json:"values,omitempty"`
	// Transition and Input name the transition to take and its input.
	Transition string         `json:"transition,omitempty"`
	Input      map[string]any `json:"input,omitempty"`

	bad []FieldError // problems of its shape found by ParseOp
}

// ParseOp reads an operation from decoded JSON. Problems of shape (a version
// that is not a number, values that are not an object) are kept and
// reported as the operation's validation error by Batch.
func ParseOp(m map[string]any) Op {
	var op Op
	str := func(name string) string {
		v, ok := m[name]
		if !ok || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			op.bad = append(op.bad, FieldError{Path: name, Code: "not_text"})
		}
		return s
	}
	obj := func(name string) map[string]any {
		v, ok := m[name]
		if !ok || v == nil {
			return nil
		}
		o, ok := v.(map[string]any)
		if !ok {
			op.bad = append(op.bad, FieldError{Path: name, Code: "not_an_object"})
		}
		return o
	}
	op.Key, op.Op, op.Entity = str("key"), str("op"), str("entity")
	op.ID, op.Ref, op.Transition = str("id"), str("ref"), str("transition")
	op.Values, op.Input = obj("values"), obj("input")
	if v, ok := m["version"]; ok && v != nil {
		n, err := strconv.ParseInt(strings.Trim(fmt.Sprint(v), `"`), 10, 64)
		if err != nil || n < 1 {
			op.bad = append(op.bad, FieldError{Path: "version", Code: "not_a_number"})
		}
		op.Version = n
	}
	for k := range m {
		switch k {
		case "key", "op", "entity", "id", "ref", "version", "values", "transition", "input":
		default:
			op.bad = append(op.bad, FieldError{Path: k, Code: "unknown_field"})
		}
	}
	return op
}

// Result is the outcome of one operation: the record written (and for a
// transition its warnings, or the approval it opened), or Err. A replayed
// result is the stored one, decoded from its JSON: the record has the same
// JSON as the first time (numbers as their text), Version() included.
type Result struct {
	Key      string
	Op       string
	Record   Record
	Warnings []map[string]string
	Approval string
	Err      error
	// Replayed: the key had a result already; nothing was applied now.
	Replayed bool
}

// Batch applies ops for u, in order, each on its own: one failing does not
// undo or stop the others. It returns one result per operation. A later
// operation may name the record of an earlier one ("$0", or Ref).
func (e *Engine) Batch(ctx context.Context, u User, ops []Op) ([]Result, error) {
	if len(ops) > MaxBatch {
		return nil, ErrBatchTooLarge
	}
	out := make([]Result, len(ops))
	byKey := map[string]int{}
	for i, op := range ops {
		id, version, err := resolveRef(op, out[:i], byKey)
		if err != nil {
			out[i] = Result{Key: op.Key, Op: op.Op, Err: err}
		} else {
			out[i] = e.once(ctx, u, op, id, version)
		}
		if _, seen := byKey[op.Key]; !seen && op.Key != "" {
			byKey[op.Key] = i
		}
	}
	return out, nil
}

// Once applies one operation for u under its key (Batch with one operation,
// without references).
func (e *Engine) Once(ctx context.Context, u User, op Op) Result {
	if strings.HasPrefix(op.ID, "$") || op.Ref != "" {
		return Result{Key: op.Key, Op: op.Op, Err: &ValidationError{Errors: []FieldError{{Path: "id", Code: "bad_ref"}}}}
	}
	return e.once(ctx, u, op, op.ID, op.Version)
}

// resolveRef gives the id and version an operation works on, following a
// reference to an earlier operation of the batch.
func resolveRef(op Op, done []Result, byKey map[string]int) (string, int64, error) {
	n := -1
	switch {
	case op.Ref != "":
		i, ok := byKey[op.Ref]
		if !ok {
			return "", 0, &ValidationError{Errors: []FieldError{{Path: "ref", Code: "bad_ref", Params: map[string]any{"ref": op.Ref}}}}
		}
		n = i
	case strings.HasPrefix(op.ID, "$"):
		i, err := strconv.Atoi(op.ID[1:])
		if err != nil || i < 0 || i >= len(done) {
			return "", 0, &ValidationError{Errors: []FieldError{{Path: "id", Code: "bad_ref", Params: map[string]any{"ref": op.ID}}}}
		}
		n = i
	default:
		return op.ID, op.Version, nil
	}
	path := "id"
	if op.Ref != "" {
		path = "ref"
	}
	prev := done[n]
	if prev.Err != nil || prev.Record == nil {
		return "", 0, &ValidationError{Errors: []FieldError{{Path: path, Code: "ref_failed", Params: map[string]any{"ref": prev.Key}}}}
	}
	version := op.Version
	if version == 0 {
		version = prev.Record.Version()
	}
	return prev.Record.ID(), version, nil
}

// check validates the shape of an operation (before anything is reserved).
func (op Op) check(id string, version int64) error {
	ve := &ValidationError{Errors: append([]FieldError(nil), op.bad...)}
	switch {
	case op.Key == "":
		ve.add("key", "required", nil)
	case len([]rune(op.Key)) > MaxKeyLength:
		ve.add("key", "max_length", map[string]any{"max": MaxKeyLength})
	}
	if op.Entity == "" {
		ve.add("entity", "required", nil)
	}
	switch op.Op {
	case OpCreate:
		if op.ID != "" || op.Ref != "" {
			ve.add("id", "unknown_field", nil)
		}
	case OpUpdate, OpTransition:
		if id == "" {
			ve.add("id", "required", nil)
		}
		if version < 1 && !hasPath(ve, "version") {
			ve.add("version", "required", nil)
		}
		if op.Op == OpTransition && op.Transition == "" {
			ve.add("transition", "required", nil)
		}
	case "":
		ve.add("op", "required", nil)
	default:
		ve.add("op", "unknown_op", map[string]any{"op": op.Op})
	}
	return ve.orNil()
}

func hasPath(ve *ValidationError, path string) bool {
	for _, fe := range ve.Errors {
		if fe.Path == path {
			return true
		}
	}
	return false
}

// hash is the fingerprint of what the operation asks, as sent (references
// unresolved, so that a replay of the same batch has the same fingerprint).
func (op Op) hash() string {
	c := op
	c.Key, c.bad = "", nil
	b, err := json.Marshal(c)
	if err != nil { // values that JSON cannot hold: compare them as printed
		b = []byte(fmt.Sprintf("%#v", c))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
