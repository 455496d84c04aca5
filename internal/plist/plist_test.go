package plist

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Random splices agree with the same edits on a plain slice, every
// version stays what it was, chunks stay within their bounds, and an edit
// shares every chunk it did not reach.
func TestSpliceAgreesWithSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	next := 0
	fresh := func(k int) []int {
		out := make([]int, k)
		for i := range out {
			next++
			out[i] = next
		}
		return out
	}
	for trial := range 40 {
		model := fresh(rng.IntN(3 * maxChunk * (trial%4 + 1)))
		l := Of(model...)
		type version struct {
			l    List[int]
			want []int
		}
		var kept []version
		for step := range 200 {
			from := rng.IntN(len(model) + 1)
			to := from + rng.IntN(min(len(model)-from, 3*maxChunk)+1)
			if rng.IntN(4) > 0 {
				to = min(from+rng.IntN(2), len(model))
			}
			items := fresh(rng.IntN(3))
			if rng.IntN(20) == 0 {
				items = fresh(rng.IntN(2 * maxChunk))
			}
			prev := l
			l = l.Splice(from, to, items...)
			model = slices.Concat(model[:from:from], items, model[to:])
			check(t, l, model)
			shared(t, prev, l, from, to)
			if step%50 == 0 {
				kept = append(kept, version{l, slices.Clone(model)})
			}
		}
		for _, v := range kept {
			check(t, v.l, v.want)
		}
	}
}

func check(t *testing.T, l List[int], want []int) {
	t.Helper()
	if l.Len() != len(want) || !slices.Equal(l.Slice(), want) {
		t.Fatalf("list holds %v, want %v", l.Slice(), want)
	}
	for i, v := range l.All() {
		if v != want[i] || l.At(i) != v {
			t.Fatalf("item %d: %d, At %d, want %d", i, v, l.At(i), want[i])
		}
	}
	for k, c := range l.chunks {
		if len(c) == 0 || len(c) > maxChunk {
			t.Fatalf("chunk %d holds %d items (at most %d, none empty)", k, len(c), maxChunk)
		}
		if len(c) < minChunk && len(l.chunks) > 1 && len(want) >= minChunk {
			t.Fatalf("chunk %d holds %d items, fewer than %d, beside others", k, len(c), minChunk)
		}
	}
}

// shared fails unless next holds every chunk of prev that lies wholly
// outside the chunks around [from, to), the same slice.
func shared(t *testing.T, prev, next List[int], from, to int) {
	t.Helper()
	lo, hi := from-maxChunk, to+maxChunk
	start := 0
	for _, c := range prev.Chunks() {
		end := start + len(c)
		if end < lo || start > hi {
			if !slices.ContainsFunc(next.Chunks(), func(d []int) bool { return &d[0] == &c[0] }) {
				t.Fatalf("the chunk [%d, %d) was copied by an edit of [%d, %d)", start, end, from, to)
			}
		}
		start = end
	}
}

func TestSpliceOfOneItemCopiesOneChunk(t *testing.T) {
	l := Of(make([]int, 30000)...)
	next := l.Splice(15000, 15001, 1)
	if next.At(15000) != 1 || l.At(15000) != 0 {
		t.Fatal("the edit is not in the new version only")
	}
	copied := 0
	for i, c := range next.Chunks() {
		if &c[0] != &l.chunks[i][0] {
			copied++
		}
	}
	if copied != 1 {
		t.Fatalf("%d chunks copied, want 1", copied)
	}
}

