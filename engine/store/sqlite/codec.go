package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

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
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("sqlite: document %s: %w", id, err)
	}
	doc := make(store.Doc, len(m)+2)
	for k, e := range m {
		dv, err := decodeValue(e)
		if err != nil {
			return nil, fmt.Errorf("sqlite: document %s field %s: %w", id, k, err)
		}
		doc[k] = dv
	}
	doc[store.IDField] = id
	doc[store.VersionField] = v
	return doc, nil
}

func decodeValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return numberOf(string(x))
	case map[string]any:
		for k, e := range x {
			dv, err := decodeValue(e)
			if err != nil {
				return nil, err
			}
			x[k] = dv
		}
		return x, nil
	case []any:
		for i, e := range x {
			dv, err := decodeValue(e)
			if err != nil {
				return nil, err
			}
			x[i] = dv
		}
		return x, nil
	}
	return v, nil
}

func numberOf(s string) (decimal.Decimal, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return decimal.Zero, fmt.Errorf("stored number %q is not a scaled integer", s)
	}
	return decimal.FromScaled(n, store.Scale), nil
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
