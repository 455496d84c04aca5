package envoy

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gantryproxy/gantry/xds/ir"
)

// mesh-inbound, on 0.0.0.0:<InboundPort>, receives every incoming connection
// the capture rules redirect. Its original_dst listener filter restores the
// workload address and port the client dialled, and filter chains match it:
//   - one set per inbound listener that carries an Inbound (the same
//     per-address-and-port listeners the gRPC flavor serves to proxyless gRPC
//     servers; a wildcard address matches the port on any address), in its
//     Mode: Strict, one chain terminating mTLS with the listener's TLS (a
//     plaintext client fails the handshake); Permissive, that chain for
//     transport "tls" and a plaintext one for "raw_buffer"; Off, one
//     plaintext chain. Each forwards to the application on 127.0.0.1:<port>:
//     an HTTP connection manager (the listener's chain's settings and HTTP
//     filters, an inline route to the loopback cluster, the caller's
//     SPIFFE ID in x-forwarded-client-cert over mTLS) for HTTP ports, a TCP
//     proxy for opaque ones; the listener's authorization comes first, as
//     RBAC HTTP filters or RBAC network filters (an opaque port whose
//     rules need HTTP refuses every connection);
//   - for each workload address whose mode is not the namespace's
//     (InboundMode), the ports other workloads declare, in that address's
//     mode, so the wildcard chains never apply the namespace's mode to it;
//     and any other port of that address, through the passthrough;
//   - any other address and port: InboundPassthroughCluster (the original
//     destination) in the namespace's mode, with InboundTLS;
//   - destination port InboundPort refuses (it would loop), and so does the
//     default chain (what no chain takes: plaintext to a Strict address on a
//     listener that also has Permissive chains).
//
// The tls_inspector listener filter is added only when a chain matches on
// the transport (Permissive); it then waits at most inspectorTimeout for a
// client's first bytes and goes on as plaintext, so server-first protocols
// still work.

// inspectorTimeout bounds how long the TLS inspector waits for a client's
// first bytes.
const inspectorTimeout = time.Second

// inboundEntry is one destination of the inbound listener and how it is
// served. port 0 is any port (the passthrough); addr "" any address.
type inboundEntry struct {
	addr  string
	port  uint32
	proto ir.AppProtocol
	mode  ir.MTLSMode
	tls   *ir.DownstreamTLS
	// http is the IR chain's manager (settings and filters), nil for
	// entries the listener adds itself.
	http *ir.HTTPConnectionManager
	// authz is the IR chain's authorization (rbac.go): for an address's
	// other ports, the wildcard chain's of the port; none for passthroughs.
	authz *ir.Authorization
}

func (b *builder) inboundListener(s *ir.Sidecar) (*listenerv3.Listener, error) {
	l, err := captureListener(ir.InboundListenerName, s.InboundPort, corev3.TrafficDirection_INBOUND, s.DualStack)
	if err != nil {
		return nil, err
	}
	entries, err := b.inboundEntries(s)
	if err != nil {
		return nil, err
	}
	matches := map[string]string{}
	inspect := false
	for _, e := range entries {
		chains, err := b.inboundChains(e)
		if err != nil {
			return nil, err
		}
		for _, c := range chains {
			if err := claimMatch(matches, c); err != nil {
				return nil, err
			}
			inspect = inspect || c.GetFilterChainMatch().GetTransportProtocol() != ""
		}
		l.FilterChains = append(l.FilterChains, chains...)
	}
	guard, err := b.refuseChain("gantry/inbound-loop", &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(s.InboundPort)})
	if err != nil {
		return nil, err
	}
	if err := claimMatch(matches, guard); err != nil {
		return nil, err
	}
	l.FilterChains = append(l.FilterChains, guard)
	if l.DefaultFilterChain, err = b.refuseChain("gantry/inbound-refused", nil); err != nil {
		return nil, err
	}
	if inspect {
		l.ListenerFilters = append(l.ListenerFilters, &listenerv3.ListenerFilter{
			Name:       tlsInspectorName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
		})
		l.ListenerFiltersTimeout = duration(inspectorTimeout)
		l.ContinueOnListenerFiltersTimeout = true
	}
	return l, nil
}

