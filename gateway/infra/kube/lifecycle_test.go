package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	providerkube "github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestLoadBalancerAddressInGatewayStatus: status.addresses are the
// addresses the load balancer bound (written into the generated Service's
// status), reached through the status writer; while there is none the
// Gateway is Programmed=False/AddressNotAssigned, and a requested address
// the load balancer did not assign makes it Programmed=False/AddressNotUsable.
func TestLoadBalancerAddressInGatewayStatus(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "addr")
	ctrl := "gantryproxy.io/test-" + ns
	gc, gw := class("addr-"+ns, ctrl), gateway(ns, "web", "addr-"+ns)
	envtest.Create(t, c, gc, gw)
	m := New(c, Options{ControllerName: ctrl})
	ctx := testContext(t)
	reconcile := func(gw *gwapiv1.Gateway) {
		t.Helper()
		if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: plist.Of(gc), Gateways: plist.Of(gw)}); err != nil {
			t.Fatal(err)
		}
	}
	reconcile(gw)
	w := providerkube.NewStatusWriter(c, providerkube.StatusOptions{ControllerName: ctrl, Addresses: m})
	lb := func(ingress ...corev1.LoadBalancerIngress) {
		t.Helper()
		var svc corev1.Service
		get(t, c, ns, ResourceName("web"), &svc)
		svc.Status.LoadBalancer.Ingress = ingress
		if err := c.Status().Update(ctx, &svc); err != nil {
			t.Fatal(err)
		}
	}

	got := writeProgrammed(t, w, c, ns, "web")
	checkAddressStatus(t, "before the load balancer", got, nil, "AddressNotAssigned")

	lb(corev1.LoadBalancerIngress{IP: "203.0.113.7"}, corev1.LoadBalancerIngress{Hostname: "lb-1.example.com"})
	got = writeProgrammed(t, w, c, ns, "web")
	checkAddressStatus(t, "load balancer answered", got, []string{"IPAddress/203.0.113.7", "Hostname/lb-1.example.com"}, "Programmed")

	// A requested address the load balancer has not assigned is not
	// reported, and the Gateway is not programmed.
	got.Spec.Addresses = []gwapiv1.GatewaySpecAddress{{Value: "198.51.100.1"}}
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	reconcile(&got)
	got = writeProgrammed(t, w, c, ns, "web")
	checkAddressStatus(t, "requested address not assigned", got, nil, "AddressNotUsable")

	lb(corev1.LoadBalancerIngress{IP: "198.51.100.1"})
	got = writeProgrammed(t, w, c, ns, "web")
	checkAddressStatus(t, "requested address assigned", got, []string{"IPAddress/198.51.100.1"}, "Programmed")
}

// TestCleanup: a deleted Gateway's objects go (owner references let the
// garbage collector do it in a cluster; envtest has none, so the explicit
// path is checked), and so do those of a Gateway moved to another class.
func TestCleanup(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "cleanup")
	ctrl := "gantryproxy.io/test-" + ns
	gc, other := class("clean-"+ns, ctrl), class("other-"+ns, "example.com/other")
	g1, g2 := gateway(ns, "one", gc.Name), gateway(ns, "two", gc.Name)
	envtest.Create(t, c, gc, other, g1, g2)
	m := New(c, Options{ControllerName: ctrl, Namespaces: []string{ns}})
	ctx := testContext(t)
	classes := []*gwapiv1.GatewayClass{gc, other}
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: plist.Of(classes...), Gateways: plist.Of(g1, g2)}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), true)
	exists(t, c, ns, ResourceName("two"), true)

	// Translation rejects the class: its Gateways lose their fleets, and get
	// them back once it is accepted again.
	both := &resource.Set{GatewayClasses: plist.Of(classes...), Gateways: plist.Of(g1, g2)}
	if err := m.ReconcileAccepted(ctx, both, Verdict{Classes: map[string]bool{}}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), false)
	exists(t, c, ns, ResourceName("two"), false)
	if err := m.ReconcileAccepted(ctx, both, Verdict{Classes: map[string]bool{gc.Name: true}}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), true)
	exists(t, c, ns, ResourceName("two"), true)

	// An unrelated object that only looks like ours is never touched.
	decoy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "decoy",
		Labels: map[string]string{LabelManagedBy: managedByValue, LabelController: controllerLabel(ctrl)}}}
	envtest.Create(t, c, decoy)

	if err := c.Delete(ctx, g1); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: plist.Of(classes...), Gateways: plist.Of(g2)}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), false)
	exists(t, c, ns, ResourceName("two"), true)

	g2.Spec.GatewayClassName = gwapiv1.ObjectName(other.Name)
	if err := c.Update(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: plist.Of(classes...), Gateways: plist.Of(g2)}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("two"), false)
	var cm corev1.ConfigMap
	get(t, c, ns, "decoy", &cm)
}

// exists checks that all four objects named name are there (or all gone).
func exists(t *testing.T, c client.Client, ns, name string, want bool) {
	t.Helper()
	for _, obj := range []client.Object{&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Service{}, &appsv1.Deployment{}} {
		err := c.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: name}, obj)
		switch {
		case want && err != nil:
			t.Errorf("%T %s/%s: %v", obj, ns, name, err)
		case !want && !apierrors.IsNotFound(err):
			t.Errorf("%T %s/%s still exists (err %v)", obj, ns, name, err)
		}
	}
}
