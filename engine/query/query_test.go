package query

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
)

// testSchema has a field of every type, the system fields and a table.
var testSchema = Schema{
	"id":         {Type: "text"},
	"number":     {Type: "text"},
	"state":      {Type: "text"},
	"owner":      {Type: "user"},
	"created_at": {Type: "datetime"},
	"customer":   {Type: "link"},
	"total":      {Type: "money"},
	"qty":        {Type: "int"},
	"weight":     {Type: "decimal"},
	"stock":      {Type: "quantity"},
	"discount":   {Type: "percent"},
	"active":     {Type: "bool"},
	"order_date": {Type: "date"},
	"note":       {Type: "longtext"},
	"title":      {Type: "text"},
	"email":      {Type: "email"},
	"phone":      {Type: "phone"},
	"barcode":    {Type: "barcode"},
	"payment":    {Type: "select"},
	"tags":       {Type: "multiselect"},
	"scan":       {Type: "attachment"},
	"meta":       {Type: "json"},
	"lines": {Type: "table", Fields: map[string]Field{
		"item":  {Type: "link"},
		"qty":   {Type: "quantity"},
		"price": {Type: "money"},
	}},
}

var testVars = Vars{
	"user": map[string]any{
		"id":      "u1",
		"roles":   []string{"sales", "warehouse"},
		"manager": nil,
		"level":   3,
		"since":   time.Date(2024, 6, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)),
		"admin":   false,
	},
	"limit": decimal.MustParse("1000.50"),
}

// show prints a filter in a compact, deterministic form.
func show(f store.Filter) string {
	switch n := f.(type) {
	case nil:
		return "<nil>"
	case *store.Logic:
		args := make([]string, len(n.Args))
		for i, a := range n.Args {
			args[i] = show(a)
		}
		return string(n.Op) + "(" + strings.Join(args, ", ") + ")"
	case *store.Field:
		return fmt.Sprintf("%s(%s, %s)", n.Op, n.Path, showValue(n.Value))
	}
	return fmt.Sprintf("%T", f)
}

func showValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("%q", x)
	case decimal.Decimal:
		return x.String()
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = showValue(e)
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	return fmt.Sprintf("%v", v)
}

