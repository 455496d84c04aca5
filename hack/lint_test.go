package hack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lintFixture is a module with one finding of each kind make lint must
// fail on: unused unexported code, an unused result of a pure function and
// an exported function nothing calls.
var lintFixture = map[string]string{
	"go.mod":         "module example.com/lintfixture\n\ngo 1.24\n",
	"lib/lib.go":     "// Package lib is a lint fixture.\npackage lib\n\nimport \"strings\"\n\n// Used is called.\nfunc Used(s string) string {\n\tstrings.ToUpper(s)\n\treturn s\n}\n\nfunc unused() {}\n\n// Dead is called by nobody.\nfunc Dead() {}\n",
	"cmd/x/main.go":  "// Command x is a lint fixture.\npackage main\n\nimport \"example.com/lintfixture/lib\"\n\nfunc main() { _ = lib.Used(\"x\") }\n",
	"deadcode.allow": "# nothing allowed\n",
}

func writeLintFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range lintFixture {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf, err := os.ReadFile("../staticcheck.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "staticcheck.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runLint runs one of make lint's scripts on the fixture; it must fail and
// name every wanted finding.
func runLint(t *testing.T, dir, script string, env []string, want ...string) {
	t.Helper()
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(abs, "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s passed on dead code and an unused result:\n%s", script, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("%s output lacks %q:\n%s", script, w, out)
		}
	}
}

// TestLintFailsOnDeadCode runs make lint's staticcheck (with the
// repository's staticcheck.conf) and dead code scripts on a fixture module:
// both must fail, naming the findings.
func TestLintFailsOnDeadCode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the lint gate test runs staticcheck and deadcode")
	}
	dir := writeLintFixture(t)
	runLint(t, dir, "staticcheck.sh", nil, "U1000", "SA4017")
	runLint(t, dir, "deadcode.sh", []string{"DEADCODE_ALLOW=" + filepath.Join(dir, "deadcode.allow")}, "Dead is dead code")
}
