package envoy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/wrapperspb"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

func (b *builder) listeners() ([]types.Resource, error) {
	var out []types.Resource
	seen := map[string]bool{}
	add := func(l *listenerv3.Listener) error {
		if seen[l.Name] {
			return fmt.Errorf("listener %s: duplicate name", l.Name)
		}
		seen[l.Name] = true
		out = append(out, l)
		return nil
	}
	for _, l := range b.proxy.Listeners {
		if l == nil || (b.flavor == FlavorGRPC && !l.API && !l.GRPCServer) || (b.flavor == FlavorEnvoy && l.GRPCServer) {
			continue
		}
		if b.flavor == FlavorEnvoy && l.API && b.proxy.Sidecar != nil {
			continue // sidecars reach Service ports through mesh-outbound (sidecar.go)
		}
		if l.Name == "" {
			return nil, fmt.Errorf("listener on port %d: empty name", l.Port)
		}
		pl, err := b.listener(l)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		if err := add(pl); err != nil {
			return nil, err
		}
	}
	for _, api := range b.grpcAPI {
		pl, err := b.derivedAPIListener(api)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", api.name, err)
		}
		if seen[pl.Name] {
			continue // an explicit API listener of the IR wins
		}
		if err := add(pl); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *builder) listener(l *ir.Listener) (*listenerv3.Listener, error) {
	switch {
	case l.API:
		if len(l.FilterChains) != 1 || l.FilterChains[0] == nil || l.FilterChains[0].HTTP == nil {
			return nil, fmt.Errorf("api listener: want exactly one filter chain with http")
		}
		return b.apiListener(l.Name, l.FilterChains[0].HTTP)
	case l.GRPCServer:
		return b.grpcServerListener(l)
	case l.Protocol == ir.ProtocolUDP || l.UDP != nil:
		return b.udpListener(l)
	default:
		return b.tcpListener(l)
	}
}

func socketAddress(l *ir.Listener, p corev3.SocketAddress_Protocol) (*corev3.Address, error) {
	if l.Port == 0 || l.Port > 65535 {
		return nil, fmt.Errorf("port %d: want 1-65535", l.Port)
	}
	addr := l.Address
	if addr == "" {
		addr = "0.0.0.0"
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      p,
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: l.Port},
	}}}, nil
}

// apiListener is a listener with no socket: a proxyless client resolves a
// target named like the listener and follows its manager's RDS name.
func (b *builder) apiListener(name string, h *ir.HTTPConnectionManager) (*listenerv3.Listener, error) {
	hcm, err := b.httpConnectionManager(h, false, nil)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:        name,
		ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(hcm)},
	}, nil
}

// derivedAPIListener is the gRPC flavor's api_listener of api, which
// depends on nothing else (the gRPC flavor adds no CORS, invalid-backend,
// telemetry or, without an Authorization, RBAC filter).
func (b *builder) derivedAPIListener(api grpcAPIListener) (*listenerv3.Listener, error) {
	if b.memo != nil {
		return b.memo.apiListener(b, api)
	}
	return b.apiListener(api.name, &ir.HTTPConnectionManager{RouteConfigName: api.routeConfig, StatPrefix: api.name})
}

// grpcServerListener is the inbound listener of a proxyless gRPC server:
// grpc-go accepts one plain filter chain (no listener filters, no SNI or
// transport protocol match) whose TLS names certificate provider instances.
func (b *builder) grpcServerListener(l *ir.Listener) (*listenerv3.Listener, error) {
	addr, err := socketAddress(l, corev3.SocketAddress_TCP)
	if err != nil {
		return nil, err
	}
	if len(l.FilterChains) != 1 || l.FilterChains[0] == nil || l.FilterChains[0].HTTP == nil || len(l.FilterChains[0].ServerNames) > 0 {
		return nil, fmt.Errorf("grpc server listener: want exactly one filter chain, with http and no server names")
	}
	fc := l.FilterChains[0]
	hcm, err := b.httpConnectionManager(fc.HTTP, false, fc.Authorization)
	if err != nil {
		return nil, fmt.Errorf("filter chain %s: %w", fc.Name, err)
	}
	chain := &listenerv3.FilterChain{Name: fc.Name, Filters: []*listenerv3.Filter{{
		Name:       hcmFilterName,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
	}}}
	if fc.TLS != nil {
		ts, err := grpcDownstreamTLS(fc.TLS)
		if err != nil {
			return nil, fmt.Errorf("filter chain %s: tls: %w", fc.Name, err)
		}
		chain.TransportSocket = ts
	}
	return &listenerv3.Listener{Name: l.Name, Address: addr, FilterChains: []*listenerv3.FilterChain{chain}}, nil
}

