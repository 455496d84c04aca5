package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// bootstrapFile is the part of a gRPC xDS bootstrap the probe reads: the
// server to ask and the node to ask as.
type bootstrapFile struct {
	XDSServers []struct {
		ServerURI string `json:"server_uri"`
	} `json:"xds_servers"`
	Node json.RawMessage `json:"node"`
}

// parseBootstrap returns the first xDS server's address and the node.
func parseBootstrap(data []byte) (string, *corev3.Node, error) {
	var b bootstrapFile
	if err := json.Unmarshal(data, &b); err != nil {
		return "", nil, fmt.Errorf("probe: bootstrap: %w", err)
	}
	if len(b.XDSServers) == 0 || b.XDSServers[0].ServerURI == "" {
		return "", nil, fmt.Errorf("probe: bootstrap: no xds_servers")
	}
	node := &corev3.Node{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b.Node, node); err != nil {
		return "", nil, fmt.Errorf("probe: bootstrap node: %w", err)
	}
	return b.XDSServers[0].ServerURI, node, nil
}

// groupConfig is what the xDS server sends the probe's node group for one
// target: its route configuration and the endpoints of the clusters.
type groupConfig struct {
	listener  string
	routes    *routev3.RouteConfiguration
	endpoints map[string][]string // cluster -> "host:port"
}

// adsStream asks for resources one type at a time on one ADS stream (state
// of the world), as the node the bootstrap names.
type adsStream struct {
	node   *corev3.Node
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

func (a *adsStream) get(typeURL string, names []string) ([]proto.Message, error) {
	if err := a.stream.Send(&discoveryv3.DiscoveryRequest{Node: a.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		return nil, fmt.Errorf("probe: ask for %s: %w", typeURL, err)
	}
	for {
		resp, err := a.stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("probe: receive %s: %w", typeURL, err)
		}
		if resp.GetTypeUrl() != typeURL {
			continue
		}
		out := make([]proto.Message, 0, len(resp.GetResources()))
		for _, r := range resp.GetResources() {
			m, err := r.UnmarshalNew()
			if err != nil {
				return nil, fmt.Errorf("probe: %s: %w", typeURL, err)
			}
			out = append(out, m)
		}
		return out, nil
	}
}

// fetchConfig reads the listener named target (the api_listener a
// proxyless client resolves), its route configuration and, once a route is
// known, nothing more: endpoints are fetched by fetchEndpoints.
func fetchConfig(ctx context.Context, conn *grpc.ClientConn, node *corev3.Node, target string) (*groupConfig, *adsStream, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("probe: ADS stream: %w", err)
	}
	a := &adsStream{node: node, stream: stream}
	msgs, err := a.get(resourcev3.ListenerType, []string{target})
	if err != nil {
		return nil, nil, err
	}
	var lis *listenerv3.Listener
	for _, m := range msgs {
		if l, ok := m.(*listenerv3.Listener); ok && l.GetName() == target {
			lis = l
		}
	}
	if lis == nil || lis.GetApiListener() == nil {
		return nil, nil, fmt.Errorf("probe: group %s has no listener %q for proxyless clients (is the host and port one of the Gateway's listeners?)", node.GetCluster(), target)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := lis.GetApiListener().GetApiListener().UnmarshalTo(hcm); err != nil {
		return nil, nil, fmt.Errorf("probe: listener %s: %w", target, err)
	}
	cfg := &groupConfig{listener: target, routes: hcm.GetRouteConfig()}
	if cfg.routes == nil {
		name := hcm.GetRds().GetRouteConfigName()
		msgs, err := a.get(resourcev3.RouteType, []string{name})
		if err != nil {
			return nil, nil, err
		}
		for _, m := range msgs {
			if rc, ok := m.(*routev3.RouteConfiguration); ok && rc.GetName() == name {
				cfg.routes = rc
			}
		}
		if cfg.routes == nil {
			return nil, nil, fmt.Errorf("probe: route configuration %q of listener %s not served", name, target)
		}
	}
	return cfg, a, nil
}

// fetchEndpoints fills cfg.endpoints for clusters (EDS names are cluster
// names in Gantry's output).
func (a *adsStream) fetchEndpoints(cfg *groupConfig, clusters []string) error {
	cfg.endpoints = map[string][]string{}
	if len(clusters) == 0 {
		return nil
	}
	msgs, err := a.get(resourcev3.EndpointType, clusters)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		cla, ok := m.(*endpointv3.ClusterLoadAssignment)
		if !ok {
			continue
		}
		for _, le := range cla.GetEndpoints() {
			for _, lb := range le.GetLbEndpoints() {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				if sa == nil {
					continue
				}
				addr := sa.GetAddress() + ":" + strconv.Itoa(int(sa.GetPortValue()))
				cfg.endpoints[cla.GetClusterName()] = append(cfg.endpoints[cla.GetClusterName()], addr)
			}
		}
	}
	return nil
}

// clusterOf names the cluster whose endpoints hold addr, among clusters.
func (cfg *groupConfig) clusterOf(addr string, clusters []string) string {
	for _, c := range clusters {
		for _, e := range cfg.endpoints[c] {
			if e == addr {
				return c
			}
		}
	}
	return ""
}
