package envoy

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Filter names as Envoy knows them.
const (
	corsFilterName = "envoy.filters.http.cors"
	// invalidBackendFilterName is a header mutation filter whose per-route
	// config, on an unresolvable weight share, marks the request with
	// InvalidBackendHeader before the router runs (see localReplyConfig).
	invalidBackendFilterName = "gantry.invalid_backend"
	routerFilterName         = "envoy.filters.http.router"
	hcmFilterName            = "envoy.filters.network.http_connection_manager"
	tcpProxyName             = "envoy.filters.network.tcp_proxy"
	udpProxyName             = "envoy.filters.udp_listener.udp_proxy"
	tlsInspectorName         = "envoy.filters.listener.tls_inspector"
	tlsSocketName            = "envoy.transport_sockets.tls"
	http2OptionsKey          = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// filterContext is what decides whether an HTTP filter is in a chain.
type filterContext struct {
	flavor Flavor
	hcm    *ir.HTTPConnectionManager
	routes *routeConfigInfo
}

// httpFilter is one entry of the ordered HTTP filter list.
type httpFilter struct {
	name    string
	enabled func(filterContext) bool
	config  func() proto.Message
}

// httpFilters is the explicit, ordered list of HTTP filters. Order matters:
// the router is last.
var httpFilters = []httpFilter{
	{
		name: corsFilterName,
		// The filter runs when the manager asks for it or when any route of
		// its route configuration has a CORS policy; grpc-go has no CORS
		// filter.
		enabled: func(c filterContext) bool {
			return c.flavor == FlavorEnvoy && (c.hcm.CORS || c.routes.cors)
		},
		config: func() proto.Message { return &corsv3.Cors{} },
	},
	{
		name: invalidBackendFilterName,
		// Only where a route configuration has unresolvable shares; gRPC
		// clients answer those with UNAVAILABLE instead.
		enabled: func(c filterContext) bool {
			return c.flavor == FlavorEnvoy && len(c.routes.invalidStatuses) > 0
		},
		config: func() proto.Message { return &headermutationv3.HeaderMutation{} },
	},
	{
		name:    routerFilterName,
		enabled: func(filterContext) bool { return true },
		config:  func() proto.Message { return &routerv3.Router{} },
	},
}

func buildHTTPFilters(c filterContext) []*hcmv3.HttpFilter {
	var out []*hcmv3.HttpFilter
	for _, f := range httpFilters {
		if !f.enabled(c) {
			continue
		}
		out = append(out, &hcmv3.HttpFilter{
			Name:       f.name,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(f.config())},
		})
	}
	return out
}

// httpConnectionManager builds the manager of an HTTP chain (edge defaults
// for Envoy) or of an api_listener (edge = false); authz, when set, puts the
// chain's RBAC filters first (rbac.go).
func (b *builder) httpConnectionManager(h *ir.HTTPConnectionManager, edge bool, authz *ir.Authorization) (*hcmv3.HttpConnectionManager, error) {
	if h.RouteConfigName == "" {
		return nil, fmt.Errorf("http: routeConfigName is empty")
	}
	in := b.info(h.RouteConfigName)
	stat := h.StatPrefix
	if stat == "" {
		stat = h.RouteConfigName
	}
	out := &hcmv3.HttpConnectionManager{
		StatPrefix: stat,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: h.RouteConfigName,
		}},
	}
	rbac, err := rbacHTTPFilters(authz, in.rbacStages)
	if err != nil {
		return nil, err
	}
	out.HttpFilters = append(rbac, buildHTTPFilters(filterContext{flavor: b.flavor, hcm: h, routes: in})...)
	if edge && b.flavor == FlavorEnvoy {
		out.CodecType = hcmv3.HttpConnectionManager_AUTO
		out.UseRemoteAddress = wrapperspb.Bool(true)
		out.NormalizePath = wrapperspb.Bool(true)
		out.MergeSlashes = true
		if err := applyEdge(out, h.Edge); err != nil {
			return nil, err
		}
	}
	if b.flavor == FlavorEnvoy && len(in.invalidStatuses) > 0 {
		out.LocalReplyConfig = localReplyConfig(in.invalidStatuses)
	}
	if err := b.addHTTPTelemetry(out); err != nil {
		return nil, err
	}
	return out, nil
}

// localReplyConfig turns the "no healthy upstream" reply for a request that
// was sent to InvalidBackendCluster into the status its share asked for.
// InvalidBackendHeader carries the status: the invalid-backend filter sets it
// from the share's per-filter config, before the router, because the
// router's own header edits are applied only after it has found a host.
func localReplyConfig(statuses []uint32) *hcmv3.LocalReplyConfig {
	out := &hcmv3.LocalReplyConfig{}
	for _, st := range statuses {
		out.Mappers = append(out.Mappers, &hcmv3.ResponseMapper{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{
				AndFilter: &accesslogv3.AndFilter{Filters: []*accesslogv3.AccessLogFilter{
					{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{
						Header: &routev3.HeaderMatcher{
							Name: InvalidBackendHeader,
							HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{
								MatchPattern: &matcherv3.StringMatcher_Exact{Exact: fmt.Sprint(st)},
							}),
						},
					}}},
					{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{
						Flags: []string{"UH"},
					}}},
				}},
			}},
			StatusCode: wrapperspb.UInt32(st),
		})
	}
	return out
}
