package translate

import (
	"github.com/gantryproxy/gantry/gateway/resource"
)

// listTCPRoutes adapts every TCPRoute: all connections of a TCP listener go
// to the route's weighted backends.
func listTCPRoutes(set *resource.Set) []route {
	objs := sortedCopy(set.TCPRoutes)
	out := make([]route, 0, len(objs))
	for _, o := range objs {
		r := &streamRoute{k: kindTCPRoute, obj: &o.ObjectMeta, refs: o.Spec.ParentRefs}
		for _, rule := range o.Spec.Rules {
			r.rules = append(r.rules, streamRule{name: rule.Name, backends: rule.BackendRefs})
		}
		out = append(out, r)
	}
	return out
}
