package kube

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	providerkube "github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestEmptyGatewayAddressIsAssigned (GatewayAddressEmpty): a spec.addresses
// entry without a value asks for an address of its type. It requests no
// particular IP from the Service; once the load balancer assigns addresses,
// the bound ones of the requested types are reported next to the requested
// values that are bound. Until then the Gateway is not programmed.
func TestEmptyGatewayAddressIsAssigned(t *testing.T) {
	c := apiClient(t)
	ipType, hostType := gwapiv1.IPAddressType, gwapiv1.HostnameAddressType
	ingress := []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb-9.example.com"}}
	cases := []struct {
		name        string
		spec        []gwapiv1.GatewaySpecAddress
		wantLB      string                       // the Service's requested loadBalancerIP
		ingress     []corev1.LoadBalancerIngress // what the load balancer assigns; default ingress
		after       []string                     // status.addresses once the load balancer answered
		afterReason string                       // and the Programmed reason
	}{
		{
			name:        "empty IP",
			spec:        []gwapiv1.GatewaySpecAddress{{Type: &ipType}},
			after:       []string{"IPAddress/203.0.113.9"},
			afterReason: "Programmed",
		},
		{
			name:        "empty default type",
			spec:        []gwapiv1.GatewaySpecAddress{{}},
			after:       []string{"IPAddress/203.0.113.9"},
			afterReason: "Programmed",
		},
		{
			name:        "empty hostname next to a static IP",
			spec:        []gwapiv1.GatewaySpecAddress{{Type: &hostType}, {Type: &ipType, Value: "203.0.113.9"}},
			wantLB:      "203.0.113.9",
			after:       []string{"IPAddress/203.0.113.9", "Hostname/lb-9.example.com"},
			afterReason: "Programmed",
		},
		{
			name:        "empty IP before a static IP the load balancer did not assign",
			spec:        []gwapiv1.GatewaySpecAddress{{Type: &ipType}, {Type: &ipType, Value: "198.51.100.4"}},
			wantLB:      "198.51.100.4",
			after:       []string{"IPAddress/203.0.113.9"},
			afterReason: "AddressNotUsable",
		},
		{
			name:        "empty IP next to a static IP the load balancer assigned",
			spec:        []gwapiv1.GatewaySpecAddress{{Type: &ipType}, {Type: &ipType, Value: "198.51.100.4"}},
			wantLB:      "198.51.100.4",
			ingress:     []corev1.LoadBalancerIngress{{IP: "198.51.100.4"}},
			after:       []string{"IPAddress/198.51.100.4"},
			afterReason: "Programmed",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := envtest.NewNamespace(t, c, "empty-addr")
			ctrl := "gantryproxy.io/test-" + ns
			cls := fmt.Sprintf("empty-addr-%d-%s", i, ns)
			gc, gw := class(cls, ctrl), gateway(ns, "web", cls)
			gw.Spec.Addresses = tc.spec
			envtest.Create(t, c, gc, gw)
			m := New(c, Options{ControllerName: ctrl})
			ctx := testContext(t)
			if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: plist.Of(gc), Gateways: plist.Of(gw)}); err != nil {
				t.Fatal(err)
			}
			var svc corev1.Service
			get(t, c, ns, ResourceName("web"), &svc)
			if svc.Spec.LoadBalancerIP != tc.wantLB { //nolint:staticcheck // the field Gantry sets
				t.Errorf("Service loadBalancerIP = %q, want %q", svc.Spec.LoadBalancerIP, tc.wantLB) //nolint:staticcheck // as above
			}
			w := providerkube.NewStatusWriter(c, providerkube.StatusOptions{ControllerName: ctrl, Addresses: m})
			before := "AddressNotAssigned"
			if tc.wantLB != "" {
				before = "AddressNotUsable"
			}
			checkAddressStatus(t, "before the load balancer", writeProgrammed(t, w, c, ns, "web"), nil, before)

			svc.Status.LoadBalancer.Ingress = ingress
			if tc.ingress != nil {
				svc.Status.LoadBalancer.Ingress = tc.ingress
			}
			if err := c.Status().Update(ctx, &svc); err != nil {
				t.Fatal(err)
			}
			checkAddressStatus(t, "after", writeProgrammed(t, w, c, ns, "web"), tc.after, tc.afterReason)
		})
	}
}

// writeProgrammed writes a report saying Gateway ns/name is programmed and
// returns the Gateway as stored.
func writeProgrammed(t *testing.T, w *providerkube.StatusWriter, c client.Client, ns, name string) gwapiv1.Gateway {
	t.Helper()
	var gw gwapiv1.Gateway
	get(t, c, ns, name, &gw)
	rep := &status.Report{Gateways: []status.Gateway{{Namespace: ns, Name: name, Generation: gw.Generation,
		Status: gwapiv1.GatewayStatus{Conditions: []metav1.Condition{{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed"}}}}}}
	if err := w.Write(testContext(t), rep); err != nil {
		t.Fatal(err)
	}
	get(t, c, ns, name, &gw)
	return gw
}

// checkAddressStatus compares gw's status.addresses and Programmed reason.
func checkAddressStatus(t *testing.T, stage string, gw gwapiv1.Gateway, addrs []string, reason string) {
	t.Helper()
	if diff := cmp.Diff(addrs, addressStrings(gw.Status.Addresses)); diff != "" {
		t.Errorf("%s: status.addresses (-want +got):\n%s", stage, diff)
	}
	p := status.FindCondition(gw.Status.Conditions, gwapiv1.GatewayConditionProgrammed)
	switch {
	case p == nil:
		t.Errorf("%s: no Programmed condition", stage)
	case p.Reason != reason || (p.Status == metav1.ConditionTrue) != (reason == "Programmed"):
		t.Errorf("%s: Programmed = %s/%s (%q), want reason %s", stage, p.Status, p.Reason, p.Message, reason)
	}
}

// addressStrings renders addresses as "<type>/<value>".
func addressStrings(as []gwapiv1.GatewayStatusAddress) []string {
	var out []string
	for _, a := range as {
		t := "<nil>"
		if a.Type != nil {
			t = string(*a.Type)
		}
		out = append(out, t+"/"+a.Value)
	}
	return out
}
