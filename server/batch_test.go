package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/packages"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/templates"
)

// A test package for field staff syncing from their phones: the customer
// stocktake visit (客户盘点), filled offline and submitted.
var syncPackage = map[string]string{
	"package.yaml": "package: sync\nversion: 1.0.0\nlabel: {zh-CN: 外勤同步, en: Field sync}\nrequires: {core: ^1.0}\n",
	"visit.yaml": `entity: visit
label: {zh-CN: 客户盘点, en: Customer stocktake}
number: "CV-{seq:4}"
fields:
  customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
  note: {type: text, label: {zh-CN: 备注, en: Note}}
  lines:
    type: table
    label: {zh-CN: 明细, en: Lines}
    fields:
      item: {type: link, to: item, required: true, label: {zh-CN: 商品, en: Item}}
      counted: {type: quantity, required: true, min: 0, label: {zh-CN: 实盘数量, en: Counted}}
states:
  open: {initial: true, label: {zh-CN: 盘点中, en: Open}, editable_by: [field_staff]}
  submitted: {final: true, label: {zh-CN: 已提交, en: Submitted}}
transitions:
  submit: {from: open, to: submitted, roles: [field_staff], label: {zh-CN: 提交, en: Submit}}
access:
  field_staff: {read: "owner == user.id", create: true, update: "owner == user.id"}
`,
}

// syncHarness is a server with core and the sync package, and fay, who
// works in the field.
type syncHarness struct {
	*harness
	fay *client
}

