package envoy

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// nameSet is the names of one kind of resource of a Builder's latest
// build, in order, and as a set.
type nameSet struct {
	list []string
	set  map[string]bool
}

// namesOf returns the set of the names of list, and whether list has
// exactly the names of the previous build (then already checked for
// duplicates and empty names). A list with other names is checked here.
func (s *Builder) namesOf(kind int, list []types.Resource) (map[string]bool, bool) {
	prev := &s.names[kind]
	if prev.set != nil && len(prev.list) == len(list) {
		same := true
		for i, res := range list {
			if resourceName(res) != prev.list[i] {
				same = false
				break
			}
		}
		if same {
			return prev.set, true
		}
	}
	next := nameSet{list: make([]string, 0, len(list)), set: make(map[string]bool, len(list))}
	for _, res := range list {
		name := resourceName(res)
		if name == "" || next.set[name] {
			return nil, false
		}
		next.list = append(next.list, name)
		next.set[name] = true
	}
	*prev = next
	return next.set, true
}

// validateIncremental is Validate for a Builder's output: the memoized
// resources (s.checked) were validated when they were built and only
// their references are checked; name sets are reused while the names do
// not change. Any problem is errIncremental: Build then names it.
func (s *Builder) validateIncremental(r *Resources) error {
	kinds := []struct {
		kind string
		list []types.Resource
		want func(types.Resource) bool
	}{
		{kind: "listener", list: r.Listeners, want: is[*listenerv3.Listener]},
		{kind: "route config", list: r.Routes, want: is[*routev3.RouteConfiguration]},
		{kind: "cluster", list: r.Clusters, want: is[*clusterv3.Cluster]},
		{kind: "endpoints", list: r.Endpoints, want: is[*endpointv3.ClusterLoadAssignment]},
		{kind: "secret", list: r.Secrets, want: is[*tlsv3.Secret]},
	}
	names := make(map[string]map[string]bool, len(kinds))
	for i, k := range kinds {
		set, ok := s.namesOf(i, k.list)
		if !ok {
			return errIncremental
		}
		names[k.kind] = set
	}
	refs := &references{}
	for _, k := range kinds {
		for _, res := range k.list {
			if !k.want(res) {
				return errIncremental
			}
			c := s.checked[res]
			if c == nil {
				if err := validateMessage(res, refs); err != nil {
					return errIncremental
				}
				continue
			}
			for _, ref := range c.refs {
				if !names[ref.kind][ref.name] {
					return errIncremental
				}
			}
		}
	}
	for _, ref := range refs.list {
		if !names[ref.kind][ref.name] {
			return errIncremental
		}
	}
	return nil
}
