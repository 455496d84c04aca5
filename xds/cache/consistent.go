package cache

import (
	"fmt"
	"iter"
	"slices"
	"sort"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// consistent checks that every reference inside the snapshot resolves:
// listeners (API listeners included, which the upstream snapshot check
// skips) to route configurations over RDS, and EDS clusters to endpoints.
// The references of each resource are read once, when it is marshalled.
func consistent(s *snapshot) error {
	if err := resolve(s.get(resource.ListenerType).list.Values(), s.get(resource.RouteType), "listener", routeMissing); err != nil {
		return err
	}
	return resolve(s.get(resource.ClusterType).list.Values(), s.get(resource.EndpointType), "cluster", endpointsMissing)
}

// consistentSince is consistent for a snapshot that follows prev (itself
// consistent, or nil): the references from one type to another are
// checked again only when either type's state changed, so a route change
// does not look up every cluster's endpoints.
func consistentSince(prev *snapshot) func(*snapshot) error {
	return func(s *snapshot) error {
		unchanged := func(from, to string) bool {
			return prev != nil && prev.get(from) == s.get(from) && prev.get(to) == s.get(to)
		}
		if !unchanged(resource.ListenerType, resource.RouteType) {
			if err := resolve(s.get(resource.ListenerType).list.Values(), s.get(resource.RouteType), "listener", routeMissing); err != nil {
				return err
			}
		}
		if unchanged(resource.ClusterType, resource.EndpointType) {
			return nil
		}
		return resolve(s.get(resource.ClusterType).list.Values(), s.get(resource.EndpointType), "cluster", endpointsMissing)
	}
}

const (
	routeMissing     = "route configuration %q (RDS) is not in the snapshot"
	endpointsMissing = "endpoints %q (EDS) are not in the snapshot"
)

// resolve checks that every reference of rs is in targets.
func resolve(rs iter.Seq[*Resource], targets *typeState, kind, what string) error {
	in := newSeeker(targets.list)
	for r := range rs {
		for _, n := range r.refs {
			if _, ok := in.find(n); !ok {
				return fmt.Errorf("%s %q: "+what, kind, r.Name, n)
			}
		}
	}
	return nil
}

// consistentChange checks only what a change of one type could break: the
// references of the resources put in, and the references to the names
// taken out.
func consistentChange(s *snapshot, typeURL string, upsert []*Resource, remove []string) error {
	switch typeURL {
	case resource.ListenerType:
		return resolve(slices.Values(upsert), s.get(resource.RouteType), "listener", routeMissing)
	case resource.ClusterType:
		return resolve(slices.Values(upsert), s.get(resource.EndpointType), "cluster", endpointsMissing)
	case resource.RouteType:
		if len(remove) > 0 {
			return resolve(s.get(resource.ListenerType).list.Values(), s.get(resource.RouteType), "listener", routeMissing)
		}
	case resource.EndpointType:
		if len(remove) > 0 {
			return resolve(s.get(resource.ClusterType).list.Values(), s.get(resource.EndpointType), "cluster", endpointsMissing)
		}
	}
	return nil
}

// listenerRouteNames returns the RDS names of every HTTP connection manager
// of l: its api_listener and the filters of every filter chain.
func listenerRouteNames(l *listenerv3.Listener) ([]string, error) {
	var anys []*anypb.Any
	if a := l.GetApiListener().GetApiListener(); a != nil {
		anys = append(anys, a)
	}
	chains := append([]*listenerv3.FilterChain{}, l.GetFilterChains()...)
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, l.GetDefaultFilterChain())
	}
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			if tc := f.GetTypedConfig(); tc != nil {
				anys = append(anys, tc)
			}
		}
	}
	seen := map[string]bool{}
	var names []string
	for _, a := range anys {
		if !a.MessageIs(&hcmv3.HttpConnectionManager{}) {
			continue
		}
		h := &hcmv3.HttpConnectionManager{}
		if err := a.UnmarshalTo(h); err != nil {
			return nil, fmt.Errorf("http connection manager: %w", err)
		}
		if n := h.GetRds().GetRouteConfigName(); n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}
