package envoy

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/anypb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Sidecar capture listeners (Envoy flavor, for a proxy whose IR has
// Sidecar set; the gRPC flavor ignores Sidecar, Outbound and Inbound).
//
// mesh-outbound, on 0.0.0.0:<OutboundPort>, receives every outgoing
// connection the capture rules redirect. Its original_dst listener filter
// restores the destination the application dialled, and filter chains
// match it:
//   - one chain per client-side listener with an Outbound, matching its
//     addresses (each /32 or /128) and port: the listener's own HTTP
//     connection manager (the same RDS route table the gRPC flavor serves;
//     in this flavor its single virtual host also answers any Host, since
//     the address already chose the Service), or a TCP proxy for an opaque
//     port;
//   - destination port OutboundPort on any address refuses (a connection
//     made to the listener itself would loop through the passthrough);
//   - anything else takes the default chain: a TCP proxy to
//     PassthroughCluster (ORIGINAL_DST: the destination as dialled) under
//     OutboundAllowAny, or to InvalidBackendCluster (closed) under
//     OutboundRegistryOnly.
//
// mesh-inbound is described in sidecar_inbound.go.

// Names of the clusters the capture listeners add.
const (
	// PassthroughCluster forwards outgoing connections to their original
	// destination.
	PassthroughCluster = "gantry/passthrough"
	// InboundPassthroughCluster forwards incoming connections to a port
	// that no Service declares to their original destination (the pod's
	// own address and port).
	InboundPassthroughCluster = "gantry/inbound-passthrough"
	// inboundClusterPrefix starts the loopback clusters of inbound ports:
	// "gantry/inbound/<port>/<tcp|http>" (four segments, so never a
	// Service cluster's "<namespace>/<service>/<port>").
	inboundClusterPrefix = "gantry/inbound/"
	originalDstName      = "envoy.filters.listener.original_dst"
)

// sidecarListeners builds the capture listeners (Envoy flavor with
// Sidecar set; none otherwise) and records the clusters they add.
func (b *builder) sidecarListeners() ([]types.Resource, error) {
	s := b.proxy.Sidecar
	if s == nil || b.flavor != FlavorEnvoy {
		return nil, nil
	}
	b.sidecarClusters = map[string]*clusterv3.Cluster{}
	out, err := b.outboundListener(s)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", ir.OutboundListenerName, err)
	}
	in, err := b.inboundListener(s)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", ir.InboundListenerName, err)
	}
	return []types.Resource{out, in}, nil
}

// captureListener is a listener on 0.0.0.0:port (and [::]:port when
// dualStack) whose first listener filter restores the original destination.
func captureListener(name string, port uint32, dir corev3.TrafficDirection, dualStack bool) (*listenerv3.Listener, error) {
	addr, err := socketAddress(&ir.Listener{Port: port}, corev3.SocketAddress_TCP)
	if err != nil {
		return nil, err
	}
	var more []*listenerv3.AdditionalAddress
	if dualStack {
		v6, _ := socketAddress(&ir.Listener{Address: "::", Port: port}, corev3.SocketAddress_TCP)
		more = []*listenerv3.AdditionalAddress{{Address: v6}}
	}
	return &listenerv3.Listener{
		AdditionalAddresses: more,
		Name:                name,
		Address:             addr,
		TrafficDirection:    dir,
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       originalDstName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&originaldstv3.OriginalDst{})},
		}},
	}, nil
}

func (b *builder) outboundListener(s *ir.Sidecar) (*listenerv3.Listener, error) {
	l, err := captureListener(ir.OutboundListenerName, s.OutboundPort, corev3.TrafficDirection_OUTBOUND, s.DualStack)
	if err != nil {
		return nil, err
	}
	matches := map[string]string{} // match key -> chain, to reject overlaps
	for _, il := range b.proxy.Listeners {
		if il == nil || il.Outbound == nil {
			continue
		}
		chain, err := b.outboundChain(il)
		if err != nil {
			return nil, fmt.Errorf("filter chain %s: %w", il.Name, err)
		}
		if err := claimMatch(matches, chain); err != nil {
			return nil, err
		}
		l.FilterChains = append(l.FilterChains, chain)
	}
	guard, err := b.refuseChain("gantry/outbound-loop", &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(s.OutboundPort)})
	if err != nil {
		return nil, err
	}
	if err := claimMatch(matches, guard); err != nil {
		return nil, err
	}
	l.FilterChains = append(l.FilterChains, guard)
	switch s.OutboundPolicy {
	case ir.OutboundAllowAny, "":
		l.DefaultFilterChain, err = b.tcpChain("gantry/passthrough", nil, PassthroughCluster)
		b.sidecarClusters[PassthroughCluster] = originalDstCluster(PassthroughCluster)
	case ir.OutboundRegistryOnly:
		l.DefaultFilterChain, err = b.refuseChain("gantry/registry-only", nil)
	default:
		return nil, fmt.Errorf("outboundPolicy %q: want %s or %s", s.OutboundPolicy, ir.OutboundAllowAny, ir.OutboundRegistryOnly)
	}
	return l, err
}

