package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

func TestHintLines(t *testing.T) {
	proxies := []*ir.Proxy{
		{
			Name: "gateway/default/quickstart",
			Listeners: []*ir.Listener{{Name: "l", Port: 8080, Protocol: ir.ProtocolHTTP,
				FilterChains: []*ir.FilterChain{{HTTP: &ir.HTTPConnectionManager{RouteConfigName: "rc"}}}}},
			RouteConfigs: []*ir.RouteConfig{{Name: "rc", VirtualHosts: plist.Of([]*ir.VirtualHost{
				{Name: "wild", Domains: []string{"*.example.com"}},
				{Name: "app", Domains: []string{"app.example.com"}, Routes: []*ir.Route{{Name: "r", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/v2"}}}},
			}...)}},
		},
		{Name: "gateway/default/tcp-only", Listeners: []*ir.Listener{{Name: "t", Port: 9000, Protocol: ir.ProtocolTCP}}},
		{Name: "mesh/default"},
	}
	none := hintLines(proxies, false, ":18000")
	want := []string{
		"no Envoy runs for gateway/default/quickstart on this host (nothing listens on its ports); send a request through its routing: gantry probe app.example.com:8080/v2 --group gateway/default/quickstart --xds-address 127.0.0.1:18000",
		"no Envoy runs for gateway/default/tcp-only on this host (nothing listens on its ports)",
	}
	if strings.Join(none, "\n") != strings.Join(want, "\n") {
		t.Errorf("without Envoy:\n%s\nwant\n%s", strings.Join(none, "\n"), strings.Join(want, "\n"))
	}
	with := hintLines(proxies, true, ":18000")
	if len(with) != 2 || with[0] != "Envoy started for gateway/default/quickstart; send a request: curl -H 'Host: app.example.com' http://127.0.0.1:8080/v2" {
		t.Errorf("with Envoy: %q", with)
	}
}

// TestStatusWithoutEnvoy: serving the quickstart with no Envoy on this
// host, /status does not claim the Gateway or its listener is programmed.
func TestStatusWithoutEnvoy(t *testing.T) {
	e := startE2E(t, []string{"echo-v1", "echo-v2", "echo-api"}, quickstartFiles(t))
	res := e.cp.loop.State().Result
	if res == nil || len(res.Status.Gateways) != 1 {
		t.Fatalf("status: %+v", res)
	}
	g := res.Status.Gateways[0]
	conds := append(slices.Clone(g.Status.Conditions), g.Status.Listeners[0].Conditions...)
	n := 0
	for _, c := range conds {
		if c.Type != "Programmed" {
			continue
		}
		n++
		if c.Status != "False" || c.Message != noEnvoyMessage || c.LastTransitionTime.IsZero() {
			t.Errorf("Programmed = %s %s %q (stamped %v)", c.Status, c.Reason, c.Message, c.LastTransitionTime)
		}
	}
	if n != 2 {
		t.Errorf("%d Programmed conditions, want the Gateway's and its listener's", n)
	}
}
