package plist

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// keptEndsOfSlices is KeptEnds on plain slices, item by item.
func keptEndsOfSlices(a, b []int) (head, tail int) {
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	return head, tail
}

// KeptEnds agrees with an item-by-item count on versions made by random
// splices (insertions, removals, replacements) and on lists of the same
// items made apart.
func TestKeptEndsAgreesWithSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	next := 0
	for range 300 {
		n := rng.IntN(3 * maxChunk * 2)
		items := make([]int, n)
		for i := range items {
			next++
			items[i] = next
		}
		a := Of(items...)
		b := a
		for range rng.IntN(4) {
			from := rng.IntN(b.Len() + 1)
			to := min(from+rng.IntN(3), b.Len())
			add := make([]int, rng.IntN(3))
			for i := range add {
				next++
				add[i] = next
			}
			b = b.Splice(from, to, add...)
		}
		if rng.IntN(4) == 0 {
			b = Of(b.Slice()...)
		}
		h, tl := KeptEnds(a, b)
		wh, wt := keptEndsOfSlices(a.Slice(), b.Slice())
		if h != wh || tl != wt {
			t.Fatalf("KeptEnds = %d, %d; want %d, %d (lengths %d, %d)", h, tl, wh, wt, a.Len(), b.Len())
		}
	}
	// Repeated items: the ends never overlap.
	a, b := Of(1, 1, 1), Of(1, 1)
	if h, tl := KeptEnds(a, b); h != 2 || tl != 0 {
		t.Fatalf("KeptEnds of 1,1,1 and 1,1 = %d, %d; want 2, 0", h, tl)
	}
}

// A version made by one splice is compared through its shared chunks
// without reading their items (a NaN differs from itself).
func TestKeptEndsSkipsSharedChunks(t *testing.T) {
	nan := make([]float64, 10*chunkSize)
	for i := range nan {
		nan[i] = math.NaN()
	}
	l := Of(nan...)
	next := l.Splice(5*chunkSize, 5*chunkSize+1, 1)
	h, tl := KeptEnds(l, next)
	if h < 4*chunkSize || tl < 4*chunkSize {
		t.Fatalf("KeptEnds = %d, %d: it read the items of shared chunks", h, tl)
	}
}

func TestSame(t *testing.T) {
	a := Of(1, 2, 3)
	if !Same(a, a) || Same(a, Of(1, 2, 3)) || Same(a, a.Splice(0, 1, 1)) || !Same(List[int]{}, List[int]{}) {
		t.Fatal("Same disagrees with the versions it was given")
	}
	if b := a; !Same(a, b) || !slices.Equal(b.Slice(), a.Slice()) {
		t.Fatal("a copy of a list is not the same version")
	}
}

// An empty list is left out of JSON by omitzero, also when a splice
// emptied it.
func TestIsZeroOmitsEmptyLists(t *testing.T) {
	type holder struct {
		L List[int] `json:"l,omitzero"`
	}
	for _, l := range []List[int]{{}, Of[int](), Of(1).Splice(0, 1)} {
		b, err := json.Marshal(holder{L: l})
		if err != nil || string(b) != "{}" {
			t.Fatalf("empty list marshalled as %s (%v), want {}", b, err)
		}
	}
	if b, _ := json.Marshal(holder{L: Of(1)}); string(b) != `{"l":[1]}` {
		t.Fatalf("list of 1 marshalled as %s", b)
	}
}
