package dataio

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/records"
)

// customersCSV is a file of n customers, each with a link to a warehouse.
func customersCSV(n int) string {
	var b strings.Builder
	b.WriteString("客户编码,客户名称,客户分组,联系电话,信用额度,结算方式,默认发货仓库,启用\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "P-%05d,客户%d,%s,0571-%07d,%d.50,%s,WH%d,是\n", i, i,
			[]string{"批发客户", "零售客户", "经销商"}[i%3], i, i*100, []string{"现款现货", "月结", "net_30"}[i%3], 1+i%2)
	}
	return b.String()
}

func TestImportJobShowsProgress(t *testing.T) {
	f := newFixture(t, sqliteStore(t))
	jobs := NewJobs(f.st)
	job, err := jobs.Start(ctx, f.manager, "customer", "customers.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// While it runs, the job document shows the counts so far.
	var seen []int
	opt := Options{Lang: "en", Progress: func(res Result) {
		got, err := jobs.Get(ctx, f.manager, job.ID, "en")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != JobRunning || got.Processed != res.Processed || got.Total != 1251 {
			t.Fatalf("job during the import: %+v", got)
		}
		seen = append(seen, got.Processed)
	}}
	file := customersCSV(1250) + "bad code,x,,,,,,\n"
	done, err := jobs.Run(ctx, f.eng, f.manager, job, strings.NewReader(file), opt)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[500 1000 1251]" && fmt.Sprint(seen) != "[500 1000 1251 1251]" {
		t.Fatalf("progress seen at %v", seen)
	}
	got, err := jobs.Get(ctx, f.manager, job.ID, "zh-CN")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != JobDone || got.Created != 1250 || got.Failed != 1 || !got.Partial || got.FinishedAt == "" || done.Created != 1250 {
		t.Fatalf("finished job %+v", got)
	}
	if len(got.Errors) != 1 || got.Errors[0].Row != 1252 || got.Errors[0].Column != "客户编码" || got.Errors[0].Code != "pattern" {
		t.Fatalf("job errors %+v", got.Errors)
	}
	// Messages are kept in both languages (the engine's codes are rendered
	// by the caller's catalog, given in Options.Message; this package's own
	// codes by its texts).
	if got.Errors[0].Message != "pattern" {
		t.Fatalf("message without a catalog: %q", got.Errors[0].Message)
	}
	// Another user does not see the job; an admin does.
	if _, err := jobs.Get(ctx, f.sales, job.ID, "en"); !errors.Is(err, records.ErrNotFound) {
		t.Fatalf("another user's job: %v", err)
	}
	if _, err := jobs.Get(ctx, f.admin, job.ID, "en"); err != nil {
		t.Fatalf("admin: %v", err)
	}
	// A file that cannot be imported fails the job with its problems.
	job, _ = jobs.Start(ctx, f.manager, "customer", "bad.csv", Options{})
	if _, err := jobs.Run(ctx, f.eng, f.manager, job, strings.NewReader("颜色\nred\n"), Options{}); err == nil {
		t.Fatal("a bad header passed")
	}
	got, _ = jobs.Get(ctx, f.manager, job.ID, "en")
	if got.Status != JobFailed || len(got.Errors) != 1 || got.Errors[0].Message != "no field matches the column “颜色”" {
		t.Fatalf("failed job %+v", got)
	}
}

// BenchmarkImportCustomers imports 1,000 new customers (each linking a
// warehouse by code) into SQLite and reports rows per second.
func BenchmarkImportCustomers(b *testing.B) {
	file := customersCSV(1000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := newFixture(b, sqliteStore(b))
		b.StartTimer()
		res, err := Import(ctx, f.eng, f.admin, "customer", strings.NewReader(file), Options{})
		if err != nil || res.Created != 1000 {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReimportCustomers imports the same 1,000 customers again: every
// record is checked and found unchanged.
func BenchmarkReimportCustomers(b *testing.B) {
	file := customersCSV(1000)
	f := newFixture(b, sqliteStore(b))
	if res, err := Import(ctx, f.eng, f.admin, "customer", strings.NewReader(file), Options{}); err != nil || res.Created != 1000 {
		b.Fatalf("%+v %v", res, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Import(ctx, f.eng, f.admin, "customer", strings.NewReader(file), Options{})
		if err != nil || res.Unchanged != 1000 {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
