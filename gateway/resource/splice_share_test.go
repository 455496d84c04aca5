package resource

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/internal/plist"
)

func manyRoutes(prefix string, n int) []Object {
	names := make([]string, n)
	for i := range names {
		names[i] = prefix + strconv.Itoa(i)
	}
	return testRoutes(names...)
}

// TestSplicedAgreesWithSlices: random parts (runs in and out of order,
// objects, empty runs) make the list a plain slice of the same parts
// holds, the previous Set is unchanged, and the spliced Set is Equal to
// the Set built from its objects though its chunks differ.
func TestSplicedAgreesWithSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	fresh := 0
	for trial := range 60 {
		prev, _, _ := BuildSet(manyRoutes("r", rng.IntN(700)))
		before := prev.HTTPRoutes.Slice()
		n := len(before)
		var parts []Part
		var want []*gwapiv1.HTTPRoute
		for at := 0; at < n || rng.IntN(3) == 0; {
			switch rng.IntN(6) {
			case 0, 1: // objects
				objs := manyRoutes("new"+strconv.Itoa(fresh)+"-", rng.IntN(4))
				fresh++
				parts = append(parts, Part{Len: len(objs), Objects: objs})
				for _, o := range objs {
					want = append(want, o.Value.(*gwapiv1.HTTPRoute))
				}
			case 2: // a run out of order
				from := rng.IntN(n + 1)
				k := rng.IntN(n - from + 1)
				parts = append(parts, Part{From: from, Len: k})
				want = append(want, before[from:from+k]...)
			default: // the next run in order, after a gap
				from := min(at+rng.IntN(3), n)
				k := rng.IntN(min(n-from, 300) + 1)
				parts = append(parts, Part{From: from, Len: k})
				want = append(want, before[from:from+k]...)
				at = from + k
			}
			if len(parts) > 40 {
				break
			}
		}
		next, err := prev.Spliced([]List{{Kind: KindHTTPRoute, Parts: parts}})
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if got := next.HTTPRoutes.Slice(); !slices.Equal(got, want) {
			t.Fatalf("trial %d: spliced %v, want %v", trial, routeNames(got), routeNames(want))
		}
		if !slices.Equal(prev.HTTPRoutes.Slice(), before) {
			t.Fatalf("trial %d: the previous Set changed", trial)
		}
		built := &Set{HTTPRoutes: plist.Of(want...), Sources: prev.Sources}
		if !next.Equal(built) || !built.Equal(next) {
			t.Fatalf("trial %d: the spliced Set is not Equal to the Set of its objects", trial)
		}
	}
}

// TestSetEqual: Equal compares objects by value, kind by kind in order,
// and places, whatever the chunks.
func TestSetEqual(t *testing.T) {
	a, _, _ := BuildSet(manyRoutes("r", 600))
	b, _, _ := BuildSet(manyRoutes("r", 600))
	if !a.Equal(b) || !a.Equal(a) || a.Equal(nil) || !(*Set)(nil).Equal(nil) {
		t.Fatal("equal Sets differ")
	}
	c, _, _ := BuildSet(manyRoutes("r", 599))
	d := b.Moved(map[Key]Source{{Kind: KindHTTPRoute, Namespace: "default", Name: "r1"}: {File: "x.yaml", Line: 1}})
	swapped, _ := b.Spliced([]List{{Kind: KindHTTPRoute, Parts: []Part{{From: 1, Len: 1}, {From: 0, Len: 1}, {From: 2, Len: 598}}}})
	for name, other := range map[string]*Set{"fewer": c, "moved": d, "reordered": swapped} {
		if a.Equal(other) {
			t.Fatalf("%s: Equal", name)
		}
	}
}

// TestSplicedSharesUntouchedChunks: replacing one object of a list of
// 10,000 copies one chunk; every other chunk is the previous Set's.
func TestSplicedSharesUntouchedChunks(t *testing.T) {
	prev, _, _ := BuildSet(manyRoutes("r", 10000))
	next := replaceOne(t, prev, 5000)
	old, cur := prev.HTTPRoutes.Chunks(), next.HTTPRoutes.Chunks()
	shared := 0
	for _, c := range cur {
		if slices.ContainsFunc(old, func(o []*gwapiv1.HTTPRoute) bool { return &o[0] == &c[0] }) {
			shared++
		}
	}
	if len(cur) != len(old) || shared != len(cur)-1 {
		t.Fatalf("%d of %d chunks shared (previous list: %d chunks)", shared, len(cur), len(old))
	}
}

// TestOneObjectSpliceCostsNoList: a one-object change of the Set of n
// objects allocates far less than a list of n pointers (8n bytes), at two
// sizes: the chunk index grows with n (32 bytes per 128 objects), the
// rest does not.
func TestOneObjectSpliceCostsNoList(t *testing.T) {
	for _, n := range []int{4000, 40000} {
		prev, _, _ := BuildSet(manyRoutes("r", n))
		const runs = 50
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range runs {
			replaceOne(t, prev, i*n/runs)
		}
		runtime.ReadMemStats(&after)
		perOp := int(after.TotalAlloc-before.TotalAlloc) / runs
		if limit := n/2 + 8192; perOp > limit {
			t.Errorf("%d objects: a one-object splice allocates %d bytes, want at most %d (a list copy: %d)", n, perOp, limit, 8*n)
		}
		t.Logf("%d objects: %d bytes per one-object splice", n, perOp)
	}
}

// replaceOne returns prev with its HTTPRoute at i replaced, as the file
// provider splices one changed document.
func replaceOne(t *testing.T, prev *Set, i int) *Set {
	t.Helper()
	n := prev.HTTPRoutes.Len()
	fresh := testRoutes("changed")
	next, err := prev.Spliced([]List{{Kind: KindHTTPRoute, Parts: []Part{
		{From: 0, Len: i}, {Len: 1, Objects: fresh}, {From: i + 1, Len: n - i - 1},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return next
}