func startSync(t *testing.T, st store.Store) *syncHarness {
	t.Helper()
	cat := fstest.MapFS{}
	for name, text := range syncPackage {
		cat["sync/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	err := fs.WalkDir(templates.FS, "core", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(templates.FS, p)
		cat[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := packages.New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Install(ctx, "sync", packages.Options{}); err != nil {
		t.Fatal(err)
	}
	users, err := auth.New(st, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.EnsureAdmin(ctx, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := users.CreateUser(ctx, auth.NewUser{Username: "fay", Name: "Fay", Roles: []string{"field_staff"}, Password: "fay-password-1"}); err != nil {
		t.Fatal(err)
	}
	eng := records.New(st, svc.Model, records.Options{Users: users, ModelAt: svc.ModelAt})
	sh := &syncHarness{harness: &harness{t: t, st: st, ids: map[string]string{},
		base: serve(t, New(Deps{Store: st, Auth: users, Records: eng, Packages: svc, Info: Info{Version: "test"}}))}}
	admin := sh.login("admin", "admin-password-1")
	for _, c := range []struct{ entity, key, body string }{
		{"customer", "C1", `{"code":"C1","name":"华东贸易"}`},
		{"item", "A100", `{"code":"A100","name":"Widget","unit":"pcs"}`},
	} {
		var rec map[string]any
		sh.call(admin, "POST", "/api/v1/records/"+c.entity, c.body, nil, 201, &rec)
		sh.ids[c.key] = rec["id"].(string)
	}
	sh.fay = sh.login("fay", "fay-password-1")
	return sh
}

// visit is the JSON of a visit's values counting qty of A100 at C1.
func (sh *syncHarness) visit(qty string) string {
	return fmt.Sprintf(`{"customer":%q,"lines":[{"item":%q,"counted":%q}]}`, sh.ids["C1"], sh.ids["A100"], qty)
}

func (sh *syncHarness) visits() int64 {
	sh.t.Helper()
	n, err := sh.st.Count(ctx, "visit", nil)
	if err != nil {
		sh.t.Fatal(err)
	}
	return n
}

// batchAnswer is the answer of POST /api/v1/batch.
type batchAnswer struct {
	Results []struct {
		Key      string         `json:"key"`
		Status   int            `json:"status"`
		Record   map[string]any `json:"record"`
		Problem  *Problem       `json:"problem"`
		Replayed bool           `json:"replayed"`
	} `json:"results"`
}

// post sends a request from any goroutine (no t.Fatal) and returns the status,
// headers and body.
func (sh *syncHarness) post(c *client, path, body string, hdr map[string]string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest("POST", sh.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// withoutReplayed is the JSON of a batch answer without the replayed flags.
func withoutReplayed(t *testing.T, data []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, r := range m["results"].([]any) {
		delete(r.(map[string]any), "replayed")
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// A phone syncs a batch: a visit, its submit (by reference), a visit with
// mistakes and the submit of that one. The mistakes are reported per field
// in the caller's language, the rest is applied; sending the batch again
// (the answer was lost) gives the same answer and writes nothing.
func TestBatchAPI(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startSync(t, st)
		body := `{"operations":[
			{"key":"v1","op":"create","entity":"visit","values":` + sh.visit("12") + `},
			{"key":"v1-submit","op":"transition","entity":"visit","id":"$0","transition":"submit"},
			{"key":"v2","op":"create","entity":"visit","values":{"lines":[{"item":"` + sh.ids["A100"] + `","counted":"-3"}]}},
			{"key":"v2-submit","op":"transition","entity":"visit","ref":"v2","transition":"submit"},
			{"key":"v3","op":"update","entity":"visit","id":"no-such-visit","version":1,"values":{"note":"x"}}
		]}`
		status, _, first, err := sh.post(sh.fay, "/api/v1/batch", body, nil)
		if err != nil || status != 200 {
			t.Fatalf("batch: %d %v %s", status, err, first)
		}
		var ans batchAnswer
		if err := json.Unmarshal(first, &ans); err != nil {
			t.Fatal(err)
		}
		r := ans.Results
		if len(r) != 5 {
			t.Fatalf("%d results: %s", len(r), first)
		}
		for i, want := range []int{201, 200, 422, 422, 404} {
			if r[i].Status != want || r[i].Replayed {
				t.Fatalf("operation %d: status %d, want %d: %s", i, r[i].Status, want, first)
			}
		}
		if r[1].Record["id"] != r[0].Record["id"] || r[1].Record["state"] != "submitted" || fmt.Sprint(r[1].Record["version"]) != "2" {
			t.Fatalf("submit of the new visit: %v", r[1].Record)
		}
		fields := map[string]string{}
		for _, e := range r[2].Problem.Errors {
			fields[e.Field] = e.Message
		}
		if fields["customer"] != "必填" || fields["lines[0].counted"] != "不能小于 0" || len(fields) != 2 {
			t.Fatalf("mistakes of the second visit (zh-CN): %+v", r[2].Problem)
		}
		if e := r[3].Problem.Errors; len(e) != 1 || e[0].Field != "ref" || e[0].Code != "ref_failed" || e[0].Message != "引用的操作 v2 未成功" {
			t.Fatalf("submit of the failed visit: %+v", r[3].Problem)
		}
		if sh.visits() != 1 {
			t.Fatalf("%d visits", sh.visits())
		}

		// The answer was lost: the same batch again.
		status, _, again, err := sh.post(sh.fay, "/api/v1/batch", body, nil)
		if err != nil || status != 200 {
			t.Fatalf("replay: %d %v %s", status, err, again)
		}
		if a, b := withoutReplayed(t, first), withoutReplayed(t, again); a != b {
			t.Fatalf("the replay answers differently:\n%s\n%s", a, b)
		}
		if err := json.Unmarshal(again, &ans); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, true, true, false, true} { // op 3 never reached a key: checked again
			if ans.Results[i].Replayed != want {
				t.Fatalf("operation %d replayed %v: %s", i, ans.Results[i].Replayed, again)
			}
		}
		if sh.visits() != 1 {
			t.Fatalf("the replay created visits: %d", sh.visits())
		}

		// Replayed in English: the stored codes are rendered in the
		// caller's language.
		status, _, en, err := sh.post(sh.fay, "/api/v1/batch", body, map[string]string{"Accept-Language": "en"})
		if err != nil || status != 200 {
			t.Fatalf("replay in English: %d %v", status, err)
		}
		if err := json.Unmarshal(en, &ans); err != nil {
			t.Fatal(err)
		}
		fields = map[string]string{}
		for _, e := range ans.Results[2].Problem.Errors {
			fields[e.Field] = e.Message
		}
		if fields["customer"] != "is required" || fields["lines[0].counted"] != "must be at least 0" || ans.Results[2].Problem.Title != "Some fields need attention" {
			t.Fatalf("mistakes in English: %+v", ans.Results[2].Problem)
		}

		// The same key with other content: 422 for that operation only.
		status, _, data, err := sh.post(sh.fay, "/api/v1/batch", `{"operations":[
			{"key":"v1","op":"create","entity":"visit","values":`+sh.visit("13")+`},
			{"key":"v4","op":"create","entity":"visit","values":`+sh.visit("4")+`}]}`, map[string]string{"Accept-Language": "en"})
		if err != nil || status != 200 {
			t.Fatalf("reused key: %d %v", status, err)
		}
		if err := json.Unmarshal(data, &ans); err != nil {
			t.Fatal(err)
		}
		if p := ans.Results[0].Problem; ans.Results[0].Status != 422 || p == nil || len(p.Errors) != 1 || p.Errors[0].Code != "key_reused" ||
			p.Errors[0].Message != "was already used for a request with other content" {
			t.Fatalf("reused key: %s", data)
		}
		if ans.Results[1].Status != 201 || sh.visits() != 2 {
			t.Fatalf("the other operation: %s, %d visits", data, sh.visits())
		}
	})
}

// The shape of a batch is checked as a whole.
func TestBatchAPIRefusesBadBatches(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startSync(t, st)
		ops := make([]string, records.MaxBatch+1)
		for i := range ops {
			ops[i] = fmt.Sprintf(`{"key":"k%d","op":"create","entity":"visit","values":%s}`, i, sh.visit("1"))
		}
		var prob Problem
		sh.call(sh.fay, "POST", "/api/v1/batch", `{"operations":[`+strings.Join(ops, ",")+`]}`, nil, 413, &prob)
		if len(prob.Errors) != 1 || prob.Errors[0].Code != "too_many_operations" || prob.Errors[0].Message != "一批最多 200 个操作" {
			t.Fatalf("too many: %+v", prob)
		}
		for _, c := range []struct{ body, code string }{
			{`{"operations":{"key":"a"}}`, "not_a_list"},
			{`{}`, "required"},
			{`{"operations":[1]}`, "not_an_object"},
			{`{"operations":[],"atomic":true}`, "unknown_field"},
		} {
			prob = Problem{}
			sh.call(sh.fay, "POST", "/api/v1/batch", c.body, nil, 400, &prob)
			if len(prob.Errors) != 1 || prob.Errors[0].Code != c.code {
				t.Fatalf("%s: %+v", c.body, prob)
			}
		}
		if sh.visits() != 0 {
			t.Fatalf("%d visits", sh.visits())
		}
		var ans batchAnswer
		sh.call(sh.fay, "POST", "/api/v1/batch", `{"operations":[
			{"key":"a","op":"delete","entity":"visit"},
			{"key":"b","op":"create","entity":"no_such_entity","values":{}},
			{"key":"c","op":"update","entity":"visit","id":"$0"},
			{"key":"d","op":"update","entity":"visit","id":"$7"},
			{"key":"e","op":"update","entity":"visit","id":"x","version":"two","values":[]}]}`, map[string]string{"Accept-Language": "en"}, 200, &ans)
		want := []struct {
			status int
			codes  string
		}{{422, "op:unknown_op"}, {404, ""}, {422, "id:ref_failed"}, {422, "id:bad_ref"}, {422, "values:not_an_object,version:not_a_number"}}
		for i, w := range want {
			r := ans.Results[i]
			var got []string
			for _, e := range r.Problem.Errors {
				got = append(got, e.Field+":"+e.Code)
				if e.Message == e.Code || e.Message == "" {
					t.Errorf("operation %d: %s has no message", i, e.Code)
				}
			}
			if r.Status != w.status || strings.Join(got, ",") != w.codes {
				t.Errorf("operation %d: %d %v, want %d %s", i, r.Status, got, w.status, w.codes)
			}
		}
	})
}

// Idempotency-Key on a single create and a transition: a retry gets the
// first answer (marked Idempotent-Replayed) and writes nothing; the keys are
// the ones of the batches.
func TestIdempotencyKeyHeader(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startSync(t, st)
		key := map[string]string{"Idempotency-Key": "phone-7:visit-1"}
		// The first answer is lost on the way.
		if status, _, _, err := sh.post(sh.fay, "/api/v1/records/visit", sh.visit("5"), key); err != nil || status != 201 {
			t.Fatalf("create: %d %v", status, err)
		}
		var rec map[string]any
		hdr := sh.call(sh.fay, "POST", "/api/v1/records/visit", sh.visit("5"), key, 201, &rec)
		if hdr.Get("Idempotent-Replayed") != "true" || hdr.Get("ETag") != `"1"` || hdr.Get("Location") != "/api/v1/records/visit/"+rec["id"].(string) {
			t.Fatalf("replayed create: %v %v", hdr, rec)
		}
		if sh.visits() != 1 {
			t.Fatalf("%d visits", sh.visits())
		}
		var prob Problem
		sh.call(sh.fay, "POST", "/api/v1/records/visit", sh.visit("6"), key, 422, &prob)
		if len(prob.Errors) != 1 || prob.Errors[0].Code != "key_reused" || prob.Errors[0].Message != "此幂等键已用于内容不同的请求" {
			t.Fatalf("reused key: %+v", prob)
		}
		// The same key in a batch, with the same content: the same record.
		var ans batchAnswer
		sh.call(sh.fay, "POST", "/api/v1/batch", `{"operations":[{"key":"phone-7:visit-1","op":"create","entity":"visit","values":`+sh.visit("5")+`}]}`, nil, 200, &ans)
		if r := ans.Results[0]; r.Status != 201 || !r.Replayed || r.Record["id"] != rec["id"] {
			t.Fatalf("the key in a batch: %+v", r)
		}

		path := "/api/v1/records/visit/" + rec["id"].(string) + "/transitions/submit"
		submit := map[string]string{"Idempotency-Key": "phone-7:submit-1", "If-Match": `"1"`}
		var out struct{ Record map[string]any }
		sh.call(sh.fay, "POST", path, "", submit, 200, &out)
		hdr = sh.call(sh.fay, "POST", path, "", submit, 200, &out)
		if hdr.Get("Idempotent-Replayed") != "true" || hdr.Get("ETag") != `"2"` || out.Record["state"] != "submitted" {
			t.Fatalf("replayed submit: %v %v", hdr, out)
		}
		// Without a key the same request is a conflict: the version moved on.
		sh.call(sh.fay, "POST", path, "", map[string]string{"If-Match": `"1"`}, 409, nil)
	})
}

// Twenty copies of one request at once, through both routes: exactly one
// visit is created, and every answer names it (or asks to retry).
func TestIdempotencyConcurrentReplays(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		sh := startSync(t, st)
		values := sh.visit("9")
		type answer struct {
			status int
			id     string
			err    error
		}
		answers := make([]answer, 20)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var a answer
				var data []byte
				if i%2 == 0 {
					a.status, _, data, a.err = sh.post(sh.fay, "/api/v1/records/visit", values, map[string]string{"Idempotency-Key": "sync-42"})
					var rec map[string]any
					if a.err == nil && a.status == 201 {
						a.err = json.Unmarshal(data, &rec)
						a.id, _ = rec["id"].(string)
					}
				} else {
					a.status, _, data, a.err = sh.post(sh.fay, "/api/v1/batch",
						`{"operations":[{"key":"sync-42","op":"create","entity":"visit","values":`+values+`}]}`, nil)
					var ans batchAnswer
					if a.err == nil && a.status == 200 {
						if a.err = json.Unmarshal(data, &ans); a.err == nil {
							a.status = ans.Results[0].Status
							a.id, _ = ans.Results[0].Record["id"].(string)
						}
					}
				}
				// A copy that waited longer than the engine waits for the
				// one applying the key is told to retry (409
				// key_in_progress); anything else is wrong.
				if a.err == nil && a.status != 201 && !(a.status == 409 && bytes.Contains(data, []byte(`"key_in_progress"`))) {
					a.err = fmt.Errorf("status %d: %s", a.status, bytes.TrimSpace(data))
				}
				answers[i] = a
			}()
		}
		wg.Wait()
		var rec map[string]any
		sh.call(sh.fay, "POST", "/api/v1/records/visit", values, map[string]string{"Idempotency-Key": "sync-42"}, 201, &rec)
		for i, a := range answers {
			if a.err != nil {
				t.Fatalf("request %d: %v", i, a.err)
			}
			if a.status == 201 && a.id != rec["id"] {
				t.Fatalf("request %d got visit %q, the key holds %q", i, a.id, rec["id"])
			}
		}
		if sh.visits() != 1 {
			t.Fatalf("%d visits", sh.visits())
		}
	})
}

// Every code the batch answers with has a message in both languages.
func TestBatchCodesHaveMessages(t *testing.T) {
	for _, c := range []string{"key_reused", "key_in_progress", "unknown_op", "bad_ref", "ref_failed", "too_many_operations"} {
		pair, ok := messages[c]
		if !ok || pair[0] == "" || pair[1] == "" {
			t.Errorf("code %s has no message in both languages", c)
		}
	}
}
