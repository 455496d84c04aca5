package envoy

import (
	"slices"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// sidecarCase builds testdata/<name>.ir.yaml in the given flavor.
func sidecarCase(t *testing.T, name string, flavor Flavor) *Resources {
	t.Helper()
	c := readCase(t, "testdata/"+name+".ir.yaml")
	res, err := Build(&c.Proxy, Options{Flavor: flavor})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func findListener(t *testing.T, res *Resources, name string) *listenerv3.Listener {
	t.Helper()
	for _, r := range res.Listeners {
		if l := r.(*listenerv3.Listener); l.Name == name {
			return l
		}
	}
	t.Fatalf("no listener %s", name)
	return nil
}

func findChain(t *testing.T, l *listenerv3.Listener, name string) *listenerv3.FilterChain {
	t.Helper()
	for _, c := range l.FilterChains {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("listener %s: no filter chain %s", l.Name, name)
	return nil
}

func hasChain(l *listenerv3.Listener, name string) bool {
	return slices.ContainsFunc(l.FilterChains, func(c *listenerv3.FilterChain) bool { return c.Name == name })
}

func tcpCluster(t *testing.T, c *listenerv3.FilterChain) string {
	t.Helper()
	tp := &tcpproxyv3.TcpProxy{}
	if err := c.Filters[0].GetTypedConfig().UnmarshalTo(tp); err != nil {
		t.Fatalf("chain %s: not a TCP proxy: %v", c.Name, err)
	}
	return tp.GetCluster()
}

func chainHCM(t *testing.T, c *listenerv3.FilterChain) *hcmv3.HttpConnectionManager {
	t.Helper()
	h := &hcmv3.HttpConnectionManager{}
	if err := c.Filters[0].GetTypedConfig().UnmarshalTo(h); err != nil {
		t.Fatalf("chain %s: not an HTTP connection manager: %v", c.Name, err)
	}
	return h
}

func clusterByName(res *Resources, name string) *clusterv3.Cluster {
	for _, r := range res.Clusters {
		if c := r.(*clusterv3.Cluster); c.Name == name {
			return c
		}
	}
	return nil
}

// TestSidecarInboundModes checks what the inbound listener accepts: a strict
// workload only mTLS requiring a client certificate; the permissive one
// (10.1.0.11) mTLS and plaintext on its own ports and on the ports other
// workloads declare; the namespace's passthrough strict.
func TestSidecarInboundModes(t *testing.T) {
	res := sidecarCase(t, "sidecar-mtls", FlavorEnvoy)
	in := findListener(t, res, ir.InboundListenerName)
	strict := findChain(t, in, "inbound/10.1.0.10:8080/mtls")
	if strict.GetFilterChainMatch().GetTransportProtocol() != "" || strict.TransportSocket == nil {
		t.Errorf("strict chain: transport %q, TLS %v; want any transport, TLS", strict.GetFilterChainMatch().GetTransportProtocol(), strict.TransportSocket != nil)
	}
	dtc := &tlsv3.DownstreamTlsContext{}
	if err := strict.TransportSocket.GetTypedConfig().UnmarshalTo(dtc); err != nil || !dtc.GetRequireClientCertificate().GetValue() {
		t.Errorf("strict chain does not require a client certificate (%v)", err)
	}
	if hasChain(in, "inbound/10.1.0.10:8080/plaintext") || hasChain(in, "inbound/*:*/plaintext") {
		t.Error("a strict destination has a plaintext chain")
	}
	for _, port := range []string{"9090", "8080", "3306"} { // its own port, then other workloads'
		secure := findChain(t, in, "inbound/10.1.0.11:"+port+"/mtls")
		plain := findChain(t, in, "inbound/10.1.0.11:"+port+"/plaintext")
		if secure.GetFilterChainMatch().GetTransportProtocol() != "tls" || plain.GetFilterChainMatch().GetTransportProtocol() != "raw_buffer" || plain.TransportSocket != nil {
			t.Errorf("permissive %s: want a tls chain and a raw_buffer chain without TLS", port)
		}
	}
	if !slices.ContainsFunc(in.ListenerFilters, func(f *listenerv3.ListenerFilter) bool { return f.Name == tlsInspectorName }) || !in.ContinueOnListenerFiltersTimeout {
		t.Error("permissive chains without a TLS inspector that gives up on silent clients")
	}
	if got := tcpCluster(t, in.DefaultFilterChain); got != InvalidBackendCluster {
		t.Errorf("default chain goes to %s, want %s (refused)", got, InvalidBackendCluster)
	}
	if got := tcpCluster(t, findChain(t, in, "inbound/*:*/mtls")); got != InboundPassthroughCluster {
		t.Errorf("passthrough goes to %s", got)
	}
	// HTTP: the application on loopback, the caller's identity forwarded.
	h := chainHCM(t, strict)
	if h.ForwardClientCertDetails != hcmv3.HttpConnectionManager_SANITIZE_SET || !h.GetSetCurrentClientCertDetails().GetUri() {
		t.Error("inbound mTLS manager does not set x-forwarded-client-cert with the caller's URI")
	}
	cluster := h.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster()
	lb := clusterByName(res, cluster)
	if lb == nil || lb.GetType() != clusterv3.Cluster_STATIC {
		t.Fatalf("inbound cluster %q: want a static cluster", cluster)
	}
	if a := lb.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress(); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != 8080 {
		t.Errorf("inbound cluster %s reaches %s:%d, want 127.0.0.1:8080", cluster, a.GetAddress(), a.GetPortValue())
	}
	// TCP: a TCP proxy to the loopback cluster of its port.
	if got := tcpCluster(t, findChain(t, in, "inbound/10.1.0.12:3306/mtls")); got != "gantry/inbound/3306/tcp" {
		t.Errorf("mysql port goes to %s", got)
	}
}

// TestSidecarOutbound checks the outbound listener: HTTP ports through
// their route table (answering any Host), opaque and headless ports as TCP,
// both address families of a dual-stack Service, the passthrough default
// and the loop guard; registry-only refuses instead.
func TestSidecarOutbound(t *testing.T) {
	res := sidecarCase(t, "sidecar-mtls", FlavorEnvoy)
	out := findListener(t, res, ir.OutboundListenerName)
	web := findChain(t, out, "web.shop.svc.cluster.local:80")
	if rds := chainHCM(t, web).GetRds().GetRouteConfigName(); rds != "web.shop.svc.cluster.local:80" {
		t.Errorf("web chain uses route table %q", rds)
	}
	for _, r := range res.Routes {
		rc := r.(*routev3.RouteConfiguration)
		if rc.Name == "web.shop.svc.cluster.local:80" && !slices.Contains(rc.VirtualHosts[0].Domains, "*") {
			t.Error("outbound route table does not answer any Host")
		}
	}
	cache := findChain(t, out, "cache.shop.svc.cluster.local:6379")
	if got := tcpCluster(t, cache); got != "shop/cache/6379" {
		t.Errorf("cache goes to %s", got)
	}
	if n := len(cache.GetFilterChainMatch().GetPrefixRanges()); n != 2 {
		t.Errorf("dual-stack cache: %d prefix ranges, want 2", n)
	}
	if a := out.GetAdditionalAddresses(); len(a) != 1 || a[0].GetAddress().GetSocketAddress().GetAddress() != "::" {
		t.Errorf("dual-stack group: additional addresses %v, want [::]", a)
	}
	store := findChain(t, out, "store.shop.svc.cluster.local:5432")
	direct := clusterByName(res, tcpCluster(t, store))
	if direct == nil || direct.GetType() != clusterv3.Cluster_ORIGINAL_DST || direct.TransportSocket == nil {
		t.Errorf("headless store: want an original-destination cluster with mTLS, got %v", direct)
	}
	if got := tcpCluster(t, out.DefaultFilterChain); got != PassthroughCluster {
		t.Errorf("default chain goes to %s, want the passthrough", got)
	}
	if got := tcpCluster(t, findChain(t, out, "gantry/outbound-loop")); got != InvalidBackendCluster {
		t.Errorf("loop guard goes to %s", got)
	}

	for _, r := range res.Listeners {
		if l := r.(*listenerv3.Listener); l.ApiListener != nil {
			t.Errorf("sidecar group's Envoy flavor has API listener %s", l.Name)
		}
	}

	plain := sidecarCase(t, "sidecar-plaintext", FlavorEnvoy)
	if got := tcpCluster(t, findListener(t, plain, ir.OutboundListenerName).DefaultFilterChain); got != InvalidBackendCluster {
		t.Errorf("registry-only default chain goes to %s, want refused", got)
	}
	if a := findListener(t, plain, ir.InboundListenerName).GetAdditionalAddresses(); len(a) != 0 {
		t.Errorf("IPv4-only group listens on %v too", a)
	}
	if clusterByName(plain, PassthroughCluster) != nil {
		t.Error("registry-only proxy has the passthrough cluster")
	}
	for _, r := range plain.Listeners {
		for _, c := range r.(*listenerv3.Listener).FilterChains {
			if c.TransportSocket != nil {
				t.Errorf("mTLS off: chain %s terminates TLS", c.Name)
			}
		}
	}
}

// TestSidecarGRPCFlavorUnchanged: the gRPC flavor of a sidecar group has
// neither capture listeners nor their clusters.
func TestSidecarGRPCFlavorUnchanged(t *testing.T) {
	res := sidecarCase(t, "sidecar-mtls", FlavorGRPC)
	for _, list := range [][]types.Resource{res.Listeners, res.Clusters} {
		for _, r := range list {
			switch n := resourceName(r); n {
			case ir.OutboundListenerName, ir.InboundListenerName, PassthroughCluster, InboundPassthroughCluster, "shop/store/5432/direct":
				t.Errorf("gRPC flavor has %s", n)
			}
		}
	}
}

// TestSidecarInboundAuthorization: the authorization of an inbound
// listener comes first on its chains, as RBAC HTTP filters on an HTTP port
// and RBAC network filters on an opaque one; an opaque port whose rules
// need HTTP refuses every connection.
func TestSidecarInboundAuthorization(t *testing.T) {
	c := readCase(t, "testdata/sidecar-mtls.ir.yaml")
	only := &ir.Authorization{Allow: []ir.AuthzRuleSet{{Name: "shop/allow", Rules: []ir.AuthzRule{{
		Name: "shop/p/rule/0", Sources: []ir.AuthzSource{{Principal: &ir.NameMatch{Type: ir.MatchExact, Value: "spiffe://cluster.local/ns/shop/sa/web"}}},
	}}}}}
	paths := &ir.Authorization{Allow: []ir.AuthzRuleSet{{Name: "shop/allow", Rules: []ir.AuthzRule{{
		Name: "shop/p/rule/0", To: []ir.AuthzRequest{{Paths: []ir.AuthzPath{{Type: ir.PathPrefix, Value: "/api"}}}},
	}}}}}
	for i, l := range c.Proxy.Listeners {
		switch l.Name {
		case "grpc/server?xds.resource.listening_address=10.1.0.10:8080", "grpc/server?xds.resource.listening_address=10.1.0.13:6379":
			cp, fc := *l, *l.FilterChains[0]
			fc.Authorization = only
			cp.FilterChains = []*ir.FilterChain{&fc}
			c.Proxy.Listeners[i] = &cp
		case "grpc/server?xds.resource.listening_address=10.1.0.12:3306":
			cp, fc := *l, *l.FilterChains[0]
			fc.Authorization = paths
			cp.FilterChains = []*ir.FilterChain{&fc}
			c.Proxy.Listeners[i] = &cp
		}
	}
	res, err := Build(&c.Proxy, Options{Flavor: FlavorEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	in := findListener(t, res, ir.InboundListenerName)
	if f := chainHCM(t, findChain(t, in, "inbound/10.1.0.10:8080/mtls")).HttpFilters; len(f) < 2 || !strings.HasPrefix(f[0].Name, rbacHTTPFilterName) {
		t.Errorf("HTTP inbound chain's first filter is not RBAC: %v", f)
	}
	if f := chainHCM(t, findChain(t, in, "inbound/10.1.0.11:9090/mtls")).HttpFilters; strings.HasPrefix(f[0].Name, rbacHTTPFilterName) {
		t.Error("a chain without authorization has an RBAC filter")
	}
	if f := findChain(t, in, "inbound/10.1.0.13:6379/mtls").Filters; len(f) != 2 || !strings.HasPrefix(f[0].Name, rbacNetworkFilterName) {
		t.Errorf("opaque inbound chain: filters %v, want RBAC then the TCP proxy", f)
	}
	if got := tcpCluster(t, findChain(t, in, "inbound/10.1.0.12:3306/mtls")); got != InvalidBackendCluster {
		t.Errorf("opaque port with path rules goes to %s, want refused", got)
	}
}
