package translate

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
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
	if len(services) == 0 {
		return slices.Clone(ps)
	}
	want := newServiceSet(services)
	return refreshWith(newServicesIndex(set, want), ps, want)
}

// ServiceInputs are the inputs of some Services' endpoints: each Service
// object (absent when it does not exist) and all its EndpointSlices (those
// whose service label names it, in any order).
type ServiceInputs struct {
	Services map[types.NamespacedName]*corev1.Service
	Slices   map[types.NamespacedName][]*discoveryv1.EndpointSlice
}

// RefreshServiceEndpointsOf is RefreshServiceEndpoints reading the inputs
// of services from in, kept by the caller, instead of scanning a Set: the
// cost follows the changed Services alone.
func RefreshServiceEndpointsOf(in ServiceInputs, ps []*ir.Proxy, services []types.NamespacedName) []*ir.Proxy {
	if len(services) == 0 {
		return slices.Clone(ps)
	}
	want := newServiceSet(services)
	x := &index{
		set:            &resource.Set{},
		services:       map[nsName]*corev1.Service{},
		slices:         map[nsName][]*discoveryv1.EndpointSlice{},
		endpointsCache: map[string][]ir.Endpoint{},
	}
	for _, n := range services {
		k := nsName{n.Namespace, n.Name}
		if s := in.Services[n]; s != nil {
			x.services[k] = s
		}
		if list := in.Slices[n]; len(list) > 0 {
			x.slices[k] = sortedCopy(list)
		}
	}
	return refreshWith(x, ps, want)
}

// refreshWith refreshes the clusters of the Services in want of each of
// ps from x.
func refreshWith(x *index, ps []*ir.Proxy, want serviceSet) []*ir.Proxy {
	out := slices.Clone(ps)
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
	for s := range set.Services.Values() {
		if want.has(s.Namespace, s.Name) {
			x.services[nsName{s.Namespace, s.Name}] = s
		}
	}
	var own []*discoveryv1.EndpointSlice
	for es := range set.EndpointSlices.Values() {
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
// want; nil when none changed. p's clusters are sorted by name (as xds/ir
// requires), so those of one Service ("<ns>/<svc>/...") are found by binary
// search, and replaced in the persistent list, which shares every chunk
// the refresh did not reach: the cost follows the changed Services, not
// p's clusters.
func (x *index) refreshOnly(p *ir.Proxy, want serviceSet) *ir.Proxy {
	var out *ir.Proxy
	for _, prefix := range want.prefixes {
		i, _ := plist.BinarySearchFunc(p.Clusters, prefix, func(c *ir.Cluster, n string) int { return strings.Compare(c.Name, n) })
		for ; i < p.Clusters.Len() && strings.HasPrefix(p.Clusters.At(i).Name, prefix); i++ {
			c := p.Clusters.At(i)
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
				out = &cp
			}
			nc := *c
			nc.Endpoints = eps
			out.Clusters = out.Clusters.Splice(i, i+1, &nc)
		}
	}
	return out
}

// serviceSet is a set of Services, looked up for every Service,
// EndpointSlice and cluster of the world: a few are compared one by one
// (cheaper than hashing each name), more go through a map.
type serviceSet struct {
	list []nsName
	// prefixes are the names of list's clusters start with, "<ns>/<svc>/".
	prefixes []string
	m        map[nsName]bool
}

func newServiceSet(services []types.NamespacedName) serviceSet {
	var s serviceSet
	for _, n := range services {
		s.list = append(s.list, nsName{n.Namespace, n.Name})
		s.prefixes = append(s.prefixes, n.Namespace+"/"+n.Name+"/")
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
