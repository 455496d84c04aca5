package cache

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/gantryproxy/gantry/internal/plist"
)

// ListedRouteConfiguration is a route configuration message that holds
// its virtual hosts in a persistent list (internal/plist) instead of its
// VirtualHosts field, as xds/envoy's Builder hands them out: a version
// made by changing a few virtual hosts shares every other chunk of the
// list with the version before, so it costs no list of every virtual
// host. The cache encodes it from Shell and HostList, by the runs of
// runs.go, and never reads it as a message: reading it so (ProtoReflect,
// for a config dump or Cache.Resources' callers) is what makes a flat
// RouteConfiguration, at that time. Shell, the list and the virtual hosts
// must not be modified.
type ListedRouteConfiguration interface {
	types.ResourceWithName
	// Shell is the route configuration without its virtual hosts.
	Shell() *routev3.RouteConfiguration
	// HostList is its virtual hosts, in order.
	HostList() plist.List[*routev3.VirtualHost]
}

// routeTable is a route configuration as the cache encodes it: its
// fields but the virtual hosts (shell), its virtual hosts, and the
// message itself when it is a flat RouteConfiguration (nil otherwise).
type routeTable struct {
	name  string
	shell *routev3.RouteConfiguration
	hosts plist.List[*routev3.VirtualHost]
	flat  *routev3.RouteConfiguration
}

// routeTableOf is msg as a routeTable, when it is a route configuration.
// A flat one's virtual hosts are copied into a list (the cost of the
// stateless build, which makes every part anew anyway).
func routeTableOf(msg types.Resource) (routeTable, bool) {
	switch m := msg.(type) {
	case ListedRouteConfiguration:
		return routeTable{name: m.GetName(), shell: m.Shell(), hosts: m.HostList()}, true
	case *routev3.RouteConfiguration:
		shell := without(m, virtualHostsField).(*routev3.RouteConfiguration)
		return routeTable{name: m.GetName(), shell: shell, hosts: plist.Of(m.VirtualHosts...), flat: m}, true
	}
	return routeTable{}, false
}

// isRouteConfig reports whether msg is a route configuration, flat or
// listed.
func isRouteConfig(msg types.Resource) bool {
	switch msg.(type) {
	case *routev3.RouteConfiguration, ListedRouteConfiguration:
		return true
	}
	return false
}
