package server

import (
	"strconv"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/template"
)

// Numbers travel as JSON strings (so no client loses digits); input accepts
// JSON numbers too.
var decimalSchema = fiber.Map{"type": []string{"string", "number"}, "pattern": `^-?[0-9]+(\.[0-9]+)?$`}

// fieldSchema is the JSON Schema of one field's value.
func fieldSchema(f *template.FieldDecl, hidden map[string]bool, table string) fiber.Map {
	var s fiber.Map
	switch f.Type.V {
	case "int", "decimal", "money", "quantity", "percent":
		s = fiber.Map{"type": []string{"string", "number"}, "pattern": decimalSchema["pattern"]}
	case "bool":
		s = fiber.Map{"type": "boolean"}
	case "date":
		s = fiber.Map{"type": "string", "format": "date"}
	case "datetime":
		s = fiber.Map{"type": "string", "format": "date-time"}
	case "select":
		opts := make([]string, len(f.Options))
		for i, o := range f.Options {
			opts[i] = o.V
		}
		s = fiber.Map{"type": "string", "enum": opts}
	case "multiselect":
		opts := make([]string, len(f.Options))
		for i, o := range f.Options {
			opts[i] = o.V
		}
		s = fiber.Map{"type": "array", "items": fiber.Map{"type": "string", "enum": opts}}
	case "table":
		props := fiber.Map{"_row": fiber.Map{"type": "string", "description": "row key, kept across updates"}}
		for _, col := range f.Fields {
			if col.Val != nil && !hidden[table+"."+col.Key.V] {
				props[col.Key.V] = fieldSchema(col.Val, hidden, "")
			}
		}
		s = fiber.Map{"type": "array", "items": fiber.Map{"type": "object", "properties": props, "additionalProperties": false}}
	case "json":
		s = fiber.Map{}
	case "link":
		s = fiber.Map{"type": "string", "description": "id of a " + f.To.V}
	default:
		s = fiber.Map{"type": "string"}
		if f.MaxLength != nil {
			s["maxLength"] = *f.MaxLength
		}
		if f.Pattern.V != "" {
			s["pattern"] = f.Pattern.V
		}
	}
	if t := label(f.Label, "en"); t != "" {
		s["title"] = t
	}
	if f.Compute.IsSet() || f.Readonly {
		s["readOnly"] = true
	}
	return s
}

