package kube

import (
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	providerkube "github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/xds/ir"

	// Types named in the bootstrap's typed configs.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

func TestBootstrapIsValidEnvoyConfig(t *testing.T) {
	out, err := Bootstrap("gateway/apps/web", "gantry.gantry-system.svc:18000", false, fleetLimits(DefaultParams()))
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("bootstrap does not parse as envoy.config.bootstrap.v3.Bootstrap: %v\n%s", err, out)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("bootstrap fails validation: %v", err)
	}
	layer := b.GetLayeredRuntime().GetLayers()[0].GetStaticLayer().GetFields()
	if got := layer[bootstrap.RuntimeRE2ErrorLevel].GetNumberValue(); got != ir.MaxRegexProgramSize {
		t.Errorf("%s = %v, want %d (the limit translation checks)", bootstrap.RuntimeRE2ErrorLevel, got, ir.MaxRegexProgramSize)
	}
	var monitors []string
	for _, m := range b.GetOverloadManager().GetResourceMonitors() {
		monitors = append(monitors, m.GetName())
		inner, err := m.GetTypedConfig().UnmarshalNew()
		if err != nil {
			t.Fatalf("monitor %s: %v", m.GetName(), err)
		}
		if err := inner.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
			t.Errorf("monitor %s: %v", m.GetName(), err)
		}
	}
	if !slices.Equal(monitors, []string{"envoy.resource_monitors.global_downstream_max_connections", "envoy.resource_monitors.fixed_heap"}) ||
		len(b.GetOverloadManager().GetActions()) != 2 {
		t.Errorf("overload manager = %v", b.GetOverloadManager())
	}
	if b.GetNode().GetCluster() != "gateway/apps/web" {
		t.Errorf("node.cluster = %q", b.GetNode().GetCluster())
	}
	if a := b.GetAdmin().GetAddress().GetSocketAddress(); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != AdminPort {
		t.Errorf("admin bound to %s:%d, want 127.0.0.1:%d", a.GetAddress(), a.GetPortValue(), AdminPort)
	}
	xds := b.GetStaticResources().GetClusters()[0]
	if ep := xds.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress(); ep.GetAddress() != "gantry.gantry-system.svc" || ep.GetPortValue() != 18000 {
		t.Errorf("xDS cluster dials %s:%d", ep.GetAddress(), ep.GetPortValue())
	}
	// Each static listener forwards exactly one GET path to the admin API.
	want := map[string]string{"prometheus": "/stats/prometheus", "ready": "/ready"}
	for _, l := range b.GetStaticResources().GetListeners() {
		if l.GetAddress().GetSocketAddress().GetPortValue() == AdminPort {
			t.Errorf("listener %s exposes the admin port", l.GetName())
		}
		var hcm hcmv3.HttpConnectionManager
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
			t.Fatal(err)
		}
		routes := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()
		if len(routes) != 2 || routes[0].GetMatch().GetPath() != want[l.GetName()] ||
			routes[0].GetMatch().GetHeaders()[0].GetStringMatch().GetExact() != "GET" ||
			routes[1].GetDirectResponse().GetStatus() != 404 {
			t.Errorf("listener %s routes = %v", l.GetName(), routes)
		}
		delete(want, l.GetName())
	}
	if len(want) != 0 {
		t.Errorf("missing listeners %v", want)
	}
}

func TestBootstrapRejectsBadAddress(t *testing.T) {
	for _, addr := range []string{"", "nohost", ":18000", "h:0", "h:x"} {
		if _, err := Bootstrap("gateway/a/b", addr, false, bootstrap.Limits{}); err == nil || !strings.Contains(err.Error(), "xds service address") {
			t.Errorf("Bootstrap(%q) error = %v, want an xds service address error", addr, err)
		}
	}
}

func TestResourceName(t *testing.T) {
	long := strings.Repeat("a.b", 84) // 252 characters, dots
	for _, tc := range []struct{ in, want string }{
		{"web", "gantry-web"},
		{"Web.Example", "gantry-web-example-"},
		{long, "gantry-a-ba-ba"},
	} {
		got := ResourceName(tc.in)
		if !strings.HasPrefix(got, tc.want) || len(got) > 63 || strings.HasSuffix(got, "-") {
			t.Errorf("ResourceName(%q) = %q, want prefix %q, <= 63 chars, no trailing '-'", tc.in, got, tc.want)
		}
	}
	if ResourceName("a.b") == ResourceName("a-b") {
		t.Error("distinct Gateway names share a resource name")
	}
}

// The provider's cache keeps the data of ConfigMaps made of parameter keys
// only: every key the manager reads must be in its list.
func TestParameterKeysKnownToProvider(t *testing.T) {
	for _, k := range []string{KeyEnvoyImage, KeyReplicas, KeyServiceType, KeyServiceAnnotations,
		KeyExternalTrafficPolicy, KeyLoadBalancerClass, KeyDrainSeconds} {
		if !slices.Contains(providerkube.ParameterKeys, k) {
			t.Errorf("parameter key %q is stripped by the provider's cache", k)
		}
	}
}
