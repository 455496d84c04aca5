package resource

import "fmt"

// Part is one part of a kind's list in a spliced Set: Len objects of the
// previous Set's list from index From, or, when Objects is not nil, the
// objects of the kind among Objects, in their order (Len of them).
type Part struct {
	From, Len int
	Objects   []Object
}

// List is the next list of one kind, made of its parts in order.
type List struct {
	Kind  string
	Parts []Part
}

// Spliced returns a copy of s that shares the Sources map and every list
// with s, except the lists named in lists, which are made anew of their
// parts: a producer builds the next Set at the cost of what changed, the
// runs that did not change being one copy of pointers each. An empty list
// is nil, as BuildSet leaves it. It returns an error, and no Set, when a
// part does not hold (a run outside s's list, Objects holding another
// number of objects of the kind than Len, a kind not in the table). Neither
// Set may be modified afterwards.
func (s *Set) Spliced(lists []List) (*Set, error) {
	next := *s
	for _, l := range lists {
		info, ok := kindByName[l.Kind]
		if !ok {
			return nil, fmt.Errorf("splice: unknown kind %q", l.Kind)
		}
		if err := info.splice(&next, s, l.Parts); err != nil {
			return nil, err
		}
	}
	return &next, nil
}

// Count returns the number of objects of kind in s.
func (s *Set) Count(kind string) int {
	info, ok := kindByName[kind]
	if !ok || s == nil {
		return 0
	}
	return info.count(s)
}

// spliceList makes the list of parts, taking runs from prev.
func spliceList[P any](kind string, prev []P, parts []Part) ([]P, error) {
	n := 0
	for _, p := range parts {
		n += p.Len
	}
	if n == 0 {
		return nil, nil
	}
	list := make([]P, 0, n)
	for _, p := range parts {
		if p.Objects == nil {
			if p.From < 0 || p.Len < 0 || p.From+p.Len > len(prev) {
				return nil, fmt.Errorf("splice %s: run [%d, %d) outside the list of %d", kind, p.From, p.From+p.Len, len(prev))
			}
			list = append(list, prev[p.From:p.From+p.Len]...)
			continue
		}
		had := len(list)
		for _, o := range p.Objects {
			if o.Key.Kind != kind {
				continue
			}
			v, ok := o.Value.(P)
			if !ok {
				return nil, fmt.Errorf("splice %s: %s holds a %T", kind, o.Key, o.Value)
			}
			list = append(list, v)
		}
		if got := len(list) - had; got != p.Len {
			return nil, fmt.Errorf("splice %s: %d objects of the kind, want %d", kind, got, p.Len)
		}
	}
	return list, nil
}
