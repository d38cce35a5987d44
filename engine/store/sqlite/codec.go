package sqlite

import (
	"encoding/json"
	"fmt"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// encode turns a normalized document into the stored JSON: numbers as integers of
// 10^-Scale units, _id and _v left out (they are columns).
func encode(doc store.Doc) ([]byte, error) {
	m := make(map[string]any, len(doc))
	for k, v := range doc {
		if k == store.IDField || k == store.VersionField {
			continue
		}
		ev, err := encodeValue(v)
		if err != nil {
			return nil, err
		}
		m[k] = ev
	}
	return json.Marshal(m)
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

// decode reads stored JSON back into a document with its id and version.
func decode(id string, v int64, data []byte) (store.Doc, error) {
	m, err := parseDoc(data)
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
