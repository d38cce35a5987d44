package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/store"
)

// send makes a request with a raw body and returns the status, body and headers.
func (h *harness) send(c *client, method, path string, body []byte, hdr map[string]string) (int, []byte, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if c != nil {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, data, resp.Header
}

// upload sends a file as a multipart form part "file".
func (h *harness) upload(c *client, path, name string, file []byte, hdr map[string]string) (int, []byte) {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("file", name)
	if err != nil {
		h.t.Fatal(err)
	}
	part.Write(file)
	mw.Close()
	all := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range hdr {
		all[k] = v
	}
	status, body, _ := h.send(c, "POST", path, buf.Bytes(), all)
	return status, body
}

type jobAnswer struct {
	ID, Status                                          string
	Rows, Total, Processed, Created, Updated, Unchanged int
	Failed                                              int
	Partial                                             bool
	Errors                                              []struct {
		Row                   int
		Column, Code, Message string
	}
}

func decodeJob(t *testing.T, data []byte) jobAnswer {
	t.Helper()
	var j jobAnswer
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
	return j
}

func TestImportExportAPI(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		h := start(t, st)
		admin, alice, bob, mia := h.login("admin", "admin-password-1"), h.login("alice", "alice-password-1"), h.login("bob", "bob-password-1"), h.login("mia", "mia-password-1")
		customers := func() int64 {
			n, err := st.Count(ctx, "customer", nil)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		file := []byte("客户编码,客户名称,客户分组,信用额度\n" +
			"C2,华南五金,零售客户,5000\n" +
			"C3,,批发客户,-1\n" +
			"C4,东北粮油,VIP,100\n")

		// Dry run: every bad row, in the caller's language; nothing written.
		before := customers()
		for _, c := range []struct{ lang, required, min, option string }{
			{"zh-CN", "必填", "不能小于 0", "不是可选项"},
			{"en", "is required", "must be at least 0", "is not one of the options"},
		} {
			status, body := h.upload(admin, "/api/v1/import/customer?dry_run=true&wait=true", "customers.csv", file, map[string]string{"Accept-Language": c.lang})
			if status != 200 {
				t.Fatalf("dry run: %d %s", status, body)
			}
			j := decodeJob(t, body)
			if j.Status != "done" || j.Created != 1 || j.Failed != 2 || j.Partial || len(j.Errors) != 3 {
				t.Fatalf("dry run (%s): %s", c.lang, body)
			}
			got := map[string]string{}
			for _, e := range j.Errors {
				got[e.Code] = e.Message
				if e.Row != 3 && e.Row != 4 {
					t.Fatalf("row of %+v", e)
				}
			}
			if got["required"] != c.required || got["min"] != c.min || got["not_an_option"] != c.option {
				t.Fatalf("messages in %s: %v", c.lang, got)
			}
		}
		if customers() != before {
			t.Fatal("a dry run wrote customers")
		}

		// Apply, in the background: 202, then the job as it ends; the good
		// row is written, the bad ones reported.
		status, body := h.upload(admin, "/api/v1/import/customer", "customers.csv", file, map[string]string{"Accept-Language": "en"})
		if status != 202 {
			t.Fatalf("import: %d %s", status, body)
		}
		id := decodeJob(t, body).ID
		var j jobAnswer
		for j.Status != "done" && j.Status != "failed" {
			var raw json.RawMessage
			h.call(admin, "GET", "/api/v1/imports/"+id, "", map[string]string{"Accept-Language": "en"}, 200, &raw)
			j = decodeJob(t, raw)
		}
		if j.Status != "done" || j.Created != 1 || j.Failed != 2 || !j.Partial || j.Processed != 3 {
			t.Fatalf("finished job: %+v", j)
		}
		if customers() != before+1 {
			t.Fatalf("%d customers after the import, want %d", customers(), before+1)
		}
		// Another user cannot read the job.
		h.call(bob, "GET", "/api/v1/imports/"+id, "", nil, 404, nil)

		// Re-importing the good row changes nothing (raw body, format from the query).
		good := []byte("客户编码,客户名称,客户分组,信用额度\nC2,华南五金,零售客户,5000\n")
		status, body, _ = h.send(admin, "POST", "/api/v1/import/customer?format=csv&wait=true", good, nil)
		if j := decodeJob(t, body); status != 200 || j.Unchanged != 1 || j.Created+j.Updated != 0 {
			t.Fatalf("re-import: %d %s", status, body)
		}

		// Problems with the request or the file are RFC 7807 problems.
		var prob Problem
		status, body, hdr := h.send(admin, "POST", "/api/v1/import/customer?wait=true", []byte("颜色\nred\n"), map[string]string{"Accept-Language": "en"})
		if err := json.Unmarshal(body, &prob); err != nil || status != 422 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") ||
			len(prob.Errors) != 1 || prob.Errors[0].Message != "no field matches the column “颜色”" {
			t.Fatalf("bad header: %d %s", status, body)
		}
		h.call(admin, "POST", "/api/v1/import/customer?format=pdf", "x", nil, 400, nil)
		h.call(admin, "POST", "/api/v1/import/nothing?wait=true", "a\n1", nil, 404, nil)
		h.call(admin, "GET", "/api/v1/export/customer?filter=colour%20%3D%3D%201", "", nil, 400, nil)

		// Orders: sales may not see the cost of a line, so their export has
		// no such column; the manager's has it.
		order := `{"customer":"` + h.ids["C1"] + `","lines":[{"item":"` + h.ids["A"] + `","qty":"3"},{"item":"` + h.ids["A"] + `","qty":"1.5"}],"note":"急"}`
		h.call(alice, "POST", "/api/v1/records/sales_order", order, nil, 201, nil)
		h.call(bob, "POST", "/api/v1/records/sales_order", order, nil, 201, nil)
		status, csvAlice, hdr := h.send(alice, "GET", "/api/v1/export/sales_order?format=csv&lang=en", nil, nil)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export: %d %v %s", status, hdr, csvAlice)
		}
		text := strings.TrimPrefix(string(csvAlice), "\uFEFF")
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) != 3 || strings.Contains(text, "cost") || strings.Contains(text, "8.1") || !strings.Contains(lines[0], "Customer") || !strings.Contains(lines[1], "C1") {
			t.Fatalf("alice's export (only her order, two lines, no cost):\n%s", text)
		}
		status, xlsx, hdr := h.send(mia, "GET", "/api/v1/export/sales_order?format=xlsx&headers=names&sort=-number&filter="+url.QueryEscape("total > 10"), nil, nil)
		if status != 200 || !strings.Contains(hdr.Get("Content-Type"), "spreadsheetml") {
			t.Fatalf("xlsx export: %d %s", status, xlsx)
		}
		f, err := excelize.OpenReader(bytes.NewReader(xlsx))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows(f.GetSheetList()[0])
		f.Close()
		if err != nil || len(rows) != 5 || !strings.Contains(strings.Join(rows[0], ","), "lines.cost") || rows[1][0] != "SO-00002" {
			t.Fatalf("manager's export rows %v %v", rows, err)
		}
		// The manager's export re-imports unchanged.
		status, body, _ = h.send(mia, "POST", "/api/v1/import/sales_order?format=xlsx&wait=true", xlsx, nil)
		if j := decodeJob(t, body); status != 200 || j.Unchanged != 2 || j.Failed+j.Created+j.Updated != 0 {
			t.Fatalf("re-import of the export: %d %s", status, body)
		}
		// Alice's export re-imports unchanged too; with the cost column she
		// is refused before any row is read.
		status, body, _ = h.send(alice, "POST", "/api/v1/import/sales_order?wait=true", csvAlice, nil)
		if j := decodeJob(t, body); status != 200 || j.Unchanged != 1 || j.Failed != 0 {
			t.Fatalf("alice's re-import: %d %s", status, body)
		}
		withCost := []byte("number,customer,lines.item,lines.qty,lines.cost\nSO-00001,C1,A100,3,0.01\n")
		status, body, _ = h.send(alice, "POST", "/api/v1/import/sales_order?wait=true", withCost, map[string]string{"Accept-Language": "en"})
		if err := json.Unmarshal(body, &prob); err != nil || status != 422 || prob.Errors[0].Code != "hidden_column" || prob.Errors[0].Message != "you may not write the column “lines.cost”" {
			t.Fatalf("alice writing the cost: %d %s", status, body)
		}
	})
}
