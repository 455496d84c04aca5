package kube

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestMergeConditionsKeepsTransitionTimes(t *testing.T) {
	old, now := metav1.NewTime(time.Unix(100, 0)), metav1.NewTime(time.Unix(200, 0))
	existing := []metav1.Condition{
		{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: old, ObservedGeneration: 1},
		{Type: "ResolvedRefs", Status: metav1.ConditionTrue, Reason: "ResolvedRefs", LastTransitionTime: old, ObservedGeneration: 1},
		{Type: "Stale", Status: metav1.ConditionTrue, LastTransitionTime: old},
	}
	desired := []metav1.Condition{
		{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "new message"},
		{Type: "ResolvedRefs", Status: metav1.ConditionFalse, Reason: "BackendNotFound"},
		{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed", ObservedGeneration: 7},
	}
	got := mergeConditions(existing, desired, 3, now)
	want := []metav1.Condition{
		{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "new message", LastTransitionTime: old, ObservedGeneration: 3},
		{Type: "ResolvedRefs", Status: metav1.ConditionFalse, Reason: "BackendNotFound", LastTransitionTime: now, ObservedGeneration: 3},
		{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed", LastTransitionTime: now, ObservedGeneration: 7},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("mergeConditions (-want +got):\n%s", d)
	}
}

func TestMergeRouteParentsKeepsOthersInPlace(t *testing.T) {
	now := metav1.NewTime(time.Unix(200, 0))
	const ours, theirs = gwapiv1.GatewayController("gantry"), gwapiv1.GatewayController("other")
	ref := func(name string) gwapiv1.ParentReference {
		return gwapiv1.ParentReference{Name: gwapiv1.ObjectName(name)}
	}
	existing := []gwapiv1.RouteParentStatus{
		{ParentRef: ref("gone"), ControllerName: ours},
		{ParentRef: ref("b"), ControllerName: theirs, Conditions: []metav1.Condition{{Type: "Accepted", Status: "False"}}},
		// Same parent as desired "c", written with the defaults the API
		// server fills in.
		{ParentRef: gwapiv1.ParentReference{Group: ptr.To(gwapiv1.Group(gwapiv1.GroupName)), Kind: ptr.To(gwapiv1.Kind("Gateway")),
			Namespace: ptr.To(gwapiv1.Namespace("ns")), Name: "c"}, ControllerName: ours},
	}
	desired := []gwapiv1.RouteParentStatus{{ParentRef: ref("c")}, {ParentRef: ref("d")}}
	got := mergeRouteParents(existing, desired, ours, "ns", 1, now)
	var names []string
	for _, p := range got {
		names = append(names, string(p.ControllerName)+"/"+string(p.ParentRef.Name))
	}
	if d := cmp.Diff([]string{"other/b", "gantry/c", "gantry/d"}, names); d != "" {
		t.Errorf("parents (-want +got):\n%s", d)
	}
	if got[0].Conditions[0].Status != "False" {
		t.Error("the other controller's entry was modified")
	}
	if got[2].ParentRef.Group == nil || *got[2].ParentRef.Kind != "Gateway" {
		t.Errorf("new entry without defaulted group/kind: %+v", got[2].ParentRef)
	}
}

func TestSameParentRefDefaults(t *testing.T) {
	sec := gwapiv1.SectionName("http")
	for _, tc := range []struct {
		a, b gwapiv1.ParentReference
		same bool
	}{
		{gwapiv1.ParentReference{Name: "gw"}, gwapiv1.ParentReference{Name: "gw", Namespace: ptr.To(gwapiv1.Namespace("ns"))}, true},
		{gwapiv1.ParentReference{Name: "gw"}, gwapiv1.ParentReference{Name: "gw", Namespace: ptr.To(gwapiv1.Namespace("other"))}, false},
		{gwapiv1.ParentReference{Name: "gw"}, gwapiv1.ParentReference{Name: "gw", SectionName: &sec}, false},
		{gwapiv1.ParentReference{Name: "gw"}, gwapiv1.ParentReference{Name: "gw", Kind: ptr.To(gwapiv1.Kind("ListenerSet"))}, false},
	} {
		if got := sameParentRef(tc.a, tc.b, "ns"); got != tc.same {
			t.Errorf("sameParentRef(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
