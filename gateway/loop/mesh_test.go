package loop

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/cache"
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
	got := mergeMesh(edge, mesh, nil)
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
	if r := mergeMesh(nil, mesh, nil); len(r.Proxies) != 2 || len(r.Status.Routes) != 2 {
		t.Errorf("nil edge: %+v", r)
	}
}

// TestLoopMeshTelemetry: the loop gives every mesh group the
// --mesh-telemetry setting, including a group built for a namespace only a
// client knows, and leaves Gateway groups to their parameters.
func TestLoopMeshTelemetry(t *testing.T) {
	tel, err := params.ParseTelemetry([]string{"accessLog=text", "tracing=zipkin", "tracingCollector=zipkin:9411"})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{ControllerName: translate.DefaultControllerName, MeshTelemetry: tel})
	set := &resource.Set{Namespaces: plist.Of(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})}
	if res := p.withMesh(set, translate.Translate(set, translate.Options{})); len(res.Proxies) != 0 {
		t.Errorf("%d groups with no mesh client connected, want none", len(res.Proxies))
	}
	p.addKey(cache.Key{Group: "mesh/shop", Flavor: cache.FlavorGRPC})
	res := p.withMesh(set, translate.Translate(set, translate.Options{}))
	var mesh int
	for _, px := range res.Proxies {
		if !strings.HasPrefix(px.Name, "mesh/") {
			continue
		}
		mesh++
		if px.Telemetry == nil || px.Telemetry.AccessLog == nil || px.Telemetry.AccessLog.Format != ir.AccessLogText ||
			px.Telemetry.Tracing == nil || px.Telemetry.Tracing.Provider != ir.TracingZipkin || px.Telemetry.Tracing.ServiceName != px.Name {
			t.Errorf("%s: telemetry %+v", px.Name, px.Telemetry)
		}
	}
	if mesh == 0 {
		t.Fatal("no mesh group")
	}
	if px := p.meshProxy(set, "mesh/elsewhere"); px == nil || px.Telemetry == nil || px.Telemetry.Tracing.ServiceName != "mesh/elsewhere" {
		t.Errorf("mesh/elsewhere: %+v", px)
	}
}

// TestRouteMergeKeepsSlices: the same Gateway and mesh route lists give
// the same merged list; a route in both whose two Parents slices did not
// change keeps its merged slice when another route changed; one whose mesh
// entries changed gets a new one.
func TestRouteMergeKeepsSlices(t *testing.T) {
	route := func(name string, parent string) status.Route {
		return status.Route{Kind: "HTTPRoute", Namespace: "default", Name: name,
			Parents: []gwapiv1.RouteParentStatus{{ParentRef: gwapiv1.ParentReference{Name: gwapiv1.ObjectName(parent)}}}}
	}
	a := []status.Route{route("both", "gw"), route("edge-only", "gw")}
	b := []status.Route{route("both", "reviews"), route("mesh-only", "reviews")}
	m := &routeMerge{}
	out1 := m.merge(a, b)
	if len(out1) != 3 || out1[0].Name != "both" || len(out1[0].Parents) != 2 || out1[2].Name != "mesh-only" {
		t.Fatalf("merged %+v", out1)
	}
	if out2 := m.merge(a, b); &out2[0] != &out1[0] {
		t.Error("the same lists were merged again")
	}
	a2 := slices.Clone(a)
	a2[1] = route("edge-only", "other")
	out3 := m.merge(a2, b)
	if &out3[0] == &out1[0] || &out3[0].Parents[0] != &out1[0].Parents[0] {
		t.Error("a route whose entries did not change got a new merged slice, or the list was not made again")
	}
	b2 := slices.Clone(b)
	b2[0] = route("both", "ratings")
	if out4 := m.merge(a2, b2); &out4[0].Parents[0] == &out1[0].Parents[0] || out4[0].Parents[1].ParentRef.Name != "ratings" {
		t.Errorf("a route whose mesh entries changed kept its merged slice: %+v", out4[0].Parents)
	}
}
