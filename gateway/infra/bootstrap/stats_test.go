package bootstrap

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

func TestStatsListener(t *testing.T) {
	b, err := Envoy(Options{Group: "gateway/default/eg", AdminAddress: "127.0.0.1:19000", StatsAddress: "0.0.0.0:19001"})
	if err != nil {
		t.Fatal(err)
	}
	if a := b.Admin.Address.GetSocketAddress(); a.Address != "127.0.0.1" || a.GetPortValue() != 19000 {
		t.Errorf("admin moved off loopback: %v", a)
	}
	var stats *listenerv3.Listener
	for _, l := range b.StaticResources.Listeners {
		if l.Name == StatsListenerName {
			stats = l
		}
	}
	if stats == nil || stats.Address.GetSocketAddress().GetPortValue() != 19001 {
		t.Fatalf("no stats listener on 19001: %v", b.StaticResources.Listeners)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := stats.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	if err := hcm.ValidateAll(); err != nil {
		t.Fatalf("stats manager: %v", err)
	}
	routes := hcm.GetRouteConfig().VirtualHosts[0].Routes
	if len(routes) != 2 || routes[0].Match.GetPath() != StatsPath || routes[0].GetRoute().GetCluster() != AdminClusterName ||
		routes[1].Match.GetPrefix() != "/" || routes[1].GetDirectResponse().GetStatus() != 404 {
		t.Errorf("stats routes: %v", routes)
	}
	var admin bool
	for _, c := range b.StaticResources.Clusters {
		if c.Name == AdminClusterName {
			ep := c.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress()
			admin = ep.Address == "127.0.0.1" && ep.GetPortValue() == 19000
		}
	}
	if !admin {
		t.Errorf("no admin cluster to 127.0.0.1:19000: %v", b.StaticResources.Clusters)
	}
	if _, err := Envoy(Options{Group: "gateway/default/eg", AdminAddress: "127.0.0.1:0", StatsAddress: "0.0.0.0:19001"}); err == nil || !strings.Contains(err.Error(), "fixed stats and admin ports") {
		t.Errorf("stats with a free admin port: %v", err)
	}
	b, err = Envoy(Options{Group: "gateway/default/eg"})
	if err != nil || len(b.StaticResources.Listeners) != 0 {
		t.Errorf("no StatsAddress: listeners %v, %v", b.GetStaticResources().GetListeners(), err)
	}
}
