package resource

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesLoad keeps the standalone examples free of load errors and
// warnings.
func TestExamplesLoad(t *testing.T) {
	for _, dir := range []string{"../../examples/quickstart", "../../examples/standalone"} {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			if dir == "../../examples/quickstart" {
				t.Fatalf("quickstart example missing: %v", err)
			}
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := LoadWithDiagnostics(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range append(res.Errors, res.Warnings...) {
				t.Error(d)
			}
			if len(res.Objects) == 0 {
				t.Error("example has no objects")
			}
		})
	}
}
