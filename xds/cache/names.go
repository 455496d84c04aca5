package cache

import (
	"hash/maphash"
	"runtime"
	"slices"
	"sort"
	"sync"
	"weak"
)

// NameSet is a set of resource names a stream subscribes to of one type:
// sorted, without duplicates, immutable. The cache interns sets, so every
// stream subscribed to the same names holds the same *NameSet (one pointer a
// stream, not a map of names), and the names are the cache's own strings
// where the snapshot holds them. A set nothing refers to is forgotten.
type NameSet struct {
	names []string
	// pick is the last pick of a type's resources for this set, shared by
	// every stream of the set. Guarded by the cache's mu.
	pick picked
	// diff is the last diff between two lists for this set (diff.go).
	diff listDiff
	// index maps each name to its position, made on first use (Position).
	index     map[string]int
	indexOnce sync.Once
}

// Len is the number of names.
func (s *NameSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Has reports whether the set holds name.
func (s *NameSet) Has(name string) bool {
	if s == nil {
		return false
	}
	_, ok := slices.BinarySearch(s.names, name)
	return ok
}

// Position returns the position of name (a request's encoded name) in
// Names, without allocating: the xDS server checks with it that a request
// names the set's names, in any order, before decoding them. Safe for
// concurrent use; the set's index is made by the first call.
func (s *NameSet) Position(name []byte) (int, bool) {
	if s == nil {
		return 0, false
	}
	s.indexOnce.Do(func() {
		s.index = make(map[string]int, len(s.names))
		for i, n := range s.names {
			s.index[n] = i
		}
	})
	i, ok := s.index[string(name)]
	return i, ok
}

// Names returns the names, sorted; shared: do not modify.
func (s *NameSet) Names() []string {
	if s == nil {
		return nil
	}
	return s.names
}

// nameSets interns NameSets by content.
type nameSets struct {
	mu   sync.Mutex
	seed maphash.Seed
	sets map[uint64][]weak.Pointer[NameSet]
}

// NameSet returns the interned set of names (in any order, duplicates
// allowed) of typeURL for a node of key. An empty list is nil.
func (c *Cache) NameSet(key Key, typeURL string, names []string) *NameSet {
	if len(names) == 0 {
		return nil
	}
	sorted := slices.Clone(names)
	sort.Strings(sorted)
	return c.internSet(key, typeURL, slices.Compact(sorted))
}

// NameSetWith returns the interned set of base's names plus add, minus
// remove (remove wins over add).
func (c *Cache) NameSetWith(key Key, typeURL string, base *NameSet, add, remove []string) *NameSet {
	if len(add) == 0 && len(remove) == 0 {
		return base
	}
	if base == nil && len(remove) == 0 {
		return c.NameSet(key, typeURL, add)
	}
	gone := make(map[string]struct{}, len(remove))
	for _, n := range remove {
		gone[n] = struct{}{}
	}
	out := make([]string, 0, base.Len()+len(add))
	for _, n := range base.Names() {
		if _, ok := gone[n]; !ok {
			out = append(out, n)
		}
	}
	for _, n := range add {
		if _, ok := gone[n]; !ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.Strings(out)
	return c.internSet(key, typeURL, slices.Compact(out))
}

// internSet returns the set of sorted (owned by the call), interned.
func (c *Cache) internSet(key Key, typeURL string, sorted []string) *NameSet {
	t := &c.sets
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sets == nil {
		t.seed = maphash.MakeSeed()
		t.sets = map[uint64][]weak.Pointer[NameSet]{}
	}
	var h maphash.Hash
	h.SetSeed(t.seed)
	for _, n := range sorted {
		h.WriteString(n)
		h.WriteByte(0)
	}
	sum := h.Sum64()
	for _, wp := range t.sets[sum] {
		if s := wp.Value(); s != nil && slices.Equal(s.names, sorted) {
			return s
		}
	}
	c.shareStrings(key, typeURL, sorted)
	s := &NameSet{names: slices.Clip(sorted)}
	wp := weak.Make(s)
	t.sets[sum] = append(t.sets[sum], wp)
	runtime.AddCleanup(s, t.forget, setRef{sum: sum, wp: wp})
	return s
}

type setRef struct {
	sum uint64
	wp  weak.Pointer[NameSet]
}

// forget drops a collected set from the table.
func (t *nameSets) forget(r setRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := slices.DeleteFunc(t.sets[r.sum], func(wp weak.Pointer[NameSet]) bool { return wp == r.wp })
	if len(list) == 0 {
		delete(t.sets, r.sum)
	} else {
		t.sets[r.sum] = list
	}
}

// shareStrings replaces each name the snapshot of key holds a resource of
// typeURL by that resource's own name string: equal strings, so nothing the
// protocol sees changes, but a set shares its strings with the cache instead
// of keeping the request's copies.
func (c *Cache) shareStrings(key Key, typeURL string, names []string) {
	c.mu.Lock()
	snap := c.snapshots[key] // snapshots are replaced, never modified
	c.mu.Unlock()
	eachNamed(snap.get(typeURL), names, func(i int, r *Resource) { names[i] = r.Name })
}
