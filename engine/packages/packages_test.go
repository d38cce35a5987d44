package packages

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/store/sqlite"
	"github.com/yerp/yerp/templates"
)

var ctx = context.Background()

const shopManifest = `package: shop
version: %s
label: {zh-CN: 商店, en: Shop}
requires: {core: ^1.0}
roles:
  clerk: {zh-CN: 店员, en: Clerk}
`

// shopV1 is a small package on top of core: orders with two states.
var shopV1 = map[string]string{
	"package.yaml": strings.Replace(shopManifest, "%s", "1.0.0", 1),
	"order.yaml": `entity: order
label: {zh-CN: 订单, en: Order}
fields:
  customer: {type: link, to: customer, label: {zh-CN: 客户, en: Customer}}
  memo: {type: text, label: {zh-CN: 备注, en: Memo}}
  qty: {type: int, label: {zh-CN: 数量, en: Qty}}
states:
  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}}
  done: {final: true, label: {zh-CN: 完成, en: Done}}
transitions:
  finish: {from: draft, to: done, label: {zh-CN: 完成, en: Finish}}
`,
}

// withFiles returns a copy of files with some replaced.
func withFiles(files map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

// catalogOf builds a catalog FS: the real core package plus the given shop files.
func catalogOf(t *testing.T, shop map[string]string) fs.FS {
	t.Helper()
	cat := fstest.MapFS{}
	core, err := readFiles(templates.FS, "core")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range core {
		cat["core/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	for name, text := range shop {
		cat["shop/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	return cat
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "yerp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newService(t *testing.T, st store.Store, cat fs.FS) *Service {
	t.Helper()
	s, err := New(ctx, st, cat)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInstallUpgradeRollbackUninstall(t *testing.T) {
	st := openStore(t)
	s := newService(t, st, catalogOf(t, shopV1))
	if len(s.Model().Packages) != 0 {
		t.Fatalf("a new store has packages: %v", s.Model().Packages)
	}

	// Install shop: core, which it requires, comes first.
	plans, err := s.Install(ctx, "shop", Options{By: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || plans[0].Package != "core" || plans[1].Package != "shop" || plans[1].To != "1.0.0" {
		t.Fatalf("install plans: %+v", plans)
	}
	if s.Model().Entities["order"] == nil || s.Model().Entities["customer"] == nil {
		t.Fatal("installed entities missing from the model")
	}
	if _, err := s.Install(ctx, "shop", Options{}); err == nil || !strings.Contains(err.Error(), "already installed") {
		t.Fatalf("second install: %v", err)
	}

	// Records exist in both states.
	for _, rec := range []store.Doc{
		{"state": "draft", "memo": "a", "qty": 1}, {"state": "draft", "memo": "b", "qty": 2}, {"state": "done", "memo": "c"},
	} {
		if _, err := st.Insert(ctx, "order", rec); err != nil {
			t.Fatal(err)
		}
	}

	// A version that drops the draft state would strand two records: refused.
	dropDraft := withFiles(shopV1, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "2.0.0", 1),
		"order.yaml": strings.Replace(strings.Replace(shopV1["order.yaml"], "  draft: {initial: true, label: {zh-CN: 草稿, en: Draft}}\n", "  open: {initial: true, label: {zh-CN: 打开, en: Open}}\n", 1),
			"from: draft", "from: open", 1),
	})
	plan, err := s.Publish(ctx, dropDraft, Options{})
	if !errors.Is(err, ErrBreaking) || plan == nil || !strings.Contains(plan.String(), "state order.draft is removed; 2 records are in it") {
		t.Fatalf("publish dropping a used state: %v\n%v", err, plan)
	}
	if v := s.Model().Packages["shop"].Version.String(); v != "1.0.0" {
		t.Fatalf("refused publish changed the active version to %s", v)
	}

	// A compatible version: memo renamed to note, a new optional field. Dry run first.
	v2 := withFiles(shopV1, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "1.1.0", 1),
		"order.yaml": strings.Replace(shopV1["order.yaml"], "  memo: {type: text, label: {zh-CN: 备注, en: Memo}}\n",
			"  note: {type: text, renamed_from: memo, label: {zh-CN: 备注, en: Note}}\n  urgent: {type: bool, label: {zh-CN: 加急, en: Urgent}}\n", 1),
	})
	plan, err = s.Publish(ctx, v2, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	text := plan.String()
	for _, want := range []string{"shop: 1.0.0 -> 1.1.0", "order.memo is renamed to note; the data of 3 records moves with it", "new field order.urgent", "file order.yaml: changed (+2 -1 lines)"} {
		if !strings.Contains(text, want) {
			t.Errorf("dry-run plan lacks %q:\n%s", want, text)
		}
	}
	if s.Model().Packages["shop"].Version.String() != "1.0.0" {
		t.Fatal("dry run changed the model")
	}
	if n, _ := st.Count(ctx, "order", store.Exists("note", true)); n != 0 {
		t.Fatal("dry run moved data")
	}
	if _, err := s.Publish(ctx, v2, Options{By: "admin"}); err != nil {
		t.Fatal(err)
	}
	if s.Model().Packages["shop"].Version.String() != "1.1.0" {
		t.Fatal("publish did not swap the model")
	}
	if n, _ := st.Count(ctx, "order", store.Exists("note", true)); n != 3 {
		t.Fatalf("renamed field: %d records have note, want 3", n)
	}
	if n, _ := st.Count(ctx, "order", store.Exists("memo", true)); n != 0 {
		t.Fatalf("renamed field: %d records still have memo", n)
	}

	// Type change without migrate: refused with the count of records holding a value.
	typeChange := withFiles(v2, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "1.2.0", 1),
		"order.yaml":   strings.Replace(v2["order.yaml"], "qty: {type: int,", "qty: {type: text,", 1),
	})
	plan, err = s.Publish(ctx, typeChange, Options{})
	if !errors.Is(err, ErrBreaking) || !strings.Contains(plan.String(), "order.qty changes from int to text without migrate:; 2 records hold a value") {
		t.Fatalf("type change without migrate: %v\n%v", err, plan)
	}
	// A new required field without a default: refused, three records would lack it.
	required := withFiles(v2, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "1.2.0", 1),
		"order.yaml":   strings.Replace(v2["order.yaml"], "fields:\n", "fields:\n  region: {type: text, required: true, label: {zh-CN: 区域, en: Region}}\n", 1),
	})
	plan, err = s.Publish(ctx, required, Options{})
	if !errors.Is(err, ErrBreaking) || !strings.Contains(plan.String(), "new required field order.region has no default; 3 existing records would lack it") {
		t.Fatalf("new required field: %v\n%v", err, plan)
	}
	// A template with errors is refused with its diagnostics.
	_, err = s.Publish(ctx, withFiles(v2, map[string]string{"order.yaml": strings.Replace(v2["order.yaml"], "from: draft", "from: drat", 1)}), Options{})
	var ce *CheckError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `shop/order.yaml:12:18:`) || !strings.Contains(err.Error(), `unknown state "drat" (did you mean "draft"?)`) {
		t.Fatalf("broken template: %v", err)
	}

	// The registry survives a restart.
	again := newService(t, st, catalogOf(t, shopV1))
	if again.Model().Packages["shop"].Version.String() != "1.1.0" || again.Model().Packages["core"] == nil {
		t.Fatalf("after restart: %v", again.Model().Packages)
	}

	// Roll back to 1.0.0: a new publish of the old files.
	if _, err := s.Rollback(ctx, "shop", "1.0.0", Options{}); err != nil {
		t.Fatal(err)
	}
	versions, err := s.Versions(ctx, "shop")
	if err != nil || len(versions) != 3 || versions[2].Version != "1.0.0" || !strings.Contains(versions[2].Note, "rollback to 1.0.0 (#1)") {
		t.Fatalf("versions after rollback: %+v, %v", versions, err)
	}
	if _, err := s.Rollback(ctx, "shop", "9.9.9", Options{}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("rollback to an unknown version: %v", err)
	}

	// Uninstall: core is required by shop; shop has records.
	if _, err := s.Uninstall(ctx, "core", false, Options{}); err == nil || !strings.Contains(err.Error(), "required by shop") {
		t.Fatalf("uninstall of a required package: %v", err)
	}
	rep, err := s.Uninstall(ctx, "shop", false, Options{})
	if !errors.Is(err, ErrInUse) || rep.Records["order"] != 3 || !strings.Contains(err.Error(), "order: 3") {
		t.Fatalf("uninstall with records: %v, %+v", err, rep)
	}
	rep, err = s.Uninstall(ctx, "shop", true, Options{})
	if err != nil || !rep.Archived {
		t.Fatalf("forced uninstall: %v, %+v", err, rep)
	}
	if n, _ := st.Count(ctx, "order", nil); n != 0 {
		t.Fatalf("%d order records left after a forced uninstall", n)
	}
	if n, _ := st.Count(ctx, archiveColl, store.Eq("entity", "order")); n != 3 {
		t.Fatalf("archive holds %d orders, want 3", n)
	}
	if s.Model().Packages["shop"] != nil || s.Model().Entities["order"] != nil {
		t.Fatal("uninstalled package still in the model")
	}
}

