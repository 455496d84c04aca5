package envoy

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

func TestRouteStatPrefix(t *testing.T) {
	for name, want := range map[string]string{
		"default/web/rule/0/match/0":       "default/web/rule/0",
		"default/web/rule/12/match/3":      "default/web/rule/12",
		"shop/api.v2/grpc/rule/1/match/0":  "shop/api_v2/grpc/rule/1",
		"gantry/internal":                  "gantry/internal",
		"default/a:b/rule/0/match/0/exact": "default/a_b/rule/0",
	} {
		if got := routeStatPrefix(name); got != want {
			t.Errorf("routeStatPrefix(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestRouteStats checks the Envoy flavor's per-route stats: forwarding
// routes get a dot-free rule-level stat prefix shared by the rule's
// matches, direct responses none, virtual hosts a dot-free name; the gRPC flavor
// keeps its names and gets no prefix.
func TestRouteStats(t *testing.T) {
	p := oneRoute(&ir.Route{Name: "default/web.v1/rule/0/match/0", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, Forward: forwardTo("c")}, "c")
	vh := p.RouteConfigs[0].VirtualHosts.At(0)
	vh.Name = "default/eg/80/example.com"
	vh.Routes = append(vh.Routes,
		&ir.Route{Name: "default/web.v1/rule/0/match/1", Match: ir.RouteMatch{PathType: ir.PathExact, Path: "/x"}, Forward: forwardTo("c")},
		&ir.Route{Name: "default/web.v1/rule/1/match/0", Match: ir.RouteMatch{PathType: ir.PathExact, Path: "/old"}, DirectResponse: &ir.DirectResponse{Status: 410}},
	)
	res, err := Build(p, Options{Flavor: FlavorEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Routes[0].(*routev3.RouteConfiguration).VirtualHosts[0]
	if v.Name != "default/eg/80/example_com" {
		t.Errorf("virtual host name %q", v.Name)
	}
	var got []string
	for _, r := range v.Routes {
		got = append(got, r.StatPrefix)
	}
	if strings.Join(got, ",") != "default/web_v1/rule/0,default/web_v1/rule/0," {
		t.Errorf("stat prefixes = %q", got)
	}
	for _, r := range builtRoutes(t, p, FlavorGRPC) {
		if r.StatPrefix != "" {
			t.Errorf("gRPC flavor route %s has stat prefix %q", r.Name, r.StatPrefix)
		}
	}

	// Two virtual hosts whose names differ only by '.' and '_' would share
	// their stats: rejected.
	twin := *vh
	twin.Name, twin.Domains = "default/eg/80/example_com", []string{"other.example"}
	vhs := p.RouteConfigs[0].VirtualHosts
	p.RouteConfigs[0].VirtualHosts = vhs.Splice(vhs.Len(), vhs.Len(), &twin)
	if _, err := Build(p, Options{Flavor: FlavorEnvoy}); err == nil || !strings.Contains(err.Error(), "is also the name of virtual host default/eg/80/example.com") {
		t.Errorf("twin virtual host names: err = %v", err)
	}
}
