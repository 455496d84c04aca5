package cache

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/gantryproxy/gantry/internal/plist"
)

// typeState is the resources of one type in one snapshot. Immutable.
type typeState struct {
	version string
	sum     digest
	// list is the resources sorted by name. A change of k resources
	// splices their chunks and shares the others with the previous state
	// (list.go); a name is found by a binary search of it.
	list plist.List[*Resource]
	// names stands for the set of names: a change that keeps the names
	// shares it with the previous state, one that adds or removes a name
	// makes a new one. A subscription that covered every name of a state
	// covers every name of a state with the same names.
	names *nameGen
	// flat is list as one slice, made on first use (slice).
	flat     []*Resource
	flatOnce sync.Once
	// changedAt is when the input change that produced this version
	// happened (the earliest change of the batch).
	changedAt time.Time
}

// nameGen identifies a set of names (it has a size, so every one made has
// its own address).
type nameGen struct{ _ byte }

var emptyType = &typeState{version: digest{}.String(), names: &nameGen{}}

// maxSplices is the largest change that is applied as one splice per
// resource; a larger one rebuilds the list, which then costs about as much
// as the splices would.
const maxSplices = 32

// lookup returns the resource named n.
func (ts *typeState) lookup(n string) (*Resource, bool) {
	return named(ts.list, n)
}

// slice returns the resources as one slice sorted by name, made once per
// state on first use (a copy of the list: O(resources) the first time). It
// is for the readers that hand out a whole type (a response carrying every
// resource, Resources); a change's readers walk the list. Shared: do not
// modify.
func (ts *typeState) slice() []*Resource {
	ts.flatOnce.Do(func() { ts.flat = ts.list.Slice() })
	return ts.flat
}

// newTypeState holds rs (already interned), refusing duplicate names.
func newTypeState(typeURL string, rs []*Resource, changedAt time.Time) (*typeState, error) {
	if err := sortUnique(typeURL, rs); err != nil {
		return nil, err
	}
	ts := &typeState{changedAt: changedAt, names: &nameGen{}, list: plist.Of(rs...)}
	for _, r := range rs {
		ts.sum = ts.sum.add(r.digest)
	}
	ts.version = ts.sum.String()
	return ts, nil
}

// newTypeStateFrom is newTypeState for the state that follows prev: when
// rs differs from prev's resources in a few names, it is prev with those
// put in and taken out (with), sharing the chunks of prev's list the
// difference does not reach, so the readers that compare the two skip
// them. It costs a walk of both lists.
func newTypeStateFrom(prev *typeState, typeURL string, rs []*Resource, changedAt time.Time) (*typeState, error) {
	if err := sortUnique(typeURL, rs); err != nil {
		return nil, err
	}
	upsert, remove, few := editsFrom(prev.list, rs)
	if !few {
		return newTypeState(typeURL, rs, changedAt)
	}
	return prev.with(upsert, remove, changedAt), nil
}

// sortUnique sorts rs by name, refusing duplicate names.
func sortUnique(typeURL string, rs []*Resource) error {
	slices.SortFunc(rs, func(a, b *Resource) int { return byName(a, b.Name) })
	for i := 1; i < len(rs); i++ {
		if rs[i-1].Name == rs[i].Name {
			return fmt.Errorf("%s %q: duplicate name", shortType(typeURL), rs[i].Name)
		}
	}
	return nil
}

// editsFrom returns what turns the list from into rs (both sorted by
// name): the resources of rs that from does not hold and the names of from
// that rs lacks; few is false (and the edits incomplete) when they are more
// than maxSplices.
func editsFrom(from plist.List[*Resource], rs []*Resource) (upsert []*Resource, remove []string, few bool) {
	k, i := newCursor(from), 0
	for (!k.done() || i < len(rs)) && len(upsert)+len(remove) <= maxSplices {
		switch {
		case i == len(rs) || !k.done() && k.peek().Name < rs[i].Name:
			remove = append(remove, k.peek().Name)
			k.next()
		case k.done() || rs[i].Name < k.peek().Name:
			upsert = append(upsert, rs[i])
			i++
		default: // the same name
			if k.peek() != rs[i] {
				upsert = append(upsert, rs[i])
			}
			k.next()
			i++
		}
	}
	return upsert, remove, len(upsert)+len(remove) <= maxSplices
}