// acceptCases are filters Parse translates, with the expected result.
var acceptCases = []struct{ src, want string }{
	// every comparison operator, and flipping
	{`state == 'draft'`, `eq(state, "draft")`},
	{`state != 'draft'`, `ne(state, "draft")`},
	{`total > 100`, `gt(total, 100)`},
	{`total >= 100`, `gte(total, 100)`},
	{`total < 100`, `lt(total, 100)`},
	{`total <= 100`, `lte(total, 100)`},
	{`100 < total`, `gt(total, 100)`},
	{`100 <= total`, `gte(total, 100)`},
	{`100 > total`, `lt(total, 100)`},
	{`100 >= total`, `lte(total, 100)`},
	{`'draft' == state`, `eq(state, "draft")`},
	{`'draft' != state`, `ne(state, "draft")`},
	{`1 < qty < 10`, `and(gt(qty, 1), lt(qty, 10))`},
	// the motivating example
	{`state == 'draft' && total > 100 && customer in ['C1','C2']`, `and(eq(state, "draft"), gt(total, 100), in(customer, ["C1" "C2"]))`},
	// numbers are exact and read from their text
	{`total == 0.1`, `eq(total, 0.1)`},
	{`weight > 1_000.25`, `gt(weight, 1000.25)`},
	{`total > -12.5`, `gt(total, -12.5)`},
	{`total > +3`, `gt(total, 3)`},
	{`qty == 0x10`, `eq(qty, 16)`},
	{`stock >= 0.001`, `gte(stock, 0.001)`},
	{`discount < 12.50`, `lt(discount, 12.5)`},
	{`total == .5`, `eq(total, 0.5)`},
	// strings for text-like types
	{`note == '见附件'`, `eq(note, "见附件")`},
	{`email == "a@b.c" || phone == '123' || barcode == 'X1'`, `or(eq(email, "a@b.c"), eq(phone, "123"), eq(barcode, "X1"))`},
	{`payment == 'cod'`, `eq(payment, "cod")`},
	{`title > 'M'`, `gt(title, "M")`},
	{`id == 'abc'`, `eq(_id, "abc")`},
	// bool
	{`active == true`, `eq(active, true)`},
	{`active != false`, `ne(active, false)`},
	{`active`, `eq(active, true)`},
	{`!active`, `ne(active, true)`},
	// dates and datetimes
	{`order_date >= '2024-06-01'`, `gte(order_date, "2024-06-01")`},
	{`created_at < '2024-06-01T10:00:00+08:00'`, `lt(created_at, "2024-06-01T02:00:00Z")`},
	{`created_at >= '2024-06-01T02:00:00.500Z'`, `gte(created_at, "2024-06-01T02:00:00.5Z")`},
	{`created_at > user.since`, `gt(created_at, "2024-06-01T00:00:00Z")`},
	{`order_date == user.since`, `eq(order_date, "2024-06-01")`},
	{`order_date startsWith '2024-06'`, `prefix(order_date, "2024-06")`},
	// nil
	{`customer == nil`, `eq(customer, nil)`},
	{`nil != customer`, `ne(customer, nil)`},
	{`owner == user.manager`, `eq(owner, nil)`},
	// in and not in
	{`customer in ['C1']`, `in(customer, ["C1"])`},
	{`customer not in ['C1', 'C2']`, `nin(customer, ["C1" "C2"])`},
	{`not (customer in ['C1'])`, `nin(customer, ["C1"])`},
	{`!(customer in ['C1'])`, `nin(customer, ["C1"])`},
	{`qty in [1, 2.5, -3]`, `in(qty, [1 2.5 -3])`},
	{`active in [true]`, `in(active, [true])`},
	{`state in user.roles`, `in(state, ["sales" "warehouse"])`},
	{`customer in []`, `or()`},
	{`customer not in []`, `and()`},
	{`order_date in ['2024-01-01', '2024-01-02']`, `in(order_date, ["2024-01-01" "2024-01-02"])`},
	// startsWith
	{`number startsWith 'SO-2024'`, `prefix(number, "SO-2024")`},
	{`lines.item startsWith 'IT'`, `prefix(lines.item, "IT")`},
	{`not (number startsWith 'SO')`, `not(prefix(number, "SO"))`},
	// logic: &&, ||, and, or, !, not, parentheses, flattening
	{`state == 'a' and total > 1 or qty < 2`, `or(and(eq(state, "a"), gt(total, 1)), lt(qty, 2))`},
	{`state == 'a' && (total > 1 || qty < 2)`, `and(eq(state, "a"), or(gt(total, 1), lt(qty, 2)))`},
	{`(state == 'a' && total > 1) && (qty < 2 && active)`, `and(eq(state, "a"), gt(total, 1), lt(qty, 2), eq(active, true))`},
	{`!(state == 'a')`, `ne(state, "a")`},
	{`not (state != 'a')`, `eq(state, "a")`},
	{`!!(total > 1)`, `gt(total, 1)`},
	{`!(total > 1)`, `not(gt(total, 1))`},
	{`!(state == 'a' || total > 1)`, `not(or(eq(state, "a"), gt(total, 1)))`},
	// table paths
	{`lines.item == 'A'`, `eq(lines.item, "A")`},
	{`lines.qty > 10 && lines.price <= 2.5`, `and(gt(lines.qty, 10), lte(lines.price, 2.5))`},
	{`lines.item in ['A', 'B']`, `in(lines.item, ["A" "B"])`},
	// vars and access rules
	{`owner == user.id`, `eq(owner, "u1")`},
	{`user.id == owner`, `eq(owner, "u1")`},
	{`'finance' in user.roles || owner == user.id`, `eq(owner, "u1")`},
	{`'sales' in user.roles || owner == user.id`, `and()`},
	{`'sales' in user.roles && state == 'draft'`, `eq(state, "draft")`},
	{`'finance' in user.roles && state == 'draft'`, `or()`},
	{`'finance' not in user.roles`, `and()`},
	{`!('sales' in user.roles) || owner == user.id`, `eq(owner, "u1")`},
	{`user.admin || owner == user.id`, `eq(owner, "u1")`},
	{`!user.admin`, `and()`},
	{`user.level >= 3 && total < limit`, `lt(total, 1000.5)`},
	{`user.id == 'u1'`, `and()`},
	{`user.id != 'u1'`, `or()`},
	{`user.level > 5`, `or()`},
	{`user.manager == nil`, `and()`},
	{`user.id startsWith 'u'`, `and()`},
	{`'x' in ['x', 'y']`, `and()`},
	{`true`, `and()`},
	{`false || state == 'a'`, `eq(state, "a")`},
	{`true && false`, `or()`},
}

