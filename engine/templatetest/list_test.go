package templatetest

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/templates"
)

// list: expectations count what the step's user can list, and a link input
// may name its record by code.
var calls = fstest.MapFS{
	"calls/package.yaml": {Data: []byte("package: calls\nversion: 1.0.0\nlabel: {zh-CN: 拜访, en: Calls}\nrequires: {core: ^1.0}\n")},
	"calls/call.yaml": {Data: []byte(`entity: call
label: {zh-CN: 拜访, en: Call}
number: "CL-{seq:3}"
fields:
  customer: {type: link, to: customer, label: {zh-CN: 客户, en: Customer}}
  result: {type: select, options: [met, away], label: {zh-CN: 结果, en: Result}}
states:
  open: {initial: true, label: {zh-CN: 待拜访, en: Open}, editable_by: [field_staff]}
  done: {final: true, label: {zh-CN: 已拜访, en: Done}}
transitions:
  log:
    from: open
    to: done
    roles: [field_staff]
    label: {zh-CN: 登记, en: Log}
    input:
      customer: {type: link, to: customer, required: true, label: {zh-CN: 客户, en: Customer}}
    effects:
      - set: {values: {customer: input.customer, result: "'met'"}}
access:
  field_staff: {read: "owner == user.id", create: true, update: "owner == user.id"}
`)},
	"calls/tests/right.yaml": {Data: []byte(`name: right counts
users: {fei: [field_staff], gao: [field_staff]}
fixtures:
  - {entity: customer, values: {code: C1, name: 华东百货}}
steps:
  - {as: fei, create: call}
  - {as: fei, transition: log, input: {customer: C1}, expect: {state: done, result: met}}
  - {as: fei, create: call}
  - {as: gao, create: call}
  - as: fei
    on: call
    expect_error: not_found
  - as: gao
    expect:
      list:
        - {entity: call, filter: "", count: 1}
        - {entity: call, filter: "result == 'met'", count: 0}
  - as: fei
    on: customer
    expect:
      list:
        - {entity: call, filter: "", count: 2}
        - {entity: call, filter: "result == 'met'", count: 1}
        - {entity: customer, filter: "code == 'C1'", count: 1}
`)},
	"calls/tests/wrong.yaml": {Data: []byte(`name: wrong counts
users: {fei: [field_staff]}
fixtures:
  - {entity: customer, values: {code: C1, name: 华东百货}}
steps:
  - {as: fei, create: call}
  - as: fei
    transition: log
    input: {customer: C9}
  - as: fei
    expect:
      list:
        - {entity: call, filter: "state == 'open'", count: 2}
        - {entity: call, filter: "nosuch == 1", count: 0}
`)},
}

func TestRunnerListAndLinkInput(t *testing.T) {
	res, err := RunPackage(context.Background(), calls, "calls", templates.FS, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	if !res[0].Passed() {
		t.Fatalf("right expectations failed:\n%s", strings.Join(res[0].Failures, "\n"))
	}
	got := strings.Join(res[1].Failures, "\n")
	for _, want := range []string{
		`step 2 (fei takes log): input customer: no customer with id, code or number "C9"`,
		`step 3 (fei checks): list call [state == 'open']: want 2 records, got 1`,
		`list call [nosuch == 1]: `,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("wrong expectations: want %q in:\n%s", want, got)
		}
	}
}
