package templates

import (
	"io/fs"
	"os"
	"path"
	"testing"
)

// Every package folder of the catalog must be in the embedded FS, or the binary
// would ship without it.
func TestEveryPackageIsEmbedded(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(path.Join(e.Name(), "package.yaml")); err != nil {
			continue
		}
		n++
		if _, err := fs.Stat(FS, path.Join(e.Name(), "package.yaml")); err != nil {
			t.Errorf("package %s is not embedded: add it to the go:embed line in embed.go", e.Name())
		}
	}
	if n == 0 {
		t.Fatal("no package folders found")
	}
}
