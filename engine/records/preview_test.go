package records

import (
	"strings"
	"testing"
)

// An engine over a candidate model answers form access with the
// candidate's rules; the active engine still runs the published ones.
func TestWithModelPreviewsAnUnpublishedModel(t *testing.T) {
	f := setup(t)
	// The next version of sales_order has a new read-only field.
	files := map[string]string{"package.yaml": salesPackage, "delivery_note.yaml": deliveryNote,
		"sales_order.yaml": strings.Replace(salesOrder, "fields:\n", "fields:\n  checked_by: {type: text, readonly: true, label: {zh-CN: 复核人, en: Checked by}}\n", 1)}
	c, err := f.svc.Candidate(ctx, "sales", files)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model == nil {
		t.Fatalf("candidate has errors:\n%s", c.Diagnostics)
	}
	preview := f.eng.WithModel(c.Model)
	fa, _, err := preview.FormAccess(ctx, f.alice, "sales_order", "")
	if err != nil {
		t.Fatal(err)
	}
	if !fa.Allowed || !fa.Readonly["checked_by"] {
		t.Fatalf("preview form access: allowed %v, readonly %v; want the new field read-only", fa.Allowed, fa.Readonly)
	}
	fa, _, err = f.eng.FormAccess(ctx, f.alice, "sales_order", "")
	if err != nil {
		t.Fatal(err)
	}
	if fa.Readonly["checked_by"] {
		t.Fatal("the active engine knows the unpublished field")
	}
	if _, ok := f.svc.Model().Entities["sales_order"].Decl.Fields.Get("checked_by"); ok {
		t.Fatal("the candidate was published")
	}
}
