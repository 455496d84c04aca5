package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// FuzzTranslate feeds YAML through the loader, translation and the xDS
// builder: no input may panic, the output must be deterministic and well
// formed, and every proxy must build to xDS that passes validation.
// Run it with: go test ./gateway/translate/ -run '^$' -fuzz FuzzTranslate
// -fuzztime 60s -fuzzminimizetime 50x (minimizing large YAML inputs for the
// default 60 s each stalls the workers).
func FuzzTranslate(f *testing.F) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "*"+inSuffix))
	for _, in := range ins {
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
		checkResult(t, out)
		again := Translate(res.Set, Options{})
		if string(render(t, out)) != string(render(t, again)) {
			t.Fatal("two translations of one Set differ")
		}
		for _, p := range out.Proxies {
			for _, flavor := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
				res, err := envoy.Build(p, envoy.Options{Flavor: flavor})
				if err != nil {
					t.Fatalf("xDS build (%s) of %s: %v", flavor, p.Name, err)
				}
				// Build validates already; checking again keeps the
				// requirement visible here (ValidateAll, typed configs,
				// consistency).
				if err := envoy.Validate(res); err != nil {
					t.Fatalf("xDS of %s (%s) is invalid: %v", p.Name, flavor, err)
				}
			}
		}
	})
}

// checkResult verifies invariants every translation must hold: names are
// unique and sorted, every referenced route config, cluster and secret
// exists.
func checkResult(t *testing.T, r *Result) {
	t.Helper()
	if r == nil || r.Status == nil {
		t.Fatal("nil result or status")
	}
	for i, p := range r.Proxies {
		if i > 0 && r.Proxies[i-1].Name >= p.Name {
			t.Fatalf("proxies not sorted: %s then %s", r.Proxies[i-1].Name, p.Name)
		}
		rcs, clusters, secrets := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, rc := range p.RouteConfigs {
			rcs[rc.Name] = true
		}
		for c := range p.Clusters.Values() {
			clusters[c.Name] = true
		}
		for _, s := range p.Secrets {
			secrets[s.Name] = true
		}
		for _, l := range p.Listeners {
			for _, fc := range l.FilterChains {
				if fc.HTTP != nil && !rcs[fc.HTTP.RouteConfigName] {
					t.Fatalf("%s: listener %s names missing route config %s", p.Name, l.Name, fc.HTTP.RouteConfigName)
				}
				if fc.TLS != nil {
					for _, s := range fc.TLS.CertificateSecrets {
						if !secrets[s] {
							t.Fatalf("%s: chain %s names missing secret %s", p.Name, fc.Name, s)
						}
					}
				}
			}
		}
		for _, rc := range p.RouteConfigs {
			for vh := range rc.VirtualHosts.Values() {
				names := map[string]bool{}
				for _, rt := range vh.Routes {
					if names[rt.Name] {
						t.Fatalf("%s: duplicate route %s in virtual host %s", p.Name, rt.Name, vh.Name)
					}
					names[rt.Name] = true
					actions := 0
					for _, set := range []bool{rt.Forward != nil, rt.Redirect != nil, rt.DirectResponse != nil} {
						if set {
							actions++
						}
					}
					if actions != 1 {
						t.Fatalf("%s: route %s has %d actions", p.Name, rt.Name, actions)
					}
					if rt.Forward != nil {
						for _, b := range rt.Forward.Backends {
							if b.Cluster != "" && !clusters[b.Cluster] {
								t.Fatalf("%s: route %s names missing cluster %s", p.Name, rt.Name, b.Cluster)
							}
						}
						for _, m := range rt.Forward.Mirrors {
							if !clusters[m.Cluster] {
								t.Fatalf("%s: route %s mirrors to missing cluster %s", p.Name, rt.Name, m.Cluster)
							}
						}
					}
				}
			}
		}
	}
}
