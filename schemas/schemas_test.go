package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func TestCompile(t *testing.T) {
	pkg, entity, err := Compile()
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if pkg == nil || entity == nil {
		t.Fatalf("Compile returned nil schemas: package %v, entity %v", pkg, entity)
	}
	pkg2, entity2, err := Compile()
	if err != nil || pkg2 != pkg || entity2 != entity {
		t.Errorf("second Compile returned other schemas (or %v); want the ones compiled once", err)
	}

	// The root must also compile: editors load the document as a whole.
	doc := schemaDoc(t)
	c := jsonschema.NewCompiler()
	if err := c.AddResource(ID, doc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile(ID); err != nil {
		t.Errorf("compile root: %v", err)
	}
	if id := doc.(map[string]any)["$id"]; id != ID {
		t.Errorf("$id = %v, want %s", id, ID)
	}
}

// schemaDoc returns the embedded schema decoded with encoding/json, so tests can
// walk it as maps and slices.
func schemaDoc(t testing.TB) any {
	t.Helper()
	var doc any
	if err := json.Unmarshal(Template, &doc); err != nil {
		t.Fatalf("template.schema.json: %v", err)
	}
	return doc
}

// schemaWalk visits the schemas of the document. It calls prop for every entry of
// a properties keyword and def for every entry of $defs, with the JSON pointer of
// the entry, and reports keywords it does not know (a typo such as
// "additionalproperties" would silently be ignored by validators). Subschemas
// under if and not are conditions, not definitions: they are not visited.
type schemaWalk struct {
	prop    func(ptr, name string, sub map[string]any)
	def     func(ptr, name string, sub map[string]any)
	unknown func(ptr, keyword string)
	enum    func(ptr string, values []any)
}

var (
	// keywords whose value is a schema. propertyNames is deliberately absent, so
	// the walk reports it: jsonschema/v6.0.3 gives its errors a wrong instance
	// location (santhosh-tekuri/jsonschema#258, #269); name-keyed maps use
	// patternProperties with additionalProperties: false instead.
	schemaKeywords = []string{"additionalProperties", "items", "then", "else", "contains"}
	// keywords whose value is a list of schemas
	schemaListKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	// keywords whose value is a map of schemas
	schemaMapKeywords = []string{"properties", "$defs", "patternProperties", "dependentSchemas"}
	// keywords holding values or conditions, not visited
	leafKeywords = []string{
		"$schema", "$id", "$ref", "$comment", "title", "description", "type", "enum", "const",
		"pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
		"exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems",
		"minProperties", "maxProperties", "required", "format", "default", "examples",
		"if", "not",
	}
)

func (w schemaWalk) walk(ptr string, node any) {
	s, ok := node.(map[string]any)
	if !ok {
		return // a boolean schema
	}
	for _, k := range sortedKeys(s) {
		v := s[k]
		kptr := ptr + "/" + escapePointer(k)
		switch {
		case slices.Contains(schemaKeywords, k):
			w.walk(kptr, v)
		case slices.Contains(schemaListKeywords, k):
			list, _ := v.([]any)
			for i, sub := range list {
				w.walk(fmt.Sprintf("%s/%d", kptr, i), sub)
			}
		case slices.Contains(schemaMapKeywords, k):
			m, _ := v.(map[string]any)
			for _, name := range sortedKeys(m) {
				sub, _ := m[name].(map[string]any)
				sptr := kptr + "/" + escapePointer(name)
				if k == "properties" && w.prop != nil {
					w.prop(sptr, name, sub)
				}
				if k == "$defs" && w.def != nil {
					w.def(sptr, name, sub)
				}
				w.walk(sptr, m[name])
			}
		case k == "enum":
			if w.enum != nil {
				values, _ := v.([]any)
				w.enum(kptr, values)
			}
		case slices.Contains(leafKeywords, k):
		default:
			if w.unknown != nil {
				w.unknown(ptr, k)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func TestEveryPropertyAndDefinitionIsDescribed(t *testing.T) {
	described := func(sub map[string]any) bool {
		d, _ := sub["description"].(string)
		return strings.TrimSpace(d) != ""
	}
	var props, defs int
	schemaWalk{
		prop: func(ptr, name string, sub map[string]any) {
			props++
			if !described(sub) {
				t.Errorf("property %s has no description", ptr)
			}
		},
		def: func(ptr, name string, sub map[string]any) {
			defs++
			if !described(sub) {
				t.Errorf("definition %s has no description", ptr)
			}
		},
		unknown: func(ptr, keyword string) {
			t.Errorf("%s: unknown keyword %q", ptr, keyword)
		},
	}.walk("#", schemaDoc(t))
	if props < 100 || defs < 30 {
		t.Errorf("walked %d properties and %d definitions; the walker is missing parts of the schema", props, defs)
	}
	root := schemaDoc(t).(map[string]any)
	for _, k := range []string{"title", "description"} {
		if s, _ := root[k].(string); s == "" {
			t.Errorf("the root has no %s", k)
		}
	}
}

// The names the loader and the checker rely on.
func TestDefinitionsExist(t *testing.T) {
	defs := schemaDoc(t).(map[string]any)["$defs"].(map[string]any)
	for _, name := range []string{
		"package", "entity", "identifier", "label", "expression", "field", "column",
		"input_field", "rule", "check", "state", "transition", "approval", "approval_step",
		"effect", "access", "field_access", "list", "form_section", "print", "index",
	} {
		if _, ok := defs[name]; !ok {
			t.Errorf("#/$defs/%s is missing", name)
		}
	}
}

// decodeYAML decodes YAML as the loader does before validation: maps with string
// keys, slices, strings, numbers, booleans and nil.
func decodeYAML(t testing.TB, text string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("yaml: %v\n%s", err, text)
	}
	return stringKeys(v)
}

func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
		return v
	}
	return v
}

func schemasFor(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	pkg, entity, err := Compile()
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return map[string]*jsonschema.Schema{"package": pkg, "entity": entity}
}

func TestValidExamples(t *testing.T) {
	s := schemasFor(t)
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("testdata/valid: %d files, %v", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			doc := decodeYAML(t, string(text))
			want, other := "entity", "package"
			if filepath.Base(file) == "package.yaml" {
				want, other = other, want
			}
			if err := s[want].Validate(doc); err != nil {
				t.Errorf("%s schema refuses %s:\n%v", want, file, err)
			}
			if err := s[other].Validate(doc); err == nil {
				t.Errorf("%s schema accepts %s; the two must be disjoint", other, file)
			}
		})
	}
}

