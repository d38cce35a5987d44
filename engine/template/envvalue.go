package template

import (
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/expr-lang/expr"

	"github.com/yerp/yerp/engine/decimal"
)

// Stored values and expression values: a record in the store holds numbers as
// decimal.Decimal, dates as text, links as ids and tables as lists of maps;
// expressions see typed Go values. These two functions convert between them.

// Date layouts of stored date and datetime fields. Datetimes are stored in
// UTC with a fixed width, so that their text order is their time order.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
)

// CompileIn compiles src against an environment type (an Entity's Env, or a
// Program's), with the functions and decimal operators of every template
// expression.
func CompileIn(env reflect.Type, src string) (*Program, error) {
	opts := append([]expr.Option{expr.Env(reflect.New(env).Elem().Interface())}, exprOptions...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, err
	}
	return newProgram(src, "", Pos{}, env, prog), nil
}

// EnvValue builds a value of the environment type env from a stored record:
// each field tagged `expr:"name"` takes doc[name], converted to the field's Go
// type. Fields the record lacks stay zero; a value that cannot be converted is
// an error naming the field.
func EnvValue(env reflect.Type, doc map[string]any) (any, error) {
	v := reflect.New(env).Elem()
	if err := fill(v, doc, nil, nil); err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// Env builds the environment value of p from doc, converting only the names
// the expression uses (an expression on a table row that reads qty and price
// does not convert the whole order).
func (p *Program) Env(doc map[string]any) (any, error) { return p.EnvCached(doc, nil) }

// EnvCached is Env with the records that doc links to (the maps its link
// fields hold, as the engine fetched them) converted once per cache: the
// expressions of 5,000 table rows that read parent.warehouse or
// parent.purchase_order.lines convert that record once, not once a row. A
// linked record must not change while the cache is in use; a changed one is
// a new map (its conversion is keyed by the map). nil converts every time.
func (p *Program) EnvCached(doc map[string]any, c *EnvCache) (any, error) {
	v := reflect.New(p.EnvType).Elem()
	if err := fill(v, doc, p.Names, c); err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// EnvCache holds the conversions of linked records for one evaluation pass
// (one write). It is not safe for concurrent use.
type EnvCache struct {
	recs map[envKey]reflect.Value
}

// envKey is a record type and the stored map a value of it was built from.
type envKey struct {
	t reflect.Type
	m unsafe.Pointer
}

// NewEnvCache returns an empty cache.
func NewEnvCache() *EnvCache { return &EnvCache{recs: map[envKey]reflect.Value{}} }

// fieldPlans caches, per struct type, the field index of each expr name.
var fieldPlans sync.Map // reflect.Type → map[string]int

func plan(t reflect.Type) map[string]int {
	if p, ok := fieldPlans.Load(t); ok {
		return p.(map[string]int)
	}
	p := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		p[t.Field(i).Tag.Get("expr")] = i
	}
	fieldPlans.Store(t, p)
	return p
}

// fill sets the fields of struct v from doc: only names when given, else all.
func fill(v reflect.Value, doc map[string]any, names []string, c *EnvCache) error {
	fields := plan(v.Type())
	set := func(name string) error {
		i, ok := fields[name]
		if !ok {
			return nil
		}
		x, ok := doc[name]
		if name == "id" && !ok {
			x, ok = doc["_id"]
		}
		if !ok || x == nil {
			return nil
		}
		cc := c
		if name == "before" {
			cc = nil // the stored record of a write, which the engine may change between expressions
		}
		if err := convert(v.Field(i), x, cc); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		return nil
	}
	if names != nil {
		for _, name := range names {
			if err := set(name); err != nil {
				return err
			}
		}
		return nil
	}
	for name := range fields {
		if err := set(name); err != nil {
			return err
		}
	}
	return nil
}

func convert(dst reflect.Value, x any, c *EnvCache) error {
	switch {
	case dst.Type() == tDecimal:
		d, ok, _ := toDecimal(x)
		if !ok {
			return fmt.Errorf("%v is not a number", x)
		}
		dst.Set(reflect.ValueOf(d))
	case dst.Kind() == reflect.Int:
		d, ok, _ := toDecimal(x)
		n, isInt := d.Int64()
		if !ok || !isInt {
			return fmt.Errorf("%v is not a whole number", x)
		}
		dst.SetInt(n)
	case dst.Type() == tDate:
		t := reflect.New(tTime)
		if err := convert(t.Elem(), x, nil); err != nil {
			return err
		}
		dst.Set(t)
	case dst.Type() == tTime:
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("%v is not a date", x)
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			if tm, err = time.Parse(DateLayout, s); err != nil {
				return fmt.Errorf("%q is not a date", s)
			}
		}
		dst.Set(reflect.ValueOf(tm))
	case dst.Kind() == reflect.Pointer && dst.Type().Elem().Kind() == reflect.Struct:
		// A link (or before): a linked record the engine fetched is
		// converted once per cache.
		m, isMap := x.(map[string]any)
		var k envKey
		if c != nil && isMap && m != nil {
			k = envKey{dst.Type(), reflect.ValueOf(m).UnsafePointer()}
			if done, ok := c.recs[k]; ok {
				dst.Set(done)
				return nil
			}
		}
		rec := reflect.New(dst.Type().Elem())
		if err := convert(rec.Elem(), x, c); err != nil {
			return err
		}
		dst.Set(rec)
		if k.t != nil {
			c.recs[k] = rec
		}
	case dst.Kind() == reflect.Struct:
		switch y := x.(type) {
		case string: // a link as stored: the id
			return fill(dst, map[string]any{"id": y}, nil, nil)
		case map[string]any: // a linked record the engine fetched
			return fill(dst, y, nil, c)
		}
		return fmt.Errorf("%v is not a record", x)
	case dst.Kind() == reflect.Slice:
		items, ok := x.([]any)
		if !ok {
			return fmt.Errorf("%v is not a list", x)
		}
		s := reflect.MakeSlice(dst.Type(), len(items), len(items))
		for i, it := range items {
			if err := convert(s.Index(i), it, c); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		dst.Set(s)
	case dst.Kind() == reflect.Map:
		m, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("%v is not an object", x)
		}
		dst.Set(reflect.ValueOf(m))
	default:
		xv := reflect.ValueOf(x)
		if !xv.Type().AssignableTo(dst.Type()) {
			return fmt.Errorf("%v (%T) is not %s", x, x, typeName(dst.Type()))
		}
		dst.Set(xv)
	}
	return nil
}

// StoreValue converts an expression's result to what a field of type fieldType
// stores, or fails when it does not fit.
func StoreValue(fieldType string, v any) (any, error) {
	if tp, ok := v.(*time.Time); v == nil || ok && tp == nil {
		return nil, nil
	}
	switch fieldType {
	case "int", "decimal", "money", "quantity", "percent":
		d, ok, err := toDecimal(v)
		if !ok {
			return nil, fmt.Errorf("%v is not a number (%v)", v, err)
		}
		if _, whole := d.Int64(); fieldType == "int" && !whole {
			return nil, fmt.Errorf("%s is not a whole number", d)
		}
		return d, nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%v is not true or false", v)
		}
		return b, nil
	case "date", "datetime":
		tm, ok := asTime(v)
		if !ok {
			return nil, fmt.Errorf("%v is not a date", v)
		}
		if fieldType == "date" {
			return tm.Format(DateLayout), nil
		}
		return tm.UTC().Format(DateTimeLayout), nil
	case "table", "multiselect", "json":
		return v, nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case decimal.Decimal, int, float64, bool:
		return fmt.Sprint(x), nil
	}
	return nil, fmt.Errorf("%v (%T) is not text", v, v)
}
