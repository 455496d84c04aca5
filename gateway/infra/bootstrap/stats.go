package bootstrap

import (
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Names and paths of the stats listener.
const (
	// StatsListenerName is the static listener that serves Prometheus stats.
	StatsListenerName = "gantry_stats"
	// AdminClusterName is the static cluster of Envoy's own admin API on
	// loopback, which the stats listener forwards to.
	AdminClusterName = "gantry_admin"
	// StatsPath is the only path the stats listener serves.
	StatsPath = "/stats/prometheus"
	// DefaultStatsPort is the stats port `gantry bootstrap` and sidecars
	// use (kube infra's fleets use their own "metrics" port).
	DefaultStatsPort = 15090
)

// addStats adds, when o.StatsAddress is set, a listener on it that
// forwards GET /stats/prometheus to the admin API on loopback and answers
// 404 to everything else, so a scraper reaches the stats and nothing else
// of the admin API. The admin port must be fixed for the listener to reach
// it.
func addStats(b *bootstrapv3.Bootstrap, o Options, adminHost string, adminPort uint32) error {
	if o.StatsAddress == "" {
		return nil
	}
	host, port, err := splitHostPort(o.StatsAddress, "stats address")
	if err != nil {
		return err
	}
	if port == 0 || adminPort == 0 {
		return fmt.Errorf("bootstrap: stats address %q needs fixed stats and admin ports (admin address %q)", o.StatsAddress, o.AdminAddress)
	}
	l, err := StatsListener(host, port)
	if err != nil {
		return err
	}
	b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
	b.StaticResources.Clusters = append(b.StaticResources.Clusters, AdminCluster(adminHost, adminPort))
	return nil
}

// StatsListener listens on host:port and proxies exactly GET StatsPath to
// AdminClusterName; every other request gets a 404.
func StatsListener(host string, port uint32) (*listenerv3.Listener, error) {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: StatsListenerName,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: StatsListenerName,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    StatsListenerName,
				Domains: []string{"*"},
				Routes: []*routev3.Route{
					{
						Match: &routev3.RouteMatch{
							PathSpecifier: &routev3.RouteMatch_Path{Path: StatsPath},
							Headers: []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
								StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "GET"}},
							}}},
						},
						Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: AdminClusterName}}},
					},
					{
						Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
						Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 404}},
					},
				},
			}},
		}},
	}
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	hcm.HttpFilters = []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}}
	cfg, err := anypb.New(hcm)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return &listenerv3.Listener{
		Name:    StatsListenerName,
		Address: socketAddress(host, port),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: cfg},
		}}}},
	}, nil
}

// AdminCluster reaches Envoy's admin API on loopback.
func AdminCluster(host string, port uint32) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 AdminClusterName,
		ConnectTimeout:       durationpb.New(time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: AdminClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
			}}}},
		},
	}
}
