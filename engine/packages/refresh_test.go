package packages

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/store/sqlite"
)

// Two services over two handles of one SQLite file stand for two yerp serve
// processes: what one installs, publishes or uninstalls, the other serves
// after Refresh, and a publish on the one that has not refreshed yet plans
// against the active model, not its stale one.
func TestRefreshSeesAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yerp.db")
	open := func() *Service {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return newService(t, st, catalogOf(t, shopV1))
	}
	a, b := open(), open()
	refresh := func(s *Service, want bool) {
		t.Helper()
		changed, err := s.Refresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if changed != want {
			t.Fatalf("Refresh changed = %v, want %v", changed, want)
		}
	}
	refresh(b, false) // nothing installed anywhere

	if _, err := a.Install(ctx, "shop", Options{By: "admin"}); err != nil {
		t.Fatal(err)
	}
	if b.Model().Entities["order"] != nil {
		t.Fatal("b saw the install before refreshing")
	}
	refresh(b, true)
	if b.Model().Entities["order"] == nil {
		t.Fatal("b does not serve the installed entity after Refresh")
	}
	refresh(b, false) // nothing new
	refresh(a, false) // a's own install is what it serves

	// b publishes 1.1.0 with a new field; a has not refreshed when it
	// publishes 1.2.0 on top: a's plan must start from 1.1.0.
	v11 := withFiles(shopV1, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "1.1.0", 1),
		"order.yaml":   strings.Replace(shopV1["order.yaml"], "  qty:", "  ref: {type: text, label: {zh-CN: 参考, en: Ref}}\n  qty:", 1),
	})
	if _, err := b.Publish(ctx, v11, Options{By: "b"}); err != nil {
		t.Fatal(err)
	}
	v12 := withFiles(v11, map[string]string{"package.yaml": strings.Replace(shopManifest, "%s", "1.2.0", 1)})
	plan, err := a.Publish(ctx, v12, Options{By: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.From != "1.1.0" {
		t.Fatalf("a's publish planned from %q, want 1.1.0 (b's publish)", plan.From)
	}
	if _, ok := a.Model().Entities["order"].Decl.Fields.Get("ref"); !ok {
		t.Fatal("a's model lacks the field b published")
	}
	refresh(b, true)
	if v := b.Model().Packages["shop"].Version.String(); v != "1.2.0" {
		t.Fatalf("b serves shop %s after Refresh, want 1.2.0", v)
	}

	// An uninstall on a is seen by b.
	if _, err := a.Uninstall(ctx, "shop", false, Options{}); err != nil {
		t.Fatal(err)
	}
	refresh(b, true)
	if b.Model().Entities["order"] != nil {
		t.Fatal("b still serves an uninstalled entity")
	}
}
