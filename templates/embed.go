// Package templates embeds the built-in catalog of template packages in the
// binary. A test checks that every package folder here is embedded.
package templates

import "embed"

// FS holds one folder per package (package.yaml, entity files, prints, tests).
//
//go:embed core cod crm inventory purchasing sales settlement
var FS embed.FS
