package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recorder is a testing.TB that keeps failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// run calls f with a recorder in its own goroutine, so that Fatalf can stop it.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.out.yaml")

	if r := run(t, func(tb testing.TB) { Check(tb, path, []byte("x: 1\n"), false) }); !r.fatal ||
		!strings.Contains(r.errors[0], "missing golden "+path) || !strings.Contains(r.errors[0], "go test ./internal/golden/ -update") {
		t.Errorf("missing file: %+v", r.errors)
	}
	if r := run(t, func(tb testing.TB) { Check(tb, path, []byte("x: 1\n"), true) }); len(r.errors) > 0 {
		t.Fatalf("update: %v", r.errors)
	}
	if data, _ := os.ReadFile(path); string(data) != "x: 1\n" {
		t.Errorf("update wrote %q", data)
	}
	if r := run(t, func(tb testing.TB) { Check(tb, path, []byte("x: 1\n"), false) }); len(r.errors) > 0 {
		t.Errorf("equal output: %v", r.errors)
	}
	r := run(t, func(tb testing.TB) { Check(tb, path, []byte("x: 2\n"), false) })
	if len(r.errors) != 1 || r.fatal || !strings.Contains(r.errors[0], path+" differs (-want +got") ||
		!strings.Contains(r.errors[0], `x: 1`) || !strings.Contains(r.errors[0], `x: 2`) {
		t.Errorf("different output: fatal=%v %q", r.fatal, r.errors)
	}
}

func TestHeader(t *testing.T) {
	data := "# controllerName: example.com/ctl\n" +
		"# A description line without a key\n" +
		"  # namespaces : a, b\n" +
		"# namespaces: c\n" +
		"apiVersion: v1\n" +
		"# after: the header\n"
	want := []Field{
		{Key: "controllerName", Value: "example.com/ctl"},
		{Key: "namespaces", Value: "a, b"},
		{Key: "namespaces", Value: "c"},
	}
	if d := cmp.Diff(want, Header([]byte(data))); d != "" {
		t.Errorf("Header (-want +got):\n%s", d)
	}
	if got := Header([]byte("kind: Service\n# k: v\n")); len(got) != 0 {
		t.Errorf("no header: %v", got)
	}
}

func TestCasesAndOrphans(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.in.yaml", "a.in.yaml", "a.out.yaml", "gone.out.yaml", "note.txt"} {
		write(t, filepath.Join(dir, f), "x\n")
	}
	want := []Case{{Name: "a", Path: filepath.Join(dir, "a.in.yaml")}, {Name: "b", Path: filepath.Join(dir, "b.in.yaml")}}
	if d := cmp.Diff(want, Cases(t, dir, ".in.yaml")); d != "" {
		t.Errorf("Cases (-want +got):\n%s", d)
	}
	r := run(t, func(tb testing.TB) { CheckOrphans(tb, dir, ".in.yaml", ".out.yaml") })
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "orphaned golden "+filepath.Join(dir, "gone.out.yaml")) {
		t.Errorf("orphans: %q", r.errors)
	}
}
