package envoy

import (
	"encoding/json"
	"testing"

	"github.com/gantryproxy/gantry/xds/ir"
)

// FuzzBuild feeds arbitrary IR (as JSON) to Build in both flavors: it must
// never panic, and whatever it returns without an error has passed Validate
// (Build runs it); Validate must also agree when run again. Seeds are the
// golden inputs. Run with: go test -fuzz FuzzBuild ./xds/envoy
func FuzzBuild(f *testing.F) {
	for _, c := range irCases(f) {
		b, err := json.Marshal(&c.Case.Proxy)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p ir.Proxy
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		for _, flavor := range []Flavor{FlavorEnvoy, FlavorGRPC} {
			res, err := Build(&p, Options{Flavor: flavor})
			if err != nil {
				continue
			}
			if err := Validate(res); err != nil {
				t.Fatalf("%s: Build returned resources that fail Validate: %v", flavor, err)
			}
		}
	})
}