func TestEmptyAndBounds(t *testing.T) {
	var l List[string]
	if l.Len() != 0 || l.Slice() != nil {
		t.Fatal("the zero list is not empty")
	}
	l = l.Splice(0, 0, "a", "b")
	if got := l.Slice(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("insert into the empty list: %v", got)
	}
	if e := l.Splice(0, 2); e.Len() != 0 || e.chunks != nil {
		t.Fatalf("removing everything leaves %v", e.chunks)
	}
	for _, bad := range [][2]int{{-1, 0}, {1, 0}, {0, 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Splice(%d, %d) on 2 items did not panic", bad[0], bad[1])
				}
			}()
			l.Splice(bad[0], bad[1])
		}()
	}
	defer func() {
		if recover() == nil {
			t.Error("At(2) on 2 items did not panic")
		}
	}()
	l.At(2)
}

// Append adds at the end; Filter keeps the items asked for, in order, and
// returns the list itself (every chunk shared) when it keeps them all.
func TestAppendAndFilter(t *testing.T) {
	items := make([]int, 1000)
	for i := range items {
		items[i] = i
	}
	l := Of(items[:600]...).Append(items[600:]...)
	check(t, l, items)
	if all := l.Filter(func(int) bool { return true }); &all.Chunks()[0] != &l.Chunks()[0] || all.Len() != l.Len() {
		t.Fatal("a filter that keeps every item made a new list")
	}
	for _, tc := range []struct {
		keep func(int) bool
		want []int
	}{
		{func(v int) bool { return v%3 == 0 }, slices.DeleteFunc(slices.Clone(items), func(v int) bool { return v%3 != 0 })},
		{func(v int) bool { return v != 0 }, items[1:]},
		{func(v int) bool { return v != 999 }, items[:999]},
		{func(int) bool { return false }, nil},
	} {
		check(t, l.Filter(tc.keep), tc.want)
	}
	check(t, l, items)
	check(t, List[int]{}.Append(), nil)
}

// Differ yields exactly the positions where two lists differ, whatever
// their chunks, and skips what two versions share.
func TestDiffer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := rng.IntN(2000)
		a := Of(make([]int, n)...)
		b := a
		for range rng.IntN(5) {
			if n > 0 {
				i := rng.IntN(n)
				b = b.Splice(i, i+1, rng.IntN(3))
			}
		}
		if rng.IntN(3) == 0 {
			b = Of(b.Slice()...) // the same items in other chunks
		}
		var want [][2]int
		for i := range n {
			if x, y := a.At(i), b.At(i); x != y {
				want = append(want, [2]int{x, y})
			}
		}
		var got [][2]int
		for x, y := range Differ(a, b) {
			got = append(got, [2]int{x, y})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Differ yields %v, want %v", got, want)
		}
	}
	// Two versions of one list share every chunk but the edited one: the
	// items of the shared chunks are not read (a chunk holding a NaN would
	// differ from itself).
	nan := make([]float64, 1000)
	for i := range nan {
		nan[i] = math.NaN()
	}
	l := Of(nan...)
	next := l.Splice(500, 501, 1)
	count := 0
	for range Differ(l, next) {
		count++
	}
	if count > maxChunk {
		t.Fatalf("Differ looked at %d items of shared chunks", count)
	}
}

func TestEqualAndJSON(t *testing.T) {
	a := Of(1, 2, 3)
	b := Of[int]().Splice(0, 0, 1, 3).Splice(1, 1, 2)
	eq := func(x, y int) bool { return x == y }
	if !Equal(a, b, eq) || Equal(a, b.Splice(0, 1), eq) || Equal(a, b.Splice(0, 1, 9), eq) {
		t.Fatal("Equal disagrees with the items")
	}
	out, err := json.Marshal(struct {
		L List[int] `json:"l,omitzero"`
		E List[int] `json:"e,omitzero"`
	}{L: a})
	if err != nil || string(out) != `{"l":[1,2,3]}` {
		t.Fatalf("marshal: %s, %v", out, err)
	}
	var back struct{ L List[int] }
	if err := json.Unmarshal([]byte(`{"L":[1,2,3]}`), &back); err != nil || !Equal(back.L, a, eq) {
		t.Fatalf("unmarshal: %v, %v", back.L.Slice(), err)
	}
}

