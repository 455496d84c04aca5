package translate

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

// RefreshServiceEndpoints is RefreshAllEndpoints for a change that touched
// only the EndpointSlices (or Services) of the Services named in services:
// only the clusters of those Services are recomputed, from only their
// Services and EndpointSlices, so that the cost follows the change, not the
// size of set. A proxy none of whose clusters changed is returned as it was
// (the same pointer); a changed proxy is a copy that shares its unchanged
// clusters with the original. ps are not modified.
func RefreshServiceEndpoints(set *resource.Set, ps []*ir.Proxy, services []types.NamespacedName) []*ir.Proxy {
	out := slices.Clone(ps)
	if len(services) == 0 {
		return out
	}
	want := newServiceSet(services)
	x := newServicesIndex(set, want)
	for i, p := range ps {
		if p == nil {
			continue
		}
		if fresh := x.refreshOnly(p, want); fresh != nil {
			out[i] = fresh
		}
	}
	return out
}

// newServicesIndex indexes the Services in want and their EndpointSlices
// (in the order newEndpointIndex gives them).
func newServicesIndex(set *resource.Set, want serviceSet) *index {
	if set == nil {
		set = &resource.Set{}
	}
	x := &index{
		set:            set,
		services:       map[nsName]*corev1.Service{},
		slices:         map[nsName][]*discoveryv1.EndpointSlice{},
		endpointsCache: map[string][]ir.Endpoint{},
	}
	for _, s := range set.Services {
		if want.has(s.Namespace, s.Name) {
			x.services[nsName{s.Namespace, s.Name}] = s
		}
	}
	var own []*discoveryv1.EndpointSlice
	for _, es := range set.EndpointSlices {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" && want.has(es.Namespace, svc) {
			own = append(own, es)
		}
	}
	for _, es := range sortedCopy(own) {
		k := nsName{es.Namespace, es.Labels[discoveryv1.LabelServiceName]}
		x.slices[k] = append(x.slices[k], es)
	}
	return x
}

// refreshOnly recomputes the endpoints of p's clusters of the Services in
// want; nil when none changed.
func (x *index) refreshOnly(p *ir.Proxy, want serviceSet) *ir.Proxy {
	var out *ir.Proxy
	for i, c := range p.Clusters {
		if k, ok := clusterService(c.Name); !ok || !want.has(k.ns, k.name) {
			continue
		}
		svc, sp, ok := x.serviceOfCluster(c.Name)
		if !ok {
			continue
		}
		var eps []ir.Endpoint
		if sp != nil {
			eps = x.endpoints(svc, sp)
		}
		if (eps == nil) == (c.Endpoints == nil) && slices.Equal(eps, c.Endpoints) {
			continue
		}
		if out == nil {
			cp := *p
			cp.Clusters = slices.Clone(p.Clusters)
			out = &cp
		}
		nc := *c
		nc.Endpoints = eps
		out.Clusters[i] = &nc
	}
	return out
}

// clusterService is the namespace and Service a cluster's name starts with
// ("<ns>/<svc>/..."), without allocating; false when it has no two
// slashes. serviceOfCluster decides whether it is a Service cluster.
func clusterService(name string) (nsName, bool) {
	ns, rest, ok := strings.Cut(name, "/")
	if !ok {
		return nsName{}, false
	}
	svc, _, ok := strings.Cut(rest, "/")
	return nsName{ns, svc}, ok
}

// serviceSet is a set of Services, looked up for every Service,
// EndpointSlice and cluster of the world: a few are compared one by one
// (cheaper than hashing each name), more go through a map.
type serviceSet struct {
	list []nsName
	m    map[nsName]bool
}

func newServiceSet(services []types.NamespacedName) serviceSet {
	var s serviceSet
	for _, n := range services {
		s.list = append(s.list, nsName{n.Namespace, n.Name})
	}
	if len(s.list) > 8 {
		s.m = make(map[nsName]bool, len(s.list))
		for _, k := range s.list {
			s.m[k] = true
		}
	}
	return s
}

func (s serviceSet) has(ns, name string) bool {
	if s.m != nil {
		return s.m[nsName{ns, name}]
	}
	for _, k := range s.list {
		if k.name == name && k.ns == ns {
			return true
		}
	}
	return false
}
