package status

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestCondition(t *testing.T) {
	got := Condition(gwapiv1.RouteConditionAccepted, false, gwapiv1.RouteReasonNoMatchingParent, "no such listener", 3)
	want := metav1.Condition{Type: "Accepted", Status: metav1.ConditionFalse, Reason: "NoMatchingParent", Message: "no such listener", ObservedGeneration: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	if !got.LastTransitionTime.IsZero() {
		t.Error("translation must not stamp LastTransitionTime")
	}
	if c := Condition(gwapiv1.GatewayConditionProgrammed, true, gwapiv1.GatewayReasonProgrammed, "", 1); c.Status != metav1.ConditionTrue {
		t.Errorf("status = %s, want True", c.Status)
	}
}

func TestSetAndFindCondition(t *testing.T) {
	conds := []metav1.Condition{
		Condition(gwapiv1.ListenerConditionAccepted, true, gwapiv1.ListenerReasonAccepted, "", 1),
	}
	conds = SetCondition(conds, Condition(gwapiv1.ListenerConditionProgrammed, false, gwapiv1.ListenerReasonInvalid, "x", 1))
	conds = SetCondition(conds, Condition(gwapiv1.ListenerConditionAccepted, false, gwapiv1.ListenerReasonUnsupportedProtocol, "y", 2))
	if len(conds) != 2 {
		t.Fatalf("len = %d, want 2 (replace, not append)", len(conds))
	}
	c := FindCondition(conds, gwapiv1.ListenerConditionAccepted)
	if c == nil || c.Reason != "UnsupportedProtocol" || c.ObservedGeneration != 2 {
		t.Errorf("Accepted = %+v", c)
	}
	if FindCondition(conds, gwapiv1.ListenerConditionConflicted) != nil {
		t.Error("found a condition that is not there")
	}
	if IsTrue(conds, gwapiv1.ListenerConditionProgrammed) || IsTrue(conds, gwapiv1.ListenerConditionConflicted) {
		t.Error("IsTrue of a False or missing condition")
	}
}

func TestReportSort(t *testing.T) {
	r := &Report{
		GatewayClasses: []GatewayClass{{Name: "b"}, {Name: "a"}},
		Gateways:       []Gateway{{Namespace: "y", Name: "a"}, {Namespace: "x", Name: "b"}, {Namespace: "x", Name: "a"}},
		Routes: []Route{
			{Kind: "HTTPRoute", Namespace: "b", Name: "a"},
			{Kind: "GRPCRoute", Namespace: "z", Name: "z"},
			{Kind: "HTTPRoute", Namespace: "a", Name: "b"},
		},
	}
	r.Sort()
	var got []string
	for _, c := range r.GatewayClasses {
		got = append(got, c.Name)
	}
	for _, g := range r.Gateways {
		got = append(got, g.Namespace+"/"+g.Name)
	}
	for _, rt := range r.Routes {
		got = append(got, rt.Kind+":"+rt.Namespace+"/"+rt.Name)
	}
	want := []string{"a", "b", "x/a", "x/b", "y/a", "GRPCRoute:z/z", "HTTPRoute:a/b", "HTTPRoute:b/a"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}
