package translate

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// FuzzTranslate feeds YAML through the loader, the mesh translation and the
// xDS builder: no input may panic, translation must be deterministic, and
// every group must build to valid xDS in both flavors. The golden inputs are
// the seed corpus (run by plain go test). Fuzz with:
// go test ./mesh/translate/ -run '^$' -fuzz FuzzTranslate -fuzztime 60s -fuzzminimizetime 50x
func FuzzTranslate(f *testing.F) {
	for _, in := range goldenCasesF(f) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := resource.Parse("fuzz.yaml", data)
		if err != nil || res == nil || res.Set == nil {
			return
		}
		out := Translate(res.Set, Options{})
		a, err := yaml.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := yaml.Marshal(Translate(res.Set, Options{}))
		if string(a) != string(b) {
			t.Fatal("two translations of one Set differ")
		}
		for _, p := range out.Proxies {
			for _, flavor := range []envoy.Flavor{envoy.FlavorGRPC, envoy.FlavorEnvoy} {
				r, err := envoy.Build(p, envoy.Options{Flavor: flavor})
				if err != nil {
					t.Fatalf("xDS build (%s) of %s: %v", flavor, p.Name, err)
				}
				if err := envoy.Validate(r); err != nil {
					t.Fatalf("xDS of %s (%s) is invalid: %v", p.Name, flavor, err)
				}
			}
		}
	})
}