func TestParse(t *testing.T) {
	cases := acceptCases
	for _, c := range cases {
		f, err := Parse(c.src, testSchema, testVars)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.src, err)
			continue
		}
		if _, err := store.CheckFilter(f, false); err != nil {
			t.Errorf("Parse(%s) = %s: CheckFilter: %v", c.src, show(f), err)
		}
		if got := show(f); got != c.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", c.src, got, c.want)
		}
	}
	t.Logf("%d accepted filters", len(cases))
}

// rejectCases are filters Parse refuses, with the column and a fragment of the message.
var rejectCases = []struct {
	src  string
	col  int
	frag string
}{
	// what is not a comparison of a field with a value
	{`len(lines) > 2`, 1, "function calls (len(...))"},
	{`foo(total) > 2`, 1, "function calls (foo(...))"},
	{`total + 1 > 2`, 7, "arithmetic (+)"},
	{`total > 1 * 2`, 11, "arithmetic (*)"},
	{`total > qty`, 7, "compares two fields"},
	{`lines.qty == qty`, 11, "compares two fields"},
	{`note contains 'x'`, 6, "contains is not supported"},
	{`note endsWith 'x'`, 6, "endsWith is not supported"},
	{`note matches '^x'`, 6, "matches is not supported"},
	{`state == 'a' ? true : false`, 1, "conditional operator"},
	{`total`, 1, "money field, not a condition"},
	{`'draft'`, 1, "a value alone is not a condition"},
	{`state == 'a'; total > 1`, 1, "separated by ;"},
	{`let x = 1; x > 0`, 5, "let"},
	{`lines[0].qty > 1`, 6, "indexing"},
	{`state.upper() == 'A'`, 7, "method calls"},
	{`customer?.name == 'x'`, 11, "optional chaining"},
	{`-total > 1`, 1, "- can only precede a number"},
	{`total > -qty`, 9, "- can only precede a number"},
	{`total == !active`, 10, "negates a condition"},
	{`state == ['a']`, 10, "a list can only follow in"},
	{`customer in 'C1'`, 13, "in needs a list"},
	{`'x' in tags`, 8, "membership in a field"},
	{`customer in [state]`, 14, "a list holds values, not fields"},
	{`customer in ['a', nil]`, 19, "nil cannot be in the list"},
	{`'S' startsWith number`, 16, "startsWith needs text on its right"},
	{`total startsWith '1'`, 7, "startsWith works on text"},
	{`number startsWith 1`, 19, "startsWith needs text in quotes"},
	// unknown fields, with did-you-mean
	{`totl > 1`, 1, `unknown field "totl"; did you mean "total"?`},
	{`stat == 'a'`, 1, `did you mean "state"?`},
	{`lines.itm == 'a'`, 7, `table lines has no column "itm"; did you mean "item"?`},
	{`zzzzzzz == 1`, 1, "the fields are: active, barcode, created_at, customer, discount, email, id, lines, meta, note, number, order_date, owner, payment, phone, qty, scan, state, stock, tags, title, total, weight"},
	{`usr.id == 'x'`, 1, `did you mean "user"?`},
	{`customer.name == 'x'`, 10, "a filter sees the linked record's id only"},
	{`total.cents == 1`, 7, "money field and has no fields"},
	{`user.email == 'x'`, 6, `user has no "email"`},
	{`user == 'x'`, 1, "user cannot be used in a filter: it is an object"},
	// wrong types
	{`total > '12.5'`, 9, `total is a money field: compare it with a number, not the text "12.5"`},
	{`qty == true`, 8, "int field: compare it with a number"},
	{`state == 1`, 10, "text field: compare it with text in quotes, not the number 1"},
	{`customer == 5`, 13, "link field: compare it with text in quotes"},
	{`owner == 5`, 10, "user field: compare it with text in quotes"},
	{`active == 'yes'`, 11, "bool field: compare it with true or false"},
	{`active > false`, 8, "booleans have no order"},
	{`order_date == '2024-13-01'`, 15, "write the date as 'YYYY-MM-DD'"},
	{`order_date == '2024-6-1'`, 15, "write the date as 'YYYY-MM-DD'"},
	{`order_date > 20240101`, 14, "date field: compare it with a date"},
	{`created_at > '2024-06-01'`, 14, "write the time as RFC 3339"},
	{`total > user.id`, 9, "money field: compare it with a number"},
	{`total < nil`, 9, "nil can only be compared with == and !="},
	{`lines.item == nil`, 1, "nil comparisons work only on top-level fields"},
	{`tags == 'a'`, 1, "multiselect field"},
	{`lines == 'a'`, 1, "lines is a table"},
	{`meta == 'a'`, 1, "json field and cannot be used"},
	{`scan == 'a'`, 1, "attachment field and cannot be used"},
	{`total > 1e3`, 9, "without an exponent"},
	{`total > 0.0000001`, 9, "at most 6 digits after the point"},
	{`total > 99999999999999`, 9, "stay below 9223372036854.775807"},
	{`1 == 1 == 1`, 3, "a condition (==) cannot be compared with a value"},
	{`state == b'x'`, 10, "byte strings"},
	{`x ?? y`, 3, "the ?? operator"},
	{`state in 1..3`, 11, "ranges (..)"},
	{`if active { true } else { false }`, 4, "conditional operator"},
	{`user.id > true`, 9, "cannot order"},
	{`user.roles == 'x'`, 12, "compares a list"},
	// injection attempts and odd input
	{`{"$where": "1"}`, 1, "maps {...}"},
	{`$gt == 1`, 1, `"$gt" is not a field name`},
	{`a.$b == 1`, 3, `"$b" is not a field name`},
	{`total['$gt'] == 1`, 6, "never by text in [...]"},
	{`lines['item'] == 'a'`, 6, "never by text in [...]"},
	{"field\u0000", 6, "syntax error"},
	{"state == 'a' \u0000", 14, "syntax error"},
	{`café == 1`, 1, `"café" is not a field name`},
	{`_id == 'x'`, 1, `unknown field "_id"`},
	{`$env.total > 1`, 1, `"$env" is not a field name`},
	{"state == '\xff'", 11, "not valid UTF-8"},
	{`state == `, 9, "syntax error"},
	{`(state == 'a'`, 13, "syntax error"},
	{``, 1, "the filter is empty"},
	{`   `, 1, "the filter is empty"},
	// limits
	{strings.Repeat(" ", MaxLen) + "x", 1, "at most 4000 are allowed"},
	{strings.Repeat("!(", 40) + "active" + strings.Repeat(")", 40), 65, "nested more than 32 levels"},
	{strings.TrimSuffix(strings.Repeat("qty == 1 || ", 201), " || "), 2405, "more than 200 comparisons"},
}

