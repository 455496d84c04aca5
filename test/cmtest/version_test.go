package cmtest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var certManagerRequire = regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/cert-manager/cert-manager (v\S+)`)

// TestControllerVersionMatchesGantry: the controller binary is built from
// the cert-manager version whose API types and CRDs Gantry uses.
func TestControllerVersionMatchesGantry(t *testing.T) {
	versions := map[string]string{}
	for _, f := range []string{"go.mod", filepath.Join("hack", "cert-manager-controller", "go.mod")} {
		data, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		m := certManagerRequire.FindSubmatch(data)
		if m == nil {
			t.Fatalf("%s requires no github.com/cert-manager/cert-manager", f)
		}
		versions[f] = string(m[1])
	}
	if len(versions) != 2 || versions["go.mod"] != versions[filepath.Join("hack", "cert-manager-controller", "go.mod")] {
		t.Fatalf("cert-manager versions differ: %v", versions)
	}
}
