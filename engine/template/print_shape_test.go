package template_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
)

// shape lists what a layout can write on a value of type t: each exported
// field (embedded structs flattened, as templates see them) with the shape of
// its own fields, down to maps, strings and numbers.
func shape(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				shape(f.Type, prefix, out)
				continue
			}
			shape(f.Type, prefix+"."+f.Name, out)
		}
	case reflect.Slice:
		shape(t.Elem(), prefix+"[]", out)
	case reflect.Map:
		*out = append(*out, prefix+" map["+t.Key().Kind().String()+"]"+t.Elem().Kind().String())
	default:
		*out = append(*out, prefix+" "+t.Kind().String())
	}
}

// The checker executes every layout on sample data of its own type, since
// engine/template cannot import records: if records.PrintData gains, loses or
// changes a field, the checker must follow, or it would pass layouts that
// fail when printed (or refuse layouts that work).
func TestPrintSampleHasTheShapeOfPrintData(t *testing.T) {
	var want, got []string
	shape(reflect.TypeOf(records.PrintData{}), "", &want)
	shape(template.PrintDataType, "", &got)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("the checker's print data is not records.PrintData:\nchecker: %v\nrecords: %v", got, want)
	}
	if len(want) < 15 {
		t.Fatalf("records.PrintData has only %d fields: %v", len(want), want)
	}
}
