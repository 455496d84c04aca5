package translate

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
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
		if !reflect.DeepEqual(before.Set, res.Set) {
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