// grpcDownstreamTLS names the bootstrap's certificate provider instance for
// the server's certificate and, when client certificates are verified, for
// the CA bundle (grpc-go reads no SDS).
func grpcDownstreamTLS(t *ir.DownstreamTLS) (*corev3.TransportSocket, error) {
	if len(t.CertificateSecrets) != 1 || t.CertificateSecrets[0] == "" {
		return nil, fmt.Errorf("certificateSecrets: want exactly one for a gRPC server")
	}
	ctx := &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{
			InstanceName: CertificateProviderInstance, CertificateName: t.CertificateSecrets[0],
		},
	}
	dtc := &tlsv3.DownstreamTlsContext{CommonTlsContext: ctx}
	if t.ValidationSecret != "" {
		ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{
				InstanceName: CertificateProviderInstance, CertificateName: t.ValidationSecret,
			},
		}}
		dtc.RequireClientCertificate = wrapperspb.Bool(!t.AllowInsecureFallback)
	}
	return tlsSocket(dtc), nil
}

func (b *builder) tcpListener(l *ir.Listener) (*listenerv3.Listener, error) {
	addr, err := socketAddress(l, corev3.SocketAddress_TCP)
	if err != nil {
		return nil, err
	}
	if len(l.FilterChains) == 0 {
		return nil, fmt.Errorf("filterChains: none")
	}
	tlsListener := l.Protocol == ir.ProtocolHTTPS || l.Protocol == ir.ProtocolTLS
	out := &listenerv3.Listener{Name: l.Name, Address: addr}
	claimed := map[string]string{} // server name -> chain, to reject overlaps
	for i, fc := range l.FilterChains {
		if fc == nil {
			continue
		}
		name := fc.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		if fc.TLS != nil {
			tlsListener = true
		}
		keys := fc.ServerNames
		if len(keys) == 0 {
			keys = []string{""}
		}
		for _, sn := range keys {
			if other, ok := claimed[strings.ToLower(sn)]; ok {
				return nil, fmt.Errorf("filter chain %s: server name %q is also matched by filter chain %s", name, sn, other)
			}
			claimed[strings.ToLower(sn)] = name
		}
		chain, err := b.filterChain(fc)
		if err != nil {
			return nil, fmt.Errorf("filter chain %s: %w", name, err)
		}
		out.FilterChains = append(out.FilterChains, chain)
	}
	if tlsListener {
		for _, c := range out.FilterChains {
			if c.FilterChainMatch == nil {
				c.FilterChainMatch = &listenerv3.FilterChainMatch{}
			}
			c.FilterChainMatch.TransportProtocol = "tls"
		}
		out.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name:       tlsInspectorName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
		}}
	}
	return out, nil
}

