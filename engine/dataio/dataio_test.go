package dataio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/mongo/mongotest"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

var ctx = context.Background()

type fixture struct {
	st      store.Store
	eng     *records.Engine
	admin   records.User
	sales   records.User
	manager records.User
	ware    records.User // warehouse: reads customers without credit terms
}

// catalog is core plus the test package testdata/orders (sales orders with lines).
func catalog(t testing.TB) fs.FS {
	t.Helper()
	cat := fstest.MapFS{}
	for _, root := range []struct {
		fsys fs.FS
		dir  string
	}{{templates.FS, "core"}, {os.DirFS("testdata"), "orders"}} {
		err := fs.WalkDir(root.fsys, root.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(root.fsys, p)
			cat[p] = &fstest.MapFile{Data: data}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return cat
}

func newFixture(t testing.TB, st store.Store) *fixture {
	t.Helper()
	svc, err := packages.New(ctx, st, catalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "orders", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, eng: records.New(st, svc.Model, records.Options{ModelAt: svc.ModelAt}),
		admin:   records.User{ID: "u-admin", Name: "admin", Roles: []string{records.AdminRole}},
		sales:   records.User{ID: "u-sam", Name: "Sam", Roles: []string{"sales"}},
		manager: records.User{ID: "u-mia", Name: "Mia", Roles: []string{"sales_manager"}},
		ware:    records.User{ID: "u-ken", Name: "Ken", Roles: []string{"warehouse"}},
	}
	for _, c := range []struct {
		entity string
		values map[string]any
	}{
		{"warehouse", map[string]any{"code": "WH1", "name": "杭州主仓"}},
		{"warehouse", map[string]any{"code": "WH2", "name": "上海仓"}},
		{"item", map[string]any{"code": "A100", "name": "Widget", "unit": "pcs", "price": "12.50", "cost": "8.10"}},
		{"item", map[string]any{"code": "B200", "name": "绿茶", "unit": "carton", "price": "36", "cost": "20"}},
	} {
		if _, err := f.eng.Create(ctx, f.admin, c.entity, c.values); err != nil {
			t.Fatalf("create %v: %v", c.values, err)
		}
	}
	return f
}

func sqliteStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// backends runs a test against SQLite and against the Mongo backend on FerretDB.
func backends(t *testing.T, run func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { run(t, newFixture(t, sqliteStore(t))) })
	t.Run("mongo", func(t *testing.T) { run(t, newFixture(t, mongotest.Open(t))) })
}

func csvOf(lines ...string) *strings.Reader {
	return strings.NewReader(strings.Join(lines, "\r\n") + "\r\n")
}

func (f *fixture) count(t testing.TB, coll string) int64 {
	t.Helper()
	n, err := f.st.Count(ctx, coll, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) byCode(t testing.TB, entity, code string) records.Record {
	t.Helper()
	page, err := f.eng.List(ctx, f.admin, entity, records.ListQuery{Filter: "code == '" + code + "'"})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("%s %s: %v %v", entity, code, page.Records, err)
	}
	return page.Records[0]
}

// problems lists the errors of a result as "row column code", sorted.
func problems(res Result) []string {
	out := make([]string, len(res.Errors))
	for i, e := range res.Errors {
		out[i] = fmt.Sprintf("%d %s %s", e.Row, e.Column, e.Code)
	}
	sort.Strings(out)
	return out
}

func TestDryRunReportsEveryBadRowAndWritesNothing(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		file := func() *strings.Reader {
			return csvOf(
				"客户编码,客户名称,客户分组,信用额度,电子邮箱,默认发货仓库,Active",
				"C-001,华东贸易,批发客户,50000,sales@huadong.cn,WH1,是",
				"c-002,小写编码,Retail,100,,WH1,yes",      // code breaks the pattern
				"C-003,,distributor,-5,x@,WH9,否",      // name missing, negative limit, bad email, unknown warehouse
				"C-004,东方商行,VIP,1.234,,WH2,maybe",     // not an option, too many decimals, not a bool
				"C-005,西部批发,key_account,\"1,000\",,,", // thousands separator accepted
			)
		}
		auditsBefore, customersBefore := f.count(t, "sys_audit"), f.count(t, "customer")
		res, err := Import(ctx, f.eng, f.admin, "customer", file(), Options{DryRun: true, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"3 客户编码 pattern",
			"4 信用额度 min",
			"4 客户名称 required",
			"4 默认发货仓库 link_not_found",
			"4 电子邮箱 not_an_email",
			"5 Active not_a_bool",
			"5 信用额度 scale",
			"5 客户分组 not_an_option",
		}
		sort.Strings(want)
		if got := problems(res); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if res.Rows != 5 || res.Total != 5 || res.Created != 2 || res.Failed != 3 || res.Updated+res.Unchanged != 0 || res.Partial || !res.DryRun || res.Key != "code" {
			t.Fatalf("counts %+v", res)
		}
		if f.count(t, "customer") != customersBefore || f.count(t, "sys_audit") != auditsBefore {
			t.Fatal("a dry run wrote records or audit entries")
		}
		// A header that names no field stops the file, in the user's language.
		_, err = Import(ctx, f.eng, f.admin, "customer", csvOf("客户编码,颜色,Name", "C-9,red,x"), Options{DryRun: true, Lang: "zh-CN"})
		var fe *FileError
		if !errors.As(err, &fe) || len(fe.Problems) != 1 || fe.Problems[0].Code != "unknown_column" || fe.Problems[0].Column != "颜色" {
			t.Fatalf("unknown column: %v", err)
		}
		if msg := render("zh-CN", fe.FieldErrors()[0], nil); msg != "没有与列名“颜色”对应的字段" {
			t.Fatalf("zh-CN message %q", msg)
		}
		if msg := render("en", fe.FieldErrors()[0], nil); msg != "no field matches the column “颜色”" {
			t.Fatalf("en message %q", msg)
		}
		// The same file for real: the good rows are written, the bad reported.
		res, err = Import(ctx, f.eng, f.admin, "customer", file(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 2 || res.Failed != 3 || !res.Partial || len(res.Errors) != len(want) {
			t.Fatalf("apply %+v", res)
		}
		c1 := f.byCode(t, "customer", "C-001")
		wh1 := f.byCode(t, "warehouse", "WH1")
		if c1["customer_group"] != "wholesale" || c1["default_warehouse"] != wh1.ID() || c1["active"] != true ||
			!c1["credit_limit"].(decimal.Decimal).Equal(decimal.MustParse("50000")) {
			t.Fatalf("C-001 stored as %v", c1)
		}
		if c5 := f.byCode(t, "customer", "C-005"); !c5["credit_limit"].(decimal.Decimal).Equal(decimal.MustParse("1000")) || c5["active"] != true {
			t.Fatalf("C-005 stored as %v (empty cells take the defaults)", c5)
		}
		if n := f.count(t, "customer"); n != customersBefore+2 {
			t.Fatalf("%d customers, want %d", n, customersBefore+2)
		}
	})
}

func TestApplyTwiceChangesNothingAndUpsertUpdates(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		lines := []string{
			"code,name,payment_terms,credit_limit,phone,default_warehouse,notes",
			"K-1,华北商贸,月结,80000.50,0571-1234 5678,WH1,老客户",
			"K-2,Acme Trading,Net 30 days,0,,WH2,",
			"K-3,南方食品,cod,12.3,,,",
		}
		res, err := Import(ctx, f.eng, f.admin, "customer", csvOf(lines...), Options{})
		if err != nil || res.Created != 3 || res.Failed != 0 || res.Partial {
			t.Fatalf("first import %+v %v", res, err)
		}
		k1 := f.byCode(t, "customer", "K-1")
		if k1["payment_terms"] != "monthly" || !k1["credit_limit"].(decimal.Decimal).Equal(decimal.MustParse("80000.5")) {
			t.Fatalf("K-1 %v", k1)
		}
		audits := f.count(t, "sys_audit")
		res, err = Import(ctx, f.eng, f.admin, "customer", csvOf(lines...), Options{})
		if err != nil || res.Unchanged != 3 || res.Created+res.Updated+res.Failed != 0 {
			t.Fatalf("second import %+v %v", res, err)
		}
		if f.count(t, "sys_audit") != audits || f.byCode(t, "customer", "K-1").Version() != k1.Version() {
			t.Fatal("re-importing the same file wrote a version or an audit entry")
		}
		// One changed cell: that record is updated at its version, the rest unchanged;
		// an emptied cell clears the stored value.
		lines[1] = "K-1,华北商贸,月结,90000,0571-1234 5678,WH1,"
		res, err = Import(ctx, f.eng, f.admin, "customer", csvOf(lines...), Options{})
		if err != nil || res.Updated != 1 || res.Unchanged != 2 || res.Created != 0 {
			t.Fatalf("upsert %+v %v", res, err)
		}
		after := f.byCode(t, "customer", "K-1")
		if after.Version() != k1.Version()+1 || !after["credit_limit"].(decimal.Decimal).Equal(decimal.MustParse("90000")) || after["notes"] != nil {
			t.Fatalf("K-1 after the upsert: %v", after)
		}
		hist, err := f.eng.History(ctx, f.admin, "customer", after.ID())
		if err != nil || len(hist) != 2 || len(hist[1].Changes) != 2 {
			t.Fatalf("history %+v %v", hist, err)
		}
		if f.count(t, "sys_audit") != audits+1 {
			t.Fatalf("audit entries %d, want %d", f.count(t, "sys_audit"), audits+1)
		}
	})
}

