package kube

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestStatusWriterAuthorizationPolicy writes an AuthorizationPolicy's
// ancestors (a Service and, for a namespace default, the Namespace) to the
// API server, keeps them when the report repeats, and removes Gantry's
// entries when the policy leaves the report.
func TestStatusWriterAuthorizationPolicy(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "authz")
	ctrl := "gantryproxy.io/test-" + ns
	ap := &securityv1alpha1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "callers"},
		Spec: securityv1alpha1.AuthorizationPolicySpec{Action: securityv1alpha1.ActionAllow}}
	envtest.Create(t, c, ap)
	ctx := testContext(t, 60*time.Second)
	svcGroup, svcKind, nsKind := gwapiv1.Group(""), gwapiv1.Kind("Service"), gwapiv1.Kind("Namespace")
	nsRef := gwapiv1.Namespace(ns)
	rep := &status.Report{AuthorizationPolicies: []status.Policy{{Kind: resource.KindAuthorizationPolicy, Namespace: ns, Name: "callers",
		Generation: ap.Generation, Status: gwapiv1.PolicyStatus{Ancestors: []gwapiv1.PolicyAncestorStatus{
			{AncestorRef: gwapiv1.ParentReference{Group: &svcGroup, Kind: &svcKind, Namespace: &nsRef, Name: "reviews"},
				ControllerName: gwapiv1.GatewayController(ctrl),
				Conditions:     []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted"), cond("FullyEnforced", metav1.ConditionFalse, "FailsClosed")}},
			{AncestorRef: gwapiv1.ParentReference{Group: &svcGroup, Kind: &nsKind, Name: gwapiv1.ObjectName(ns)},
				ControllerName: gwapiv1.GatewayController(ctrl),
				Conditions:     []metav1.Condition{cond("Accepted", metav1.ConditionFalse, "TargetNotFound")}},
		}}}}}
	clk := newClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := NewStatusWriter(c, StatusOptions{ControllerName: ctrl, Now: clk.now})
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	var got securityv1alpha1.AuthorizationPolicy
	get(t, c, ns, "callers", &got)
	anc := got.Status.Ancestors
	if len(anc) != 2 || anc[0].AncestorRef.Name != "reviews" || len(anc[0].Conditions) != 2 ||
		anc[0].Conditions[1].Reason != "FailsClosed" || !anc[0].Conditions[1].LastTransitionTime.Time.Equal(clk.now()) ||
		string(*anc[1].AncestorRef.Kind) != "Namespace" || anc[1].Conditions[0].Reason != "TargetNotFound" {
		t.Fatalf("ancestors = %+v", anc)
	}
	writes := w.Writes()
	clk.advance(time.Minute)
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if w.Writes() != writes {
		t.Errorf("unchanged report sent %d updates", w.Writes()-writes)
	}
	if err := w.Write(ctx, &status.Report{}); err != nil {
		t.Fatal(err)
	}
	get(t, c, ns, "callers", &got)
	if len(got.Status.Ancestors) != 0 {
		t.Errorf("after the policy left the report, ancestors = %+v", got.Status.Ancestors)
	}
}
