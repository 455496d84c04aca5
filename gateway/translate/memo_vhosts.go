package translate

import (
	"cmp"
	"slices"

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
	if t.merge == nil {
		t.merge = newMergeIndex(t.built)
	}
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
	out := slices.Clone(t.rc.VirtualHosts)
	byName := func(v *ir.VirtualHost, n string) int { return cmp.Compare(v.Name, n) }
	for _, h := range first {
		if i, found := slices.BinarySearchFunc(out, h, byName); h != "" && found {
			out = slices.Delete(out, i, i+1)
		}
	}
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
		i, _ := slices.BinarySearchFunc(out, vh.Name, byName)
		out = slices.Insert(out, i, vh)
	}
	rc := *t.rc
	rc.VirtualHosts = out
	t.rc = &rc
	return t.rc
}
