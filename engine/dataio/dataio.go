// Package dataio imports the records of any installed entity from CSV or
// XLSX files and exports filtered lists to them, through the records engine:
// every imported row passes the same checks as a form submission (types,
// required and required_when, min and max, options, links, rules, access and
// field-level write access), and an export holds only what the user may read.
//
// A file has one header row. A header is a field's name or its label in
// zh-CN or en; a table column is "table.column" (names or labels, e.g.
// "lines.qty" or "明细.数量"). Records are matched to stored ones by a key:
// the entity's code field (a unique field named code) or else its number.
// Several rows with the same key are one record, each row one table row; a
// row with an empty key and no record-level values continues the record
// above (as spreadsheets are often filled).
//
// Import first checks: with Options.DryRun nothing is written and every
// problem of every row is reported. Without it, every record that passes is
// created or updated (with the version just read) and every record that
// fails is reported and left alone: a record is written whole or not at all,
// and the rest of the file is applied. Re-running the same file changes
// nothing: a record whose values are already stored is counted unchanged and
// gets no new version and no audit entry.
//
// Export writes every page of a filtered, sorted list (the list API's filter
// and sort) with labels or field names as headers; what it writes imports
// back unchanged.
package dataio

import (
	"strings"

	"github.com/yerp/yerp/engine/records"
)

// Format is a file format.
type Format string

// Formats.
const (
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// ParseFormat reads a format name ("csv", "xlsx", "" for unknown).
func ParseFormat(s string) (Format, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "csv":
		return CSV, true
	case "xlsx", "excel":
		return XLSX, true
	case "":
		return "", true
	}
	return "", false
}

// Options tune an import; the zero value imports a CSV or XLSX file
// (recognised from its content) and writes.
type Options struct {
	// Format of the file; "" recognises it (an XLSX file is a zip archive).
	Format Format
	// Sheet is the XLSX sheet to read; "" reads the first.
	Sheet string
	// DryRun checks every row and writes nothing.
	DryRun bool
	// Lang is the language of Result messages: "zh-CN" (default) or "en".
	Lang string
	// Message renders an engine field error in a language; nil uses the
	// package's own texts for its codes and the code for the engine's.
	Message func(lang string, fe records.FieldError) string
	// Progress, if set, is called after each batch of records with the
	// counts so far, and once at the end.
	Progress func(Result)
}

// Result is the outcome of an import. On a dry run Created, Updated and
// Unchanged count what a real run would do.
type Result struct {
	Entity    string     `json:"entity"`
	DryRun    bool       `json:"dry_run"`
	Key       string     `json:"key"`   // the field records are matched by: "code", "number", or "" (always created)
	Rows      int        `json:"rows"`  // data rows read (the header is row 1)
	Total     int        `json:"total"` // records the rows form
	Processed int        `json:"processed"`
	Created   int        `json:"created"`
	Updated   int        `json:"updated"`
	Unchanged int        `json:"unchanged"`
	Failed    int        `json:"failed"`
	Errors    []RowError `json:"errors"`
	// Partial is true when some records failed and the others were written
	// (never on a dry run).
	Partial bool `json:"partial"`
}

// RowError is one problem of one record, at the file row and column it
// comes from (Row 1 is the header row; Row 0 is the whole file).
type RowError struct {
	Row     int            `json:"row"`
	Column  string         `json:"column,omitempty"` // the header as written in the file
	Field   string         `json:"field,omitempty"`  // the engine's path: "code", "lines[1].qty"
	Key     string         `json:"key,omitempty"`    // the record's key value
	Code    string         `json:"code"`
	Params  map[string]any `json:"params,omitempty"`
	Message string         `json:"message"`
}

// FileError is a problem with the file as a whole (its format, its header
// row): nothing was imported. Problems lists each, with its column.
type FileError struct {
	Problems []RowError
}

func (e *FileError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Code
		if p.Column != "" {
			parts[i] = p.Column + ": " + p.Code
		}
	}
	return "dataio: cannot import the file: " + strings.Join(parts, ", ")
}

// FieldErrors returns the problems as engine field errors (path = column),
// for callers that render those.
func (e *FileError) FieldErrors() []records.FieldError {
	out := make([]records.FieldError, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = records.FieldError{Path: p.Column, Code: p.Code, Params: p.Params}
	}
	return out
}

// lang normalises a language to "zh-CN" or "en".
func lang(l string) string {
	if strings.HasPrefix(strings.ToLower(l), "en") {
		return "en"
	}
	return "zh-CN"
}