func TestExportImportBetweenInstallations(t *testing.T) {
	test := newService(t, openStore(t), catalogOf(t, shopV1))
	if _, err := test.Install(ctx, "shop", Options{}); err != nil {
		t.Fatal(err)
	}
	// The admin customises shop on the test installation.
	custom := withFiles(shopV1, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "1.0.1", 1),
		"order.yaml":   strings.Replace(shopV1["order.yaml"], "fields:\n", "fields:\n  channel: {type: select, options: [web, phone], label: {zh-CN: 渠道, en: Channel}}\n", 1),
	})
	if _, err := test.Publish(ctx, custom, Options{}); err != nil {
		t.Fatal(err)
	}
	bundle, err := test.Export(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}

	prod := newService(t, openStore(t), catalogOf(t, shopV1))
	// Without core, production cannot take shop: the error says why.
	_, err = prod.Import(ctx, bundle, Options{DryRun: true})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `requires package "core", which is not installed`) {
		t.Fatalf("import without core: %v", err)
	}
	if _, err := prod.Install(ctx, "shop", Options{}); err != nil {
		t.Fatal(err)
	}
	plan, err := prod.Import(ctx, bundle, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "shop: 1.0.0 -> 1.0.1") || !strings.Contains(plan.String(), "new field order.channel") {
		t.Fatalf("import dry run:\n%s", plan)
	}
	if prod.Model().Packages["shop"].Version.String() != "1.0.0" {
		t.Fatal("dry run changed production")
	}
	if _, err := prod.Import(ctx, bundle, Options{}); err != nil {
		t.Fatal(err)
	}
	if prod.Model().Packages["shop"].Version.String() != "1.0.1" {
		t.Fatal("import did not publish")
	}
	if _, err := prod.Import(ctx, []byte(`{"format":"zip"}`), Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("import of garbage: %v", err)
	}
}