// inboundEntries lists what the inbound listener serves: the IR's inbound
// listeners (first of each address and port), then per address whose mode
// is not the namespace's its other ports and passthrough, then the
// namespace's passthrough.
func (b *builder) inboundEntries(s *ir.Sidecar) ([]inboundEntry, error) {
	var out []inboundEntry
	seen := map[string]bool{}
	have := map[string]map[uint32]bool{} // address -> ports
	addrMode := map[string]ir.MTLSMode{}
	var addrs []string
	ports := map[uint32]inboundEntry{} // wildcard chains
	for _, l := range b.proxy.Listeners {
		if l == nil || !l.GRPCServer || l.Inbound == nil || l.Port == s.InboundPort {
			continue
		}
		e, err := irInboundEntry(l)
		if err != nil {
			return nil, fmt.Errorf("inbound listener %s: %w", l.Name, err)
		}
		k := e.addr + "|" + strconv.Itoa(int(e.port))
		if seen[k] {
			continue // 0.0.0.0 and [::] are the same wildcard
		}
		seen[k] = true
		out = append(out, e)
		if e.addr == "" {
			ports[e.port] = e
			continue
		}
		if have[e.addr] == nil {
			have[e.addr] = map[uint32]bool{}
			addrMode[e.addr] = e.mode
			addrs = append(addrs, e.addr)
		}
		have[e.addr][e.port] = true
	}
	portList := make([]uint32, 0, len(ports))
	for p := range ports {
		portList = append(portList, p)
	}
	slices.Sort(portList)
	for _, a := range addrs {
		if addrMode[a] == s.InboundMode {
			continue
		}
		for _, p := range portList {
			if !have[a][p] {
				out = append(out, inboundEntry{addr: a, port: p, proto: ports[p].proto, mode: addrMode[a], tls: s.InboundTLS, authz: ports[p].authz})
			}
		}
		out = append(out, inboundEntry{addr: a, proto: ir.AppTCP, mode: addrMode[a], tls: s.InboundTLS})
	}
	return append(out, inboundEntry{proto: ir.AppTCP, mode: s.InboundMode, tls: s.InboundTLS}), nil
}

// irInboundEntry reads one inbound listener of the IR.
func irInboundEntry(l *ir.Listener) (inboundEntry, error) {
	if len(l.FilterChains) != 1 || l.FilterChains[0] == nil {
		return inboundEntry{}, fmt.Errorf("want exactly one filter chain")
	}
	fc := l.FilterChains[0]
	if l.Port == 0 || l.Port > 65535 {
		return inboundEntry{}, fmt.Errorf("port %d: want 1-65535", l.Port)
	}
	ip := net.ParseIP(l.Address)
	if ip == nil {
		return inboundEntry{}, fmt.Errorf("address %q is not an IP", l.Address)
	}
	e := inboundEntry{port: l.Port, proto: l.Inbound.Protocol, mode: l.Inbound.Mode, tls: fc.TLS, http: fc.HTTP, authz: fc.Authorization}
	if !ip.IsUnspecified() {
		e.addr = ip.String()
	}
	switch e.proto {
	case ir.AppHTTP1, ir.AppHTTP2, ir.AppTCP:
	default:
		return inboundEntry{}, fmt.Errorf("inbound protocol %q: want %s, %s or %s", e.proto, ir.AppHTTP1, ir.AppHTTP2, ir.AppTCP)
	}
	if e.mode == ir.MTLSOff && e.tls != nil {
		return inboundEntry{}, fmt.Errorf("mode off, but the filter chain terminates TLS")
	}
	return e, nil
}

// inboundChains renders one entry: one chain, or two in Permissive mode.
func (b *builder) inboundChains(e inboundEntry) ([]*listenerv3.FilterChain, error) {
	addr, port := "*", "*"
	match := &listenerv3.FilterChainMatch{}
	if e.port != 0 {
		port = strconv.Itoa(int(e.port))
		match.DestinationPort = wrapperspb.UInt32(e.port)
	}
	if e.addr != "" {
		addr = e.addr
		r, err := cidrOf(e.addr)
		if err != nil {
			return nil, err
		}
		match.PrefixRanges = []*corev3.CidrRange{r}
	}
	name := "inbound/" + net.JoinHostPort(addr, port)
	switch e.mode {
	case ir.MTLSOff:
		c, err := b.inboundChain(name+"/plaintext", match, e, false)
		return []*listenerv3.FilterChain{c}, err
	case ir.MTLSStrict, ir.MTLSPermissive:
	default:
		return nil, fmt.Errorf("filter chain %s: mode %q: want %s, %s or off", name, e.mode, ir.MTLSStrict, ir.MTLSPermissive)
	}
	if e.tls == nil {
		return nil, fmt.Errorf("filter chain %s: mode %s needs TLS settings", name, e.mode)
	}
	if e.mode == ir.MTLSStrict {
		c, err := b.inboundChain(name+"/mtls", match, e, true)
		return []*listenerv3.FilterChain{c}, err
	}
	tlsMatch := cloneMatch(match)
	tlsMatch.TransportProtocol = "tls"
	secure, err := b.inboundChain(name+"/mtls", tlsMatch, e, true)
	if err != nil {
		return nil, err
	}
	plainMatch := cloneMatch(match)
	plainMatch.TransportProtocol = "raw_buffer"
	plain, err := b.inboundChain(name+"/plaintext", plainMatch, e, false)
	return []*listenerv3.FilterChain{secure, plain}, err
}

