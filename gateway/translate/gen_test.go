package translate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// generateRoutes builds a Set with one Gateway (HTTP 80) and n HTTPRoutes
// spread over n/10 hostnames, each with two rules (a prefix and an exact
// path with a header match) to one of 50 Services with endpoints.
func generateRoutes(n int) *resource.Set {
	set := &resource.Set{
		GatewayClasses: plist.Of(
			&gwapiv1.GatewayClass{
				ObjectMeta: metav1.ObjectMeta{Name: "gantry"},
				Spec:       gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName},
			},
		),
		Gateways: plist.Of(
			&gwapiv1.Gateway{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"},
				Spec: gwapiv1.GatewaySpec{GatewayClassName: "gantry", Listeners: []gwapiv1.Listener{{
					Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType,
					AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: ptr.To(gwapiv1.NamespacesFromAll)}},
				}}},
			},
		),
	}
	const services = 50
	for s := 0; s < services; s++ {
		name := fmt.Sprintf("svc-%d", s)
		set.Services = set.Services.Append(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
		})
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
		}
		for e := 0; e < 3; e++ {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", s/250, s%250, e+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			})
		}
		set.EndpointSlices = set.EndpointSlices.Append(es)
	}
	hosts := max(n/10, 1)
	for i := 0; i < n; i++ {
		svc := fmt.Sprintf("svc-%d", i%services)
		set.HTTPRoutes = set.HTTPRoutes.Append(&gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("route-%d", i), Generation: 1},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("host-%d.example.com", i%hosts))},
				Rules: []gwapiv1.HTTPRouteRule{
					{
						Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{
							Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To(fmt.Sprintf("/app-%d", i)),
						}}},
						BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
							BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: ptr.To(gwapiv1.PortNumber(8080))},
						}}},
					},
					{
						Matches: []gwapiv1.HTTPRouteMatch{{
							Path:    &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchExact), Value: ptr.To(fmt.Sprintf("/api-%d", i))},
							Headers: []gwapiv1.HTTPHeaderMatch{{Name: "x-version", Value: "2"}},
						}},
						Filters: []gwapiv1.HTTPRouteFilter{{
							Type:                  gwapiv1.HTTPRouteFilterRequestHeaderModifier,
							RequestHeaderModifier: &gwapiv1.HTTPHeaderFilter{Set: []gwapiv1.HTTPHeader{{Name: "x-route", Value: "r"}}},
						}},
						BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
							BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: ptr.To(gwapiv1.PortNumber(8080))},
						}}},
					},
				},
			},
		})
	}
	return set
}