func (b *builder) filterChain(fc *ir.FilterChain) (*listenerv3.FilterChain, error) {
	if (fc.HTTP == nil) == (fc.TCP == nil) {
		return nil, fmt.Errorf("exactly one of http and tcp must be set")
	}
	out := &listenerv3.FilterChain{Name: fc.Name}
	if len(fc.ServerNames) > 0 {
		out.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: append([]string(nil), fc.ServerNames...)}
	}
	if fc.HTTP != nil {
		hcm, err := b.httpConnectionManager(fc.HTTP, true, fc.Authorization)
		if err != nil {
			return nil, err
		}
		out.Filters = []*listenerv3.Filter{{
			Name:       hcmFilterName,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}
	} else {
		tp, err := b.tcpProxy(fc.TCP)
		if err != nil {
			return nil, fmt.Errorf("tcp: %w", err)
		}
		rbac, err := rbacNetworkFilters(fc.Authorization, fc.TCP.StatPrefix)
		if err != nil {
			return nil, err
		}
		out.Filters = append(rbac, &listenerv3.Filter{
			Name:       tcpProxyName,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(tp)},
		})
	}
	if fc.TLS != nil {
		ts, err := downstreamTLS(fc.TLS, fc.HTTP)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		out.TransportSocket = ts
	}
	return out, nil
}

// downstreamTLS terminates TLS with certificates fetched over SDS.
func downstreamTLS(t *ir.DownstreamTLS, h *ir.HTTPConnectionManager) (*corev3.TransportSocket, error) {
	if len(t.CertificateSecrets) == 0 {
		return nil, fmt.Errorf("certificateSecrets: none")
	}
	ctx := &tlsv3.CommonTlsContext{AlpnProtocols: append([]string(nil), t.ALPN...)}
	for _, s := range t.CertificateSecrets {
		if s == "" {
			return nil, fmt.Errorf("certificateSecrets: empty name")
		}
		ctx.TlsCertificateSdsSecretConfigs = append(ctx.TlsCertificateSdsSecretConfigs, sdsConfig(s))
	}
	if len(ctx.AlpnProtocols) == 0 && h != nil {
		ctx.AlpnProtocols = []string{"http/1.1"}
		if h.HTTP2 {
			ctx.AlpnProtocols = []string{"h2", "http/1.1"}
		}
	}
	dtc := &tlsv3.DownstreamTlsContext{CommonTlsContext: ctx}
	if t.ValidationSecret != "" {
		ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sdsConfig(t.ValidationSecret),
		}
		dtc.RequireClientCertificate = wrapperspb.Bool(!t.AllowInsecureFallback)
	}
	return tlsSocket(dtc), nil
}

func (b *builder) tcpProxy(t *ir.TCPProxy) (*tcpproxyv3.TcpProxy, error) {
	if t.StatPrefix == "" {
		return nil, fmt.Errorf("statPrefix: empty")
	}
	out := &tcpproxyv3.TcpProxy{StatPrefix: t.StatPrefix}
	var shares []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight
	for _, be := range t.Backends {
		if be.Weight == 0 {
			continue
		}
		name := be.Cluster
		if name == "" {
			// No resolvable backend: connections are closed.
			name = InvalidBackendCluster
			b.invalidBackend = true
		}
		shares = append(shares, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: name, Weight: be.Weight})
	}
	switch len(shares) {
	case 0:
		b.invalidBackend = true
		out.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: InvalidBackendCluster}
	case 1:
		out.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: shares[0].Name}
	default:
		out.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: shares}}
	}
	if err := b.addTCPTelemetry(out); err != nil {
		return nil, err
	}
	return out, nil
}

// udpShares are the backends of a UDP listener that receive datagrams.
func udpShares(u *ir.UDPProxy) []ir.WeightedCluster {
	var shares []ir.WeightedCluster
	for _, be := range u.Backends {
		if be.Weight > 0 && be.Cluster != "" {
			shares = append(shares, be)
		}
	}
	return shares
}

