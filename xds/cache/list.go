package cache

import (
	"strings"

	"github.com/gantryproxy/gantry/internal/plist"
)

// A type's resources are a persistent list sorted by name (internal/plist):
// a change of k resources splices the chunks holding them and shares every
// other chunk with the previous version, so neither the update nor the
// readers that walk two versions (the pool's accounting, a delta stream's
// diff) cost the size of the type.

// byName orders a resource against a name, for binary searches of a list
// sorted by name.
func byName(r *Resource, name string) int { return strings.Compare(r.Name, name) }

// find returns the resource named name in l (sorted by name) and its
// position, or where it would be inserted.
func find(l plist.List[*Resource], name string) (*Resource, int, bool) {
	i, ok := plist.BinarySearchFunc(l, name, byName)
	if !ok {
		return nil, i, false
	}
	return l.At(i), i, true
}

// named returns the resource named name in l (sorted by name).
func named(l plist.List[*Resource], name string) (*Resource, bool) {
	chunks := l.Chunks()
	if c, i, ok := position(chunks, name); ok {
		return chunks[c][i], true
	}
	return nil, false
}

// position returns the chunk and the place in it where name is or would
// be among chunks (sorted by name: len(chunks), 0 past the last): a binary
// search of the chunks by their last names, then of one chunk.
func position(chunks [][]*Resource, name string) (c, i int, found bool) {
	lo, hi := 0, len(chunks)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if last := chunks[m]; last[len(last)-1].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(chunks) {
		return lo, 0, false
	}
	chunk := chunks[lo]
	i, j := 0, len(chunk)
	for i < j {
		m := int(uint(i+j) >> 1)
		if chunk[m].Name < name {
			i = m + 1
		} else {
			j = m
		}
	}
	return lo, i, chunk[i].Name == name
}

// cursor walks a persistent list forward, chunk by chunk, without looking
// positions up: a type's resources, or a route configuration's virtual
// hosts.
type cursor[T comparable] struct {
	chunks [][]T
	c, i   int // the item at the cursor is chunks[c][i]
}

func newCursor[T comparable](l plist.List[T]) cursor[T] { return cursor[T]{chunks: l.Chunks()} }

// done reports whether the cursor is past the last item.
func (k *cursor[T]) done() bool { return k.c == len(k.chunks) }

// peek is the item at the cursor; the cursor must not be done.
func (k *cursor[T]) peek() T { return k.chunks[k.c][k.i] }

// next moves past the item at the cursor.
func (k *cursor[T]) next() {
	if k.i++; k.i == len(k.chunks[k.c]) {
		k.c, k.i = k.c+1, 0
	}
}

// skip moves past n items.
func (k *cursor[T]) skip(n int) {
	for n > 0 && !k.done() {
		step := min(n, len(k.chunks[k.c])-k.i)
		n -= step
		if k.i += step; k.i == len(k.chunks[k.c]) {
			k.c, k.i = k.c+1, 0
		}
	}
}

// holds reports whether the next items are items, and whether the list
// ends right after them; the cursor does not move.
func (k cursor[T]) holds(items []T) (held, atEnd bool) {
	for _, v := range items {
		if k.done() || k.peek() != v {
			return false, false
		}
		k.next()
	}
	return true, k.done()
}

// seeker finds names in a list sorted by name, cheaply when they come in
// name order (the references of a list sorted by name mostly do): a few
// steps forward from the last name sought, else a binary search, which
// leaves it there.
type seeker struct{ k cursor[*Resource] }

func newSeeker(l plist.List[*Resource]) *seeker { return &seeker{k: newCursor(l)} }

// seekSteps is how far a seeker walks before it searches.
const seekSteps = 8

// find returns the resource named name.
func (s *seeker) find(name string) (*Resource, bool) {
	k := &s.k
	if !k.done() && k.peek().Name <= name {
		for step := 0; step < seekSteps && !k.done(); step++ {
			switch r := k.peek(); {
			case r.Name == name:
				return r, true
			case r.Name > name:
				return nil, false // walked past where it would be
			}
			k.next()
		}
	}
	var ok bool
	if k.c, k.i, ok = position(k.chunks, name); ok {
		return k.peek(), true
	}
	return nil, false
}

// sharedChunk reports whether a and b are both at the start of the same
// chunk (the same memory: a chunk two versions share).
func sharedChunk(a, b *cursor[*Resource]) bool {
	return a.i == 0 && b.i == 0 && !a.done() && !b.done() && &a.chunks[a.c][0] == &b.chunks[b.c][0]
}

// differ calls fn for each name where from and to (lists sorted by name)
// hold different resources: old is from's (nil when only to has the name),
// cur is to's (nil when only from has it). Chunks the two lists share are
// skipped without a look: where a version made by splices meets its
// predecessor, both walks reach the start of a shared chunk together, so
// it costs the chunks plus the items of the chunks an edit reached.
func differ(from, to plist.List[*Resource], fn func(old, cur *Resource)) {
	a, b := newCursor(from), newCursor(to)
	for !a.done() || !b.done() {
		switch {
		case sharedChunk(&a, &b):
			a.c, b.c = a.c+1, b.c+1
		case b.done() || !a.done() && a.peek().Name < b.peek().Name:
			fn(a.peek(), nil)
			a.next()
		case a.done() || b.peek().Name < a.peek().Name:
			fn(nil, b.peek())
			b.next()
		default: // the same name
			if old, cur := a.peek(), b.peek(); old != cur {
				fn(old, cur)
			}
			a.next()
			b.next()
		}
	}
}
