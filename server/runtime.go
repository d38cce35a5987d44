package server

import (
	"os"
	"runtime/debug"
)

// TuneGC sets the garbage collector for a server process. Unless GOGC is set
// in the environment, the heap may grow to three times the live data between
// collections (GOGC=200) instead of twice: a request allocates much
// short-lived memory (decoded documents, expression environments, JSON), and
// the collector's share of the CPU is what is saved. GOMEMLIMIT, when set,
// still caps the heap. docs/performance.md has the measurement.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}
