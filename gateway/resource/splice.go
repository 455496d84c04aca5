package resource

import (
	"fmt"

	"github.com/gantryproxy/gantry/internal/plist"
)

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
// with s, except the lists named in lists, which are made of their parts:
// a producer builds the next Set at the cost of what changed, the runs
// that did not change keeping the chunks of s's lists (spliceList). It
// returns an error, and no Set, when a part does not hold (a run outside
// s's list, Objects holding another number of objects of the kind than
// Len, a kind not in the table). Neither Set may be modified afterwards.
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

// spliceList makes the list of parts from prev. Runs taken in order are
// kept where they are; what lies between them (objects left out, objects
// put in, runs taken out of order) is one plist Splice each, so the new
// list shares with prev every chunk no edit reached.
func spliceList[P any](kind string, prev plist.List[P], parts []Part) (plist.List[P], error) {
	sp := splicer[P]{list: prev}
	for _, p := range parts {
		if p.Objects == nil {
			if p.From < 0 || p.Len < 0 || p.From+p.Len > prev.Len() {
				return plist.List[P]{}, fmt.Errorf("splice %s: run [%d, %d) outside the list of %d", kind, p.From, p.From+p.Len, prev.Len())
			}
			sp.run(prev, p.From, p.Len)
			continue
		}
		had := len(sp.put)
		for _, o := range p.Objects {
			if o.Key.Kind != kind {
				continue
			}
			v, ok := o.Value.(P)
			if !ok {
				return plist.List[P]{}, fmt.Errorf("splice %s: %s holds a %T", kind, o.Key, o.Value)
			}
			sp.put = append(sp.put, v)
		}
		if got := len(sp.put) - had; got != p.Len {
			return plist.List[P]{}, fmt.Errorf("splice %s: %d objects of the kind, want %d", kind, got, p.Len)
		}
	}
	sp.flush(prev.Len())
	return sp.list, nil
}

// splicer edits a copy of the previous list in place of the parts read so
// far: list holds the parts up to pos, then the previous list's items from
// taken on; put are the items that come next, in place of the previous
// items up to the next run kept.
type splicer[P any] struct {
	list       plist.List[P]
	pos, taken int
	put        []P
}

// run takes n items of prev from from: kept in place when they come after
// every item taken so far, copied in otherwise.
func (sp *splicer[P]) run(prev plist.List[P], from, n int) {
	switch {
	case n == 0:
	case from >= sp.taken:
		sp.flush(from)
		sp.pos += n
		sp.taken = from + n
	default:
		for _, v := range prev.Range(from, from+n) {
			sp.put = append(sp.put, v)
		}
	}
}

// flush replaces the previous items from taken up to upto by put.
func (sp *splicer[P]) flush(upto int) {
	sp.list = sp.list.Splice(sp.pos, sp.pos+upto-sp.taken, sp.put...)
	sp.pos += len(sp.put)
	sp.taken = upto
	sp.put = sp.put[:0]
}
