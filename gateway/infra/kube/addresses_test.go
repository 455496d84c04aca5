package kube

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	providerkube "github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestEmptyGatewayAddressIsAssigned (GatewayAddressEmpty): a spec.addresses
// entry without a value asks for an address of its type. It is never
// copied into status and requests no particular IP from the Service; once
// the load balancer assigns addresses, those of the requested types are
// reported next to the entries that have a value.
func TestEmptyGatewayAddressIsAssigned(t *testing.T) {
	c := apiClient(t)
	ipType, hostType := gwapiv1.IPAddressType, gwapiv1.HostnameAddressType
	ingress := []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb-9.example.com"}}
	cases := []struct {
		name   string
		spec   []gwapiv1.GatewaySpecAddress
		wantLB string   // the Service's requested loadBalancerIP
		before []string // status.addresses before the load balancer answers
		after  []string // and after
	}{
		{
			name:   "empty IP",
			spec:   []gwapiv1.GatewaySpecAddress{{Type: &ipType}},
			before: nil,
			after:  []string{"IPAddress/203.0.113.9"},
		},
		{
			name:   "empty default type",
			spec:   []gwapiv1.GatewaySpecAddress{{}},
			before: nil,
			after:  []string{"IPAddress/203.0.113.9"},
		},
		{
			name:   "empty hostname next to a static IP",
			spec:   []gwapiv1.GatewaySpecAddress{{Type: &hostType}, {Type: &ipType, Value: "203.0.113.9"}},
			wantLB: "203.0.113.9",
			before: []string{"IPAddress/203.0.113.9"},
			after:  []string{"IPAddress/203.0.113.9", "Hostname/lb-9.example.com"},
		},
		{
			name:   "empty IP before a static IP",
			spec:   []gwapiv1.GatewaySpecAddress{{Type: &ipType}, {Type: &ipType, Value: "198.51.100.4"}},
			wantLB: "198.51.100.4",
			before: []string{"IPAddress/198.51.100.4"},
			after:  []string{"IPAddress/198.51.100.4", "IPAddress/203.0.113.9"},
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
			if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: []*gwapiv1.GatewayClass{gc}, Gateways: []*gwapiv1.Gateway{gw}}); err != nil {
				t.Fatal(err)
			}
			var svc corev1.Service
			get(t, c, ns, ResourceName("web"), &svc)
			if svc.Spec.LoadBalancerIP != tc.wantLB { //nolint:staticcheck // the field Gantry sets
				t.Errorf("Service loadBalancerIP = %q, want %q", svc.Spec.LoadBalancerIP, tc.wantLB) //nolint:staticcheck // as above
			}
			addrs, err := m.GatewayAddresses(ctx, gw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.before, addressStrings(addrs)); diff != "" {
				t.Errorf("before the load balancer: addresses (-want +got):\n%s", diff)
			}

			svc.Status.LoadBalancer.Ingress = ingress
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
			if diff := cmp.Diff(tc.after, addressStrings(got.Status.Addresses)); diff != "" {
				t.Errorf("Gateway status.addresses (-want +got):\n%s", diff)
			}
		})
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
