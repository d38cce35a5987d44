// Package schemas holds the JSON Schemas of yerp. Template is the schema of the
// template format: package.yaml manifests and entity files. The reference for
// admins is docs/templates.md; a test keeps the two in step.
package schemas

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ID is the $id of the template schema. Validation errors name schema locations
// under it (for example ID + "#/$defs/field/properties/type").
const ID = "https://yerp.dev/schemas/template.schema.json"

// Template is the JSON Schema (draft 2020-12) of the template format. Its $defs
// "package" describes package.yaml and "entity" describes one entity file; the
// root accepts either. It checks shapes and value types only: references between
// names, option combinations and expression types are the template checker's job.
//
//go:embed template.schema.json
var Template []byte

var compiled struct {
	once    sync.Once
	pkg     *jsonschema.Schema
	entity  *jsonschema.Schema
	reports *jsonschema.Schema
	err     error
}

// Compile returns the compiled schemas of a package manifest (#/$defs/package)
// and of an entity file (#/$defs/entity). The embedded schema is compiled on the
// first call only; later calls return the same schemas, which are safe for
// concurrent use. Validate takes the document as decoded from JSON or YAML:
// map[string]any, []any, string, bool, json.Number or a Go number, and nil.
func Compile() (pkg, entity *jsonschema.Schema, err error) {
	compiled.once.Do(func() {
		compiled.pkg, compiled.entity, compiled.reports, compiled.err = compile()
	})
	return compiled.pkg, compiled.entity, compiled.err
}

// Reports returns the compiled schema of a package's reports.yaml
// (#/$defs/reports), compiled once with the others.
func Reports() (*jsonschema.Schema, error) {
	compiled.once.Do(func() {
		compiled.pkg, compiled.entity, compiled.reports, compiled.err = compile()
	})
	return compiled.reports, compiled.err
}

func compile() (pkg, entity, reports *jsonschema.Schema, err error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Template))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse template schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(ID, doc); err != nil {
		return nil, nil, nil, fmt.Errorf("add template schema: %w", err)
	}
	if pkg, err = c.Compile(ID + "#/$defs/package"); err != nil {
		return nil, nil, nil, fmt.Errorf("compile package schema: %w", err)
	}
	if entity, err = c.Compile(ID + "#/$defs/entity"); err != nil {
		return nil, nil, nil, fmt.Errorf("compile entity schema: %w", err)
	}
	if reports, err = c.Compile(ID + "#/$defs/reports"); err != nil {
		return nil, nil, nil, fmt.Errorf("compile reports schema: %w", err)
	}
	return pkg, entity, reports, nil
}
