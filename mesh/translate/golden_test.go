package translate

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/internal/golden/goldenset"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current output")

const (
	inSuffix  = ".in.yaml"
	outSuffix = ".out.yaml"
)

// goldenCases lists the testdata/<case>.in.yaml inputs in name order.
func goldenCases(t testing.TB) []golden.Case {
	t.Helper()
	return golden.Cases(t, "testdata", inSuffix)
}

// loadSet parses one input file; golden inputs must load without errors.
// A leading "# namespaces: a,b" line sets Options.Namespaces,
// "# telemetry: KEY=VALUE ..." Options.Telemetry (as --mesh-telemetry), and
// "# mtls: <trust domain>" turns mTLS on.
func loadSet(t *testing.T, path string) (*resource.Set, Options) {
	t.Helper()
	res, header := goldenset.Load(t, path)
	var opts Options
	for _, f := range header {
		switch f.Key {
		case "namespaces":
			for _, n := range strings.Split(f.Value, ",") {
				opts.Namespaces = append(opts.Namespaces, strings.TrimSpace(n))
			}
		case "mtls":
			opts.MTLS = &MTLS{TrustDomain: strings.TrimSpace(f.Value)}
		case "telemetry":
			tel, err := params.ParseTelemetry(strings.Fields(f.Value))
			if err != nil {
				t.Fatalf("%s: telemetry: %v", path, err)
			}
			opts.Telemetry = tel
		}
	}
	return res.Set, opts
}

// checkBuilds builds every proxy in both xDS flavors and validates the
// result.
func checkBuilds(t *testing.T, proxies []*ir.Proxy) {
	t.Helper()
	for _, p := range proxies {
		for _, flavor := range []envoy.Flavor{envoy.FlavorGRPC, envoy.FlavorEnvoy} {
			r, err := envoy.Build(p, envoy.Options{Flavor: flavor})
			if err != nil {
				t.Fatalf("xDS build (%s) of %s: %v", flavor, p.Name, err)
			}
			// Build validates already; checking again keeps the
			// requirement visible here.
			if err := envoy.Validate(r); err != nil {
				t.Fatalf("xDS of %s (%s) is invalid: %v", p.Name, flavor, err)
			}
		}
	}
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	if len(cases) < 6 {
		t.Errorf("only %d golden cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			set, opts := loadSet(t, c.Path)
			res := Translate(set, opts)
			got, err := yaml.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", c.Name+outSuffix), got, *update)
			// Every proxy must build and validate in both flavors.
			checkBuilds(t, res.Proxies)
		})
	}
}

// TestNoOrphanGoldens fails for an output without its input.
func TestNoOrphanGoldens(t *testing.T) {
	golden.CheckOrphans(t, "testdata", inSuffix, outSuffix)
}
