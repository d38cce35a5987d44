package template

import (
	"os"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes as an entity file (next to a valid manifest
// and entity) through loading and checking: whatever the bytes, the result is
// diagnostics, never a panic, and a model only when there is no error.
func FuzzLoad(f *testing.F) {
	for _, text := range baseFiles() {
		f.Add([]byte(text))
	}
	for _, name := range []string{"customer", "item", "warehouse", "company", "supplier", "item_category"} {
		if data, err := os.ReadFile("../../templates/core/" + name + ".yaml"); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("entity: x\nlabel: {en: X}\nfields: {a: {type: text, compute: \"a +\"}}\n"))
	f.Add([]byte("entity: x\nfields:\n  a: &anchor {type: int}\n  b: *anchor\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files := baseFiles()
		fsys := fstest.MapFS{}
		for name, text := range files {
			fsys[name] = &fstest.MapFile{Data: []byte(text)}
		}
		fsys["shop/fuzzed.yaml"] = &fstest.MapFile{Data: data}
		model, ds := CheckDir(fsys, ".")
		if (model == nil) != ds.HasErrors() {
			t.Fatalf("model %v with diagnostics:\n%s", model != nil, ds)
		}
		for _, d := range ds {
			if d.File == "" || d.Pos.Line < 1 || d.Pos.Col < 1 || d.Message == "" {
				t.Fatalf("diagnostic without a place or message: %#v", d)
			}
		}
	})
}

// BenchmarkCheckCatalog loads and checks the whole built-in catalog, as the
// server does at start-up and yerp check does.
func BenchmarkCheckCatalog(b *testing.B) {
	fsys := os.DirFS("../..")
	for b.Loop() {
		if model, ds := CheckDir(fsys, "templates"); model == nil {
			b.Fatal(ds)
		}
	}
}
