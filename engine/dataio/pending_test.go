package dataio

import (
	"fmt"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/store"
)

// TestBadRowsAmongManyNewRecords imports 1,100 new customers (three batches
// of records created together) among which some are refused for what only
// the engine can know (a barcode held by a stored customer or an earlier row
// of the file, a warehouse that does not exist) or for a bad value: every
// other record is written with its audit entry, every bad one is reported at
// its row, as a dry run reports them, and nothing of a bad one is stored.
func TestBadRowsAmongManyNewRecords(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		if _, err := f.eng.Create(ctx, f.admin, "customer", map[string]any{"code": "OLD-1", "name": "老客户", "barcode": "690000000001"}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("code,name,barcode,default_warehouse,credit_limit\n")
		bad := map[int]string{ // file row → the code it is refused with
			5:    "unique",         // barcode of the stored customer
			57:   "link_not_found", // no warehouse WH9
			102:  "unique",         // barcode of row 101, in the same batch
			150:  "pattern",        // a code in lower case
			733:  "not_a_number",   // credit limit
			1101: "unique",         // barcode of row 3, in an earlier batch
		}
		for row := 2; row <= 1101; row++ {
			code, barcode, wh, limit := fmt.Sprintf("N-%04d", row), fmt.Sprintf("69100%07d", row), "WH1", "1000"
			switch row {
			case 5:
				barcode = "690000000001"
			case 57:
				wh = "WH9"
			case 102:
				barcode = fmt.Sprintf("69100%07d", 101)
			case 150:
				code = "bad-code"
			case 733:
				limit = "lots"
			case 1101:
				barcode = fmt.Sprintf("69100%07d", 3)
			}
			fmt.Fprintf(&b, "%s,客户 %d,%s,%s,%s\n", code, row, barcode, wh, limit)
		}
		file := b.String()

		dry, err := Import(ctx, f.eng, f.admin, "customer", strings.NewReader(file), Options{Lang: "en", DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		var progress []int
		res, err := Import(ctx, f.eng, f.admin, "customer", strings.NewReader(file), Options{Lang: "en",
			Progress: func(r Result) { progress = append(progress, r.Created+r.Failed) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 1100-len(bad) || res.Failed != len(bad) || !res.Partial || res.Total != 1100 || res.Processed != 1100 {
			t.Fatalf("result %+v", res)
		}
		if fmt.Sprint(progress) != "[500 1000 1100]" {
			t.Fatalf("progress (created + failed after each batch) %v, want [500 1000 1100]", progress)
		}
		if len(res.Errors) != len(bad) {
			t.Fatalf("errors %+v", res.Errors)
		}
		prev := 0
		for i, e := range res.Errors {
			if bad[e.Row] != e.Code || e.Row <= prev || e.Message == "" || e.Column == "" {
				t.Errorf("error %d: row %d %s at %q %q (want rows in order, each with its code, column and message)", i, e.Row, e.Code, e.Column, e.Message)
			}
			prev = e.Row
			if d := dry.Errors[i]; d.Row != e.Row || d.Code != e.Code || d.Column != e.Column || d.Message != e.Message {
				t.Errorf("error %d: the import reports %+v, its dry run %+v", i, e, d)
			}
		}
		if dry.Created != res.Created || dry.Failed != res.Failed {
			t.Errorf("dry run counted %d created, %d failed; the import %d, %d", dry.Created, dry.Failed, res.Created, res.Failed)
		}
		// What is stored: every good record once, with its audit entry, and
		// nothing of the bad ones.
		n, err := f.st.Count(ctx, "customer", store.Prefix("code", "N-"))
		if err != nil || n != int64(res.Created) {
			t.Fatalf("%d customers stored (%v), want %d", n, err, res.Created)
		}
		for row := range bad {
			code := fmt.Sprintf("N-%04d", row)
			if k, _ := f.st.Count(ctx, "customer", store.Eq("code", code)); k != 0 {
				t.Errorf("row %d was refused but %s is stored", row, code)
			}
		}
		page, err := f.st.Find(ctx, "customer", store.Query{Filter: store.Prefix("code", "N-"), Limit: store.MaxLimit, Fields: []string{"code"}})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]any, len(page.Docs))
		for i, d := range page.Docs {
			ids[i] = d.ID()
		}
		entries, err := f.st.Count(ctx, "sys_audit", store.And(store.Eq("entity", "customer"), store.Eq("action", "create"), store.In("record", ids...)))
		if err != nil || entries != int64(res.Created) {
			t.Fatalf("%d audit entries of the imported customers (%v), want %d", entries, err, res.Created)
		}
	})
}

// TestRowLinkingToAnEarlierNewRecord imports item categories whose parent
// is a category created by an earlier row of the same batch: the earlier
// records are written first, so the link finds them.
func TestRowLinkingToAnEarlierNewRecord(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		file := csvOf("code,name,parent", "FOOD,食品,", "TEA,茶叶,FOOD", "GREEN,绿茶,TEA", "BLACK,红茶,TEA", "NONE,无,MISSING")
		res, err := Import(ctx, f.eng, f.admin, "item_category", file, Options{Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 4 || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].Row != 6 || res.Errors[0].Code != "link_not_found" {
			t.Fatalf("result %+v", res)
		}
		page, err := f.st.Find(ctx, "item_category", store.Query{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		byCode := map[string]store.Doc{}
		for _, d := range page.Docs {
			byCode[d["code"].(string)] = d
		}
		for child, parent := range map[string]string{"TEA": "FOOD", "GREEN": "TEA", "BLACK": "TEA"} {
			if byCode[child]["parent"] != byCode[parent].ID() {
				t.Errorf("%s has parent %v, want %s (%s)", child, byCode[child]["parent"], parent, byCode[parent].ID())
			}
		}
	})
}
