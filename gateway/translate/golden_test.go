package translate

import (
	"flag"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/internal/golden/goldenset"
)

var update = flag.Bool("update", false, "rewrite the golden *.out.yaml files from the current output")

const (
	inSuffix  = ".in.yaml"
	outSuffix = ".out.yaml"
)

// caseOptions reads per-case options from the leading "# key: value"
// comment lines of an input file.
func caseOptions(header []golden.Field) Options {
	var opts Options
	for _, f := range header {
		switch f.Key {
		case "controllerName":
			opts.ControllerName = f.Value
		}
	}
	return opts
}

// loadCase parses one input file; every golden input must load cleanly.
func loadCase(t *testing.T, path string) (*resource.LoadResult, Options) {
	t.Helper()
	res, header := goldenset.Load(t, path)
	return res, caseOptions(header)
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
	cases := golden.Cases(t, "testdata", inSuffix)
	if len(cases) < 40 {
		t.Errorf("only %d golden cases; want at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			res, opts := loadCase(t, c.Path)
			got := render(t, Translate(res.Set, opts))
			golden.Check(t, filepath.Join("testdata", c.Name+outSuffix), got, *update)
		})
	}
}

// TestNoOrphanGoldens fails for an output file without its input.
func TestNoOrphanGoldens(t *testing.T) {
	golden.CheckOrphans(t, "testdata", inSuffix, outSuffix)
}
