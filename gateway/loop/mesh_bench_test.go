package loop

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/xds/cache"
)

// meshWorld is services Services (one port) spread over namespaces
// namespaces ("ns<i>"), each with one EndpointSlice of two addresses, and
// one producer HTTPRoute per tenth Service splitting it between two
// others.
func meshWorld(services, namespaces int) *resource.Set {
	set := &resource.Set{}
	group, kind := gwapiv1.Group(""), gwapiv1.Kind("Service")
	svcPort := gwapiv1.PortNumber(9080)
	for i := range services {
		ns, name := "ns"+strconv.Itoa(i%namespaces), "svc"+strconv.Itoa(i)
		set.Services = set.Services.Append(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
		})
		set.EndpointSlices = set.EndpointSlices.Append(meshSlice(i, namespaces, 0))
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

// meshSlice is Service i's EndpointSlice; gen changes its second address.
func meshSlice(i, namespaces, gen int) *discoveryv1.EndpointSlice {
	ready, port, portName := true, int32(8080), "http"
	name := "svc" + strconv.Itoa(i)
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns" + strconv.Itoa(i%namespaces), Name: name + "-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{fmt.Sprintf("10.1.%d.%d", gen/250%250, gen%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
		},
	}
}

// BenchmarkMeshEndpointChange is the loop's work for one EndpointSlice
// whose address changed, in a mesh of 1,000 Services over 100 namespaces
// with the groups of 10 namespaces connected (gRPC flavor, plus the Envoy
// flavor every group gets): one op is one batch. "connected": the changed
// Service is in a connected namespace (whose group serves its gRPC
// servers' listeners); "other": in a namespace without a client.
func BenchmarkMeshEndpointChange(b *testing.B) {
	const services, namespaces, connected = 1000, 100, 10
	for _, where := range []string{"connected", "other"} {
		b.Run(where, func(b *testing.B) {
			set := meshWorld(services, namespaces)
			l := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
			for i := range connected {
				l.addKey(cache.Key{Group: "mesh/ns" + strconv.Itoa(i*namespaces/connected+5), Flavor: cache.FlavorGRPC})
			}
			l.process(context.Background(), Event{Set: set, Initial: true, ChangedAt: time.Now()})
			if v := l.State(); v.Result == nil || len(v.Result.Proxies) != connected {
				b.Fatal("no mesh group after the first batch")
			}
			b.ReportAllocs()
			defer benchcpu.Report(b)()
			n := 0
			for b.Loop() {
				n++
				// Service s is in namespace s%100; connected ones are ns5,
				// ns15, ...: their Services have no route, so every group
				// holds their clusters.
				s := (n*100 + 5) % services
				if where == "other" {
					s++
				}
				set = withSlice(set, s, meshSlice(s, namespaces, n))
				l.process(context.Background(), Event{Set: set, EndpointsOnly: true, ChangedAt: time.Now()})
			}
		})
	}
}
