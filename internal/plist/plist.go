// Package plist is a persistent list: an immutable sequence held in chunks,
// where a version made by Splice shares with the one it was made from every
// chunk the edit did not touch. Replacing one item of a list of n costs a
// copy of its chunk (at most maxChunk items) and of the chunk index (n /
// chunkSize entries), not a copy of n items; a reader of an older version
// is never disturbed, so versions can be handed to other goroutines.
package plist

import (
	"encoding/json"
	"iter"
	"reflect"
	"slices"
	"sort"
)

const (
	// chunkSize is the size of the chunks Of makes.
	chunkSize = 128
	// maxChunk and minChunk bound a chunk an edit makes: larger ones are
	// split, smaller ones joined with a neighbour.
	maxChunk = 2 * chunkSize
	minChunk = chunkSize / 4
)

// List is an immutable list of T. The zero List is empty. Lists are values:
// copying one shares its chunks, which are never modified.
type List[T any] struct {
	chunks [][]T
	// ends[i] is the number of items in chunks[:i+1].
	ends []int
}

// Of returns a list of items (copied).
func Of[T any](items ...T) List[T] {
	var l List[T]
	l.chunks, l.ends = appendChunks(nil, nil, 0, items, chunkSize)
	return l
}

// appendChunks appends items to chunks as copies of at most size items each,
// of near-equal length, with their running ends starting from base.
func appendChunks[T any](chunks [][]T, ends []int, base int, items []T, size int) ([][]T, []int) {
	if len(items) == 0 {
		return chunks, ends
	}
	k := (len(items) + size - 1) / size
	for i := range k {
		part := items[i*len(items)/k : (i+1)*len(items)/k]
		base += len(part)
		chunks, ends = append(chunks, slices.Clone(part)), append(ends, base)
	}
	return chunks, ends
}

// Len is the number of items.
func (l List[T]) Len() int {
	if len(l.ends) == 0 {
		return 0
	}
	return l.ends[len(l.ends)-1]
}

// At returns the item at position i; it panics when i is out of range.
func (l List[T]) At(i int) T {
	c, off := l.locate(i)
	if c == len(l.chunks) {
		panic("plist: index out of range")
	}
	return l.chunks[c][i-off]
}

// locate returns the chunk that holds position i and the position of its
// first item (len(l.chunks) and l.Len() when i is at or past the end).
func (l List[T]) locate(i int) (chunk, start int) {
	if i < 0 {
		panic("plist: negative index")
	}
	c := sort.Search(len(l.ends), func(k int) bool { return l.ends[k] > i })
	return c, l.start(c)
}

// start is the position of chunk c's first item (l.Len() for c past the
// last chunk).
func (l List[T]) start(c int) int {
	if c == 0 {
		return 0
	}
	return l.ends[c-1]
}

// All yields the items with their positions, in order.
func (l List[T]) All() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		i := 0
		for _, c := range l.chunks {
			for _, v := range c {
				if !yield(i, v) {
					return
				}
				i++
			}
		}
	}
}

// Values yields the items in order.
func (l List[T]) Values() iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, c := range l.chunks {
			for _, v := range c {
				if !yield(v) {
					return
				}
			}
		}
	}
}

// Range yields the items at positions [from, to) with their positions, in
// order, starting from the chunk that holds from. It panics when the range
// is out of bounds.
func (l List[T]) Range(from, to int) iter.Seq2[int, T] {
	if from < 0 || to < from || to > l.Len() {
		panic("plist: range out of bounds")
	}
	return func(yield func(int, T) bool) {
		if from == to {
			return
		}
		c, start := l.locate(from)
		i := from
		for ; c < len(l.chunks); c++ {
			for _, v := range l.chunks[c][i-start:] {
				if i == to || !yield(i, v) {
					return
				}
				i++
			}
			start = l.ends[c]
		}
	}
}

