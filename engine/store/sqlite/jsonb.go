package sqlite

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// Documents are stored as SQLite's binary JSON (JSONB, written by jsonb()).
// Reading the blob directly skips SQLite's rendering of it as text with
// json() and a second parse of that text: every element's type and size are
// in its header, and strings without escapes are their own bytes.
//
// An element is a header and a payload. The header's low four bits are the
// type; its high four bits are the payload size (0 to 11), or say that the
// size follows in 1, 2, 4 or 8 big-endian bytes (12 to 15).
const (
	jbNull    = 0
	jbTrue    = 1
	jbFalse   = 2
	jbInt     = 3
	jbInt5    = 4
	jbFloat   = 5
	jbFloat5  = 6
	jbText    = 7  // needs no escaping
	jbTextJ   = 8  // holds JSON escapes
	jbText5   = 9  // holds JSON5 escapes
	jbTextRaw = 10 // raw text, escaped when rendered
	jbArray   = 11
	jbObject  = 12
)

// parseJSONBDoc reads a stored document (a JSONB object) into the value
// model, as parseDoc does for its text.
func parseJSONBDoc(b []byte) (map[string]any, error) {
	v, n, err := parseJSONB(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("stored JSONB: %d bytes after the value", len(b)-n)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stored JSONB: a document must be an object, not %T", v)
	}
	return m, nil
}

// jsonbHeader returns the type, the payload's start and its size of the
// element at the start of b.
func jsonbHeader(b []byte) (typ byte, start, size int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, fmt.Errorf("stored JSONB: unexpected end")
	}
	typ, sz := b[0]&0x0f, int(b[0]>>4)
	start = 1
	if sz >= 12 {
		w := 1 << (sz - 12) // 1, 2, 4 or 8 bytes
		if len(b) < 1+w {
			return 0, 0, 0, fmt.Errorf("stored JSONB: truncated header")
		}
		var n uint64
		switch w {
		case 1:
			n = uint64(b[1])
		case 2:
			n = uint64(binary.BigEndian.Uint16(b[1:]))
		case 4:
			n = uint64(binary.BigEndian.Uint32(b[1:]))
		default:
			n = binary.BigEndian.Uint64(b[1:])
		}
		if n > uint64(len(b)) {
			return 0, 0, 0, fmt.Errorf("stored JSONB: size %d beyond the value", n)
		}
		sz, start = int(n), 1+w
	}
	if start+sz > len(b) {
		return 0, 0, 0, fmt.Errorf("stored JSONB: size %d beyond the value", sz)
	}
	return typ, start, sz, nil
}

// parseJSONB reads the element at the start of b; n is its length in bytes.
func parseJSONB(b []byte) (v any, n int, err error) {
	typ, start, size, err := jsonbHeader(b)
	if err != nil {
		return nil, 0, err
	}
	p := b[start : start+size]
	n = start + size
	switch typ {
	case jbNull:
		return nil, n, nil
	case jbTrue:
		return true, n, nil
	case jbFalse:
		return false, n, nil
	case jbInt:
		i, err := strconv.ParseInt(string(p), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("stored JSONB: a stored number is not a scaled integer: %q", p)
		}
		return decimal.FromScaled(i, store.Scale), n, nil
	case jbText, jbTextRaw:
		if !utf8.Valid(p) {
			return nil, 0, fmt.Errorf("stored JSONB: a string is not UTF-8")
		}
		return string(p), n, nil
	case jbTextJ:
		q := make([]byte, 0, len(p)+2)
		q = append(append(append(q, '"'), p...), '"')
		var s string
		if err := json.Unmarshal(q, &s); err != nil {
			return nil, 0, fmt.Errorf("stored JSONB: bad string: %w", err)
		}
		return s, n, nil
	case jbArray:
		a := []any{}
		for i := 0; i < len(p); {
			e, k, err := parseJSONB(p[i:])
			if err != nil {
				return nil, 0, err
			}
			a = append(a, e)
			i += k
		}
		return a, n, nil
	case jbObject:
		m := map[string]any{}
		for i := 0; i < len(p); {
			k, kn, err := parseJSONB(p[i:])
			if err != nil {
				return nil, 0, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, 0, fmt.Errorf("stored JSONB: an object key is a %T", k)
			}
			i += kn
			e, en, err := parseJSONB(p[i:])
			if err != nil {
				return nil, 0, err
			}
			m[key] = e
			i += en
		}
		return m, n, nil
	}
	// INT5, FLOAT, FLOAT5, TEXT5 and the reserved types: never written by
	// this store (numbers are scaled integers, strings come from JSON text).
	return nil, 0, fmt.Errorf("stored JSONB: element type %d is not one this store writes", typ)
}
