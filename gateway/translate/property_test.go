package translate

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// TestShuffledInputSameOutput: the same objects in any order give
// byte-identical output, for every golden input and several seeds.
func TestShuffledInputSameOutput(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "*"+inSuffix))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), inSuffix), func(t *testing.T) {
			res, opts := loadCase(t, in)
			want := render(t, Translate(res.Set, opts))
			for seed := uint64(1); seed <= 5; seed++ {
				objs := append([]resource.Object(nil), res.Objects...)
				rng := rand.New(rand.NewPCG(seed, seed*7919))
				rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
				set, _, dups := resource.BuildSet(objs)
				if len(dups) > 0 {
					t.Fatalf("seed %d: duplicates after shuffle: %v", seed, dups)
				}
				if got := render(t, Translate(set, opts)); !bytes.Equal(want, got) {
					t.Fatalf("seed %d: output differs from the unshuffled input", seed)
				}
			}
		})
	}
}

// TestInputNotMutated: translation leaves the Set exactly as it was.
func TestInputNotMutated(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "*"+inSuffix))
	for _, in := range ins {
		res, opts := loadCase(t, in)
		before, _ := loadCase(t, in)
		Translate(res.Set, opts)
		if !before.Set.Equal(res.Set) {
			t.Errorf("%s: Translate modified its input", in)
		}
	}
}

// TestTranslateIsRepeatable: two runs on one Set give the same bytes (no
// hidden state, no map order leaking into output).
func TestTranslateIsRepeatable(t *testing.T) {
	set := generateRoutes(200)
	a := render(t, Translate(set, Options{}))
	for i := 0; i < 3; i++ {
		if b := render(t, Translate(set, Options{})); !bytes.Equal(a, b) {
			t.Fatalf("run %d differs", i)
		}
	}
}

// TestGatewaysAreIndependent: each Gateway's proxy is the same whether it
// is translated with the other Gateways or alone (what scoped
// recomputation relies on).
func TestGatewaysAreIndependent(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "*"+inSuffix))
	checked := 0
	for _, in := range ins {
		res, opts := loadCase(t, in)
		if res.Set.Gateways.Len() < 2 {
			continue
		}
		full := Translate(res.Set, opts)
		for gw := range res.Set.Gateways.Values() {
			alone := *res.Set
			alone.Gateways = plist.Of(gw)
			one := Translate(&alone, opts)
			name := ProxyName(gw.Namespace, gw.Name)
			var want, got []byte
			for _, p := range full.Proxies {
				if p.Name == name {
					want = render(t, &Result{Proxies: []*ir.Proxy{p}})
				}
			}
			for _, p := range one.Proxies {
				if p.Name == name {
					got = render(t, &Result{Proxies: []*ir.Proxy{p}})
				}
			}
			if !bytes.Equal(want, got) {
				t.Errorf("%s: proxy %s differs when translated alone", in, name)
			}
			checked++
		}
	}
	if checked < 4 {
		t.Errorf("only %d gateways checked; the golden inputs should hold several multi-Gateway cases", checked)
	}
}
