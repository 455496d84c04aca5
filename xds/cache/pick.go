package cache

import "github.com/gantryproxy/gantry/internal/plist"

// picked is the last pick of a subscription to names: the resources of the
// type state from that the names cover, as a type state of their own (ts;
// from itself when they cover all of it).
type picked struct {
	from, ts *typeState
}

// pickOf returns the resources of ts named in s as a type state of their
// own: ts itself when s names all of it. Following a change of the type,
// it costs what changed (the previous pick with the change's resources of
// s spliced in), not the names of s. Called with the cache's mu held.
func (s *NameSet) pickOf(ts *typeState) *typeState {
	p := &s.pick
	switch {
	case p.from == ts:
	case p.from == nil:
		p.ts = pickSorted(ts, s.names)
	case p.ts == p.from && p.from.names == ts.names:
		p.ts = ts // every name of a state with the same names
	default:
		p.ts = repick(p.ts, p.from, ts, s.Has)
	}
	p.from = ts
	return p.ts
}

// repick returns the pick of ts given pick, the resources of from that has
// keeps: pick with the resources in which from and ts differ (differ) and
// that has keeps put in or taken out; pick itself when there are none, ts
// when it then holds all of ts.
func repick(pick, from, ts *typeState, has func(string) bool) *typeState {
	var upsert []*Resource
	var remove []string
	left := false // a resource of ts that has does not keep
	differ(from.list, ts.list, func(old, cur *Resource) {
		switch {
		case cur != nil && has(cur.Name):
			upsert = append(upsert, cur)
		case cur != nil:
			left = true
		case has(old.Name):
			remove = append(remove, old.Name)
		}
	})
	switch {
	case pick == from && !left:
		return ts // all of from, and all that ts adds to it
	case len(upsert) == 0 && len(remove) == 0:
		return pick
	}
	next := pick.with(upsert, remove, ts.changedAt)
	if next.list.Len() == ts.list.Len() {
		return ts
	}
	return next
}

// pickSorted returns the resources of ts named in names (sorted) as a type
// state of their own: ts itself when names cover all of it.
func pickSorted(ts *typeState, names []string) *typeState {
	n := 0
	eachNamed(ts, names, func(int, *Resource) { n++ })
	if n == ts.list.Len() {
		return ts
	}
	out := make([]*Resource, 0, n)
	p := &typeState{names: &nameGen{}, changedAt: ts.changedAt}
	eachNamed(ts, names, func(_ int, r *Resource) {
		out = append(out, r)
		p.sum = p.sum.add(r.digest)
	})
	p.version, p.list = p.sum.String(), plist.Of(out...)
	p.flatOnce.Do(func() { p.flat = out })
	return p
}

// eachNamed calls fn with each resource of ts named in names (sorted), in
// order, with the name's position in names.
func eachNamed(ts *typeState, names []string, fn func(int, *Resource)) {
	in := newSeeker(ts.list)
	for i, name := range names {
		if r, ok := in.find(name); ok {
			fn(i, r)
		}
	}
}