func TestParseErrors(t *testing.T) {
	cases := rejectCases
	for _, c := range cases {
		f, err := Parse(c.src, testSchema, testVars)
		var qe *Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%q) = %s, %v; want an *Error", c.src, show(f), err)
			continue
		}
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Parse(%q): error does not match store.ErrInvalid", c.src)
		}
		if qe.Col != c.col || !strings.Contains(qe.Msg, c.frag) {
			t.Errorf("Parse(%q)\n got col %d: %s\nwant col %d: ...%s...", c.src, qe.Col, qe.Msg, c.col, c.frag)
		}
	}
	t.Logf("%d rejected filters", len(cases))
}

func TestErrorsSayWhatIsAllowed(t *testing.T) {
	_, err := Parse(`len(x) > 2`, testSchema, nil)
	if err == nil || !strings.Contains(err.Error(), "only comparisons of a field with a value") || !strings.Contains(err.Error(), "startsWith") {
		t.Fatalf("error does not say what is allowed: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "filter: column 1: ") {
		t.Fatalf("error format: %v", err)
	}
}

func TestLimitsAllowWhatFits(t *testing.T) {
	// 200 comparisons in one chain are fine: a chain is one level deep.
	src := strings.TrimSuffix(strings.Repeat("qty == 1 || ", 200), " || ")
	f, err := Parse(src, testSchema, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := f.(*store.Logic); !ok || len(l.Args) != 200 {
		t.Fatalf("got %s", show(f))
	}
	// 32 levels are fine.
	src = strings.Repeat("!(", 31) + "active" + strings.Repeat(")", 31)
	if _, err := Parse(src, testSchema, nil); err != nil {
		t.Fatal(err)
	}
	src = strings.Repeat("!(", 32) + "active" + strings.Repeat(")", 32)
	if _, err := Parse(src, testSchema, nil); err == nil {
		t.Fatal("33 levels accepted")
	}
}

func TestSchemaWithoutVars(t *testing.T) {
	// Without vars, user is not known: the name is a field name or an error.
	_, err := Parse(`owner == user.id`, testSchema, nil)
	var qe *Error
	if !errors.As(err, &qe) || qe.Col != 10 || !strings.Contains(qe.Msg, `unknown field "user"`) {
		t.Fatalf("got %v", err)
	}
	// A var shadows a field of the same name.
	f, err := Parse(`owner == state`, testSchema, Vars{"state": "u9"})
	if err != nil || show(f) != `eq(owner, "u9")` {
		t.Fatalf("got %s, %v", show(f), err)
	}
}

func TestVarValues(t *testing.T) {
	type role string
	vars := Vars{"v": map[string]any{
		"ints":    []int{1, 2},
		"typed":   role("r"),
		"nested":  [][]string{{"a"}},
		"f":       0.1,
		"bad":     struct{}{},
		"decs":    []decimal.Decimal{decimal.MustParse("1.5")},
		"doc":     store.Doc{"x": "y"},
		"strmap":  map[string]string{"k": "v"},
		"nothing": nil,
	}}
	ok := []struct{ src, want string }{
		{`qty in v.ints`, `in(qty, [1 2])`},
		{`state == v.typed`, `eq(state, "r")`},
		{`total == v.f`, `eq(total, 0.1)`},
		{`total in v.decs`, `in(total, [1.5])`},
		{`state == v.doc.x`, `eq(state, "y")`},
		{`state == v.strmap.k`, `eq(state, "v")`},
	}
	for _, c := range ok {
		f, err := Parse(c.src, testSchema, vars)
		if err != nil || show(f) != c.want {
			t.Errorf("Parse(%s) = %s, %v; want %s", c.src, show(f), err, c.want)
		}
	}
	for _, src := range []string{`state in v.nested`, `state == v.bad`, `state == v.nothing.x`, `state == v.strmap.k.z`} {
		if _, err := Parse(src, testSchema, vars); err == nil {
			t.Errorf("Parse(%s) accepted", src)
		}
	}
}

// docs are the documents of the end-to-end test: every combination the
// filters below tell apart.
func e2eDocs() []store.Doc {
	states := []string{"draft", "submitted", "cancelled"}
	customers := []string{"C1", "C2", "C3", "C4"}
	var docs []store.Doc
	for i := 0; i < 20; i++ {
		d := store.Doc{
			store.IDField: fmt.Sprintf("d%02d", i),
			"number":      fmt.Sprintf("SO-2024%02d-%03d", i%3+4, i),
			"state":       states[i%3],
			"owner":       fmt.Sprintf("u%d", i%4),
			"total":       decimal.MustParse(fmt.Sprintf("%d.%d", i*15, i%10)),
			"qty":         i % 7,
			"active":      i%2 == 0,
			"order_date":  fmt.Sprintf("2024-06-%02d", i+1),
			"created_at":  time.Date(2024, 6, i+1, 10, 0, 0, 0, time.UTC).Format(time.RFC3339Nano),
			"lines": []any{
				map[string]any{"item": fmt.Sprintf("IT%d", i%5), "qty": i%4 + 1, "price": decimal.MustParse("2.5")},
				map[string]any{"item": fmt.Sprintf("IT%d", (i+2)%5), "qty": 10 * (i % 3), "price": decimal.MustParse("0.1")},
			},
		}
		if i%5 != 0 {
			d["customer"] = customers[i%4]
		}
		if i%6 == 0 {
			d["note"] = nil
		}
		docs = append(docs, d)
	}
	return docs
}

func TestEndToEndSQLite(t *testing.T) {
	st := openSQLite(t)
	ctx := t.Context()
	docs := e2eDocs()
	if n, err := st.InsertMany(ctx, "orders", docs); err != nil || n != len(docs) {
		t.Fatalf("InsertMany: %d, %v", n, err)
	}
	vars := Vars{"user": map[string]any{"id": "u1", "roles": []string{"sales"}}}
	filters := []struct {
		src  string
		want []string // the ids expected, written by hand for the first ones
	}{
		{`state == 'draft' && total > 100`, []string{"d09", "d12", "d15", "d18"}},
		{`customer in ['C1','C2'] && qty >= 3`, []string{"d04", "d12", "d13", "d17"}},
		{`customer == nil`, []string{"d00", "d05", "d10", "d15"}},
		{`customer not in ['C1', 'C2', 'C3']`, []string{"d00", "d03", "d05", "d07", "d10", "d11", "d15", "d19"}},
		{`'finance' in user.roles || owner == user.id`, []string{"d01", "d05", "d09", "d13", "d17"}},
		{`'sales' in user.roles || owner == user.id`, nil},
		{`'finance' in user.roles`, []string{}},
		{`lines.item == 'IT3' && lines.qty > 5`, nil},
		{`number startsWith 'SO-202405' && !active`, nil},
		{`order_date >= '2024-06-10' && order_date < '2024-06-13'`, []string{"d09", "d10", "d11"}},
		{`created_at > '2024-06-19T12:00:00+02:00'`, []string{"d19"}},
		{`total == 0.1 || total == 15.1 || total <= 0`, []string{"d00", "d01"}},
		{`!(state == 'cancelled' || active) && lines.price < 1`, nil},
		{`note == nil && qty != 0`, nil},
	}
	for _, c := range filters {
		f, err := Parse(c.src, testSchema, vars)
		if err != nil {
			t.Fatalf("Parse(%s): %v", c.src, err)
		}
		page, err := st.Find(ctx, "orders", store.Query{Filter: f, Limit: 100})
		if err != nil {
			t.Fatalf("Find(%s = %s): %v", c.src, show(f), err)
		}
		var got []string
		for _, d := range page.Docs {
			got = append(got, d.ID())
		}
		sort.Strings(got)
		// The reference: store.Match on every normalized document.
		var ref []string
		for _, d := range docs {
			nd, err := store.Normalize(d)
			if err != nil {
				t.Fatal(err)
			}
			if store.Match(nd, f) {
				ref = append(ref, d.ID())
			}
		}
		if strings.Join(got, ",") != strings.Join(ref, ",") {
			t.Errorf("%s (%s):\n store %v\n match %v", c.src, show(f), got, ref)
		}
		if c.want != nil && strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s (%s):\n store %v\n  want %v", c.src, show(f), got, c.want)
		}
		if c.src == `'sales' in user.roles || owner == user.id` && len(got) != len(docs) {
			t.Errorf("%s: constant true matched %d of %d", c.src, len(got), len(docs))
		}
	}
	// Every accepted filter of TestParse finds in SQLite what store.Match finds.
	for _, c := range acceptCases {
		f, err := Parse(c.src, testSchema, testVars)
		if err != nil {
			t.Fatalf("Parse(%s): %v", c.src, err)
		}
		n, err := st.Count(ctx, "orders", f)
		if err != nil {
			t.Fatalf("Count(%s = %s): %v", c.src, show(f), err)
		}
		var ref int64
		for _, d := range docs {
			nd, _ := store.Normalize(d)
			if store.Match(nd, f) {
				ref++
			}
		}
		if n != ref {
			t.Errorf("%s (%s): store counts %d, Match %d", c.src, show(f), n, ref)
		}
	}
}

// fuzzDocs are normalized documents the fuzzed filters are matched against.
var fuzzDocs = func() []store.Doc {
	var out []store.Doc
	for _, d := range e2eDocs()[:5] {
		nd, err := store.Normalize(d)
		if err != nil {
			panic(err)
		}
		out = append(out, nd)
	}
	return out
}()

func FuzzParse(f *testing.F) {
	seeds := []string{
		`state == 'draft' && total > 100 && customer in ['C1','C2']`,
		`'finance' in user.roles || owner == user.id`,
		`lines.item == 'A'`, `number startsWith 'SO'`, `customer not in ['a']`,
		`not (customer in ['a'])`, `!(total > 1)`, `total == 0.1`, `created_at > '2024-06-01T00:00:00Z'`,
		`order_date == '2024-06-01'`, `customer == nil`, `active`, `len(x) > 2`, `a + b > 1`, `a > b`,
		`{"$where": "1"}`, `$gt == 1`, `a.$b == 1`, "field\u0000", `total['x'] == 1`, `1 < qty < 3`,
		`-total > 1`, `total > -1.5e3`, `x ?? y`, `let a = 1; a`, `lines[0].qty`, `#a`, `0x10 == qty`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	for _, c := range acceptCases {
		f.Add(c.src)
	}
	for _, c := range rejectCases {
		if len(c.src) < 1000 {
			f.Add(c.src)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := Parse(src, testSchema, testVars)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Parse(%q): error %T is not an *Error: %v", src, err, err)
			}
			if qe.Col < 1 || qe.Col > len([]rune(src))+1 {
				t.Fatalf("Parse(%q): column %d out of range", src, qe.Col)
			}
			return
		}
		if _, err := store.CheckFilter(flt, false); err != nil {
			t.Fatalf("Parse(%q) = %s fails CheckFilter: %v", src, show(flt), err)
		}
		for _, d := range fuzzDocs {
			store.Match(d, flt) // must not panic
		}
	})
}

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
