package template

import "reflect"

// PrintDataType is the type of the sample data layouts are checked with,
// for print_shape_test.go (package template_test, which may import records).
var PrintDataType = reflect.TypeOf(printData{})
