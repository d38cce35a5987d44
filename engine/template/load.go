package template

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/yerp/yerp/schemas"
)

// Source is one package as loaded: its declarations and where they came from.
type Source struct {
	Dir      string // the package folder as given (used in diagnostics)
	Package  *PackageDecl
	Entities []*EntityFile
	Reports  *ReportsFile // the package's reports.yaml, nil without one
	Files    fs.FS        // the package folder, for prints
	// Broken names the entities whose files could not be loaded (already
	// reported), so that links to them are not reported again.
	Broken []string
}

// EntityFile is one decoded entity file.
type EntityFile struct {
	File string // path for diagnostics: Dir/name.yaml
	Decl *EntityDecl
}

var (
	schemaOnce            sync.Once
	packageSchema, entSch *jsonschema.Schema
	schemaErr             error
	englishPrinter        = message.NewPrinter(language.English)
)

func compiledSchemas() (*jsonschema.Schema, *jsonschema.Schema, error) {
	schemaOnce.Do(func() { packageSchema, entSch, schemaErr = schemas.Compile() })
	return packageSchema, entSch, schemaErr
}

// LoadPackage reads the package in folder dir of fsys: package.yaml, the
// reports in reports.yaml, and every other *.yaml at its top level as an
// entity file. Files that fail YAML parsing
// or the JSON Schema are reported and left out; the rest are decoded. The
// returned Source is nil only when package.yaml itself is unusable.
func LoadPackage(fsys fs.FS, dir string) (*Source, Diagnostics) {
	var ds Diagnostics
	pkgSchema, entSchema, err := compiledSchemas()
	if err != nil {
		ds = append(ds, Diagnostic{File: "schemas/template.schema.json", Pos: Pos{1, 1}, Message: "the template schema does not compile: " + err.Error()})
		return nil, ds
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		ds = append(ds, Diagnostic{File: dir, Pos: Pos{1, 1}, Message: err.Error()})
		return nil, ds
	}
	src := &Source{Dir: dir, Files: sub}
	manifest := path.Join(dir, "package.yaml")
	data, err := fs.ReadFile(sub, "package.yaml")
	if err != nil {
		ds = append(ds, Diagnostic{File: manifest, Pos: Pos{1, 1}, Message: "cannot read package.yaml: " + errorText(err), Hint: "a package is a folder with a package.yaml manifest"})
		return nil, ds
	}
	var pkg PackageDecl
	if !loadFile(manifest, data, pkgSchema, reflect.TypeOf(pkg), &pkg, &ds) {
		return nil, ds
	}
	src.Package = &pkg
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		ds = append(ds, Diagnostic{File: dir, Pos: Pos{1, 1}, Message: err.Error()})
		return src, ds
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "package.yaml" && e.Name() != ReportsFileName {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if data, err := fs.ReadFile(sub, ReportsFileName); err == nil {
		file := path.Join(dir, ReportsFileName)
		var rep ReportsDecl
		if repSchema, err := schemas.Reports(); err != nil {
			ds = append(ds, Diagnostic{File: "schemas/template.schema.json", Pos: Pos{1, 1}, Message: "the reports schema does not compile: " + err.Error()})
		} else if loadFile(file, data, repSchema, reflect.TypeOf(rep), &rep, &ds) {
			src.Reports = &ReportsFile{File: file, Decl: &rep}
		}
	}
	for _, name := range names {
		file := path.Join(dir, name)
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			ds = append(ds, Diagnostic{File: file, Pos: Pos{1, 1}, Message: errorText(err)})
			continue
		}
		var ent EntityDecl
		if loadFile(file, data, entSchema, reflect.TypeOf(ent), &ent, &ds) {
			src.Entities = append(src.Entities, &EntityFile{File: file, Decl: &ent})
		} else {
			src.Broken = append(src.Broken, strings.TrimSuffix(name, ".yaml"), entityName(data))
		}
	}
	return src, ds
}

func errorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// loadFile parses YAML, validates it against the schema and decodes it into
// out. It reports problems into ds and returns whether out is usable.
func loadFile(file string, data []byte, schema *jsonschema.Schema, declType reflect.Type, out any, ds *Diagnostics) bool {
	d := diags{file: file, out: ds}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p, msg := yamlErrorPos(err)
		d.errorf(p, "check the indentation and quoting around this line", "YAML: %s", msg)
		return false
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errorf(Pos{1, 1}, "", "the file is empty")
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		d.errorf(Pos{root.Line, root.Column}, "a template file is a mapping of keys to values", "want a mapping at the top of the file")
		return false
	}
	inst, err := toInstance(root)
	if err != nil {
		d.errorf(Pos{root.Line, root.Column}, "", "%v", err)
		return false
	}
	if err := schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			d.errorf(Pos{1, 1}, "", "validation: %v", err)
			return false
		}
		for _, leaf := range focus(leaves(ve)) {
			reportSchemaError(d, root, declType, leaf)
		}
		return false
	}
	if err := root.Decode(out); err != nil {
		d.errorf(Pos{root.Line, root.Column}, "", "%v", err)
		return false
	}
	return true
}

// entityName returns the value of the top-level entity key, if it can be read.
func entityName(data []byte) string {
	var top struct {
		Entity string `yaml:"entity"`
	}
	_ = yaml.Unmarshal(data, &top)
	return top.Entity
}

// yamlErrorPos extracts "line N" from a YAML error.
func yamlErrorPos(err error) (Pos, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				text := strings.TrimLeft(rest[j:], ": ")
				return Pos{n, 1}, text
			}
		}
	}
	return Pos{1, 1}, msg
}

// toInstance converts a YAML node to the JSON value the schema validates,
// resolving aliases and refusing what JSON cannot hold.
func toInstance(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return toInstance(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a plain name", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q is given twice", k.Line, k.Value)
			}
			v, err := toInstance(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		a := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := toInstance(c)
			if err != nil {
				return nil, err
			}
			a[i] = v
		}
		return a, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, err
			}
			return b, nil
		case "!!int", "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			return f, nil
		default:
			return n.Value, nil
		}
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// leaves returns the innermost validation errors. Under oneOf/anyOf, only the
// branch that got furthest into the value is kept: the others failed on what
// the author did not mean to write.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		var best []*jsonschema.ValidationError
		bestDepth := -1
		for _, c := range e.Causes {
			ls := leaves(c)
			depth := 0
			for _, l := range ls {
				depth = max(depth, len(l.InstanceLocation))
			}
			if depth > bestDepth {
				best, bestDepth = ls, depth
			}
		}
		return best
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// focus drops errors inside a value that already has "too many keys": with two
// keys in an effect, what each key's body lacks is noise.
func focus(ls []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	var tooMany [][]string
	for _, l := range ls {
		if _, ok := l.ErrorKind.(*kind.MaxProperties); ok {
			tooMany = append(tooMany, l.InstanceLocation)
		}
	}
	out := ls[:0:0]
	for _, l := range ls {
		inside := false
		for _, loc := range tooMany {
			if len(l.InstanceLocation) > len(loc) && slices.Equal(l.InstanceLocation[:len(loc)], loc) {
				inside = true
			}
		}
		if !inside {
			out = append(out, l)
		}
	}
	return out
}

// patternHints explain the patterns of the schema by the key they apply to.
var patternHints = map[string]string{
	"number":  `placeholders {yyyy} {yy} {mm} {dd} and exactly one {seq:N} (N 1..12), e.g. "SO-{yyyy}{mm}-{seq:5}"`,
	"version": "write MAJOR.MINOR.PATCH, e.g. 1.0.0",
}

