// Package xdstest builds small, valid Envoy resources by hand for the tests
// of the xDS cache, server and load tool: a listener (or API listener) whose
// HTTP connection manager uses RDS, a route configuration, an EDS cluster
// and its endpoints.
package xdstest

import (
	"fmt"
	"net"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// HCM is an HTTP connection manager that fetches routeName over ADS.
func HCM(routeName string) *hcmv3.HttpConnectionManager {
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		panic(err)
	}
	return &hcmv3.HttpConnectionManager{
		StatPrefix: "http",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: routeName,
			ConfigSource: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	}
}

// APIListener is a listener for proxyless gRPC clients named after the
// target it serves.
func APIListener(name, routeName string) *listenerv3.Listener {
	a, err := anypb.New(HCM(routeName))
	if err != nil {
		panic(err)
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: a}}
}

// Listener is a bound listener on 127.0.0.1:port using routeName.
func Listener(name string, port uint32, routeName string) *listenerv3.Listener {
	a, err := anypb.New(HCM(routeName))
	if err != nil {
		panic(err)
	}
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a},
		}}}},
	}
}

// Route is a route configuration with one virtual host for domains whose
// single prefix route sends everything to cluster.
func Route(name string, domains []string, cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name + "/vh",
			Domains: domains,
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
				}},
			}},
		}},
	}
}

// Cluster is an EDS cluster (round robin) over ADS.
func Cluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		ConnectTimeout:       durationpb.New(5e9),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
			ResourceApiVersion:    corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		}},
	}
}

// Endpoints is the load assignment of cluster with the given host:port
// addresses, all healthy.
func Endpoints(cluster string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	var lbs []*endpointv3.LbEndpoint
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			panic(fmt.Sprintf("endpoint %q: %v", a, err))
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			panic(fmt.Sprintf("endpoint %q: %v", a, err))
		}
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HealthStatus: corev3.HealthStatus_HEALTHY,
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
				}}},
			}},
		})
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
	}
}

// Simple is a complete configuration: an API listener `target` and a bound
// listener on port, both using route config "rc", whose single route sends
// everything to cluster "c" with endpoints addrs.
func Simple(target string, port uint32, addrs ...string) map[string][]types.Resource {
	return map[string][]types.Resource{
		resource.ListenerType: {APIListener(target, "rc"), Listener("l", port, "rc")},
		resource.RouteType:    {Route("rc", []string{"*"}, "c")},
		resource.ClusterType:  {Cluster("c")},
		resource.EndpointType: {Endpoints("c", addrs...)},
	}
}

// Node is an xDS node of group with flavor metadata ("" for none).
func Node(id, group, flavor string) *corev3.Node {
	n := &corev3.Node{Id: id, Cluster: group}
	if flavor != "" {
		n.Metadata = &structpb.Struct{Fields: map[string]*structpb.Value{"gantry.flavor": structpb.NewStringValue(flavor)}}
	}
	return n
}