// Backward yields the items with their positions, from the last to the
// first.
func (l List[T]) Backward() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		i := l.Len()
		for c := len(l.chunks) - 1; c >= 0; c-- {
			chunk := l.chunks[c]
			for k := len(chunk) - 1; k >= 0; k-- {
				i--
				if !yield(i, chunk[k]) {
					return
				}
			}
		}
	}
}

// Chunks returns the list's chunks, in order. They are shared with other
// versions and must not be modified; two versions hold the same chunk (the
// same first element's address) exactly where an edit did not reach.
func (l List[T]) Chunks() [][]T { return l.chunks }

// AppendTo appends the items to dst.
func (l List[T]) AppendTo(dst []T) []T {
	dst = slices.Grow(dst, l.Len())
	for _, c := range l.chunks {
		dst = append(dst, c...)
	}
	return dst
}

// Slice returns the items as a new slice (nil when empty).
func (l List[T]) Slice() []T {
	if l.Len() == 0 {
		return nil
	}
	return l.AppendTo(nil)
}

// Append returns a list whose items are l's followed by items: Splice at
// the end.
func (l List[T]) Append(items ...T) List[T] {
	return l.Splice(l.Len(), l.Len(), items...)
}

// Filter returns the list of l's items for which keep is true, in order:
// l itself (every chunk shared) when it keeps them all.
func (l List[T]) Filter(keep func(T) bool) List[T] {
	var kept []T
	for i, v := range l.All() {
		switch {
		case keep(v):
			if kept != nil {
				kept = append(kept, v)
			}
		case kept == nil:
			kept = l.AppendTo(make([]T, 0, l.Len()))[:i]
		}
	}
	if kept == nil {
		return l
	}
	return Of(kept...)
}

// Differ yields the items of a and b, lists of the same length, at each
// position where they are not ==, in order. Runs the two lists share (the
// same chunk memory, as versions made by Splice do) are skipped without a
// look, so it costs the chunks plus the items of the chunks an edit
// reached. It panics when the lengths differ.
func Differ[T comparable](a, b List[T]) iter.Seq2[T, T] {
	if a.Len() != b.Len() {
		panic("plist: Differ of lists of different lengths")
	}
	return func(yield func(T, T) bool) {
		ac, bc := a.chunks, b.chunks
		var x, y []T
		for len(ac) > 0 || len(x) > 0 {
			if len(x) == 0 {
				x, ac = ac[0], ac[1:]
			}
			if len(y) == 0 {
				y, bc = bc[0], bc[1:]
			}
			n := min(len(x), len(y))
			if &x[0] != &y[0] {
				for i := range n {
					if x[i] != y[i] && !yield(x[i], y[i]) {
						return
					}
				}
			}
			x, y = x[n:], y[n:]
		}
	}
}

// Splice returns a list whose items are l's with those at [from, to)
// replaced by items. It copies only the chunks that hold from and to-1 (and
// a neighbour to join one left too small), and the chunk index; l is not
// modified. It panics when the range is out of bounds.
func (l List[T]) Splice(from, to int, items ...T) List[T] {
	n := l.Len()
	if from < 0 || to < from || to > n {
		panic("plist: splice range out of bounds")
	}
	if from == to && len(items) == 0 {
		return l
	}
	cs, ce := l.touched(from, to)
	region := l.region(cs, ce, from, to, items)
	if len(region) > 0 && len(region) < minChunk {
		cs, ce, region = l.joinNeighbour(cs, ce, region)
	}
	base := l.start(cs)
	out := List[T]{
		chunks: make([][]T, 0, len(l.chunks)+len(region)/maxChunk+1),
		ends:   make([]int, 0, len(l.chunks)+len(region)/maxChunk+1),
	}
	out.chunks = append(out.chunks, l.chunks[:cs]...)
	out.ends = append(out.ends, l.ends[:cs]...)
	out.chunks, out.ends = appendChunks(out.chunks, out.ends, base, region, maxChunk)
	delta := len(items) - (to - from)
	out.chunks = append(out.chunks, l.chunks[ce:]...)
	for _, e := range l.ends[ce:] {
		out.ends = append(out.ends, e+delta)
	}
	if len(out.chunks) == 0 {
		return List[T]{}
	}
	return out
}