// outboundChain captures one Service port: its HTTP manager, or its TCP
// proxy when the port is opaque.
func (b *builder) outboundChain(il *ir.Listener) (*listenerv3.FilterChain, error) {
	ob := il.Outbound
	if ob.Port == 0 || ob.Port > 65535 {
		return nil, fmt.Errorf("outbound port %d: want 1-65535", ob.Port)
	}
	match := &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(ob.Port)}
	if len(ob.Addresses) == 0 {
		return nil, fmt.Errorf("outbound: no address")
	}
	for _, a := range ob.Addresses {
		r, err := cidrOf(a)
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		match.PrefixRanges = append(match.PrefixRanges, r)
	}
	if ob.TCP != nil {
		tp, err := b.tcpProxy(ob.TCP)
		if err != nil {
			return nil, fmt.Errorf("tcp: %w", err)
		}
		return &listenerv3.FilterChain{Name: il.Name, FilterChainMatch: match, Filters: []*listenerv3.Filter{tcpProxyFilter(tp)}}, nil
	}
	if len(il.FilterChains) != 1 || il.FilterChains[0] == nil || il.FilterChains[0].HTTP == nil {
		return nil, fmt.Errorf("outbound http: want exactly one filter chain with http")
	}
	h := il.FilterChains[0].HTTP
	hcm, err := b.httpConnectionManager(h, false, nil)
	if err != nil {
		return nil, err
	}
	b.anyHost[h.RouteConfigName] = true
	return &listenerv3.FilterChain{Name: il.Name, FilterChainMatch: match, Filters: []*listenerv3.Filter{hcmFilter(hcm)}}, nil
}

// cidrOf is the single-address range of an IP.
func cidrOf(addr string) (*corev3.CidrRange, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("address %q is not an IP", addr)
	}
	bits := uint32(128)
	if ip.To4() != nil {
		bits = 32
	}
	return &corev3.CidrRange{AddressPrefix: ip.String(), PrefixLen: wrapperspb.UInt32(bits)}, nil
}

// claimMatch rejects a chain whose match another chain of the listener
// already has (Envoy refuses such a listener).
func claimMatch(seen map[string]string, c *listenerv3.FilterChain) error {
	m := c.GetFilterChainMatch()
	var ranges []string
	for _, r := range m.GetPrefixRanges() {
		ranges = append(ranges, r.GetAddressPrefix()+"/"+strconv.Itoa(int(r.GetPrefixLen().GetValue())))
	}
	if len(ranges) == 0 {
		ranges = []string{"*"}
	}
	for _, r := range ranges {
		k := fmt.Sprintf("%d|%s|%s", m.GetDestinationPort().GetValue(), r, m.GetTransportProtocol())
		if other, ok := seen[k]; ok {
			return fmt.Errorf("filter chain %s: destination %s port %d is also matched by filter chain %s", c.Name, r, m.GetDestinationPort().GetValue(), other)
		}
		seen[k] = c.Name
	}
	return nil
}

// tcpChain forwards the bytes of a connection to cluster.
func (b *builder) tcpChain(name string, match *listenerv3.FilterChainMatch, cluster string) (*listenerv3.FilterChain, error) {
	tp, err := b.tcpProxy(&ir.TCPProxy{StatPrefix: name, Backends: []ir.WeightedCluster{{Cluster: cluster, Weight: 1}}})
	if err != nil {
		return nil, fmt.Errorf("filter chain %s: %w", name, err)
	}
	return &listenerv3.FilterChain{Name: name, FilterChainMatch: match, Filters: []*listenerv3.Filter{tcpProxyFilter(tp)}}, nil
}

// refuseChain closes the connections it matches.
func (b *builder) refuseChain(name string, match *listenerv3.FilterChainMatch) (*listenerv3.FilterChain, error) {
	b.invalidBackend = true
	return b.tcpChain(name, match, InvalidBackendCluster)
}

func tcpProxyFilter(tp proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: tcpProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(tp)}}
}

func hcmFilter(hcm proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: hcmFilterName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}}
}

// originalDstCluster connects to the destination the client dialled.
func originalDstCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
	}
}

// loopbackCluster reaches the application on 127.0.0.1:port. The proxy's
// own user is exempt from capture, and a connection to the loopback address
// never leaves the pod, so it is not captured again. For HTTP ports it
// speaks what the calling sidecar spoke (HTTP/1.1 or HTTP/2: the caller's
// cluster chose it from the Service port's protocol and routes).
func (b *builder) loopbackCluster(port uint32, proto ir.AppProtocol) string {
	token := "tcp"
	if proto != ir.AppTCP {
		token = "http"
	}
	name := inboundClusterPrefix + strconv.Itoa(int(port)) + "/" + token
	if b.sidecarClusters[name] != nil {
		return name
	}
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
				}}},
			}}}},
		}}},
	}
	if token == "http" {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{http2OptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
				UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
					HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		})}
	}
	b.sidecarClusters[name] = c
	return name
}

// sidecarClusterList is the clusters the capture listeners added, by name.
func (b *builder) sidecarClusterList() []*clusterv3.Cluster {
	out := make([]*clusterv3.Cluster, 0, len(b.sidecarClusters))
	for _, c := range b.sidecarClusters {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *clusterv3.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// widenOutboundHosts lets the route tables that outbound chains use answer
// any Host: the destination address already chose the Service port, and a
// client may send a name the table does not list (an alias, a trailing
// dot). Only a table with one virtual host and no "*" domain is widened.
func (b *builder) widenOutboundHosts(routes []types.Resource) {
	for _, r := range routes {
		rc, ok := r.(*routev3.RouteConfiguration)
		if !ok || !b.anyHost[rc.Name] || len(rc.VirtualHosts) != 1 || slices.Contains(rc.VirtualHosts[0].Domains, "*") {
			continue
		}
		rc.VirtualHosts[0].Domains = append(rc.VirtualHosts[0].Domains, "*")
	}
}