func TestTableRowsFormOneRecord(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		// Two orders: rows with the same number are one order; a row with
		// only line cells continues the order above.
		file := csvOf(
			"编号,客户,下单日期,付款方式,明细.商品,明细.数量,明细.单价,备注",
			"SO-00001,C-1,2026/11/3,现款,A100,2,,第一单",
			"SO-00001,C-1,,,B200,1.5,30,",
			",,,,A100,1,,",
			"SO-00002,C-1,2026-11-04,On credit,B200,4,,",
		)
		if _, err := f.eng.Create(ctx, f.admin, "customer", map[string]any{"code": "C-1", "name": "华东贸易"}); err != nil {
			t.Fatal(err)
		}
		res, err := Import(ctx, f.eng, f.sales, "sales_order", file, Options{})
		if err != nil || res.Created != 2 || res.Failed != 0 || res.Rows != 4 || res.Total != 2 || res.Key != "number" {
			t.Fatalf("import %+v %v", res, err)
		}
		page, err := f.eng.List(ctx, f.manager, "sales_order", records.ListQuery{Sort: []string{"number"}})
		if err != nil || len(page.Records) != 2 {
			t.Fatalf("orders %v %v", page.Records, err)
		}
		o1 := page.Records[0]
		rows := o1["lines"].([]any)
		if o1["number"] != "SO-00001" || len(rows) != 3 || o1["order_date"] != "2026-11-03" || o1["payment_method"] != "cash" || o1["note"] != "第一单" {
			t.Fatalf("order 1: %v", o1)
		}
		// 2 × 12.50 + 1.5 × 30 + 1 × 12.50, exactly; the hidden cost came from the item.
		if !o1["total"].(decimal.Decimal).Equal(decimal.MustParse("82.5")) {
			t.Fatalf("total %v", o1["total"])
		}
		if c := rows[1].(map[string]any)["cost"]; c == nil || !c.(decimal.Decimal).Equal(decimal.MustParse("20")) {
			t.Fatalf("cost of row 2: %v", c)
		}

		// The export (by number) re-imports unchanged; a changed quantity
		// updates only that row, keeping the rows' identity.
		var buf bytes.Buffer
		if _, err := Export(ctx, f.eng, f.sales, "sales_order", &buf, ExportOptions{Names: true}); err != nil {
			t.Fatal(err)
		}
		exported := buf.String()
		res, err = Import(ctx, f.eng, f.sales, "sales_order", strings.NewReader(exported), Options{})
		if err != nil || res.Unchanged != 2 || res.Updated+res.Created+res.Failed != 0 {
			t.Fatalf("re-import of the export %+v %v\n%s", res, err, exported)
		}
		edited := strings.Replace(exported, "B200,1.5,", "B200,2.5,", 1)
		if edited == exported {
			t.Fatalf("the export does not hold the line B200,1.5: %s", exported)
		}
		res, err = Import(ctx, f.eng, f.sales, "sales_order", strings.NewReader(edited), Options{})
		if err != nil || res.Updated != 1 || res.Unchanged != 1 {
			t.Fatalf("edited re-import %+v %v", res, err)
		}
		hist, err := f.eng.History(ctx, f.manager, "sales_order", o1.ID())
		if err != nil || len(hist) != 2 {
			t.Fatalf("history %+v %v", hist, err)
		}
		var paths []string
		for _, c := range hist[1].Changes {
			paths = append(paths, c.Op+" "+c.Path)
		}
		key := rows[1].(map[string]any)["_row"].(string)
		if want := "set lines[" + key + "].amount|set lines[" + key + "].qty|set total"; strings.Join(paths, "|") != want {
			t.Fatalf("changes %v, want %s", paths, want)
		}

		// Table errors are reported at the row of the line.
		bad := csvOf(
			"number,customer,lines.item,lines.qty",
			",C-1,A100,1",
			",,ZZZ,0",
			",C-404,,",
		)
		res, err = Import(ctx, f.eng, f.sales, "sales_order", bad, Options{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"3 lines.item link_not_found", "3 lines.qty min", "4 customer link_not_found", "4 明细 min_rows"}
		if got := problems(res); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("problems %v, want %v", got, want)
		}
	})
}

func TestExportRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		var lines []string
		lines = append(lines, "code,name,customer_group,credit_limit,payment_terms,default_warehouse,active,email")
		for i := 1; i <= 30; i++ {
			lines = append(lines, fmt.Sprintf("R-%03d,客户%d,%s,%d.25,net_30,WH%d,%v,r%d@example.cn", i, i,
				[]string{"wholesale", "retail", "distributor"}[i%3], i*1000, 1+i%2, i%5 != 0, i))
		}
		if res, err := Import(ctx, f.eng, f.admin, "customer", csvOf(lines...), Options{}); err != nil || res.Created != 30 {
			t.Fatalf("seed %+v %v", res, err)
		}
		for _, c := range []struct {
			name string
			opt  ExportOptions
		}{
			{"csv, zh-CN labels", ExportOptions{Format: CSV, Lang: "zh-CN"}},
			{"xlsx, en labels", ExportOptions{Format: XLSX, Lang: "en"}},
			{"xlsx, field names", ExportOptions{Format: XLSX, Names: true}},
		} {
			t.Run(c.name, func(t *testing.T) {
				opt := c.opt
				opt.Filter = "credit_limit > 10000 && customer_group != 'retail'"
				opt.Sort = []string{"-credit_limit"}
				var buf bytes.Buffer
				n, err := Export(ctx, f.eng, f.admin, "customer", &buf, opt)
				if err != nil {
					t.Fatal(err)
				}
				// Customers 11..30 without the retail ones (i%3 == 1).
				want := 0
				for i := 11; i <= 30; i++ {
					if i%3 != 1 {
						want++
					}
				}
				if n != want {
					t.Fatalf("exported %d, want %d", n, want)
				}
				sh, err := readSheet(bytes.NewReader(buf.Bytes()), c.opt.Format, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(sh.rows) != want || sh.rows[0][0] != "R-030" && !strings.Contains(strings.Join(sh.rows[0], ","), "R-029") {
					t.Fatalf("rows %d, first %v", len(sh.rows), sh.rows[0])
				}
				audits := f.count(t, "sys_audit")
				res, err := Import(ctx, f.eng, f.admin, "customer", bytes.NewReader(buf.Bytes()), Options{Format: c.opt.Format})
				if err != nil || res.Unchanged != want || res.Created+res.Updated+res.Failed != 0 {
					t.Fatalf("re-import %+v %v\nheader %v\nrow %v", res, err, sh.header, sh.rows[0])
				}
				if f.count(t, "sys_audit") != audits {
					t.Fatal("the round trip wrote audit entries")
				}
			})
		}
		// Into an empty store: the records come back with the same values.
		var buf bytes.Buffer
		if _, err := Export(ctx, f.eng, f.admin, "customer", &buf, ExportOptions{Format: XLSX, Filter: "code startsWith 'R-00'"}); err != nil {
			t.Fatal(err)
		}
		g := newFixture(t, sqliteStore(t))
		res, err := Import(ctx, g.eng, g.admin, "customer", bytes.NewReader(buf.Bytes()), Options{})
		if err != nil || res.Created != 9 || res.Failed != 0 {
			t.Fatalf("import into a new store %+v %v", res, err)
		}
		for _, code := range []string{"R-001", "R-005", "R-009"} {
			a, b := f.byCode(t, "customer", code), g.byCode(t, "customer", code)
			for _, k := range []string{"name", "customer_group", "payment_terms", "active", "email", "credit_limit"} {
				if fmt.Sprint(a[k]) != fmt.Sprint(b[k]) {
					t.Errorf("%s.%s: %v, then %v", code, k, a[k], b[k])
				}
			}
			wa := f.byCode(t, "warehouse", "WH1")
			wb := g.byCode(t, "warehouse", "WH1")
			if (a["default_warehouse"] == wa.ID()) != (b["default_warehouse"] == wb.ID()) {
				t.Errorf("%s: the warehouse link did not come back by code", code)
			}
		}
	})
}