func TestCatalogListsInstalledVersions(t *testing.T) {
	s := newService(t, openStore(t), catalogOf(t, shopV1))
	if _, err := s.Install(ctx, "core", Options{}); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = e.Version + "/" + e.Installed
	}
	if got["core"] != "1.0.0/1.0.0" || got["shop"] != "1.0.0/" {
		t.Fatalf("catalog: %v", got)
	}
	if _, err := s.Install(ctx, "nope", Options{}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("install of a package not in the catalog: %v", err)
	}
}

func TestTypeChangeMigratesRecords(t *testing.T) {
	st := openStore(t)
	s := newService(t, st, catalogOf(t, shopV1))
	if _, err := s.Install(ctx, "shop", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []store.Doc{{store.IDField: "o1", "state": "draft", "qty": 7}, {store.IDField: "o2", "state": "done", "qty": 12}, {store.IDField: "o3", "state": "draft"}} {
		if _, err := st.Insert(ctx, "order", rec); err != nil {
			t.Fatal(err)
		}
	}
	// qty becomes a text code: "Q-7"; the migrate expression reads the old int.
	v2 := withFiles(shopV1, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "2.0.0", 1),
		"order.yaml":   strings.Replace(shopV1["order.yaml"], "qty: {type: int,", `qty: {type: text, migrate: "'Q-' + string(qty * 1)",`, 1),
	})
	plan, err := s.Publish(ctx, v2, Options{DryRun: true})
	if err != nil || !strings.Contains(plan.String(), "order.qty changes from int to text; migrate converts 2 records") {
		t.Fatalf("dry run: %v\n%v", err, plan)
	}
	if d, _ := st.Get(ctx, "order", "o1"); d["qty"] == "Q-7" {
		t.Fatal("dry run converted data")
	}
	// An interrupted publish: the data was converted, the version not activated.
	active, _, err := s.active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := s.build(ctx, active, "shop", v2)
	if err != nil || next == nil {
		t.Fatal(err)
	}
	if err := s.applyMigrations(ctx, plan, next); err != nil {
		t.Fatal(err)
	}
	// Publishing again finishes it without converting anything twice.
	if _, err := s.Publish(ctx, v2, Options{}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]any{"o1": "Q-7", "o2": "Q-12", "o3": nil} {
		d, err := st.Get(ctx, "order", id)
		if err != nil || d["qty"] != want {
			t.Fatalf("%s after migrate: qty %#v (%v), want %#v", id, d["qty"], err, want)
		}
	}
	if s.Model().Packages["shop"].Version.String() != "2.0.0" {
		t.Fatal("the migrated version is not active")
	}
}

