package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportCommand imports customers from a file into a data directory:
// a dry run writes nothing, the real run creates, a second run changes
// nothing, and bad rows are printed with their row, column and message.
func TestImportCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var out, errs syncBuffer
	if code := templateCmd(ctx, []string{"install", "core", "--data", data}, &out, &errs); code != 0 {
		t.Fatalf("install core: %d %s %s", code, out.String(), errs.String())
	}
	saved := stdin
	stdin = strings.NewReader("admin-password-1\n")
	code := userCmd(ctx, []string{"add", "boss", "--roles", "admin", "--lang", "en", "--password-stdin", "--data", data}, &out, &errs)
	stdin = saved
	if code != 0 {
		t.Fatalf("add user: %d %s", code, errs.String())
	}
	file := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(file, []byte("客户编码,客户名称,信用额度\nC-1,华东贸易,1000\nC-2,,5\nC-3,西部批发,-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yerp := func(args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr syncBuffer
		code := importCmd(ctx, append(args, "--data", data, "--as", "boss"), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, o, e := yerp("--entity", "customer", "--file", file, "--dry-run")
	if code != 1 || !strings.Contains(o, "row 3, 客户名称: is required") || !strings.Contains(o, "row 4, 信用额度: must be at least 0") ||
		!strings.Contains(o, "dry run, nothing written: 3 rows, 3 records: 1 created, 0 updated, 0 unchanged, 2 failed") {
		t.Fatalf("dry run: %d\n%s\n%s", code, o, e)
	}
	if err := os.WriteFile(file, []byte("客户编码,客户名称,信用额度\nC-1,华东贸易,1000\nC-2,华北商贸,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, o, e := yerp("--entity", "customer", "--file", file); code != 0 || !strings.Contains(o, "imported: 2 rows, 2 records: 2 created, 0 updated, 0 unchanged, 0 failed") {
		t.Fatalf("import: %d\n%s\n%s", code, o, e)
	}
	if code, o, e := yerp("--entity", "customer", "--file", file, "--lang", "zh-CN"); code != 0 || !strings.Contains(o, "0 created, 0 updated, 2 unchanged") {
		t.Fatalf("second import: %d\n%s\n%s", code, o, e)
	}
	if code, _, e := yerp("--entity", "colour", "--file", file); code != 1 || !strings.Contains(e, "nothing imported") {
		t.Fatalf("unknown entity: %d %s", code, e)
	}
	if code, _, _ := yerp("--file", file); code != 2 {
		t.Fatalf("no --entity: %d", code)
	}
}
