package template

import (
	"fmt"
	"os"
	"reflect"
	"strings"
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

// Expression bombs in a template are refused by the checker with their
// place (too large to compile) or bounded when they run: a let chain that
// doubles a text or squares a number at each step, ranges and nested maps,
// replace and join fail with an error long before memory or time runs out.
func TestExpressionBombs(t *testing.T) {
	env := reflect.TypeOf(struct{}{})
	double := func(first, op string) string {
		var b strings.Builder
		b.WriteString("let v0 = " + first + "; ")
		for i := 1; i <= 40; i++ { // 2^40 times the first value, unbounded
			fmt.Fprintf(&b, "let v%d = v%d %s v%d; ", i, i-1, op, i-1)
		}
		b.WriteString("len(string(v40)) > 0")
		return b.String()
	}
	for _, c := range []struct{ name, src, err string }{
		{"text doubled 40 times", double("'xxxxxxxxxxxxxxxx'", "+"), "longer than"},
		{"a decimal squared 40 times", double("dec('99999999999999999999.5')", "*"), "digits"},
		{"a decimal doubled by addition", double("dec('9"+strings.Repeat("9", 990)+"')", "+"), "digits"},
		{"repeat of repeat", "len(repeat(repeat('x', 1000000), 1000000)) > 0", "memory budget"},
		{"a range of 10^9", "len(1..1000000000) > 0", "memory budget"},
		{"nested maps, 10^9 elements", "len(map(1..1000, map(1..1000, map(1..1000, #)))) > 0", "memory budget"},
		{"replace that multiplies", "len(replace(repeat('x', 100000), 'x', repeat('y', 100))) > 0", "longer than"},
		{"join of a million copies", "let a = repeat('x', 100000); len(join(map(1..100, a), '')) > 0", "longer than"},
		{"join with a separator", "len(join(map(1..1000, 'x'), repeat('-', 100000))) > 0", "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := CompileIn(env, c.src)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			out, err := p.Run(struct{}{})
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("ran to %v, %v; want an error with %q", out, err, c.err)
			}
		})
	}
	// Text, join and replace within the bounds still work.
	p, err := CompileIn(env, "join(['a', 'b'], '-') + replace('x.y', '.', '+') + join(['c'])")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.Run(struct{}{}); err != nil || out != "a-bx+yc" {
		t.Fatalf("join and replace: %v %v", out, err)
	}

	// Very large expressions: the checker refuses them at their place in
	// the file, or they compile and run in time linear in their size.
	for _, src := range []string{
		strings.Repeat("1 + ", 20000) + "1",
		strings.Repeat("(", 20000) + "1" + strings.Repeat(")", 20000),
		strings.Repeat("-", 20000) + "1",
		"[" + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "] != nil",
	} {
		fsys := fstest.MapFS{}
		for name, text := range baseFiles() {
			fsys[name] = &fstest.MapFile{Data: []byte(text)}
		}
		fsys["shop/bomb.yaml"] = &fstest.MapFile{Data: []byte("entity: bomb\nlabel: {zh-CN: 炸弹, en: Bomb}\nfields:\n  n:\n    type: int\n    label: {zh-CN: 数, en: N}\n    compute: \"" + src + "\"\n")}
		model, ds := CheckDir(fsys, ".")
		if model == nil {
			found := false
			for _, d := range ds {
				found = found || (d.File == "shop/bomb.yaml" && d.Pos.Line == 7 && d.Pos.Col >= 1)
			}
			if !found {
				t.Fatalf("%.20s... refused without a diagnostic at shop/bomb.yaml:7: %s", src, ds)
			}
			continue
		}
		p, err := CompileIn(env, src)
		if err != nil {
			t.Fatalf("%.20s... accepted by the checker, not by CompileIn: %v", src, err)
		}
		if _, err := p.Run(struct{}{}); err != nil {
			t.Logf("%.20s... runs to an error: %v", src, err)
		}
	}
}
