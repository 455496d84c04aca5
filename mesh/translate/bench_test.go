package translate

import (
	"fmt"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// generateMesh makes services Services (one port, one endpoint each) spread
// over namespaces namespaces, and one producer HTTPRoute per tenth Service
// splitting it between two others.
func generateMesh(services, namespaces int) *resource.Set {
	set := &resource.Set{}
	ready := true
	port := int32(8080)
	portName := "http"
	group, kind := gwapiv1.Group(""), gwapiv1.Kind("Service")
	svcPort := gwapiv1.PortNumber(9080)
	for i := 0; i < services; i++ {
		ns := "ns" + strconv.Itoa(i%namespaces)
		name := "svc" + strconv.Itoa(i)
		set.Services = set.Services.Append(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
		})
		set.EndpointSlices = set.EndpointSlices.Append(&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		})
		if i%10 == 0 && i+2*namespaces < services {
			w := int32(50)
			ref := func(j int) gwapiv1.HTTPBackendRef {
				return gwapiv1.HTTPBackendRef{BackendRef: gwapiv1.BackendRef{Weight: &w, BackendObjectReference: gwapiv1.BackendObjectReference{
					Name: gwapiv1.ObjectName("svc" + strconv.Itoa(j)), Port: &svcPort}}}
			}
			set.HTTPRoutes = set.HTTPRoutes.Append(&gwapiv1.HTTPRoute{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: gwapiv1.HTTPRouteSpec{
					CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Group: &group, Kind: &kind, Name: gwapiv1.ObjectName(name)}}},
					Rules:           []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{ref(i + namespaces), ref(i + 2*namespaces)}}},
				},
			})
		}
	}
	return set
}

var meshBenchSizes = []struct{ services, namespaces int }{{100, 10}, {1000, 10}, {1000, 100}}

// BenchmarkTranslate translates the whole mesh: one group per namespace.
func BenchmarkTranslate(b *testing.B) {
	for _, sz := range meshBenchSizes {
		set := generateMesh(sz.services, sz.namespaces)
		b.Run(fmt.Sprintf("services=%d/namespaces=%d", sz.services, sz.namespaces), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := Translate(set, Options{}); len(r.Proxies) != sz.namespaces {
					b.Fatalf("%d proxies", len(r.Proxies))
				}
			}
		})
	}
}

// BenchmarkTranslateConnected translates the mesh of 1,000 Services in 100
// namespaces for the groups of the connected namespaces only
// (OnlyNamespaces, as gantry serve does), then builds each group's gRPC
// flavor: the cost of a mesh change with 1 and with 10 connected
// namespaces.
func BenchmarkTranslateConnected(b *testing.B) {
	set := generateMesh(1000, 100)
	for _, connected := range []int{1, 10} {
		var ns []string
		for i := range connected {
			ns = append(ns, "ns"+strconv.Itoa(i*10))
		}
		b.Run(fmt.Sprintf("connected=%d", connected), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := Translate(set, Options{Namespaces: ns, OnlyNamespaces: true})
				if len(r.Proxies) != connected {
					b.Fatalf("%d proxies", len(r.Proxies))
				}
				for _, p := range r.Proxies {
					if _, err := envoy.Build(p, envoy.Options{Flavor: envoy.FlavorGRPC}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkBuildGroup builds (and validates) one group in the gRPC flavor
// (proxyless clients) and the Envoy flavor (sidecars: route tables,
// clusters and the capture listeners).
func BenchmarkBuildGroup(b *testing.B) {
	for _, sz := range meshBenchSizes[:2] {
		p := Translate(generateMesh(sz.services, sz.namespaces), Options{}).Proxies[0]
		for _, flavor := range []envoy.Flavor{envoy.FlavorGRPC, envoy.FlavorEnvoy} {
			name := fmt.Sprintf("services=%d", sz.services)
			if flavor == envoy.FlavorEnvoy {
				name += "/sidecar"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := envoy.Build(p, envoy.Options{Flavor: flavor}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestGeneratedMeshBuilds keeps the benchmark input honest: it translates
// with every route accepted and builds.
func TestGeneratedMeshBuilds(t *testing.T) {
	res := Translate(generateMesh(100, 10), Options{})
	// 100 Service tables plus the inbound table of the namespace's servers.
	if len(res.Proxies) != 10 || len(res.Proxies[0].RouteConfigs) != 101 {
		t.Fatalf("%d proxies, %d route configs", len(res.Proxies), len(res.Proxies[0].RouteConfigs))
	}
	for _, r := range res.Status.Routes {
		if r.Parents[0].Conditions[0].Status != metav1.ConditionTrue || r.Parents[0].Conditions[1].Status != metav1.ConditionTrue {
			t.Fatalf("route %s/%s not accepted: %+v", r.Namespace, r.Name, r.Parents[0].Conditions)
		}
	}
	if len(res.Status.Routes) == 0 {
		t.Fatal("no routes generated")
	}
	if _, err := envoy.Build(res.Proxies[0], envoy.Options{Flavor: envoy.FlavorGRPC}); err != nil {
		t.Fatal(err)
	}
}
