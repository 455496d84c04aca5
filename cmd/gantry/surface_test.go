package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// TestSurfaceGoldensBuild carries every translate golden input through the
// whole pipeline: translate, then xds/envoy Build (which validates every
// proto) in both flavors. A translation that produces IR the data plane
// cannot take fails here, even when its own golden file is up to date.
func TestSurfaceGoldensBuild(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("..", "..", "gateway", "translate", "testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no golden inputs found")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := resource.Parse(filepath.Base(in), data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(res.Errors) > 0 {
				t.Skipf("input does not load (%s); the translate golden test reports it", res.Errors[0])
			}
			out := translate.Translate(res.Set, translate.Options{})
			for _, p := range out.Proxies {
				for _, fl := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
					if _, err := envoy.Build(p, envoy.Options{Flavor: fl}); err != nil {
						t.Errorf("%s (%s): %v", p.Name, fl, err)
					}
				}
			}
		})
	}
}
