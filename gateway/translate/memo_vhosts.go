package translate

import (
	"cmp"
	"slices"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// mergeIndex groups a route table's hosts by merge key (mergeVirtualHosts),
// so that a changed host regroups in proportion to its group.
type mergeIndex struct {
	keyOf  map[string]string   // host -> merge key
	groups map[string][]string // merge key -> hosts, sorted
}

func newMergeIndex(built map[string]*ir.VirtualHost) *mergeIndex {
	hosts := make([]string, 0, len(built))
	for h := range built {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	mi := &mergeIndex{keyOf: make(map[string]string, len(hosts)), groups: map[string][]string{}}
	for _, h := range hosts {
		k := mergeKey(built[h])
		mi.keyOf[h] = k
		mi.groups[k] = append(mi.groups[k], h)
	}
	return mi
}

func (mi *mergeIndex) remove(h string) (string, bool) {
	k, ok := mi.keyOf[h]
	if !ok {
		return "", false
	}
	delete(mi.keyOf, h)
	g := mi.groups[k]
	if i, found := slices.BinarySearch(g, h); found {
		g = slices.Delete(slices.Clone(g), i, i+1)
	}
	if len(g) == 0 {
		delete(mi.groups, k)
	} else {
		mi.groups[k] = g
	}
	return k, true
}

func (mi *mergeIndex) add(k, h string) {
	mi.keyOf[h] = k
	g := mi.groups[k]
	i, _ := slices.BinarySearch(g, h)
	mi.groups[k] = slices.Insert(slices.Clone(g), i, h)
}

// patch replaces the virtual hosts of changed (nil: gone) and returns the
// table's new route configuration: the previous one's merged virtual
// hosts, those of the groups the changed hosts left or joined made again.
func (t *routeTable) patch(changed map[string]*ir.VirtualHost) *ir.RouteConfig {
	mi := t.merge
	first := map[string]string{} // affected group -> its first host before ("" if none)
	note := func(k string) {
		if _, ok := first[k]; !ok {
			first[k] = ""
			if g := mi.groups[k]; len(g) > 0 {
				first[k] = g[0]
			}
		}
	}
	for h, vh := range changed {
		if k, ok := mi.keyOf[h]; ok {
			note(k)
			mi.remove(h)
		}
		delete(t.built, h)
		if vh != nil {
			k := mergeKey(vh)
			note(k)
			mi.add(k, h)
			t.built[h] = vh
		}
	}
	old := t.rc.VirtualHosts
	byName := func(v *ir.VirtualHost, n string) int { return cmp.Compare(v.Name, n) }
	var drops []int
	for _, h := range first {
		if i, found := plist.BinarySearchFunc(old, h, byName); h != "" && found {
			drops = append(drops, i)
		}
	}
	var adds []hostAt
	for k := range first {
		g := mi.groups[k]
		if len(g) == 0 {
			continue
		}
		members := make([]*ir.VirtualHost, len(g))
		for i, h := range g {
			members[i] = t.built[h]
		}
		vh := merged(members)
		i, _ := plist.BinarySearchFunc(old, vh.Name, byName)
		adds = append(adds, hostAt{at: i, vh: vh})
	}
	rc := *t.rc
	rc.VirtualHosts = splice(old, drops, adds)
	t.rc = &rc
	return t.rc
}

// hostAt is a virtual host to insert before position at.
type hostAt struct {
	at int
	vh *ir.VirtualHost
}

// splice returns old without the hosts at drops, with adds inserted (those
// at one position in name order). The edits go from the end of the list
// to its start, so each position is still old's; every one copies only
// the chunk it touches (and the chunk index), and old is not modified.
func splice(old plist.List[*ir.VirtualHost], drops []int, adds []hostAt) plist.List[*ir.VirtualHost] {
	slices.Sort(drops)
	slices.SortFunc(adds, func(a, b hostAt) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.vh.Name, b.vh.Name)) })
	out := old
	d, a := len(drops), len(adds) // the edits not yet made are drops[:d] and adds[:a]
	for d > 0 || a > 0 {
		at := -1 // the last position with an edit
		if d > 0 {
			at = drops[d-1]
		}
		if a > 0 {
			at = max(at, adds[a-1].at)
		}
		drop := 0
		if d > 0 && drops[d-1] == at {
			drop, d = 1, d-1
		}
		first := a
		for first > 0 && adds[first-1].at == at {
			first--
		}
		items := make([]*ir.VirtualHost, 0, a-first)
		for _, h := range adds[first:a] {
			items = append(items, h.vh)
		}
		a = first
		out = out.Splice(at, at+drop, items...)
	}
	return out
}
