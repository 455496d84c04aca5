package main

import (
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// TestMergeMesh: mesh proxies join the edge's in name order, a route's mesh
// parents are appended to its edge entry, and the edge result is untouched.
func TestMergeMesh(t *testing.T) {
	gw := gwapiv1.ParentReference{Name: "gw"}
	svc := gwapiv1.ParentReference{Name: "reviews"}
	edge := &translate.Result{
		Proxies: []*ir.Proxy{{Name: "gateway/default/gw"}},
		Status: &status.Report{Routes: []status.Route{
			{Kind: "HTTPRoute", Namespace: "default", Name: "both", Parents: []gwapiv1.RouteParentStatus{{ParentRef: gw}}},
		}},
	}
	mesh := &meshtranslate.Result{
		Proxies: []*ir.Proxy{{Name: "mesh/default"}, {Name: "mesh/a"}},
		Status: &status.Report{Routes: []status.Route{
			{Kind: "HTTPRoute", Namespace: "default", Name: "both", Parents: []gwapiv1.RouteParentStatus{{ParentRef: svc}}},
			{Kind: "HTTPRoute", Namespace: "default", Name: "mesh-only", Parents: []gwapiv1.RouteParentStatus{{ParentRef: svc}}},
		}},
	}
	got := mergeMesh(edge, mesh)
	var names []string
	for _, p := range got.Proxies {
		names = append(names, p.Name)
	}
	if want := []string{"gateway/default/gw", "mesh/a", "mesh/default"}; len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Errorf("proxies %v, want %v", names, want)
	}
	if len(got.Status.Routes) != 2 || got.Status.Routes[0].Name != "both" || len(got.Status.Routes[0].Parents) != 2 ||
		got.Status.Routes[0].Parents[1].ParentRef.Name != "reviews" || got.Status.Routes[1].Name != "mesh-only" {
		t.Errorf("merged status %+v", got.Status.Routes)
	}
	if len(edge.Proxies) != 1 || len(edge.Status.Routes) != 1 || len(edge.Status.Routes[0].Parents) != 1 {
		t.Error("mergeMesh modified the edge result")
	}
	if r := mergeMesh(nil, mesh); len(r.Proxies) != 2 || len(r.Status.Routes) != 2 {
		t.Errorf("nil edge: %+v", r)
	}
}
