package cache

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// consistent checks that every reference inside the snapshot resolves:
// listeners (API listeners included, which the upstream snapshot check
// skips) to route configurations over RDS, and EDS clusters to endpoints.
func consistent(s *snapshot) error {
	routes := s.get(resource.RouteType).byName
	for _, r := range s.get(resource.ListenerType).sorted {
		l, ok := r.Message.(*listenerv3.Listener)
		if !ok {
			return fmt.Errorf("listener %q: unexpected message %T", r.Name, r.Message)
		}
		names, err := listenerRouteNames(l)
		if err != nil {
			return fmt.Errorf("listener %q: %w", r.Name, err)
		}
		for _, n := range names {
			if _, ok := routes[n]; !ok {
				return fmt.Errorf("listener %q: route configuration %q (RDS) is not in the snapshot", r.Name, n)
			}
		}
	}
	endpoints := s.get(resource.EndpointType).byName
	for _, r := range s.get(resource.ClusterType).sorted {
		c, ok := r.Message.(*clusterv3.Cluster)
		if !ok {
			return fmt.Errorf("cluster %q: unexpected message %T", r.Name, r.Message)
		}
		if c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.GetName()
		}
		if _, ok := endpoints[name]; !ok {
			return fmt.Errorf("cluster %q: endpoints %q (EDS) are not in the snapshot", r.Name, name)
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
