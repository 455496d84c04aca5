package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// TestSurfaceGoldensBuild carries every translate golden input through the
// whole pipeline: translate, then xds/envoy Build (which validates every
// proto) in both flavors. A translation that produces IR the data plane
// cannot take fails here, even when its own golden file is up to date.
func TestSurfaceGoldensBuild(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("..", "..", "gateway", "translate", "testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no golden inputs found")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := resource.Parse(filepath.Base(in), data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(res.Errors) > 0 {
				t.Skipf("input does not load (%s); the translate golden test reports it", res.Errors[0])
			}
			out := translate.Translate(res.Set, translate.Options{})
			for _, p := range out.Proxies {
				for _, fl := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
					if _, err := envoy.Build(p, envoy.Options{Flavor: fl}); err != nil {
						t.Errorf("%s (%s): %v", p.Name, fl, err)
					}
				}
			}
		})
	}
}

// goldenProxy translates one translate golden input and returns its only
// proxy.
func goldenProxy(t *testing.T, name string) *ir.Proxy {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "gateway", "translate", "testdata", name+".in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse(name+".in.yaml", data)
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("parse %s: %v %v", name, err, res.Errors)
	}
	out := translate.Translate(res.Set, translate.Options{})
	if len(out.Proxies) != 1 {
		t.Fatalf("%s: %d proxies, want 1", name, len(out.Proxies))
	}
	return out.Proxies[0]
}

// buildGolden translates one translate golden input and builds the
// Envoy-flavor listeners of its only proxy.
func buildGolden(t *testing.T, name string) map[string]*listenerv3.Listener {
	t.Helper()
	r, err := envoy.Build(goldenProxy(t, name), envoy.Options{Flavor: envoy.FlavorEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	ls := map[string]*listenerv3.Listener{}
	for _, l := range r.Listeners {
		ls[l.(*listenerv3.Listener).Name] = l.(*listenerv3.Listener)
	}
	return ls
}

// tcpProxyOf returns the tcp_proxy of a filter chain.
func tcpProxyOf(t *testing.T, fc *listenerv3.FilterChain) *tcpproxyv3.TcpProxy {
	t.Helper()
	if len(fc.Filters) != 1 {
		t.Fatalf("chain %s: %d filters, want one tcp_proxy", fc.Name, len(fc.Filters))
	}
	tp := &tcpproxyv3.TcpProxy{}
	if err := fc.Filters[0].GetTypedConfig().UnmarshalTo(tp); err != nil {
		t.Fatalf("chain %s: %v", fc.Name, err)
	}
	return tp
}

// TestSurfaceStreamProtos checks the Envoy listeners of TLS, TCP and UDP
// routes where no Envoy binary can run them: SNI chains with and without
// termination, weighted TCP shares, a UDP proxy listener.
func TestSurfaceStreamProtos(t *testing.T) {
	t.Run("TLS mixed", func(t *testing.T) {
		l := buildGolden(t, "tlsroute-mixed")["default/gw/443"]
		if l == nil {
			t.Fatal("no listener default/gw/443")
		}
		if len(l.ListenerFilters) != 1 || l.ListenerFilters[0].Name != "envoy.filters.listener.tls_inspector" {
			t.Errorf("listener filters %v, want the TLS inspector", l.ListenerFilters)
		}
		got := map[string]bool{}
		for _, fc := range l.FilterChains {
			sni := fc.GetFilterChainMatch().GetServerNames()
			if len(sni) != 1 {
				t.Fatalf("chain %s: server names %v", fc.Name, sni)
			}
			got[sni[0]] = fc.TransportSocket != nil
			tp := tcpProxyOf(t, fc)
			if tp.GetCluster() == "" {
				t.Errorf("chain %s: no cluster", fc.Name)
			}
		}
		if want := map[string]bool{"app.example.com": false, "secure.example.com": true}; !maps.Equal(got, want) {
			t.Errorf("SNI -> terminates: %v, want %v", got, want)
		}
	})
	t.Run("TCP weighted", func(t *testing.T) {
		l := buildGolden(t, "tcproute-weighted")["default/gw/5432"]
		if l == nil || len(l.FilterChains) != 1 {
			t.Fatalf("want one chain on default/gw/5432, got %v", l)
		}
		tp := tcpProxyOf(t, l.FilterChains[0])
		got := map[string]uint32{}
		for _, c := range tp.GetWeightedClusters().GetClusters() {
			got[c.Name] = c.Weight
		}
		if got["default/db-a/5432/tcp"] != 3 || got["default/db-b/5432/tcp"] != 1 || len(got) != 3 {
			t.Errorf("weighted clusters %v, want db-a 3, db-b 1 and the refused share", got)
		}
	})
	t.Run("TCP and UDP on one port", func(t *testing.T) {
		ls := buildGolden(t, "udproute-tcp-same-port")
		if tcp, udp := ls["default/gw/53"], ls["default/gw/53/udp"]; tcp == nil || udp == nil {
			t.Fatalf("want a TCP and a UDP listener on port 53, got %v", slices.Collect(maps.Keys(ls)))
		} else if tcp.UdpListenerConfig != nil || udp.UdpListenerConfig == nil {
			t.Errorf("listener kinds swapped: tcp has UDP config %v, udp has %v", tcp.UdpListenerConfig != nil, udp.UdpListenerConfig != nil)
		}
	})
	t.Run("UDP", func(t *testing.T) {
		ls := buildGolden(t, "udproute-basic")
		for _, name := range []string{"default/gw/53/udp", "default/gw/514/udp"} {
			l := ls[name]
			if l == nil {
				t.Fatalf("no listener %s", name)
			}
			if l.UdpListenerConfig == nil || l.GetAddress().GetSocketAddress().GetProtocol().String() != "UDP" {
				t.Errorf("%s is not a UDP listener", name)
			}
			if len(l.ListenerFilters) != 1 || l.ListenerFilters[0].Name != "envoy.filters.udp_listener.udp_proxy" {
				t.Errorf("%s: listener filters %v, want the UDP proxy", name, l.ListenerFilters)
			}
		}
	})
}
