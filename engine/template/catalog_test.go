package template

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/decimal"
)

// The built-in catalog must check clean: no error and no warning.
func TestCatalogIsClean(t *testing.T) {
	model, ds := CheckDir(os.DirFS("../.."), "templates")
	if len(ds) > 0 || model == nil {
		t.Fatalf("templates/ has problems:\n%s", ds)
	}
	if model.Packages["core"] == nil || model.Entities["customer"] == nil || model.Entities["item"] == nil {
		t.Fatalf("the core package or its entities are missing: %v", model.Packages)
	}
	// The compiled model holds typed programs for the expressions.
	title := model.Entities["customer"].Programs["title"]
	if title == nil || title.Type != tString {
		t.Fatalf("customer title program: %+v", title)
	}
}

// A compiled expression runs against a value of its environment type.
func TestProgramsRunWithExactDecimals(t *testing.T) {
	model, ds := CheckDir(fsOf(baseFiles()), ".")
	if model == nil {
		t.Fatal(ds)
	}
	order := model.Entities["order"]
	amount := order.Programs["fields.lines.fields.amount.compute"]
	total := order.Programs["fields.total.compute"]
	if amount == nil || total == nil {
		t.Fatalf("programs: %v", order.Programs)
	}
	// A row of the order's lines: qty 3 at price 0.1.
	row := reflect.New(amount.EnvType).Elem()
	setByTag(t, row, "qty", decimal.MustParse("3"))
	setByTag(t, row, "price", decimal.MustParse("0.1"))
	got, err := amount.Run(row.Interface())
	if err != nil || !got.(decimal.Decimal).Equal(decimal.MustParse("0.3")) {
		t.Fatalf("qty 3 × price 0.1 = %v, %v; want exactly 0.3", got, err)
	}
	// The order: three lines of 0.1, summed exactly.
	rec := reflect.New(total.EnvType).Elem()
	lines := rec.FieldByName("F_lines")
	for i := 0; i < 3; i++ {
		r := reflect.New(lines.Type().Elem()).Elem()
		setByTag(t, r, "amount", decimal.MustParse("0.1"))
		lines.Set(reflect.Append(lines, r))
	}
	got, err = total.Run(rec.Interface())
	if err != nil || !got.(decimal.Decimal).Equal(decimal.MustParse("0.3")) {
		t.Fatalf("sum of 0.1 + 0.1 + 0.1 = %v, %v; want exactly 0.3", got, err)
	}
}

func setByTag(t *testing.T, v reflect.Value, tag string, x any) {
	t.Helper()
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("expr") == tag {
			v.Field(i).Set(reflect.ValueOf(x))
			return
		}
	}
	t.Fatalf("no field %s in %v", tag, v.Type())
}

func fsOf(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

func TestLoadDirErrors(t *testing.T) {
	_, ds := CheckDir(fstest.MapFS{"x/readme.txt": {Data: []byte("hi")}}, "x")
	if len(ds) != 1 || !strings.Contains(ds[0].String(), "no package.yaml here or in any sub-folder") {
		t.Fatalf("folder without packages: %s", ds)
	}
	_, ds = CheckDir(fstest.MapFS{}, "missing")
	if len(ds) != 1 || ds[0].Severity != Error {
		t.Fatalf("missing folder: %s", ds)
	}
}