const minimalEntity = `
entity: item
label: {en: Item, zh-CN: 商品}
fields:
  code: {type: text}
`

// Variants of a minimal entity that must pass: each pins a choice of FORMAT.md.
func TestValidSnippets(t *testing.T) {
	s := schemasFor(t)
	for _, tc := range []struct{ name, yaml string }{
		{"a minimal entity", minimalEntity},
		{"a label in one language", "entity: item\nlabel: {zh-CN: 商品}\nfields: {code: {type: text}}"},
		{"a number default written as a YAML number", "entity: item\nlabel: {en: Item}\nfields: {price: {type: money, default: 0}}"},
		{"a boolean default written as a YAML boolean", "entity: item\nlabel: {en: Item}\nfields: {active: {type: bool, default: true}}"},
		{"a decimal with scale 6", "entity: item\nlabel: {en: Item}\nfields: {weight: {type: decimal, scale: 6}}"},
		{"a quorum given as a number", `
entity: po
label: {en: PO}
fields: {total: {type: money}}
states: {draft: {initial: true}, done: {final: true}}
transitions:
  approve:
    from: [draft]
    to: done
    approval: {steps: [{name: boss, roles: [manager], quorum: 2}]}
`},
		{"a ledger credit", `
entity: payment
label: {en: Payment}
fields: {customer: {type: link, to: customer}}
states: {draft: {initial: true}}
transitions:
  post: {from: draft, effects: [{ledger: {account: receivable, party: customer, credit: "100"}}]}
`},
		{"a notification to a webhook only", `
entity: payment
label: {en: Payment}
fields: {amount: {type: money}}
states: {draft: {initial: true}}
transitions:
  post: {from: draft, effects: [{notify: {message: {en: Paid}, webhook: "http://localhost:9000/hook"}}]}
`},
		{"access rights as booleans and expressions", `
entity: item
label: {en: Item}
fields: {code: {type: text}}
access: {sales: {read: true, create: false, update: "owner == user.id", delete: "state == 'draft'"}}
`},
		{"a numbering series with only a sequence", "entity: item\nlabel: {en: Item}\nnumber: \"{seq:12}\"\nfields: {code: {type: text}}"},
		{"an option id starting with a digit", "entity: item\nlabel: {en: Item}\nfields: {terms: {type: select, options: [30_days, cash]}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s["entity"].Validate(decodeYAML(t, tc.yaml)); err != nil {
				t.Errorf("refused:\n%v", err)
			}
		})
	}
}