func TestPurgeRemovedField(t *testing.T) {
	st := openStore(t)
	s := newService(t, st, catalogOf(t, shopV1))
	if _, err := s.Install(ctx, "shop", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []store.Doc{{"state": "draft", "memo": "a"}, {"state": "draft", "memo": "b"}, {"state": "draft"}} {
		if _, err := st.Insert(ctx, "order", rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Purge(ctx, "order", "memo", Options{}); err == nil || !strings.Contains(err.Error(), "is a field of the active template") {
		t.Fatalf("purge of a live field: %v", err)
	}
	noMemo := withFiles(shopV1, map[string]string{
		"package.yaml": strings.Replace(shopManifest, "%s", "1.1.0", 1),
		"order.yaml":   strings.Replace(shopV1["order.yaml"], "  memo: {type: text, label: {zh-CN: 备注, en: Memo}}\n", "", 1),
	})
	plan, err := s.Publish(ctx, noMemo, Options{})
	if err != nil || !strings.Contains(plan.String(), "order.memo is removed from the template; the data of 2 records is kept (hidden) until purged") {
		t.Fatalf("publish without memo: %v\n%v", err, plan)
	}
	if n, _ := st.Count(ctx, "order", store.Exists("memo", true)); n != 2 {
		t.Fatalf("removing the field lost data: %d records keep memo", n)
	}
	if n, err := s.Purge(ctx, "order", "memo", Options{DryRun: true}); err != nil || n != 2 {
		t.Fatalf("purge dry run: %d, %v", n, err)
	}
	if n, err := s.Purge(ctx, "order", "memo", Options{}); err != nil || n != 2 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if n, _ := st.Count(ctx, "order", store.Exists("memo", true)); n != 0 {
		t.Fatalf("%d records keep memo after the purge", n)
	}
}
