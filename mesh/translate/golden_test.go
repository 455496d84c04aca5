package translate

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current output")

// goldenCases lists testdata/<case>.in.yaml inputs by case name.
func goldenCases(t testing.TB) map[string]string {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, in := range ins {
		out[strings.TrimSuffix(filepath.Base(in), ".in.yaml")] = in
	}
	return out
}

// goldenCasesF lists the golden inputs in name order (fuzz seeds).
func goldenCasesF(f *testing.F) []string {
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	return ins
}

// loadSet parses one input file; golden inputs must load without errors.
// A leading "# namespaces: a,b" line sets Options.Namespaces.
func loadSet(t *testing.T, path string) (*resource.Set, Options) {
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
		t.Fatalf("input error: %s", d)
	}
	var opts Options
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(line, "#")), "namespaces:"); ok {
			for _, n := range strings.Split(v, ",") {
				opts.Namespaces = append(opts.Namespaces, strings.TrimSpace(n))
			}
		}
	}
	return res.Set, opts
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	if len(cases) < 6 {
		t.Errorf("only %d golden cases", len(cases))
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			set, opts := loadSet(t, in)
			res := Translate(set, opts)
			got, err := yaml.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			outPath := filepath.Join("testdata", name+".out.yaml")
			if *update {
				if err := os.WriteFile(outPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(outPath)
				if err != nil {
					t.Fatalf("missing golden (go test ./mesh/translate/ -update): %v", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", outPath, diff)
				}
			}
			// Every proxy must build and validate in both flavors.
			for _, p := range res.Proxies {
				for _, f := range []envoy.Flavor{envoy.FlavorGRPC, envoy.FlavorEnvoy} {
					r, err := envoy.Build(p, envoy.Options{Flavor: f})
					if err != nil {
						t.Fatalf("%s (%s): build: %v", p.Name, f, err)
					}
					if err := envoy.Validate(r); err != nil {
						t.Fatalf("%s (%s): validate: %v", p.Name, f, err)
					}
				}
			}
		})
	}
}

// TestNoOrphanGoldens fails for an output without its input.
func TestNoOrphanGoldens(t *testing.T) {
	outs, _ := filepath.Glob(filepath.Join("testdata", "*.out.yaml"))
	cases := goldenCases(t)
	for _, o := range outs {
		if _, ok := cases[strings.TrimSuffix(filepath.Base(o), ".out.yaml")]; !ok {
			t.Errorf("orphaned golden %s", o)
		}
	}
}
