package mongo

import (
	"fmt"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// toBSON converts a normalized document to an ordered BSON document. Numbers
// become int64 counts of 10^-store.Scale units; _v stays a plain int64.
func toBSON(doc store.Doc) (bson.D, error) {
	out := make(bson.D, 0, len(doc))
	if id, ok := doc[store.IDField]; ok {
		out = append(out, bson.E{Key: store.IDField, Value: id})
	}
	if v, ok := doc[store.VersionField]; ok {
		n, isInt := v.(int64)
		if !isInt {
			return nil, fmt.Errorf("%w: _v must be an int64, got %T", store.ErrInvalid, v)
		}
		out = append(out, bson.E{Key: store.VersionField, Value: n})
	}
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if k == store.IDField || k == store.VersionField {
			continue
		}
		v, err := valueToBSON(doc[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out = append(out, bson.E{Key: k, Value: v})
	}
	return out, nil
}

// valueToBSON converts one value of the store's value model to BSON.
func valueToBSON(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, string, int64:
		return x, nil
	case decimal.Decimal:
		return store.ScaledOf(x)
	case store.Doc:
		return valueToBSON(map[string]any(x))
	case map[string]any:
		d := make(bson.D, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			e, err := valueToBSON(x[k])
			if err != nil {
				return nil, err
			}
			d = append(d, bson.E{Key: k, Value: e})
		}
		return d, nil
	case []any:
		a := make(bson.A, len(x))
		for i, e := range x {
			b, err := valueToBSON(e)
			if err != nil {
				return nil, err
			}
			a[i] = b
		}
		return a, nil
	}
	return nil, fmt.Errorf("%w: unsupported value type %T", store.ErrInvalid, v)
}

// fromRaw converts a stored BSON document to a store.Doc: numbers as
// decimal.Decimal (except _v, an int64), documents as map[string]any and arrays
// as []any.
func fromRaw(raw bson.Raw) (store.Doc, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("mongo: bad document: %w", err)
	}
	out := make(store.Doc, len(elems))
	for _, e := range elems {
		k := e.Key()
		if k == store.VersionField {
			n, ok := e.Value().AsInt64OK()
			if !ok {
				return nil, fmt.Errorf("mongo: _v holds BSON %s", e.Value().Type)
			}
			out[k] = n
			continue
		}
		v, err := fromRawValue(e.Value())
		if err != nil {
			return nil, fmt.Errorf("mongo: field %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// fromRawValue converts one stored BSON value to the value model.
func fromRawValue(rv bson.RawValue) (any, error) {
	switch rv.Type {
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeBoolean:
		return rv.Boolean(), nil
	case bson.TypeString:
		return rv.StringValue(), nil
	case bson.TypeInt32:
		return decimal.FromScaled(int64(rv.Int32()), store.Scale), nil
	case bson.TypeInt64:
		return decimal.FromScaled(rv.Int64(), store.Scale), nil
	case bson.TypeDouble:
		return scaledFloat(rv.Double())
	case bson.TypeEmbeddedDocument:
		elems, err := rv.Document().Elements()
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(elems))
		for _, e := range elems {
			v, err := fromRawValue(e.Value())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Key(), err)
			}
			m[e.Key()] = v
		}
		return m, nil
	case bson.TypeArray:
		vals, err := rv.Array().Values()
		if err != nil {
			return nil, err
		}
		a := make([]any, len(vals))
		for i, ev := range vals {
			v, err := fromRawValue(ev)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			a[i] = v
		}
		return a, nil
	}
	return nil, fmt.Errorf("unsupported BSON type %s", rv.Type)
}

// scaledFloat reads a double holding a count of 10^-store.Scale units. The store
// never writes doubles; a server may return one when an integer sum overflows.
func scaledFloat(f float64) (decimal.Decimal, error) {
	d, err := decimal.FromFloat(f)
	if err != nil {
		return decimal.Zero, err
	}
	return d.Mul(decimal.FromScaled(1, store.Scale)), nil
}

// cursorValue returns the value of a sort key as the store keeps it in BSON
// (nil, bool, int64 or string), for a pagination cursor; ok is false for values
// a cursor cannot hold (documents and arrays).
func cursorValue(rv bson.RawValue) (v any, ok bool) {
	switch rv.Type {
	case 0, bson.TypeNull, bson.TypeUndefined:
		return nil, true
	case bson.TypeBoolean:
		return rv.Boolean(), true
	case bson.TypeString:
		return rv.StringValue(), true
	case bson.TypeInt32:
		return int64(rv.Int32()), true
	case bson.TypeInt64:
		return rv.Int64(), true
	case bson.TypeDouble:
		return rv.Double(), true
	}
	return nil, false
}

// roundTrip returns doc as Get would read it back after storing it.
func roundTrip(doc store.Doc) (store.Doc, error) {
	d, err := toBSON(doc)
	if err != nil {
		return nil, err
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("mongo: encode: %w", err)
	}
	return fromRaw(raw)
}