// flatErrors returns every error of the tree, each rendered alone as
// "at '/instance/pointer': message". Inner nodes count too: for propertyNames the
// node names the map while its cause (the pattern) has an empty location.
func flatErrors(err *jsonschema.ValidationError) []string {
	alone := *err
	alone.Causes = nil
	out := []string{alone.Error()}
	for _, c := range err.Causes {
		out = append(out, flatErrors(c)...)
	}
	return out
}

func TestInvalidSnippets(t *testing.T) {
	s := schemasFor(t)
	for _, tc := range []struct {
		name   string
		schema string // package or entity
		yaml   string
		at     string // instance pointer of the expected error
		msg    string // fragment of its message
	}{
		{"a package with an unknown key", "package", "package: sales\nversion: 1.0.0\nlabel: {en: Sales}\nauthor: me", "", "additional properties 'author'"},
		{"a package without a label", "package", "package: sales\nversion: 1.0.0", "", "missing property 'label'"},
		{"a version written as a YAML number", "package", "package: sales\nversion: 1.2\nlabel: {en: Sales}", "/version", "got number, want string"},
		{"a version with two parts", "package", "package: sales\nversion: \"1.2\"\nlabel: {en: Sales}", "/version", "does not match pattern"},
		{"a role id with capitals", "package", "package: sales\nversion: 1.0.0\nlabel: {en: Sales}\nroles: {Sales: {en: Sales}}", "/roles", "additional properties 'Sales' not allowed"},
		{"a required version written as a number", "package", "package: sales\nversion: 1.0.0\nlabel: {en: Sales}\nrequires: {core: 1.0}", "/requires/core", "got number, want string"},
		{"a package id with a dash", "package", "package: sales-x\nversion: 1.0.0\nlabel: {en: Sales}", "/package", "does not match pattern"},

		{"a column name with a dash", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: text}, lines: {type: table, fields: {item: {type: text}, unit-cost: {type: money}}}, z: {type: text}}", "/fields/lines/fields", "additional properties 'unit-cost' not allowed"},
		{"a state name with capitals", "entity", minimalEntity + "states: {Draft: {initial: true}}", "/states", "additional properties 'Draft' not allowed"},
		{"an input name with a dot", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, input: {a.b: {type: text}}}}", "/transitions/go/input", "additional properties 'a.b' not allowed"},
		{"an entity with an unknown key", "entity", minimalEntity + "workflow: {}", "", "additional properties 'workflow'"},
		{"an entity name in camel case", "entity", "entity: SalesOrder\nlabel: {en: X}\nfields: {a: {type: text}}", "/entity", "does not match pattern"},
		{"an entity without fields", "entity", "entity: item\nlabel: {en: X}\nfields: {}", "/fields", "minProperties"},
		{"a field name starting with a digit", "entity", "entity: item\nlabel: {en: X}\nfields: {1st: {type: text}}", "/fields", "additional properties '1st' not allowed"},
		{"an unknown field type", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: string}}", "/fields/a/type", "value must be one of"},
		{"a field without a type", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {label: {en: A}}}", "/fields/a", "missing property 'type'"},
		{"an unknown field option", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: text, mandatory: true}}", "/fields/a", "additional properties 'mandatory'"},
		{"required written as text", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: text, required: \"yes\"}}", "/fields/a/required", "got string, want boolean"},
		{"a link without to", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: link}}", "/fields/a", "missing property 'to'"},
		{"a select without options", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: select}}", "/fields/a", "missing property 'options'"},
		{"a table without fields", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: table}}", "/fields/a", "missing property 'fields'"},
		{"an option id with capitals", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: select, options: [Cash]}}", "/fields/a/options/0", "does not match pattern"},
		{"a table inside a table", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: table, fields: {b: {type: table, fields: {c: {type: text}}}}}}", "/fields/a/fields/b/type", "value must be one of"},
		{"a scale above 6", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: decimal, scale: 7}}", "/fields/a/scale", "maximum"},
		{"an expression given as a list", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: int, default: [1]}}", "/fields/a/default", "got array, want boolean or number or string"},
		{"an empty expression", "entity", "entity: item\nlabel: {en: X}\nfields: {a: {type: int, compute: \"\"}}", "/fields/a/compute", "minLength"},
		{"a label in French", "entity", "entity: item\nlabel: {fr: Article}\nfields: {a: {type: text}}", "/label", "additional properties 'fr'"},
		{"an empty label", "entity", "entity: item\nlabel: {}\nfields: {a: {type: text}}", "/label", "minProperties"},
		{"a label given as plain text", "entity", "entity: item\nlabel: Item\nfields: {a: {type: text}}", "/label", "got string, want object"},
		{"a numbering series without a sequence", "entity", minimalEntity + "number: \"SO-{yyyy}\"", "/number", "does not match pattern"},
		{"a numbering series with two sequences", "entity", minimalEntity + "number: \"{seq:3}-{seq:3}\"", "/number", "does not match pattern"},
		{"a sequence of 13 digits", "entity", minimalEntity + "number: \"SO{seq:13}\"", "/number", "does not match pattern"},
		{"an unknown numbering token", "entity", minimalEntity + "number: \"SO-{month}-{seq:4}\"", "/number", "does not match pattern"},
		{"a rule without a message", "entity", minimalEntity + "rules: [{check: \"code != ''\"}]", "/rules/0", "missing property 'message'"},
		{"a rule with warn", "entity", minimalEntity + "rules: [{check: \"true\", message: {en: M}, warn: true}]", "/rules/0", "additional properties 'warn'"},
		{"an unknown state colour", "entity", minimalEntity + "states: {draft: {initial: true, color: pink}}", "/states/draft/color", "value must be one of"},
		{"a transition without from", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {to: draft}}", "/transitions/go", "missing property 'from'"},
		{"a from list with a bad state name", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: [draft, Done]}}", "/transitions/go/from/1", "does not match pattern"},
		{"an empty from list", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: []}}", "/transitions/go/from", "minItems"},
		{"a bad quorum word", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, approval: {steps: [{name: a, roles: [x], quorum: most}]}}}", "/transitions/go/approval/steps/0/quorum", "value must be one of"},
		{"a zero quorum", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, approval: {steps: [{name: a, roles: [x], quorum: 0}]}}}", "/transitions/go/approval/steps/0/quorum", "minimum"},
		{"an approval without steps", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, approval: {steps: []}}}", "/transitions/go/approval/steps", "minItems"},
		{"an approval step without roles", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, approval: {steps: [{name: a}]}}}", "/transitions/go/approval/steps/0", "missing property 'roles'"},
		{"a computed transition input", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, input: {a: {type: int, compute: \"1\"}}}}", "/transitions/go/input/a/compute", "not"},
		{"a table as transition input", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, input: {a: {type: table, fields: {b: {type: text}}}}}}", "/transitions/go/input/a/type", "value must be one of"},
		{"an effect with two keys", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{set: {values: {code: \"'x'\"}}, assign: {to: owner}}]}}", "/transitions/go/effects/0", "maxProperties"},
		{"an empty effect", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{}]}}", "/transitions/go/effects/0", "minProperties"},
		{"an unknown effect", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{email: {to: owner}}]}}", "/transitions/go/effects/0", "additional properties 'email'"},
		{"an unknown stock move", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{stock: {move: ship, warehouse: w, item: i, qty: \"1\"}}]}}", "/transitions/go/effects/0/stock/move", "value must be one of"},
		{"a stock move without qty", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{stock: {move: in, warehouse: w, item: i}}]}}", "/transitions/go/effects/0/stock", "missing property 'qty'"},
		{"an unknown ledger account", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{ledger: {account: cash, party: p, debit: \"1\"}}]}}", "/transitions/go/effects/0/ledger/account", "value must be one of"},
		{"a ledger entry with debit and credit", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{ledger: {account: receivable, party: p, debit: \"1\", credit: \"1\"}}]}}", "/transitions/go/effects/0/ledger", "oneOf"},
		{"a ledger entry with no amount", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{ledger: {account: payable, party: p}}]}}", "/transitions/go/effects/0/ledger", "missing property 'debit'"},
		{"a notification to nobody", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{notify: {message: {en: Hi}}}]}}", "/transitions/go/effects/0/notify", "missing property 'to_users'"},
		{"a webhook that is not http", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{notify: {to_roles: [a], message: {en: Hi}, webhook: \"ftp://x\"}}]}}", "/transitions/go/effects/0/notify/webhook", "does not match pattern"},
		{"an effect option of another effect", "entity", minimalEntity + "states: {draft: {initial: true}}\ntransitions: {go: {from: draft, effects: [{set: {values: {code: \"'x'\"}, entity: item}}]}}", "/transitions/go/effects/0/set", "additional properties 'entity'"},
		{"an access right given as a number", "entity", minimalEntity + "access: {sales: {read: 1}}", "/access/sales/read", "got number, want boolean or string"},
		{"an unknown access right", "entity", minimalEntity + "access: {sales: {approve: true}}", "/access/sales", "additional properties 'approve'"},
		{"a hidden field path three deep", "entity", minimalEntity + "access: {sales: {fields: {hide: [lines.cost.x]}}}", "/access/sales/fields/hide/0", "does not match pattern"},
		{"a page size above 200", "entity", minimalEntity + "list: {columns: [code], page_size: 500}", "/list/page_size", "maximum"},
		{"a list sorted by two fields", "entity", minimalEntity + "list: {sort: [code, name]}", "/list/sort", "got array, want string"},
		{"a form with three columns", "entity", minimalEntity + "form: [{fields: [code], columns: 3}]", "/form/0/columns", "value must be one of"},
		{"a form section without fields", "entity", minimalEntity + "form: [{section: {en: Main}}]", "/form/0", "missing property 'fields'"},
		{"an unknown paper size", "entity", minimalEntity + "prints: {label: {label: {en: Label}, template: prints/label.html, paper: Letter}}", "/prints/label/paper", "value must be one of"},
		{"a print layout outside prints/", "entity", minimalEntity + "prints: {label: {label: {en: Label}, template: ../secret.html}}", "/prints/label/template", "does not match pattern"},
		{"an index of five fields", "entity", minimalEntity + "indexes: [[a, b, c, d, e]]", "/indexes/0", "maxItems"},
		{"an index given as a string", "entity", minimalEntity + "indexes: [code]", "/indexes/0", "got string, want array"},
		{"singleton written as text", "entity", minimalEntity + "singleton: \"yes\"", "/singleton", "got string, want boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s[tc.schema].Validate(decodeYAML(t, tc.yaml))
			if err == nil {
				t.Fatalf("accepted; want an error at %q containing %q", tc.at, tc.msg)
			}
			var verr *jsonschema.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %T %v; want *jsonschema.ValidationError", err, err)
			}
			errs := flatErrors(verr)
			prefix := fmt.Sprintf("at '%s':", tc.at)
			for _, e := range errs {
				if strings.HasPrefix(e, prefix) && strings.Contains(e, tc.msg) {
					return
				}
			}
			t.Errorf("no error %s ... %q; got:\n%s", prefix, tc.msg, strings.Join(errs, "\n"))
		})
	}
}