// recordSchema is the JSON Schema of a record as a user sees it.
func recordSchema(ent *template.Entity, hidden map[string]bool) fiber.Map {
	props := fiber.Map{
		"id":         fiber.Map{"type": "string", "readOnly": true},
		"version":    fiber.Map{"type": "integer", "readOnly": true},
		"state":      fiber.Map{"type": "string", "readOnly": true},
		"number":     fiber.Map{"type": "string", "readOnly": true},
		"owner":      fiber.Map{"type": "string", "readOnly": true},
		"created_at": fiber.Map{"type": "string", "format": "date-time", "readOnly": true},
		"updated_at": fiber.Map{"type": "string", "format": "date-time", "readOnly": true},
		"created_by": fiber.Map{"type": "string", "readOnly": true},
		"updated_by": fiber.Map{"type": "string", "readOnly": true},
	}
	var required []string
	for _, fe := range ent.Decl.Fields {
		if fe.Val == nil || hidden[fe.Key.V] {
			continue
		}
		props[fe.Key.V] = fieldSchema(fe.Val, hidden, fe.Key.V)
		if fe.Val.Required && !fe.Val.Default.IsSet() && !fe.Val.Compute.IsSet() {
			required = append(required, fe.Key.V)
		}
	}
	s := fiber.Map{"type": "object", "title": label(ent.Decl.Label, "en"), "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// openAPI describes the API of the installed templates as this user sees it
// (OpenAPI 3.1).
func (a *api) openAPI(c fiber.Ctx) error {
	u := user(c)
	m := a.d.Packages.Model()
	schemas := fiber.Map{
		"Problem": fiber.Map{"type": "object", "properties": fiber.Map{
			"type": fiber.Map{"type": "string"}, "title": fiber.Map{"type": "string"}, "status": fiber.Map{"type": "integer"},
			"detail": fiber.Map{"type": "string"},
			"errors": fiber.Map{"type": "array", "items": fiber.Map{"type": "object", "properties": fiber.Map{
				"field": fiber.Map{"type": "string"}, "code": fiber.Map{"type": "string"}, "message": fiber.Map{"type": "string"},
			}}},
		}},
	}
	problemResp := func(desc string) fiber.Map {
		return fiber.Map{"description": desc, "content": fiber.Map{"application/problem+json": fiber.Map{"schema": fiber.Map{"$ref": "#/components/schemas/Problem"}}}}
	}
	paths := fiber.Map{}
	for _, name := range sortedEntities(m) {
		ent := m.Entities[name]
		if !records.Readable(ent, u) {
			continue
		}
		schemas[name] = recordSchema(ent, records.HiddenFields(ent, u))
		ref := fiber.Map{"$ref": "#/components/schemas/" + name}
		one := fiber.Map{"description": "the record", "content": fiber.Map{"application/json": fiber.Map{"schema": ref}}}
		idParam := fiber.Map{"name": "id", "in": "path", "required": true, "schema": fiber.Map{"type": "string"}}
		ifMatchParam := fiber.Map{"name": "If-Match", "in": "header", "required": true, "schema": fiber.Map{"type": "string"}, "description": "the record's version (its ETag)"}
		tag := []string{name}
		idempotencyParam := fiber.Map{"name": idempotencyKeyHeader, "in": "header", "schema": fiber.Map{"type": "string", "maxLength": records.MaxKeyLength},
			"description": "apply once per key of the caller: a retry with the key gets the first answer"}
		paths["/api/v1/records/"+name] = fiber.Map{
			"get": fiber.Map{"tags": tag, "operationId": "list_" + name, "summary": "List " + label(ent.Decl.Label, "en"),
				"parameters": []fiber.Map{
					{"name": "filter", "in": "query", "schema": fiber.Map{"type": "string"}, "description": "e.g. state == 'draft' && total > 100"},
					{"name": "sort", "in": "query", "schema": fiber.Map{"type": "string"}, "description": "fields, - for descending: -created_at,number"},
					{"name": "limit", "in": "query", "schema": fiber.Map{"type": "integer", "minimum": 1, "maximum": 200}},
					{"name": "cursor", "in": "query", "schema": fiber.Map{"type": "string"}},
					{"name": "count", "in": "query", "schema": fiber.Map{"type": "boolean"}},
					{"name": "fields", "in": "query", "schema": fiber.Map{"type": "string"}},
				},
				"responses": fiber.Map{
					"200": fiber.Map{"description": "a page", "content": fiber.Map{"application/json": fiber.Map{"schema": fiber.Map{
						"type": "object", "properties": fiber.Map{"records": fiber.Map{"type": "array", "items": ref}, "next": fiber.Map{"type": "string"}, "total": fiber.Map{"type": "integer"}}}}}},
					"400": problemResp("a bad filter, sort or limit"),
				}},
			"post": fiber.Map{"tags": tag, "operationId": "create_" + name, "parameters": []fiber.Map{idempotencyParam},
				"requestBody": fiber.Map{"required": true, "content": fiber.Map{"application/json": fiber.Map{"schema": ref}}},
				"responses":   fiber.Map{"201": one, "422": problemResp("invalid values"), "403": problemResp("not allowed")}},
		}
		paths["/api/v1/records/"+name+"/{id}"] = fiber.Map{
			"parameters": []fiber.Map{idParam},
			"get":        fiber.Map{"tags": tag, "operationId": "get_" + name, "responses": fiber.Map{"200": one, "404": problemResp("not found")}},
			"patch": fiber.Map{"tags": tag, "operationId": "update_" + name, "parameters": []fiber.Map{ifMatchParam},
				"requestBody": fiber.Map{"required": true, "content": fiber.Map{"application/json": fiber.Map{"schema": ref}}},
				"responses":   fiber.Map{"200": one, "409": problemResp("changed since read"), "422": problemResp("invalid values"), "428": problemResp("If-Match missing")}},
			"delete": fiber.Map{"tags": tag, "operationId": "delete_" + name, "parameters": []fiber.Map{ifMatchParam},
				"responses": fiber.Map{"204": fiber.Map{"description": "deleted"}, "403": problemResp("not allowed"), "409": problemResp("changed since read")}},
		}
		paths["/api/v1/records/"+name+"/{id}/history"] = fiber.Map{
			"parameters": []fiber.Map{idParam},
			"get": fiber.Map{"tags": tag, "operationId": "history_" + name, "responses": fiber.Map{
				"200": fiber.Map{"description": "audit entries", "content": fiber.Map{"application/json": fiber.Map{"schema": fiber.Map{"type": "object"}}}}}},
		}
	}
	paths["/api/v1/batch"] = batchPath(problemResp)
	return c.JSON(fiber.Map{
		"openapi": "3.1.0",
		"info":    fiber.Map{"title": "yerp API", "version": a.d.Info.Version, "description": "Generated from the installed templates."},
		"paths":   paths,
		"components": fiber.Map{
			"schemas":         schemas,
			"securitySchemes": fiber.Map{"bearer": fiber.Map{"type": "http", "scheme": "bearer"}},
		},
		"security": []fiber.Map{{"bearer": []string{}}},
	})
}

// batchPath describes POST /api/v1/batch.
func batchPath(problemResp func(string) fiber.Map) fiber.Map {
	op := fiber.Map{"type": "object", "required": []string{"key", "op", "entity"}, "additionalProperties": false, "properties": fiber.Map{
		"key":        fiber.Map{"type": "string", "maxLength": records.MaxKeyLength, "description": "idempotency key, unique per user"},
		"op":         fiber.Map{"type": "string", "enum": []string{records.OpCreate, records.OpUpdate, records.OpTransition}},
		"entity":     fiber.Map{"type": "string"},
		"id":         fiber.Map{"type": "string", "description": "the record, or $n for the record of operation n of this batch"},
		"ref":        fiber.Map{"type": "string", "description": "the key of an earlier operation of this batch whose record this is"},
		"version":    fiber.Map{"type": "integer", "minimum": 1},
		"values":     fiber.Map{"type": "object"},
		"transition": fiber.Map{"type": "string"},
		"input":      fiber.Map{"type": "object"},
	}}
	result := fiber.Map{"type": "object", "properties": fiber.Map{
		"key": fiber.Map{"type": "string"}, "status": fiber.Map{"type": "integer"}, "record": fiber.Map{"type": "object"},
		"warnings": fiber.Map{"type": "array"}, "approval": fiber.Map{"type": "string"},
		"problem": fiber.Map{"$ref": "#/components/schemas/Problem"}, "replayed": fiber.Map{"type": "boolean"},
	}}
	return fiber.Map{"post": fiber.Map{"tags": []string{"batch"}, "operationId": "batch",
		"summary": "Apply up to " + strconv.Itoa(records.MaxBatch) + " writes, each once per idempotency key",
		"requestBody": fiber.Map{"required": true, "content": fiber.Map{"application/json": fiber.Map{"schema": fiber.Map{
			"type": "object", "required": []string{"operations"}, "properties": fiber.Map{
				"operations": fiber.Map{"type": "array", "maxItems": records.MaxBatch, "items": op}}}}}},
		"responses": fiber.Map{
			"200": fiber.Map{"description": "one result per operation", "content": fiber.Map{"application/json": fiber.Map{"schema": fiber.Map{
				"type": "object", "properties": fiber.Map{"results": fiber.Map{"type": "array", "items": result}}}}}},
			"400": problemResp("not a batch"),
			"413": problemResp("too many operations"),
		}}}
}