func cloneMatch(m *listenerv3.FilterChainMatch) *listenerv3.FilterChainMatch {
	return &listenerv3.FilterChainMatch{DestinationPort: m.DestinationPort, PrefixRanges: m.PrefixRanges}
}

// inboundChain forwards to the application (or, for any port, to the
// original destination), terminating mTLS when secure.
func (b *builder) inboundChain(name string, match *listenerv3.FilterChainMatch, e inboundEntry, secure bool) (*listenerv3.FilterChain, error) {
	if match.DestinationPort == nil && match.PrefixRanges == nil && match.TransportProtocol == "" {
		match = nil
	}
	out := &listenerv3.FilterChain{Name: name, FilterChainMatch: match}
	var h *ir.HTTPConnectionManager
	if e.port == 0 {
		b.sidecarClusters[InboundPassthroughCluster] = originalDstCluster(InboundPassthroughCluster)
		tp, err := b.tcpProxy(&ir.TCPProxy{StatPrefix: name, Backends: []ir.WeightedCluster{{Cluster: InboundPassthroughCluster, Weight: 1}}})
		if err != nil {
			return nil, fmt.Errorf("filter chain %s: %w", name, err)
		}
		out.Filters = []*listenerv3.Filter{tcpProxyFilter(tp)}
	} else {
		cluster := b.loopbackCluster(e.port, e.proto)
		var err error
		if out.Filters, h, err = b.inboundFilters(name, e, cluster, secure); err != nil {
			return nil, fmt.Errorf("filter chain %s: %w", name, err)
		}
	}
	if secure {
		ts, err := downstreamTLS(e.tls, h)
		if err != nil {
			return nil, fmt.Errorf("filter chain %s: tls: %w", name, err)
		}
		out.TransportSocket = ts
	}
	return out, nil
}

// inboundFilters are the network filters that hand a connection to the
// application's loopback cluster: a TCP proxy, or for an HTTP port an HTTP
// connection manager built from the IR chain's (its HTTP filters included,
// in order) with an inline route to the cluster. It also returns the
// manager's IR settings (nil for TCP), which choose the TLS ALPN.
func (b *builder) inboundFilters(name string, e inboundEntry, cluster string, secure bool) ([]*listenerv3.Filter, *ir.HTTPConnectionManager, error) {
	if e.proto == ir.AppTCP {
		rbac, err := rbacNetworkFilters(e.authz, name)
		if err != nil {
			// Rules an opaque port cannot check (paths, methods,
			// headers): refuse rather than let everything in.
			cluster, rbac = InvalidBackendCluster, nil
			b.invalidBackend = true
		}
		tp, err := b.tcpProxy(&ir.TCPProxy{StatPrefix: name, Backends: []ir.WeightedCluster{{Cluster: cluster, Weight: 1}}})
		if err != nil {
			return nil, nil, err
		}
		return append(rbac, tcpProxyFilter(tp)), nil, nil
	}
	h := &ir.HTTPConnectionManager{RouteConfigName: cluster}
	if e.http != nil {
		cp := *e.http
		h = &cp
	}
	h.StatPrefix = name
	h.HTTP2 = true // offer h2 and http/1.1 to the calling sidecar
	hcm, err := b.httpConnectionManager(h, false, e.authz)
	if err != nil {
		return nil, nil, err
	}
	hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: inboundRoute(cluster)}
	hcm.NormalizePath = wrapperspb.Bool(true)
	hcm.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}}
	if secure {
		hcm.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE_SET
		hcm.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{Uri: true}
	}
	return []*listenerv3.Filter{hcmFilter(hcm)}, h, nil
}

// inboundRoute sends every request to the application, with no timeout of
// its own (the caller's route already bounds the request).
func inboundRoute(cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: cluster, VirtualHosts: []*routev3.VirtualHost{{
		Name: "inbound", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:  "inbound",
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
				Timeout:          duration(0),
			}},
		}},
	}}}
}