// TestDocsCoverTheSchema keeps docs/templates.md in step with the schema: every
// property name, field type, effect and other enumerated value must appear there
// in backticks.
func TestDocsCoverTheSchema(t *testing.T) {
	docs, err := os.ReadFile("../docs/templates.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	names := map[string]string{} // name -> first schema pointer defining it
	add := func(name, ptr string) {
		if _, ok := names[name]; !ok {
			names[name] = ptr
		}
	}
	schemaWalk{
		prop: func(ptr, name string, _ map[string]any) { add(name, ptr) },
		enum: func(ptr string, values []any) {
			for _, v := range values {
				if s, ok := v.(string); ok {
					add(s, ptr)
				}
			}
		},
	}.walk("#", schemaDoc(t))

	doc := schemaDoc(t).(map[string]any)["$defs"].(map[string]any)
	fieldTypes := doc["field"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	effects := doc["effect"].(map[string]any)["properties"].(map[string]any)
	if len(fieldTypes) != 20 || len(effects) != 8 {
		t.Errorf("schema has %d field types and %d effects; want the 20 and 8 of FORMAT.md", len(fieldTypes), len(effects))
	}
	for _, ft := range fieldTypes {
		add(ft.(string), "#/$defs/field/properties/type/enum")
	}
	for e := range effects {
		add(e, "#/$defs/effect/properties/"+e)
	}

	var missing []string
	for _, name := range sortedKeys(names) {
		if !bytes.Contains(docs, []byte("`"+name+"`")) {
			missing = append(missing, fmt.Sprintf("`%s` (%s)", name, names[name]))
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/templates.md does not document %d names of the schema:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	if len(names) < 120 {
		t.Errorf("collected only %d names; the walker is missing parts of the schema", len(names))
	}
}

// TestDocsExamplesAreValid checks that every yaml block of the docs parses and
// that the complete files among them (those starting with "entity:" or
// "package:", after leading comments) validate, so an example admins copy is
// never refused.
func TestDocsExamplesAreValid(t *testing.T) {
	docs, err := os.ReadFile("../docs/templates.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	s := schemasFor(t)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(docs, -1)
	checked := 0
	for i, b := range blocks {
		text := string(b[1])
		for strings.HasPrefix(text, "#") { // a leading comment such as "# package.yaml"
			_, text, _ = strings.Cut(text, "\n")
		}
		var schema string
		switch {
		case strings.HasPrefix(text, "entity:"):
			schema = "entity"
		case strings.HasPrefix(text, "package:"):
			schema = "package"
		default:
			continue
		}
		checked++
		if err := s[schema].Validate(decodeYAML(t, text)); err != nil {
			t.Errorf("yaml block %d of docs/templates.md (%s file) is invalid:\n%v\n%s", i+1, schema, err, text)
		}
	}
	for i, b := range blocks {
		var v any
		if err := yaml.Unmarshal(b[1], &v); err != nil {
			t.Errorf("yaml block %d of docs/templates.md does not parse: %v\n%s", i+1, err, b[1])
		}
	}
	if checked < 3 {
		t.Errorf("checked %d complete files in the docs; want at least 3 (package.yaml and entities)", checked)
	}
}