// reportSchemaError turns one schema error into a diagnostic at the node it
// concerns, with a hint.
func reportSchemaError(d diags, root *yaml.Node, declType reflect.Type, e *jsonschema.ValidationError) {
	n := nodeAt(root, e.InstanceLocation)
	p := Pos{n.Line, n.Column}
	where := strings.Join(e.InstanceLocation, ".")
	if where == "" {
		where = "the file"
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed, named := keysOf(declType, e.InstanceLocation)
		for _, prop := range k.Properties {
			kp := p
			if kn := keyNode(n, prop); kn != nil {
				kp = Pos{kn.Line, kn.Column}
			}
			if named {
				// A map keyed by names (fields, states, ...): the key is a bad name.
				d.errorf(kp, "use lower-case letters, digits and _, starting with a letter", "%s: %q is not a valid name", where, prop)
				continue
			}
			d.errorf(kp, didYouMean(prop, allowed), "unknown key %q in %s", prop, where)
		}
		return
	case *kind.Required:
		for _, m := range k.Missing {
			d.errorf(p, "add it", "%s: %q is required", where, m)
		}
		return
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		hint := "one of: " + strings.Join(want, ", ")
		if len(e.InstanceLocation) > 0 && e.InstanceLocation[len(e.InstanceLocation)-1] == "quorum" {
			hint = "any, all, or how many approvals are needed (1 or more)"
		}
		d.errorf(p, hint, "%s: %v is not allowed", where, k.Got)
		return
	case *kind.Type:
		d.errorf(p, "", "%s: want %s, got %s", where, strings.Join(k.Want, " or "), k.Got)
		return
	case *kind.Pattern:
		hint := "match " + k.Want
		if len(e.InstanceLocation) > 0 && patternHints[e.InstanceLocation[len(e.InstanceLocation)-1]] != "" {
			hint = patternHints[e.InstanceLocation[len(e.InstanceLocation)-1]]
		} else if strings.Contains(k.Want, "[a-z][a-z0-9_]") {
			hint = "use lower-case letters, digits and _, starting with a letter"
		}
		d.errorf(p, hint, "%s: %q is not a valid value", where, k.Got)
		return
	case *kind.MaxProperties:
		if k.Want == 1 {
			d.errorf(p, "split it into separate list items", "%s: has %d keys, want exactly one", where, k.Got)
			return
		}
		d.errorf(p, "", "%s: has %d keys, at most %d allowed", where, k.Got, k.Want)
		return
	case *kind.MinProperties:
		d.errorf(p, "give at least one, or leave the key out", "%s: is empty", where)
		return
	case *kind.Maximum:
		d.errorf(p, "", "%s: %s is above the largest allowed, %s", where, k.Got.RatString(), k.Want.RatString())
		return
	case *kind.Minimum:
		d.errorf(p, "", "%s: %s is below the smallest allowed, %s", where, k.Got.RatString(), k.Want.RatString())
		return
	case *kind.UniqueItems:
		dup := nodeAt(root, append(slices.Clone(e.InstanceLocation), strconv.Itoa(k.Duplicates[1])))
		d.errorf(Pos{dup.Line, dup.Column}, "list each value once", "%s: %q is listed twice", where, dup.Value)
		return
	case *kind.OneOf:
		if len(e.Causes) == 0 {
			d.errorf(p, "give only one of them", "%s: more than one of the alternatives is given", where)
			return
		}
	}
	d.errorf(p, "", "%s: %s", where, e.ErrorKind.LocalizedString(englishPrinter))
}

// nodeAt follows an instance location into the YAML tree.
func nodeAt(n *yaml.Node, loc []string) *yaml.Node {
	for _, seg := range loc {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			next := (*yaml.Node)(nil)
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return n
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n.Content) {
				return n
			}
			n = n.Content[i]
		default:
			return n
		}
	}
	return n
}

// keyNode returns the key node named key in a mapping.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// keysOf returns the keys the format allows at an instance location, read from
// the yaml tags of the declaration types (so hints never drift from them);
// named is true where the keys are names the author chooses (fields, states).
func keysOf(t reflect.Type, loc []string) (keys []string, named bool) {
	for _, seg := range loc {
		t = deref(t)
		switch {
		case t == reflect.TypeOf(EffectDecl{}):
			t = reflect.TypeOf(EffectBody{}) // seg is the effect kind
		case t.Kind() == reflect.Struct:
			f, ok := fieldByTag(t, seg)
			if !ok {
				return nil, false
			}
			t = f.Type
		case t.Kind() == reflect.Slice && isMapSlice(t):
			t = t.Elem().Field(1).Type // Entry[T].Val
		case t.Kind() == reflect.Slice:
			t = t.Elem()
		default:
			return nil, false
		}
	}
	t = deref(t)
	switch {
	case t == reflect.TypeOf(EffectDecl{}):
		return effectKinds, false
	case t.Kind() == reflect.Slice && isMapSlice(t):
		return nil, true
	case t.Kind() != reflect.Struct:
		return nil, false
	}
	for i := 0; i < t.NumField(); i++ {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys, false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func isMapSlice(t reflect.Type) bool {
	return t.Elem().Kind() == reflect.Struct && strings.HasPrefix(t.Elem().Name(), "Entry[")
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == tag {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// effectKinds are the effects the engine knows.
var effectKinds = []string{"set", "create", "update", "transition", "stock", "ledger", "assign", "notify"}
