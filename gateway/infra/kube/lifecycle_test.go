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
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestLoadBalancerAddressInGatewayStatus: the address a load balancer
// writes into the generated Service's status reaches Gateway
// status.addresses through the status writer.
func TestLoadBalancerAddressInGatewayStatus(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "addr")
	ctrl := "gantryproxy.io/test-" + ns
	gc, gw := class("addr-"+ns, ctrl), gateway(ns, "web", "addr-"+ns)
	envtest.Create(t, c, gc, gw)
	m := New(c, Options{ControllerName: ctrl})
	ctx := testContext(t)
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: []*gwapiv1.GatewayClass{gc}, Gateways: []*gwapiv1.Gateway{gw}}); err != nil {
		t.Fatal(err)
	}
	if addrs, err := m.GatewayAddresses(ctx, gw); err != nil || len(addrs) != 0 {
		t.Fatalf("before the load balancer: addresses %v, %v; want none", addrs, err)
	}
	var svc corev1.Service
	get(t, c, ns, ResourceName("web"), &svc)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "lb-1.example.com"}}
	if err := c.Status().Update(ctx, &svc); err != nil {
		t.Fatal(err)
	}

	w := providerkube.NewStatusWriter(c, providerkube.StatusOptions{ControllerName: ctrl, Addresses: m})
	rep := &status.Report{Gateways: []status.Gateway{{Namespace: ns, Name: "web", Generation: gw.Generation,
		Status: gwapiv1.GatewayStatus{Conditions: []metav1.Condition{{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed"}}}}}}
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	var got gwapiv1.Gateway
	get(t, c, ns, "web", &got)
	a := got.Status.Addresses
	if len(a) != 2 || *a[0].Type != gwapiv1.IPAddressType || a[0].Value != "203.0.113.7" ||
		*a[1].Type != gwapiv1.HostnameAddressType || a[1].Value != "lb-1.example.com" {
		t.Errorf("Gateway status.addresses = %+v, want the Service's IP and hostname", a)
	}

	// spec.addresses, when set, are what status reports.
	got.Spec.Addresses = []gwapiv1.GatewaySpecAddress{{Value: "198.51.100.1"}}
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	rep.Gateways[0].Generation = got.Generation
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	get(t, c, ns, "web", &got)
	if a := got.Status.Addresses; len(a) != 1 || a[0].Value != "198.51.100.1" {
		t.Errorf("with spec.addresses, status.addresses = %+v", a)
	}
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
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: classes, Gateways: []*gwapiv1.Gateway{g1, g2}}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), true)
	exists(t, c, ns, ResourceName("two"), true)

	// Translation rejects the class: its Gateways lose their fleets, and get
	// them back once it is accepted again.
	both := &resource.Set{GatewayClasses: classes, Gateways: []*gwapiv1.Gateway{g1, g2}}
	if err := m.ReconcileAccepted(ctx, both, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), false)
	exists(t, c, ns, ResourceName("two"), false)
	if err := m.ReconcileAccepted(ctx, both, map[string]bool{gc.Name: true}); err != nil {
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
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: classes, Gateways: []*gwapiv1.Gateway{g2}}); err != nil {
		t.Fatal(err)
	}
	exists(t, c, ns, ResourceName("one"), false)
	exists(t, c, ns, ResourceName("two"), true)

	g2.Spec.GatewayClassName = gwapiv1.ObjectName(other.Name)
	if err := c.Update(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: classes, Gateways: []*gwapiv1.Gateway{g2}}); err != nil {
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
