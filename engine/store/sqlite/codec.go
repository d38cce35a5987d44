package sqlite

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/internal/jsontext"
)

// encode turns a normalized document into the stored JSON: numbers as integers of
// 10^-Scale units, _id and _v left out (they are columns). The text is what
// json.Marshal gives for the same values (keys sorted, HTML characters
// escaped), written without reflection: encoding took a fifth of an insert.
func encode(doc store.Doc) ([]byte, error) {
	return appendJSONObject(make([]byte, 0, 64*len(doc)), doc, true)
}

// appendJSONObject appends m as a JSON object with its keys sorted, leaving
// out _id and _v when top is set (a document's top level).
func appendJSONObject(buf []byte, m map[string]any, top bool) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !top || k != store.IDField && k != store.VersionField {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsontext.AppendString(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = appendJSONValue(buf, m[k]); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendJSONValue appends the stored JSON of a normalized value.
func appendJSONValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case string:
		return jsontext.AppendString(buf, x), nil
	case decimal.Decimal:
		n, err := store.ScaledOf(x)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(buf, n, 10), nil
	case map[string]any:
		return appendJSONObject(buf, x, false)
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendJSONValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	// Not in the value model (Normalize converts everything else): as the
	// standard library writes it.
	ev, err := encodeValue(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

func encodeValue(v any) (any, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return store.ScaledOf(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := encodeValue(e)
			if err != nil {
				return nil, err
			}
			m[k] = ev
		}
		return m, nil
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			ev, err := encodeValue(e)
			if err != nil {
				return nil, err
			}
			a[i] = ev
		}
		return a, nil
	}
	return v, nil
}

// decode reads a stored document (JSONB, see jsonb.go) back with its id and
// version.
func decode(id string, v int64, data []byte) (store.Doc, error) {
	m, err := parseJSONBDoc(data)
	if err != nil {
		return nil, fmt.Errorf("sqlite: document %s: %w", id, err)
	}
	m[store.IDField] = id
	m[store.VersionField] = v
	return m, nil
}

// sqlValue is how a normalized scalar is bound as a parameter, so that it
// compares with what json_extract returns for the stored JSON.
func sqlValue(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		n, _ := x.Scaled(store.Scale) // range checked by store.CheckFilter
		return n
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// storeValue converts what json_extract returned back to the value model.
func storeValue(v any) any {
	switch x := v.(type) {
	case int64:
		return decimal.FromScaled(x, store.Scale)
	case []byte:
		return string(x)
	}
	return v
}
