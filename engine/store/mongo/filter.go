package mongo

import (
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/yerp/yerp/engine/store"
)

// matchNone is a filter no document satisfies (every document has an _id).
var matchNone = bson.D{{Key: store.IDField, Value: bson.D{{Key: "$in", Value: bson.A{}}}}}

// translate turns a checked filter (see store.CheckFilter) into a MongoDB query
// document with the semantics documented on store.Filter. Values are bound as
// BSON values, never parsed as query syntax. Linear conditions are not
// translated: the store evaluates them in Go (they occur only in Inc.If).
func translate(f store.Filter) (bson.D, error) {
	switch n := f.(type) {
	case nil:
		return bson.D{}, nil
	case *store.Field:
		return translateField(n)
	case *store.Logic:
		args := make(bson.A, 0, len(n.Args))
		for _, a := range n.Args {
			t, err := translate(a)
			if err != nil {
				return nil, err
			}
			args = append(args, t)
		}
		switch n.Op {
		case store.OpAnd:
			if len(args) == 0 {
				return bson.D{}, nil
			}
			return bson.D{{Key: "$and", Value: args}}, nil
		case store.OpOr:
			if len(args) == 0 {
				return matchNone, nil
			}
			return bson.D{{Key: "$or", Value: args}}, nil
		case store.OpNot:
			return bson.D{{Key: "$nor", Value: args}}, nil
		}
		return nil, fmt.Errorf("%w: unknown logical operator %q", store.ErrInvalid, n.Op)
	case *store.Linear:
		return nil, fmt.Errorf("%w: a linear condition is allowed only in an increment guard", store.ErrInvalid)
	}
	return nil, fmt.Errorf("%w: unknown filter node %T", store.ErrInvalid, f)
}

func translateField(n *store.Field) (bson.D, error) {
	op := func(name string, v any) bson.D {
		return bson.D{{Key: n.Path, Value: bson.D{{Key: name, Value: v}}}}
	}
	switch n.Op {
	case store.OpEq, store.OpGt, store.OpGte, store.OpLt, store.OpLte:
		v, err := valueToBSON(n.Value)
		if err != nil {
			return nil, err
		}
		return op("$"+string(n.Op), v), nil
	case store.OpNe:
		eq, err := translateField(&store.Field{Path: n.Path, Op: store.OpEq, Value: n.Value})
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$nor", Value: bson.A{eq}}}, nil
	case store.OpIn:
		vs, _ := n.Value.([]any)
		if len(vs) == 0 {
			return matchNone, nil
		}
		a := make(bson.A, len(vs))
		for i, x := range vs {
			v, err := valueToBSON(x)
			if err != nil {
				return nil, err
			}
			a[i] = v
		}
		return op("$in", a), nil
	case store.OpNin:
		in, err := translateField(&store.Field{Path: n.Path, Op: store.OpIn, Value: n.Value})
		if err != nil {
			return nil, err
		}
		return bson.D{{Key: "$nor", Value: bson.A{in}}}, nil
	case store.OpExists:
		b, _ := n.Value.(bool)
		return op("$exists", b), nil
	case store.OpPrefix:
		p, _ := n.Value.(string)
		return op("$regex", "^"+regexp.QuoteMeta(p)), nil
	}
	return nil, fmt.Errorf("%w: unknown operator %q on %s", store.ErrInvalid, n.Op, n.Path)
}

// isNull matches a missing or null value at path.
func isNull(path string) bson.D {
	return bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: nil}}}}
}

// ofTypes matches a value at path of one of the given BSON type aliases.
func ofTypes(path string, types ...string) bson.D {
	a := make(bson.A, len(types))
	for i, t := range types {
		a[i] = t
	}
	return bson.D{{Key: path, Value: bson.D{{Key: "$type", Value: a}}}}
}

func or(fs ...bson.D) bson.D {
	a := make(bson.A, len(fs))
	for i, f := range fs {
		a[i] = f
	}
	return bson.D{{Key: "$or", Value: a}}
}

// sortEqual matches documents whose value at path sorts equal to v (a cursor
// value: nil, bool, int64, float64 or string).
func sortEqual(path string, v any) bson.D {
	if v == nil {
		return isNull(path)
	}
	return bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: v}}}}
}

// sortAfter matches documents whose value at path comes after v in the sort
// order of MongoDB (null and missing < numbers < strings < documents < arrays <
// booleans), ascending or descending. Range operators of MongoDB compare values
// of one type only, so the types ranked beyond v are added explicitly.
func sortAfter(path string, v any, desc bool) bson.D {
	if path == store.IDField {
		if desc {
			return bson.D{{Key: path, Value: bson.D{{Key: "$lt", Value: v}}}}
		}
		return bson.D{{Key: path, Value: bson.D{{Key: "$gt", Value: v}}}}
	}
	cmp := func(op string) bson.D {
		return bson.D{{Key: path, Value: bson.D{{Key: op, Value: v}}}}
	}
	if !desc {
		switch x := v.(type) {
		case nil:
			return bson.D{{Key: "$nor", Value: bson.A{isNull(path)}}}
		case int64, float64:
			return or(cmp("$gt"), ofTypes(path, "string", "object", "array", "bool"))
		case string:
			return or(cmp("$gt"), ofTypes(path, "object", "array", "bool"))
		case bool:
			if x {
				return matchNone
			}
			return bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: true}}}}
		}
		return matchNone
	}
	switch x := v.(type) {
	case nil:
		return matchNone
	case int64, float64:
		return or(cmp("$lt"), isNull(path))
	case string:
		return or(cmp("$lt"), ofTypes(path, "number"), isNull(path))
	case bool:
		below := or(ofTypes(path, "number", "string", "object", "array"), isNull(path))
		if x {
			return or(bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: false}}}}, below)
		}
		return below
	}
	return matchNone
}

// continuation builds the keyset filter for the documents after the position
// vals (one value per key) in the order keys: (k1 after v1) or (k1 = v1 and k2
// after v2) or ...
func continuation(keys []store.SortKey, vals []any) bson.D {
	branches := make(bson.A, 0, len(keys))
	for j := range keys {
		conj := make(bson.A, 0, j+1)
		for i := 0; i < j; i++ {
			conj = append(conj, sortEqual(keys[i].Path, vals[i]))
		}
		conj = append(conj, sortAfter(keys[j].Path, vals[j], keys[j].Desc))
		if len(conj) == 1 {
			branches = append(branches, conj[0])
		} else {
			branches = append(branches, bson.D{{Key: "$and", Value: conj}})
		}
	}
	return bson.D{{Key: "$or", Value: branches}}
}

// and combines query documents, leaving out empty ones.
func and(fs ...bson.D) bson.D {
	a := make(bson.A, 0, len(fs))
	for _, f := range fs {
		if len(f) > 0 {
			a = append(a, f)
		}
	}
	switch len(a) {
	case 0:
		return bson.D{}
	case 1:
		return a[0].(bson.D)
	}
	return bson.D{{Key: "$and", Value: a}}
}