// touched returns the chunks [cs, ce) that a splice of [from, to) rewrites:
// those holding from and to-1, or for an insertion, the chunk it lands in
// (the one before it at the end of the list).
func (l List[T]) touched(from, to int) (cs, ce int) {
	if len(l.chunks) == 0 {
		return 0, 0
	}
	cs, _ = l.locate(from)
	if from == to {
		if cs == len(l.chunks) {
			cs--
		}
		return cs, cs + 1
	}
	last, _ := l.locate(to - 1)
	return cs, last + 1
}

// region returns the items of chunks [cs, ce) with [from, to) replaced by
// items, in a new slice.
func (l List[T]) region(cs, ce, from, to int, items []T) []T {
	if cs == ce {
		return slices.Clone(items)
	}
	start, end := l.start(cs), l.ends[ce-1]
	out := make([]T, 0, end-start-(to-from)+len(items))
	for c := cs; c < ce; c++ {
		out = append(out, l.chunks[c]...)
	}
	return slices.Concat(out[:from-start], items, out[to-start:])
}

// joinNeighbour widens the rewritten chunks [cs, ce) by the chunk after
// them (or before them at the end), so a small region is not left alone.
func (l List[T]) joinNeighbour(cs, ce int, region []T) (int, int, []T) {
	switch {
	case ce < len(l.chunks):
		return cs, ce + 1, slices.Concat(region, l.chunks[ce])
	case cs > 0:
		return cs - 1, ce, slices.Concat(l.chunks[cs-1], region)
	}
	return cs, ce, region
}

// BinarySearchFunc searches l, sorted in the order of cmp, for target as
// slices.BinarySearchFunc does: the position where target is or would be
// inserted, and whether it is there. It costs a search of the chunk index
// and one of a chunk.
func BinarySearchFunc[T, K any](l List[T], target K, cmp func(T, K) int) (int, bool) {
	c := sort.Search(len(l.chunks), func(k int) bool {
		chunk := l.chunks[k]
		return cmp(chunk[len(chunk)-1], target) >= 0
	})
	if c == len(l.chunks) {
		return l.Len(), false
	}
	i, found := slices.BinarySearchFunc(l.chunks[c], target, cmp)
	return l.start(c) + i, found
}

// Equal reports whether a and b hold equal items in the same order,
// whatever their chunks.
func Equal[T any](a, b List[T], eq func(T, T) bool) bool {
	if a.Len() != b.Len() {
		return false
	}
	next, stop := iter.Pull(b.Values())
	defer stop()
	for v := range a.Values() {
		w, _ := next()
		if !eq(v, w) {
			return false
		}
	}
	return true
}

// Equal reports whether l and o hold deeply equal items (as
// reflect.DeepEqual compares them) in the same order, whatever their
// chunks: two lists built by different edits are equal when their items
// are. It is the comparison go-cmp and its users pick up.
func (l List[T]) Equal(o List[T]) bool {
	return Equal(l, o, func(a, b T) bool { return reflect.DeepEqual(a, b) })
}

// IsZero reports whether l is empty, so that a struct field tagged
// omitzero leaves out an empty list whatever its chunks (a list spliced
// to empty keeps an empty index).
func (l List[T]) IsZero() bool { return l.Len() == 0 }

// MarshalJSON writes the list as a JSON array (null when empty, as an
// empty slice would be).
func (l List[T]) MarshalJSON() ([]byte, error) {
	return json.Marshal(l.Slice())
}

// UnmarshalJSON reads a JSON array.
func (l *List[T]) UnmarshalJSON(b []byte) error {
	var items []T
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*l = Of(items...)
	return nil
}
