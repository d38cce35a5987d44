package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
)

// Cursor is the position after the last document of a page: the values of its
// sort keys as the backend stores them (nil, bool, int64, float64 or string) and
// its id. Backends encode it with EncodeCursor and read it with DecodeCursor.
type Cursor struct {
	Values []any
	ID     string
}

type cursorJSON struct {
	S uint32 `json:"s"` // fingerprint of the sort, so a cursor is not used with another
	V []cval `json:"v"`
	I string `json:"i"`
}

type cval struct {
	T string `json:"t"` // n(ull) b(ool) i(nt) f(loat) s(tring)
	V any    `json:"v,omitempty"`
}

func sortPrint(sort []SortKey) uint32 {
	h := fnv.New32a()
	for _, k := range sort {
		fmt.Fprintf(h, "%s:%v;", k.Path, k.Desc)
	}
	return h.Sum32()
}

// EncodeCursor returns the opaque text of c for a query sorted by sort. A sort
// value that is not a scalar is an ErrInvalid error (sort keys must hold scalars).
func EncodeCursor(sort []SortKey, c Cursor) (string, error) {
	cj := cursorJSON{S: sortPrint(sort), I: c.ID, V: make([]cval, len(c.Values))}
	for i, v := range c.Values {
		switch x := v.(type) {
		case nil:
			cj.V[i] = cval{T: "n"}
		case bool:
			cj.V[i] = cval{T: "b", V: x}
		case int64:
			cj.V[i] = cval{T: "i", V: fmt.Sprint(x)}
		case float64:
			cj.V[i] = cval{T: "f", V: x}
		case string:
			cj.V[i] = cval{T: "s", V: x}
		default:
			return "", fmt.Errorf("%w: sort key %s holds a %T; sort keys must hold scalars", ErrInvalid, sort[i].Path, v)
		}
	}
	b, err := json.Marshal(cj)
	if err != nil {
		return "", fmt.Errorf("store: cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeCursor reads a cursor made by EncodeCursor for the same sort.
func DecodeCursor(sort []SortKey, text string) (Cursor, error) {
	bad := func(why string) (Cursor, error) {
		return Cursor{}, fmt.Errorf("%w: cursor %s", ErrInvalid, why)
	}
	b, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return bad("is not one this store made")
	}
	var cj cursorJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&cj); err != nil || cj.I == "" {
		return bad("is not one this store made")
	}
	if cj.S != sortPrint(sort) || len(cj.V) != len(sort) {
		return bad("belongs to a query with another sort")
	}
	c := Cursor{ID: cj.I, Values: make([]any, len(cj.V))}
	for i, v := range cj.V {
		switch v.T {
		case "n":
			c.Values[i] = nil
		case "b":
			x, ok := v.V.(bool)
			if !ok {
				return bad("is damaged")
			}
			c.Values[i] = x
		case "i":
			s, _ := v.V.(string)
			var n int64
			if _, err := fmt.Sscan(s, &n); err != nil {
				return bad("is damaged")
			}
			c.Values[i] = n
		case "f":
			num, ok := v.V.(json.Number)
			if !ok {
				return bad("is damaged")
			}
			f, err := num.Float64()
			if err != nil {
				return bad("is damaged")
			}
			c.Values[i] = f
		case "s":
			x, ok := v.V.(string)
			if !ok {
				return bad("is damaged")
			}
			c.Values[i] = x
		default:
			return bad("is damaged")
		}
	}
	return c, nil
}

// SortWithID returns the sort keys with _id appended as the tie-breaker, in the
// direction of the last key.
func SortWithID(sort []SortKey) []SortKey {
	out := make([]SortKey, 0, len(sort)+1)
	desc := false
	for _, k := range sort {
		if k.Path == IDField {
			return append(out, k)
		}
		out = append(out, k)
		desc = k.Desc
	}
	return append(out, SortKey{Path: IDField, Desc: desc})
}