// udpListener forwards datagrams. Envoy's UDP proxy sends a session to one
// cluster, so several weighted backends are merged into one cluster (see
// udpMergedCluster); with no resolvable backend, datagrams go to
// InvalidBackendCluster and are dropped.
func (b *builder) udpListener(l *ir.Listener) (*listenerv3.Listener, error) {
	if l.UDP == nil {
		return nil, fmt.Errorf("udp: not set on a UDP listener")
	}
	addr, err := socketAddress(l, corev3.SocketAddress_UDP)
	if err != nil {
		return nil, err
	}
	if l.UDP.StatPrefix == "" {
		return nil, fmt.Errorf("udp: statPrefix: empty")
	}
	shares := udpShares(l.UDP)
	var cluster string
	switch len(shares) {
	case 0:
		cluster = InvalidBackendCluster
		b.invalidBackend = true
	case 1:
		cluster = shares[0].Cluster
	default:
		cluster = udpMergedName(l.Name)
		b.udpMerged = append(b.udpMerged, udpMerged{name: cluster, shares: shares})
	}
	route := &udpproxyv3.Route{Cluster: cluster}
	cfg := &udpproxyv3.UdpProxyConfig{
		StatPrefix: l.UDP.StatPrefix,
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &xdsmatcherv3.Matcher{
			OnNoMatch: &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: "route", TypedConfig: mustAny(route)},
			}},
		}},
	}
	return &listenerv3.Listener{
		Name:              l.Name,
		Address:           addr,
		UdpListenerConfig: &listenerv3.UdpListenerConfig{},
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       udpProxyName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(cfg)},
		}},
	}, nil
}

// grpcAPIListener is an api_listener the gRPC flavor derives from an HTTP
// listener's virtual host domain.
type grpcAPIListener struct {
	name        string
	routeConfig string
}

// addGRPCDomains plans the gRPC flavor's api_listeners: for every exact
// domain of a route config served on an HTTP port, "<domain>:<port>" (and
// the virtual host also answers that authority), and "<domain>" for port 80
// or else the lowest port that serves the domain.
func (b *builder) addGRPCDomains() error {
	rcs := map[string]*ir.RouteConfig{}
	for _, rc := range b.proxy.RouteConfigs {
		if rc != nil {
			rcs[rc.Name] = rc
		}
	}
	b.grpcDomains = map[string]map[string][]string{}
	named := map[string]grpcAPIListener{}
	bare := map[string]uint32{} // domain -> port that owns "<domain>"
	for _, l := range b.proxy.Listeners {
		if l == nil || l.API || l.GRPCServer || l.UDP != nil {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc == nil || fc.HTTP == nil {
				continue
			}
			rc := rcs[fc.HTTP.RouteConfigName]
			if rc == nil {
				continue // Validate reports the dangling reference
			}
			b.planGRPCDomains(rc, l.Port, named, bare)
		}
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.grpcAPI = append(b.grpcAPI, named[n])
	}
	return nil
}

func (b *builder) planGRPCDomains(rc *ir.RouteConfig, port uint32, named map[string]grpcAPIListener, bare map[string]uint32) {
	existing := map[string]bool{}
	for vh := range rc.VirtualHosts.Values() {
		if vh == nil {
			continue
		}
		for _, d := range vh.Domains {
			existing[strings.ToLower(d)] = true
		}
		for _, d := range b.grpcDomains[rc.Name][vh.Name] {
			existing[d] = true
		}
	}
	for vh := range rc.VirtualHosts.Values() {
		if vh == nil {
			continue
		}
		for _, d := range vh.Domains {
			d = strings.ToLower(d)
			if strings.Contains(d, "*") || strings.Contains(d, ":") || d == "" {
				continue
			}
			withPort := fmt.Sprintf("%s:%d", d, port)
			if _, ok := named[withPort]; !ok {
				named[withPort] = grpcAPIListener{name: withPort, routeConfig: rc.Name}
			}
			if !existing[withPort] {
				existing[withPort] = true
				if b.grpcDomains[rc.Name] == nil {
					b.grpcDomains[rc.Name] = map[string][]string{}
				}
				b.grpcDomains[rc.Name][vh.Name] = append(b.grpcDomains[rc.Name][vh.Name], withPort)
			}
			owner, ok := bare[d]
			if !ok || (port == 80 && owner != 80) || (owner != 80 && port < owner) {
				bare[d] = port
				named[d] = grpcAPIListener{name: d, routeConfig: rc.Name}
			}
		}
	}
}
