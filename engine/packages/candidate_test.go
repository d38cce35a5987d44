package packages

import (
	"errors"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/template"
)

func TestCandidateChecksWithoutPublishing(t *testing.T) {
	st := openStore(t)
	s := newService(t, st, catalogOf(t, shopV1))
	if _, err := s.Install(ctx, "shop", Options{By: "admin"}); err != nil {
		t.Fatal(err)
	}
	before := s.Model()

	withNote := withFiles(shopV1, map[string]string{
		"order.yaml": strings.Replace(shopV1["order.yaml"], "  qty: {type: int",
			"  note: {type: longtext, label: {zh-CN: 说明, en: Note}}\n  qty: {type: int", 1),
	})
	c, err := s.Candidate(ctx, "shop", withNote)
	if err != nil {
		t.Fatal(err)
	}
	if c.Diagnostics.HasErrors() || c.Model == nil {
		t.Fatalf("a valid candidate has errors:\n%s", c.Diagnostics)
	}
	if _, ok := c.Model.Entities["order"].Decl.Fields.Get("note"); !ok {
		t.Fatal("the candidate model lacks the new field")
	}
	if c.Model.Entities["customer"] == nil {
		t.Fatal("the candidate model lacks the other installed packages")
	}
	if s.Model() != before {
		t.Fatal("checking a candidate swapped the active model")
	}
	if _, ok := s.Model().Entities["order"].Decl.Fields.Get("note"); ok {
		t.Fatal("the active model has the candidate's field")
	}
	versions, err := s.Versions(ctx, "shop")
	if err != nil || len(versions) != 1 {
		t.Fatalf("versions after a candidate check: %d, %v", len(versions), err)
	}

	cases := []struct {
		name      string
		files     map[string]string
		file      string
		line      int
		inMessage string
	}{
		{"an unknown field type is an error at its line", withFiles(shopV1, map[string]string{
			"order.yaml": strings.Replace(shopV1["order.yaml"], "qty: {type: int", "qty: {type: integer", 1)}),
			"order.yaml", 6, "integer"},
		{"a link to an unknown entity is an error at its line", withFiles(shopV1, map[string]string{
			"order.yaml": strings.Replace(shopV1["order.yaml"], "to: customer", "to: customers", 1)}),
			"order.yaml", 4, "customers"},
		{"renaming the package is refused at package.yaml", withFiles(shopV1, map[string]string{
			"package.yaml": strings.Replace(shopV1["package.yaml"], "package: shop", "package: shop2", 1)}),
			"package.yaml", 1, "shop2"},
		{"a version that is not semantic is refused at its line", withFiles(shopV1, map[string]string{
			"package.yaml": strings.Replace(shopV1["package.yaml"], "version: 1.0.0", "version: one", 1)}),
			"package.yaml", 2, "one"},
		{"broken YAML is an error, not a failure", withFiles(shopV1, map[string]string{
			"order.yaml": shopV1["order.yaml"] + "  bad: [unclosed\n"}),
			"order.yaml", 0, "YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Candidate(ctx, "shop", tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if c.Model != nil || !c.Diagnostics.HasErrors() {
				t.Fatalf("a broken candidate is accepted:\n%s", c.Diagnostics)
			}
			var found *template.Diagnostic
			for i, d := range c.Diagnostics {
				if d.Severity == template.Error && d.File == tc.file && strings.Contains(d.Message, tc.inMessage) {
					found = &c.Diagnostics[i]
				}
			}
			if found == nil {
				t.Fatalf("no error in %s mentioning %q:\n%s", tc.file, tc.inMessage, c.Diagnostics)
			}
			if tc.line > 0 && found.Pos.Line != tc.line {
				t.Fatalf("error at line %d, want %d: %s", found.Pos.Line, tc.line, found)
			}
		})
	}
	if s.Model() != before {
		t.Fatal("broken candidates swapped the active model")
	}

	act, err := s.Active(ctx, "shop")
	if err != nil || act.N != 1 || act.Files["order.yaml"] != shopV1["order.yaml"] {
		t.Fatalf("active version: %+v, %v", act, err)
	}
	if _, err := s.Active(ctx, "nothing"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("active version of a package not installed: %v", err)
	}
}
