// Package template turns template packages (YAML) into the immutable Model the
// engine runs. It is a pipeline, each stage testable alone:
//
//	load    bytes → positioned YAML, validated against schemas/template.schema.json
//	decode  YAML nodes → package and entity declarations that remember positions
//	check   declarations → diagnostics (references, states, every expression typed)
//	compile declarations → Model (immutable; expressions compiled once)
//
// Every problem is reported, not only the first, as a Diagnostic with the file,
// line and column it concerns and a hint on what to do.
package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Severity of a diagnostic. Errors keep a template from being active; warnings
// do not.
type Severity int

// Severities.
const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Pos is a position in a template file (1-based line and column).
type Pos struct {
	Line, Col int
}

// Diagnostic is one problem found in a template.
type Diagnostic struct {
	File     string
	Pos      Pos
	Severity Severity
	Message  string
	Hint     string // what to do; may be empty
}

// String formats the diagnostic as file:line:col: [warning: ]message (hint).
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", d.File, d.Pos.Line, d.Pos.Col)
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		b.WriteString(" (" + d.Hint + ")")
	}
	return b.String()
}

// Diagnostics is a list of problems.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns the number of errors and warnings.
func (ds Diagnostics) Count() (errors, warnings int) {
	for _, d := range ds {
		if d.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return
}

// Sort orders diagnostics by file, line and column.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
}

// String prints one diagnostic per line.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// diags collects diagnostics for one file.
type diags struct {
	file string
	out  *Diagnostics
}

func (d diags) errorf(p Pos, hint, format string, args ...any) {
	*d.out = append(*d.out, Diagnostic{File: d.file, Pos: p, Severity: Error, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (d diags) warnf(p Pos, hint, format string, args ...any) {
	*d.out = append(*d.out, Diagnostic{File: d.file, Pos: p, Severity: Warning, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// didYouMean returns a hint naming the closest of candidates to name, or
// listing them when few and none is close.
func didYouMean(name string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := levenshtein.ComputeDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && bestD <= max(2, len(name)/3) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(candidates) > 0 && len(candidates) <= 8 {
		sorted := append([]string(nil), candidates...)
		sort.Strings(sorted)
		return "one of: " + strings.Join(sorted, ", ")
	}
	return ""
}
