package translate

import (
	"github.com/gantryproxy/gantry/gateway/resource"
)

// listUDPRoutes adapts every UDPRoute: the datagrams of a UDP listener go to
// the route's weighted backends.
func listUDPRoutes(set *resource.Set) []route {
	objs := sortedCopy(set.UDPRoutes)
	out := make([]route, 0, len(objs))
	for _, o := range objs {
		r := &streamRoute{k: kindUDPRoute, obj: &o.ObjectMeta, refs: o.Spec.ParentRefs}
		for _, rule := range o.Spec.Rules {
			r.rules = append(r.rules, streamRule{name: rule.Name, backends: rule.BackendRefs})
		}
		out = append(out, r)
	}
	return out
}