// sameList reports whether rs holds exactly the resources of ts, in ts's
// order: a snapshot set again with nothing of this type changed.
func (ts *typeState) sameList(rs []*Resource) bool {
	if len(rs) != ts.list.Len() {
		return false
	}
	for i, r := range ts.list.All() {
		if rs[i] != r {
			return false
		}
	}
	return true
}

// sameMessages reports whether msgs are the messages of ts, in ts's
// order: a snapshot set again with this type's messages as they were
// costs a pointer comparison per message, neither a lookup nor a list.
func (ts *typeState) sameMessages(msgs []types.Resource) bool {
	if len(msgs) != ts.list.Len() {
		return false
	}
	for i, r := range ts.list.All() {
		if msgs[i] != r.Message {
			return false
		}
	}
	return true
}

// with returns a copy of ts with upsert put in (replacing resources of the
// same name) and the names in remove taken out. Names that do not exist are
// ignored in remove; upsert must not name a resource twice. The copy
// shares with ts every chunk of the list the change does not reach, and
// the name set when the names stay the same.
func (ts *typeState) with(upsert []*Resource, remove []string, changedAt time.Time) *typeState {
	next := &typeState{sum: ts.sum, list: ts.list, names: ts.names, changedAt: changedAt}
	renamed := false
	if len(upsert)+len(remove) > maxSplices {
		renamed = next.rebuild(upsert, remove)
	} else {
		for _, n := range remove {
			renamed = next.remove(n) || renamed
		}
		for _, r := range upsert {
			renamed = next.put(r) || renamed
		}
	}
	if renamed {
		next.names = &nameGen{}
	}
	next.version = next.sum.String()
	return next
}

// remove takes the resource named n out of ts (being made by with) and
// reports whether it was there.
func (ts *typeState) remove(n string) bool {
	old, i, ok := find(ts.list, n)
	if !ok {
		return false
	}
	ts.sum = ts.sum.sub(old.digest)
	ts.list = ts.list.Splice(i, i+1)
	return true
}

// put puts r into ts (being made by with), replacing the resource of its
// name, and reports whether the name is new.
func (ts *typeState) put(r *Resource) bool {
	old, i, ok := find(ts.list, r.Name)
	switch {
	case old == r:
		return false
	case ok:
		ts.sum = ts.sum.sub(old.digest)
		ts.list = ts.list.Splice(i, i+1, r)
	default:
		ts.list = ts.list.Splice(i, i, r)
	}
	ts.sum = ts.sum.add(r.digest)
	return !ok
}

// rebuild applies a large change to ts (being made by with) as a new list
// and reports whether the names changed.
func (ts *typeState) rebuild(upsert []*Resource, remove []string) bool {
	upserted := make(map[string]bool, len(upsert)+len(remove)) // false: removed
	for _, n := range remove {
		upserted[n] = false
	}
	for _, r := range upsert {
		upserted[r.Name] = true
	}
	out := make([]*Resource, 0, ts.list.Len()+len(upsert))
	replaced, removed := 0, 0
	for r := range ts.list.Values() {
		up, drop := upserted[r.Name]
		switch {
		case !drop:
			out = append(out, r)
			continue
		case up:
			replaced++
		default:
			removed++
		}
		ts.sum = ts.sum.sub(r.digest)
	}
	for _, r := range upsert {
		ts.sum = ts.sum.add(r.digest)
	}
	out = append(out, upsert...)
	slices.SortFunc(out, func(a, b *Resource) int { return byName(a, b.Name) })
	ts.list = plist.Of(out...)
	return removed > 0 || replaced < len(upsert)
}
