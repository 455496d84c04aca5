package envoy

import (
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

func rdsHCM(routeConfig string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix: "test",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: adsSource(), RouteConfigName: routeConfig,
		}},
		HttpFilters: buildHTTPFilters(filterContext{flavor: FlavorGRPC, hcm: nil, routes: &routeConfigInfo{}}),
	}
}

func socketListener(name string, hcm *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080},
		}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: hcmFilterName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}}},
	}
}

func emptyRouteConfig(name string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name}
}

// An HTTP connection manager with no stat_prefix (required) packed in a
// listener's typed_config: the listener's own ValidateAll does not see it,
// Validate does.
func TestValidateDescendsIntoAny(t *testing.T) {
	bad := rdsHCM("rc")
	bad.StatPrefix = ""
	l := socketListener("l", bad)
	if err := l.ValidateAll(); err != nil {
		t.Fatalf("precondition: the listener alone should pass ValidateAll, got %v", err)
	}
	r := &Resources{Listeners: []types.Resource{l}, Routes: []types.Resource{emptyRouteConfig("rc")}}
	err := Validate(r)
	if err == nil {
		t.Fatal("Validate accepted an invalid manager hidden in an Any")
	}
	for _, want := range []string{"listener l", "HttpConnectionManager", "StatPrefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// Nested two levels deep: a route's typed_per_filter_config holding an
	// invalid retry policy (no Any inside the route itself is checked by
	// ValidateAll).
	rc := emptyRouteConfig("rc")
	rc.VirtualHosts = []*routev3.VirtualHost{{
		Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:   "r",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200}},
			TypedPerFilterConfig: map[string]*anypb.Any{"x": mustAny(&routev3.RetryPolicy{
				RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(0)},
			})},
		}},
	}}
	if err := rc.ValidateAll(); err != nil {
		t.Fatalf("precondition: the route config alone should pass ValidateAll, got %v", err)
	}
	err = Validate(&Resources{Routes: []types.Resource{rc}})
	if err == nil || !strings.Contains(err.Error(), "route r") || !strings.Contains(err.Error(), "BaseInterval") {
		t.Errorf("Validate error = %v, want one naming route r and BaseInterval", err)
	}

	// An Any of a type nobody registered.
	l2 := socketListener("l2", rdsHCM("rc"))
	l2.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{
		TypeUrl: "type.googleapis.com/gantry.test.Unknown",
	}}
	err = Validate(&Resources{Listeners: []types.Resource{l2}})
	if err == nil || !strings.Contains(err.Error(), "gantry.test.Unknown: type not registered") {
		t.Errorf("Validate error = %v, want an unregistered type", err)
	}
}

// An api_listener whose manager names a route configuration that does not
// exist: go-control-plane's Snapshot.Consistent does not follow api_listener
// references, Validate does.
func TestValidateDanglingAPIListenerRDS(t *testing.T) {
	api := &listenerv3.Listener{
		Name:        "echo.default:8080",
		ApiListener: &listenerv3.ApiListener{ApiListener: mustAny(rdsHCM("mesh/default/missing"))},
	}
	r := &Resources{Listeners: []types.Resource{api}}
	err := Validate(r)
	want := `listener echo.default:8080: references route config "mesh/default/missing", which does not exist`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Validate error = %v, want %q", err, want)
	}
	snap, err := cachev3.NewSnapshot("1", r.ByType())
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Consistent(); err == nil {
		t.Log("as expected, Snapshot.Consistent passes these resources: only Validate catches the dangling reference")
	} else {
		t.Logf("note: Snapshot.Consistent now catches it too: %v", err)
	}

	// The same reference from a socket listener, and with the route config
	// present, for contrast.
	r.Listeners = []types.Resource{socketListener("l", rdsHCM("mesh/default/missing"))}
	if err := Validate(r); err == nil || !strings.Contains(err.Error(), "listener l: references route config") {
		t.Errorf("socket listener: Validate error = %v", err)
	}
	r.Listeners = []types.Resource{api}
	r.Routes = []types.Resource{emptyRouteConfig("mesh/default/missing")}
	if err := Validate(r); err != nil {
		t.Errorf("consistent resources: Validate error = %v", err)
	}
}

func TestValidateNamesAndTypes(t *testing.T) {
	dup := &Resources{Routes: []types.Resource{emptyRouteConfig("a"), emptyRouteConfig("a")}}
	if err := Validate(dup); err == nil || !strings.Contains(err.Error(), "route config a: duplicate name") {
		t.Errorf("duplicate: Validate error = %v", err)
	}
	wrong := &Resources{Clusters: []types.Resource{emptyRouteConfig("a")}}
	if err := Validate(wrong); err == nil || !strings.Contains(err.Error(), "unexpected type") {
		t.Errorf("wrong type: Validate error = %v", err)
	}
	if err := Validate(nil); err == nil {
		t.Error("nil resources: no error")
	}
}

// Every golden case's output passes Validate on its own (Build already
// validated it; this checks Validate is a pure function of the resources).
func TestValidateAcceptsBuiltOutput(t *testing.T) {
	for _, flavor := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		res, err := Build(benchProxy(300), Options{Flavor: flavor})
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(res); err != nil {
			t.Errorf("%s: %v", flavor, err)
		}
		// Dropping a ClusterLoadAssignment breaks EDS consistency.
		res.Endpoints = res.Endpoints[1:]
		if err := Validate(res); err == nil || !strings.Contains(err.Error(), "references endpoints") {
			t.Errorf("%s: missing endpoints: Validate error = %v", flavor, err)
		}
	}
}
