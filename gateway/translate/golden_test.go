package translate

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource"
)

var update = flag.Bool("update", false, "rewrite the golden *.out.yaml files from the current output")

const (
	inSuffix  = ".in.yaml"
	outSuffix = ".out.yaml"
)

// caseOptions reads per-case options from the leading "# key: value"
// comment lines of an input file.
func caseOptions(t *testing.T, data []byte) Options {
	t.Helper()
	var opts Options
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "controllerName":
			opts.ControllerName = strings.TrimSpace(v)
		}
	}
	return opts
}

// loadCase parses one input file; every golden input must load cleanly.
func loadCase(t *testing.T, path string) (*resource.LoadResult, Options) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse(filepath.Base(path), data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	for _, d := range res.Errors {
		t.Errorf("input error: %s", d)
	}
	if t.Failed() {
		t.FailNow()
	}
	return res, caseOptions(t, data)
}

// render is the golden form of a translation: IR and status as YAML.
func render(t testing.TB, r *Result) []byte {
	t.Helper()
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	return out
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "*"+inSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) < 40 {
		t.Errorf("only %d golden cases; want at least 40", len(ins))
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), inSuffix)
		t.Run(name, func(t *testing.T) {
			res, opts := loadCase(t, in)
			got := render(t, Translate(res.Set, opts))
			outPath := strings.TrimSuffix(in, inSuffix) + outSuffix
			if *update {
				if err := os.WriteFile(outPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("missing golden (run go test ./gateway/translate/ -update): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", outPath, diff)
			}
		})
	}
}

// TestNoOrphanGoldens fails for an output file without its input.
func TestNoOrphanGoldens(t *testing.T) {
	outs, err := filepath.Glob(filepath.Join("testdata", "*"+outSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range outs {
		in := strings.TrimSuffix(out, outSuffix) + inSuffix
		if _, err := os.Stat(in); err != nil {
			t.Errorf("orphaned golden %s: no %s", out, in)
		}
	}
}
