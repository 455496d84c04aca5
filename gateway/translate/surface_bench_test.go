package translate

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// surfaceSet is one Gateway with a TLS passthrough listener carrying n
// TLSRoutes (distinct SNI names) and an HTTP listener carrying n GRPCRoutes
// (distinct hostnames), all to one Service.
func surfaceSet(n int) *resource.Set {
	mode := gwapiv1.TLSModePassthrough
	set := &resource.Set{
		GatewayClasses: plist.Of(&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}),
		Gateways: plist.Of(
			&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"}, Spec: gwapiv1.GatewaySpec{
				GatewayClassName: "gantry",
				Listeners: []gwapiv1.Listener{
					{Name: "tls", Port: 443, Protocol: gwapiv1.TLSProtocolType, TLS: &gwapiv1.ListenerTLSConfig{Mode: &mode}},
					{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
				},
			}},
		),
		Services: plist.Of(
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "app"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "p", Port: 8443}}}},
		),
	}
	port := gwapiv1.PortNumber(8443)
	backends := []gwapiv1.BackendRef{{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "app", Port: &port}}}
	tls, http := gwapiv1.SectionName("tls"), gwapiv1.SectionName("http")
	for i := 0; i < n; i++ {
		set.TLSRoutes = set.TLSRoutes.Append(&gwapiv1.TLSRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("tls-%d", i)},
			Spec: gwapiv1.TLSRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw", SectionName: &tls}}},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("s%d.example.com", i))},
				Rules:           []gwapiv1.TLSRouteRule{{BackendRefs: backends}},
			},
		})
		set.GRPCRoutes = set.GRPCRoutes.Append(&gwapiv1.GRPCRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("grpc-%d", i)},
			Spec: gwapiv1.GRPCRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw", SectionName: &http}}},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("g%d.example.com", i))},
				Rules:           []gwapiv1.GRPCRouteRule{{BackendRefs: []gwapiv1.GRPCBackendRef{{BackendRef: backends[0]}}}},
			},
		})
	}
	return set
}

// BenchmarkSurface translates n TLSRoutes and n GRPCRoutes on one Gateway;
// the cost per route should stay flat as n grows.
func BenchmarkSurface(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		set := surfaceSet(n)
		b.Run(fmt.Sprintf("routes=%d", 2*n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := Translate(set, Options{})
				if len(r.Proxies) != 1 || len(r.Proxies[0].Listeners) != 2 {
					b.Fatalf("unexpected result: %d proxies", len(r.Proxies))
				}
			}
		})
	}
}

// TestSurfaceScale keeps the benchmark's input honest: every route is
// accepted and gets its own SNI chain or virtual host.
func TestSurfaceScale(t *testing.T) {
	const n = 50
	r := Translate(surfaceSet(n), Options{})
	if len(r.Proxies) != 1 {
		t.Fatalf("%d proxies, want 1", len(r.Proxies))
	}
	var chains, vhosts int
	for _, l := range r.Proxies[0].Listeners {
		chains += len(l.FilterChains)
	}
	for _, rc := range r.Proxies[0].RouteConfigs {
		vhosts += rc.VirtualHosts.Len()
	}
	if chains != n+1 || vhosts != n {
		t.Errorf("%d filter chains (want %d TLS + 1 HTTP), %d virtual hosts (want %d)", chains, n, vhosts, n)
	}
	for _, rt := range r.Status.Routes {
		if c := rt.Parents[0].Conditions[0]; c.Status != metav1.ConditionTrue {
			t.Errorf("%s %s not accepted: %s", rt.Kind, rt.Name, c.Message)
		}
	}
}