func TestFieldAccessInExportAndImport(t *testing.T) {
	f := newFixture(t, sqliteStore(t))
	if _, err := f.eng.Create(ctx, f.admin, "customer", map[string]any{"code": "C-1", "name": "华东贸易", "credit_limit": "5000", "payment_terms": "monthly"}); err != nil {
		t.Fatal(err)
	}
	if res, err := Import(ctx, f.eng, f.manager, "sales_order", csvOf("customer,lines.item,lines.qty,lines.cost", "C-1,A100,1,7"), Options{}); err != nil || res.Created != 1 {
		t.Fatalf("manager import %+v %v", res, err)
	}
	export := func(u records.User, entity string) string {
		var buf bytes.Buffer
		if _, err := Export(ctx, f.eng, u, entity, &buf, ExportOptions{Lang: "en"}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	// Sales may not see the cost of a line: no such column in their export.
	if s := export(f.manager, "sales_order"); !strings.Contains(s, "Lines.Cost") || !strings.Contains(s, ",7") {
		t.Fatalf("manager's export lacks the cost: %s", s)
	}
	if s := export(f.sales, "sales_order"); strings.Contains(s, "Cost") || strings.Contains(s, ",7") {
		t.Fatalf("sales' export shows the cost: %s", s)
	}
	// The warehouse keeper reads customers without credit limit and terms.
	if s := export(f.ware, "customer"); strings.Contains(s, "Credit limit") || strings.Contains(s, "5000") || strings.Contains(s, "Monthly") || !strings.Contains(s, "华东贸易") {
		t.Fatalf("warehouse export: %s", s)
	}
	// Nor can sales write the cost through an import: the column is refused
	// before any row is read.
	_, err := Import(ctx, f.eng, f.sales, "sales_order", csvOf(
		"number,customer,lines.item,lines.qty,lines.cost",
		",C-1,A100,1,1",
		"SO-00001,C-1,A100,1,0.01",
	), Options{})
	var fe *FileError
	if !errors.As(err, &fe) || len(fe.Problems) != 1 || fe.Problems[0].Code != "hidden_column" || fe.Problems[0].Column != "lines.cost" {
		t.Fatalf("sales writing the cost: %v", err)
	}
	stored, _ := f.st.Find(ctx, "sales_order", store.Query{})
	if len(stored.Docs) != 1 || fmt.Sprint(stored.Docs[0]["lines"].([]any)[0].(map[string]any)["cost"]) != "7" {
		t.Fatalf("orders after the refused import: %v", stored.Docs)
	}
	// Read-only for a role: sales may not change a credit limit.
	res, err := Import(ctx, f.eng, f.sales, "customer", csvOf("code,name,credit_limit", "C-1,华东贸易,999999"), Options{})
	if err != nil || strings.Join(problems(res), "|") != "2 credit_limit readonly" {
		t.Fatalf("sales raising a credit limit: %+v %v", res, err)
	}
	// No right to create at all.
	res, err = Import(ctx, f.eng, f.ware, "customer", csvOf("code,name", "C-77,新客户"), Options{})
	if err != nil || strings.Join(problems(res), "|") != "2  forbidden" {
		t.Fatalf("warehouse creating a customer: %+v %v", res, err)
	}
}

func TestGBKAndXLSXCells(t *testing.T) {
	f := newFixture(t, sqliteStore(t))
	text := "客户编码,客户名称,收货地址\r\nG-1,华南五金,广州市天河区\r\nG-2,东北粮油,\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(ctx, f.eng, f.admin, "customer", strings.NewReader(gbk), Options{})
	if err != nil || res.Created != 2 {
		t.Fatalf("GBK import %+v %v", res, err)
	}
	if c := f.byCode(t, "customer", "G-1"); c["name"] != "华南五金" || c["address"] != "广州市天河区" {
		t.Fatalf("GBK text read as %v", c)
	}
	// With a byte-order mark.
	res, err = Import(ctx, f.eng, f.admin, "customer", strings.NewReader("\uFEFF"+text), Options{})
	if err != nil || res.Unchanged != 2 {
		t.Fatalf("UTF-8 with BOM %+v %v", res, err)
	}

	// XLSX with a real date cell, a number cell and a named sheet.
	x := excelize.NewFile()
	if _, err := x.NewSheet("订单"); err != nil {
		t.Fatal(err)
	}
	for cell, v := range map[string]any{
		"A1": "客户", "B1": "下单日期", "C1": "明细.商品", "D1": "明细.数量", "E1": "加急",
		"A2": "G-1", "B2": time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), "C2": "A100", "D2": 0.1 + 0.2, "E2": true,
	} {
		if err := x.SetCellValue("订单", cell, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, f.eng, f.admin, "sales_order", bytes.NewReader(buf.Bytes()), Options{Sheet: "没有"}); err == nil {
		t.Fatal("a missing sheet was accepted")
	}
	res, err = Import(ctx, f.eng, f.admin, "sales_order", bytes.NewReader(buf.Bytes()), Options{Sheet: "订单"})
	if err != nil || res.Created != 1 {
		t.Fatalf("xlsx import %+v %v", res, err)
	}
	page, _ := f.eng.List(ctx, f.admin, "sales_order", records.ListQuery{})
	o := page.Records[0]
	qty := o["lines"].([]any)[0].(map[string]any)["qty"].(decimal.Decimal)
	if o["order_date"] != "2026-03-09" || !qty.Equal(decimal.MustParse("0.3")) || o["urgent"] != true {
		t.Fatalf("order from xlsx: %v (qty %v)", o, qty)
	}
}

func TestFormulaTextIsDefusedInCSV(t *testing.T) {
	f := newFixture(t, sqliteStore(t))
	if _, err := f.eng.Create(ctx, f.admin, "customer", map[string]any{"code": "F-1", "name": "=HYPERLINK(\"http://x\")", "contact_person": "-王"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Export(ctx, f.eng, f.admin, "customer", &buf, ExportOptions{Names: true, Fields: []string{"code", "name", "contact_person", "credit_limit"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"'=HYPERLINK(""http://x"")",'-王,0`) {
		t.Fatalf("export %s", buf.String())
	}
	res, err := Import(ctx, f.eng, f.admin, "customer", bytes.NewReader(buf.Bytes()), Options{})
	if err != nil || res.Unchanged != 1 {
		t.Fatalf("re-import %+v %v", res, err)
	}
}
