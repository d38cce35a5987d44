package store

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/yerp/yerp/engine/decimal"
)

// Scale is the number of fractional digits every stored number keeps. Numbers are
// stored as integers counting 10^-Scale units, so that both backends compare,
// sort and sum them exactly with their native integer arithmetic.
const Scale = 6

// MaxAbs is the largest magnitude a stored number may have
// (9,223,372,036,854.775807: an int64 of 10^-6 units).
var MaxAbs = decimal.FromScaled(math.MaxInt64, Scale)

// TimeLayout is how time.Time values are stored: UTC, fixed width, so that the
// string order is the time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	segmentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// CheckCollection validates a collection name: lower-case letters, digits and
// underscores, starting with a letter, at most 63 characters.
func CheckCollection(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: collection name %q (want lower-case letters, digits and _, starting with a letter)", ErrInvalid, name)
	}
	return nil
}

// CheckPath validates a field path: identifiers separated by dots.
func CheckPath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: empty path", ErrInvalid)
	}
	for _, seg := range strings.Split(path, ".") {
		if !segmentRE.MatchString(seg) {
			return fmt.Errorf("%w: path %q (want identifiers separated by dots)", ErrInvalid, path)
		}
	}
	return nil
}

// checkQueryPath validates a path used in a filter, sort or group: besides
// CheckPath, the only reserved name it may use is _id (_v is the store's own).
func checkQueryPath(path string) error {
	if err := CheckPath(path); err != nil {
		return err
	}
	if strings.HasPrefix(path, "_") && path != IDField {
		return fmt.Errorf("%w: %q is reserved by the store", ErrInvalid, path)
	}
	return nil
}

// CheckTopLevel validates a path that must name a top-level field.
func CheckTopLevel(path string) error {
	if err := CheckPath(path); err != nil {
		return err
	}
	if IsNested(path) {
		return fmt.Errorf("%w: %q must be a top-level field", ErrInvalid, path)
	}
	return nil
}

// IsNested reports whether path reaches below the top level.
func IsNested(path string) bool { return strings.Contains(path, ".") }

// NewID returns a new unique document id whose string order follows creation time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ToDecimal converts a Go number to a decimal.Decimal; ok is false for non-numbers.
func ToDecimal(v any) (d decimal.Decimal, ok bool, err error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, true, nil
	case int:
		return decimal.FromInt(int64(x)), true, nil
	case int8:
		return decimal.FromInt(int64(x)), true, nil
	case int16:
		return decimal.FromInt(int64(x)), true, nil
	case int32:
		return decimal.FromInt(int64(x)), true, nil
	case int64:
		return decimal.FromInt(x), true, nil
	case uint:
		return decimal.MustParse(strconv.FormatUint(uint64(x), 10)), true, nil
	case uint8:
		return decimal.FromInt(int64(x)), true, nil
	case uint16:
		return decimal.FromInt(int64(x)), true, nil
	case uint32:
		return decimal.FromInt(int64(x)), true, nil
	case uint64:
		return decimal.MustParse(strconv.FormatUint(x, 10)), true, nil
	case float32:
		d, err := decimal.FromFloat(float64(x))
		return d, true, err
	case float64:
		d, err := decimal.FromFloat(x)
		return d, true, err
	}
	return decimal.Zero, false, nil
}

// ScaledOf converts a stored number to its scaled integer, failing with
// ErrInvalid when it has more than Scale fractional digits or is too large.
func ScaledOf(d decimal.Decimal) (int64, error) {
	n, err := d.Scaled(Scale)
	if err != nil {
		return 0, fmt.Errorf("%w: %v (stored numbers keep %d fractional digits and stay below %s)", ErrInvalid, err, Scale, MaxAbs)
	}
	return n, nil
}

// scalar normalizes a filter or document scalar to the value model.
func scalar(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case time.Time:
		return x.UTC().Format(TimeLayout), nil
	}
	d, ok, err := ToDecimal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: unsupported value type %T", ErrInvalid, v)
	}
	if _, err := ScaledOf(d); err != nil {
		return nil, err
	}
	return d, nil
}

