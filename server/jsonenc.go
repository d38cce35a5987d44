package server

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/internal/jsontext"
)

// encodeJSON is the app's JSON encoder. It writes what encoding/json writes,
// byte for byte (map keys sorted, strings HTML-safe, invalid UTF-8 as
// U+FFFD), but without reflection for the values answers are made of:
// records and maps of text, decimals, integers, booleans, lists and maps.
// Any other value goes through encoding/json. A page of 50 orders spent a
// third of its handler in encoding/json's reflection and key sorting.
func encodeJSON(v any) ([]byte, error) {
	return appendJSON(make([]byte, 0, 2048), v)
}

func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsontext.AppendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case decimal.Decimal:
		// Decimal.MarshalJSON: the number as a JSON string (digits, sign
		// and point only, nothing to escape).
		b = append(b, '"')
		b = append(b, x.String()...)
		return append(b, '"'), nil
	case map[string]any:
		return appendJSONMap(b, x)
	case records.Record:
		return appendJSONMap(b, x)
	case fiber.Map:
		return appendJSONMap(b, x)
	case []any:
		return appendJSONList(b, x)
	case []records.Record:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, r := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONMap(b, r); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsontext.AppendString(b, s)
		}
		return append(b, ']'), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, data...), nil
}

func appendJSONMap[M ~map[string]any](b []byte, m M) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, k)
		b = append(b, ':')
		if b, err = appendJSON(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendJSONList(b []byte, l []any) ([]byte, error) {
	if l == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	var err error
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSON(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}
