package analyze

import (
	"github.com/gantryproxy/gantry/gateway/resource"
)

// Overlay returns the Set that base would become with top applied: every
// object of top, plus the objects of base that top does not redefine (same
// Kind, namespace and name). Neither input is modified. Sources come from
// top (objects read from the cluster have none).
func Overlay(base, top *resource.Set) *resource.Set {
	objs := append(top.Objects(), base.Objects()...)
	set, _, _ := resource.BuildSet(objs) // duplicates: the first (top) wins
	for k := range set.Sources {
		if _, ok := top.SourceOf(k); !ok {
			delete(set.Sources, k)
		}
	}
	return set
}
