package kube

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestRejectedListenersAddNoPorts: the Service and the Deployment expose
// only the listeners translation accepted; a ListenerSet listener gets its
// port once accepted, and loses it when rejected again.
func TestRejectedListenersAddNoPorts(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "ports")
	ctrl := "gantryproxy.io/test-" + ns
	gc := class("ports-"+ns, ctrl)
	gw := gateway(ns, "web", gc.Name,
		gwapiv1.Listener{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
		gwapiv1.Listener{Name: "admin", Port: AdminPort, Protocol: gwapiv1.HTTPProtocolType},
	)
	envtest.Create(t, c, gc, gw)
	ls := &gwapiv1.ListenerSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "extra"},
		Spec: gwapiv1.ListenerSetSpec{
			ParentRef: gwapiv1.ParentGatewayReference{Name: "web"},
			Listeners: []gwapiv1.ListenerEntry{{Name: "alt", Port: 8080, Protocol: gwapiv1.HTTPProtocolType}},
		},
	}
	set := &resource.Set{GatewayClasses: plist.Of(gc), Gateways: plist.Of(gw), ListenerSets: plist.Of(ls)}
	m := New(c, Options{ControllerName: ctrl, XDSServiceAddress: "gantry.gantry-system.svc:18000"})
	ctx := testContext(t)
	httpOnly := map[ListenerKey]bool{{Kind: "Gateway", Namespace: ns, Name: "web", Listener: "http"}: true}
	check := func(want []int32) {
		t.Helper()
		var svc corev1.Service
		get(t, c, ns, ResourceName("web"), &svc)
		var got []int32
		for _, p := range svc.Spec.Ports {
			got = append(got, p.Port)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Service ports = %v, want %v", got, want)
		}
		var dep appsv1.Deployment
		get(t, c, ns, ResourceName("web"), &dep)
		for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
			if p.ContainerPort != MetricsPort && p.ContainerPort != ReadyPort && !slices.Contains(want, p.ContainerPort) {
				t.Errorf("container exposes port %d (%s), which no accepted listener has", p.ContainerPort, p.Name)
			}
		}
	}
	if err := m.ReconcileAccepted(ctx, set, Verdict{Listeners: httpOnly}); err != nil {
		t.Fatal(err)
	}
	check([]int32{80})
	withSet := map[ListenerKey]bool{{Kind: "ListenerSet", Namespace: ns, Name: "extra", Listener: "alt"}: true}
	for k := range httpOnly {
		withSet[k] = true
	}
	if err := m.ReconcileAccepted(ctx, set, Verdict{Listeners: withSet}); err != nil {
		t.Fatal(err)
	}
	check([]int32{80, 8080})
	if err := m.ReconcileAccepted(ctx, set, Verdict{Listeners: httpOnly}); err != nil {
		t.Fatal(err)
	}
	check([]int32{80})
}