// BinarySearchFunc finds what slices.BinarySearchFunc finds on the flat
// items, for present and absent targets, across chunk boundaries and
// after edits.
func TestBinarySearchFuncAgreesWithSlices(t *testing.T) {
	byValue := func(a, b int) int { return a - b }
	for _, n := range []int{0, 1, 5, chunkSize, 3*maxChunk + 7} {
		items := make([]int, n)
		for i := range items {
			items[i] = 2 * i // odd targets are absent
		}
		l := Of(items...)
		if n > 10 {
			l = l.Splice(3, 4, 6).Splice(n/2, n/2+1) // a copied chunk, then a shorter one
			items = slices.Delete(items, n/2, n/2+1)
		}
		for target := -1; target <= 2*n+1; target++ {
			wi, wf := slices.BinarySearchFunc(items, target, byValue)
			if gi, gf := BinarySearchFunc(l, target, byValue); gi != wi || gf != wf {
				t.Fatalf("n=%d target %d: got (%d, %v), want (%d, %v)", n, target, gi, gf, wi, wf)
			}
		}
	}
}

// Range and Backward yield what the flat items hold at those positions,
// across chunk boundaries, and stop when asked to.
func TestRangeAndBackwardAgreeWithSlices(t *testing.T) {
	items := make([]int, 3*maxChunk+7)
	for i := range items {
		items[i] = i * 3
	}
	l := Of(items...).Splice(5, 6, -1, -2) // a copied chunk of another length
	items = slices.Concat(items[:5:5], []int{-1, -2}, items[6:])
	for _, r := range [][2]int{{0, 0}, {0, len(items)}, {3, 9}, {chunkSize - 1, chunkSize + 1}, {len(items) - 1, len(items)}, {200, 2*maxChunk + 3}} {
		var got []int
		for i, v := range l.Range(r[0], r[1]) {
			if v != items[i] {
				t.Fatalf("Range%v: position %d holds %d, want %d", r, i, v, items[i])
			}
			got = append(got, v)
		}
		if want := items[r[0]:r[1]]; !slices.Equal(got, want) && len(want)+len(got) > 0 {
			t.Fatalf("Range%v yields %v, want %v", r, got, want)
		}
	}
	var back []int
	for i, v := range l.Backward() {
		if v != items[i] {
			t.Fatalf("Backward: position %d holds %d, want %d", i, v, items[i])
		}
		back = append(back, v)
	}
	slices.Reverse(back)
	if !slices.Equal(back, items) {
		t.Fatalf("Backward yields %v reversed, want %v", back, items)
	}
	n := 0
	for range l.Backward() {
		if n++; n == 3 {
			break
		}
	}
	for range l.Range(0, len(items)) {
		if n++; n == 6 {
			break
		}
	}
	if n != 6 {
		t.Fatalf("stopping early: %d items seen, want 6", n)
	}
}

// The Equal method compares items deeply and ignores chunk boundaries.
func TestEqualMethodIgnoresChunks(t *testing.T) {
	items := make([][]int, 3*chunkSize)
	for i := range items {
		items[i] = []int{i}
	}
	a := Of(items...)
	b := a.Splice(1, 2, []int{1}).Splice(chunkSize, chunkSize+1, []int{chunkSize}) // other chunks, equal items
	if len(a.Chunks()) == len(b.Chunks()) && &a.Chunks()[0][0] == &b.Chunks()[0][0] {
		t.Fatal("the edits shared the first chunk; the test compares nothing")
	}
	if !a.Equal(b) || !b.Equal(a) {
		t.Error("lists of deeply equal items are not Equal")
	}
	if c := b.Splice(5, 6, []int{-5}); a.Equal(c) {
		t.Error("lists that differ in one item are Equal")
	}
	if a.Equal(b.Splice(0, 1)) || !(List[[]int]{}).Equal(Of[[]int]()) {
		t.Error("Equal is wrong about lengths or empty lists")
	}
}