// Normalize checks a document for writing and returns a deep copy in the value
// model: keys valid, numbers as decimal.Decimal within range, times as strings,
// []any and map[string]any for containers (typed slices and Doc are accepted).
// The reserved keys are copied unchecked for the backend to validate.
func Normalize(doc Doc) (Doc, error) {
	out := make(Doc, len(doc))
	for k, v := range doc {
		if k == IDField || k == VersionField {
			out[k] = v
			continue
		}
		if strings.HasPrefix(k, "_") {
			return nil, fmt.Errorf("%w: field %q: top-level names starting with _ are reserved", ErrInvalid, k)
		}
		nv, err := normalizeValue(k, v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	return out, nil
}

func normalizeValue(at string, v any) (any, error) {
	switch x := v.(type) {
	case Doc:
		return normalizeMap(at, x)
	case map[string]any:
		return normalizeMap(at, x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ne, err := normalizeValue(fmt.Sprintf("%s[%d]", at, i), e)
			if err != nil {
				return nil, err
			}
			out[i] = ne
		}
		return out, nil
	}
	s, err := scalar(v)
	if err == nil {
		return s, nil
	}
	// Other slices and string-keyed maps ([]decimal.Decimal, map[string]string, ...).
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.Slice:
		out := make([]any, rv.Len())
		for i := range out {
			ne, err := normalizeValue(fmt.Sprintf("%s[%d]", at, i), rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = ne
		}
		return out, nil
	case rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String:
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[it.Key().String()] = it.Value().Interface()
		}
		return normalizeMap(at, m)
	}
	return nil, fmt.Errorf("field %s: %w", at, err)
}

func normalizeMap(at string, m map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k == "" || strings.Contains(k, ".") || strings.HasPrefix(k, "$") {
			return nil, fmt.Errorf("%w: field %s.%s: keys must not be empty, contain '.' or start with '$'", ErrInvalid, at, k)
		}
		nv, err := normalizeValue(at+"."+k, v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	return out, nil
}

// PrepareInsert normalizes doc for Insert: it sets a new _id when empty, checks
// the id, and sets _v to 1.
func PrepareInsert(doc Doc) (Doc, error) {
	d, err := Normalize(doc)
	if err != nil {
		return nil, err
	}
	switch id := d[IDField].(type) {
	case nil:
		d[IDField] = NewID()
	case string:
		if id == "" {
			d[IDField] = NewID()
		} else if len(id) > 128 {
			return nil, fmt.Errorf("%w: _id longer than 128 bytes", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: _id must be a string, got %T", ErrInvalid, id)
	}
	d[VersionField] = int64(1)
	return d, nil
}

// PrepareReplace normalizes doc for Replace and returns it with its id and the
// expected version.
func PrepareReplace(doc Doc) (Doc, string, int64, error) {
	return prepareVersioned(doc, "replace", "the version read")
}

// PrepareLoad normalizes doc for Dumper.Load, which stores it with its own
// _id and _v.
func PrepareLoad(doc Doc) (Doc, error) {
	d, _, _, err := prepareVersioned(doc, "load", "the document's version")
	return d, err
}

// prepareVersioned normalizes doc, which must carry its _id and a version,
// for op.
func prepareVersioned(doc Doc, op, version string) (Doc, string, int64, error) {
	d, err := Normalize(doc)
	if err != nil {
		return nil, "", 0, err
	}
	id, _ := d[IDField].(string)
	if id == "" {
		return nil, "", 0, fmt.Errorf("%w: %s needs the document's _id", ErrInvalid, op)
	}
	v, ok := d[VersionField].(int64)
	if !ok || v < 1 {
		return nil, "", 0, fmt.Errorf("%w: %s needs %s (_v), got %v", ErrInvalid, op, version, d[VersionField])
	}
	return d, id, v, nil
}

// CheckInc validates an increment and normalizes its guard and SetOnInsert.
func CheckInc(inc Inc) (Inc, error) {
	if inc.ID == "" {
		return inc, fmt.Errorf("%w: increment needs an id", ErrInvalid)
	}
	if len(inc.Deltas) == 0 {
		return inc, fmt.Errorf("%w: increment without deltas", ErrInvalid)
	}
	for p, d := range inc.Deltas {
		if err := CheckTopLevel(p); err != nil {
			return inc, err
		}
		if strings.HasPrefix(p, "_") {
			return inc, fmt.Errorf("%w: cannot increment reserved field %q", ErrInvalid, p)
		}
		if _, err := ScaledOf(d); err != nil {
			return inc, err
		}
	}
	f, err := CheckFilter(inc.If, true)
	if err != nil {
		return inc, err
	}
	inc.If = f
	if inc.SetOnInsert != nil {
		s, err := Normalize(inc.SetOnInsert)
		if err != nil {
			return inc, err
		}
		delete(s, IDField)
		delete(s, VersionField)
		for p := range inc.Deltas {
			if _, clash := s[p]; clash {
				return inc, fmt.Errorf("%w: %q is both incremented and set on insert", ErrInvalid, p)
			}
		}
		inc.SetOnInsert = s
	}
	return inc, nil
}

// UpsertBase is the document an upserting Increment's guard sees when the
// document is missing: SetOnInsert with every delta field at 0.
func UpsertBase(inc Inc) Doc {
	d := Doc{IDField: inc.ID}
	for k, v := range inc.SetOnInsert {
		d[k] = v
	}
	for p := range inc.Deltas {
		d[p] = decimal.Zero
	}
	return d
}

// ApplyDeltas returns a copy of doc with the deltas added (missing fields as 0).
// It fails with ErrInvalid when a field holds something other than a number or a
// result leaves the stored range.
func ApplyDeltas(doc Doc, deltas map[string]decimal.Decimal) (Doc, error) {
	out := make(Doc, len(doc)+len(deltas))
	for k, v := range doc {
		out[k] = v
	}
	for _, p := range slices.Sorted(maps.Keys(deltas)) {
		cur := decimal.Zero
		if v, ok := out[p]; ok && v != nil {
			d, isNum := v.(decimal.Decimal)
			if !isNum {
				return nil, fmt.Errorf("%w: cannot increment %q: it holds %T", ErrInvalid, p, v)
			}
			cur = d
		}
		n := cur.Add(deltas[p])
		if _, err := ScaledOf(n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, nil
}

// CheckQuery validates a Find query and returns it normalized.
func CheckQuery(q Query) (Query, error) {
	f, err := CheckFilter(q.Filter, false)
	if err != nil {
		return q, err
	}
	q.Filter = f
	if err := checkSort(q.Sort); err != nil {
		return q, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return q, fmt.Errorf("%w: limit %d (1..%d)", ErrInvalid, q.Limit, MaxLimit)
	}
	for _, p := range q.Fields {
		if err := CheckTopLevel(p); err != nil {
			return q, fmt.Errorf("projection: %w", err)
		}
	}
	return q, nil
}

func checkSort(keys []SortKey) error {
	seen := map[string]bool{}
	for _, k := range keys {
		if err := checkQueryPath(k.Path); err != nil {
			return fmt.Errorf("sort: %w", err)
		}
		if seen[k.Path] {
			return fmt.Errorf("%w: sort key %q given twice", ErrInvalid, k.Path)
		}
		seen[k.Path] = true
	}
	return nil
}

// CheckIndexes validates index declarations.
func CheckIndexes(indexes []Index) error {
	names := map[string]bool{}
	for _, ix := range indexes {
		if !nameRE.MatchString(ix.Name) {
			return fmt.Errorf("%w: index name %q (want lower-case letters, digits and _)", ErrInvalid, ix.Name)
		}
		if names[ix.Name] {
			return fmt.Errorf("%w: index %q declared twice", ErrInvalid, ix.Name)
		}
		names[ix.Name] = true
		if len(ix.Keys) == 0 {
			return fmt.Errorf("%w: index %q has no keys", ErrInvalid, ix.Name)
		}
		if err := checkSort(ix.Keys); err != nil {
			return fmt.Errorf("index %q: %w", ix.Name, err)
		}
		for _, k := range ix.Keys {
			if IsNested(k.Path) && len(ix.Keys) > 1 {
				return fmt.Errorf("%w: index %q: nested path %q must be the index's only key", ErrInvalid, ix.Name, k.Path)
			}
			if strings.HasPrefix(k.Path, "_") {
				return fmt.Errorf("%w: index %q: %q is indexed by the store already", ErrInvalid, ix.Name, k.Path)
			}
		}
	}
	return nil
}

// CheckAggregation validates an aggregation and normalizes its filter.
func CheckAggregation(a Aggregation) (Aggregation, error) {
	f, err := CheckFilter(a.Match, false)
	if err != nil {
		return a, err
	}
	a.Match = f
	if a.Unwind != "" {
		if err := CheckTopLevel(a.Unwind); err != nil {
			return a, fmt.Errorf("unwind: %w", err)
		}
		if a.Unwind == IDField || a.Unwind == VersionField {
			return a, fmt.Errorf("%w: cannot unwind %s", ErrInvalid, a.Unwind)
		}
		// Unwound rows are elements, not stored documents: they have no _id.
		if slices.Contains(a.GroupBy, IDField) || slices.ContainsFunc(a.Accumulators, func(acc Accumulator) bool { return acc.Path == IDField }) {
			return a, fmt.Errorf("%w: an unwinding aggregation cannot read %s", ErrInvalid, IDField)
		}
	}
	keys := map[string]bool{}
	for _, g := range a.GroupBy {
		if err := checkQueryPath(g); err != nil {
			return a, fmt.Errorf("group by: %w", err)
		}
		if keys[g] {
			return a, fmt.Errorf("%w: group key %q given twice", ErrInvalid, g)
		}
		keys[g] = true
	}
	for g, n := range a.Truncate {
		if !keys[g] {
			return a, fmt.Errorf("%w: truncate names %q, which is not a group key", ErrInvalid, g)
		}
		if n < 1 || n > 100 {
			return a, fmt.Errorf("%w: truncate %s to %d characters (want 1..100)", ErrInvalid, g, n)
		}
	}
	if len(a.Accumulators) == 0 {
		return a, fmt.Errorf("%w: aggregation without accumulators", ErrInvalid)
	}
	for _, acc := range a.Accumulators {
		if !segmentRE.MatchString(acc.As) || strings.HasPrefix(acc.As, "_") || keys[acc.As] {
			return a, fmt.Errorf("%w: accumulator name %q (want a new identifier not starting with _)", ErrInvalid, acc.As)
		}
		keys[acc.As] = true
		switch acc.Op {
		case Count:
		case Sum, Min, Max, Avg:
			if err := checkQueryPath(acc.Path); err != nil {
				return a, fmt.Errorf("%s: %w", acc.As, err)
			}
		default:
			return a, fmt.Errorf("%w: unknown accumulator %q", ErrInvalid, acc.Op)
		}
	}
	for _, s := range a.Sort {
		if !keys[s.Path] {
			return a, fmt.Errorf("%w: sort key %q is not a group key or accumulator", ErrInvalid, s.Path)
		}
	}
	if a.Limit < 0 {
		return a, fmt.Errorf("%w: negative limit", ErrInvalid)
	}
	return a, nil
}
