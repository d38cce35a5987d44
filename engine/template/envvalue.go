package template

import (
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"

	"github.com/yerp/yerp/engine/decimal"
)

// Stored values and expression values: a record in the store holds numbers as
// decimal.Decimal, dates as text, links as ids and tables as lists of maps;
// expressions see typed Go values. These two functions convert between them.

// Date layouts of stored date and datetime fields.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = time.RFC3339Nano
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
	return &Program{Src: src, Type: prog.Node().Type(), Env: env, prog: prog}, nil
}

// EnvValue builds a value of the environment type env from a stored record:
// each field tagged `expr:"name"` takes doc[name], converted to the field's Go
// type. Fields the record lacks stay zero; a value that cannot be converted is
// an error naming the field.
func EnvValue(env reflect.Type, doc map[string]any) (any, error) {
	v := reflect.New(env).Elem()
	if err := fill(v, doc); err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

func fill(v reflect.Value, doc map[string]any) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("expr")
		x, ok := doc[name]
		if name == "id" && !ok {
			x, ok = doc["_id"]
		}
		if !ok || x == nil {
			continue
		}
		if err := convert(v.Field(i), x); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
	}
	return nil
}

func convert(dst reflect.Value, x any) error {
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
		if err := convert(t.Elem(), x); err != nil {
			return err
		}
		dst.Set(t)
	case dst.Type() == tTime:
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("%v is not a date", x)
		}
		tm, err := time.Parse(DateTimeLayout, s)
		if err != nil {
			if tm, err = time.Parse(DateLayout, s); err != nil {
				return fmt.Errorf("%q is not a date", s)
			}
		}
		dst.Set(reflect.ValueOf(tm))
	case dst.Kind() == reflect.Pointer && dst.Type().Elem().Kind() == reflect.Struct:
		rec := reflect.New(dst.Type().Elem())
		if err := convert(rec.Elem(), x); err != nil {
			return err
		}
		dst.Set(rec)
	case dst.Kind() == reflect.Struct:
		switch y := x.(type) {
		case string: // a link as stored: the id
			return fill(dst, map[string]any{"id": y})
		case map[string]any: // a linked record the engine fetched
			return fill(dst, y)
		}
		return fmt.Errorf("%v is not a record", x)
	case dst.Kind() == reflect.Slice:
		items, ok := x.([]any)
		if !ok {
			return fmt.Errorf("%v is not a list", x)
		}
		s := reflect.MakeSlice(dst.Type(), len(items), len(items))
		for i, it := range items {
			if err := convert(s.Index(i), it); err != nil {
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
