package translate

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// FuzzTranslate feeds YAML through the loader, the mesh translation and the
// xDS builder: no input may panic, translation must be deterministic, and
// every group must build to valid xDS in both flavors. The golden inputs are
// the seed corpus (run by plain go test). Fuzz with:
// go test ./mesh/translate/ -run '^$' -fuzz FuzzTranslate -fuzztime 60s -fuzzminimizetime 50x
func FuzzTranslate(f *testing.F) {
	for _, c := range goldenCases(f) {
		data, err := os.ReadFile(c.Path)
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
		checkBuilds(t, out.Proxies)
	})
}
