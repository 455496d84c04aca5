package kube

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// mergeConditions returns desired with ObservedGeneration defaulted to gen
// and LastTransitionTime carried over from existing when a condition's
// status did not change (now otherwise).
func mergeConditions(existing, desired []metav1.Condition, gen int64, now metav1.Time) []metav1.Condition {
	if desired == nil {
		return nil
	}
	out := make([]metav1.Condition, 0, len(desired))
	for _, d := range desired {
		if d.ObservedGeneration == 0 {
			d.ObservedGeneration = gen
		}
		d.LastTransitionTime = now
		for _, e := range existing {
			if e.Type == d.Type && e.Status == d.Status && !e.LastTransitionTime.IsZero() {
				d.LastTransitionTime = e.LastTransitionTime
				break
			}
		}
		out = append(out, d)
	}
	return out
}

// mergeGatewayStatus returns the Gateway status to write: desired
// conditions and listeners (transition times kept where unchanged) and
// addresses.
func mergeGatewayStatus(existing, desired gwapiv1.GatewayStatus, addrs []gwapiv1.GatewayStatusAddress, gen int64, now metav1.Time) gwapiv1.GatewayStatus {
	out := desired
	out.Addresses = addrs
	out.Conditions = mergeConditions(existing.Conditions, desired.Conditions, gen, now)
	out.Listeners = nil
	for _, l := range desired.Listeners {
		var prev []metav1.Condition
		for _, e := range existing.Listeners {
			if e.Name == l.Name {
				prev = e.Conditions
				break
			}
		}
		l.Conditions = mergeConditions(prev, l.Conditions, gen, now)
		l.SupportedKinds = defaultKinds(l.SupportedKinds)
		out.Listeners = append(out.Listeners, l)
	}
	return out
}

// mergeListenerSetStatus is mergeGatewayStatus for ListenerSets.
func mergeListenerSetStatus(existing, desired gwapiv1.ListenerSetStatus, gen int64, now metav1.Time) gwapiv1.ListenerSetStatus {
	out := desired
	out.Conditions = mergeConditions(existing.Conditions, desired.Conditions, gen, now)
	out.Listeners = nil
	for _, l := range desired.Listeners {
		var prev []metav1.Condition
		for _, e := range existing.Listeners {
			if e.Name == l.Name {
				prev = e.Conditions
				break
			}
		}
		l.Conditions = mergeConditions(prev, l.Conditions, gen, now)
		l.SupportedKinds = defaultKinds(l.SupportedKinds)
		out.Listeners = append(out.Listeners, l)
	}
	return out
}

// mergeRouteParents merges this controller's parent entries into existing:
// other controllers' entries are kept untouched and in place, this
// controller's entries are replaced in place, dropped when no longer
// desired, and new ones appended in desired order.
func mergeRouteParents(existing, desired []gwapiv1.RouteParentStatus, controller gwapiv1.GatewayController, routeNS string, gen int64, now metav1.Time) []gwapiv1.RouteParentStatus {
	used := make([]bool, len(desired))
	out := make([]gwapiv1.RouteParentStatus, 0, len(existing)+len(desired))
	for _, e := range existing {
		if e.ControllerName != controller {
			out = append(out, e)
			continue
		}
		for i, d := range desired {
			if !used[i] && sameParentRef(e.ParentRef, d.ParentRef, routeNS) {
				used[i] = true
				d.ControllerName = controller
				d.Conditions = mergeConditions(e.Conditions, d.Conditions, gen, now)
				d.ParentRef = defaultRef(d.ParentRef)
				out = append(out, d)
				break
			}
		}
	}
	for i, d := range desired {
		if used[i] {
			continue
		}
		d.ControllerName = controller
		d.Conditions = mergeConditions(nil, d.Conditions, gen, now)
		d.ParentRef = defaultRef(d.ParentRef)
		out = append(out, d)
	}
	return out
}

// mergePolicyAncestors is mergeRouteParents for policy ancestor entries.
func mergePolicyAncestors(existing, desired []gwapiv1.PolicyAncestorStatus, controller gwapiv1.GatewayController, policyNS string, gen int64, now metav1.Time) []gwapiv1.PolicyAncestorStatus {
	used := make([]bool, len(desired))
	out := make([]gwapiv1.PolicyAncestorStatus, 0, len(existing)+len(desired))
	for _, e := range existing {
		if e.ControllerName != controller {
			out = append(out, e)
			continue
		}
		for i, d := range desired {
			if !used[i] && sameParentRef(e.AncestorRef, d.AncestorRef, policyNS) {
				used[i] = true
				d.ControllerName = controller
				d.Conditions = mergeConditions(e.Conditions, d.Conditions, gen, now)
				d.AncestorRef = defaultRef(d.AncestorRef)
				out = append(out, d)
				break
			}
		}
	}
	for i, d := range desired {
		if used[i] {
			continue
		}
		d.ControllerName = controller
		d.Conditions = mergeConditions(nil, d.Conditions, gen, now)
		d.AncestorRef = defaultRef(d.AncestorRef)
		out = append(out, d)
	}
	return out
}

// defaultRef fills the group and kind the API server defaults, so that a
// written entry compares equal to what is read back.
func defaultRef(r gwapiv1.ParentReference) gwapiv1.ParentReference {
	if r.Group == nil {
		g := gwapiv1.Group(gwapiv1.GroupName)
		r.Group = &g
	}
	if r.Kind == nil {
		k := gwapiv1.Kind("Gateway")
		r.Kind = &k
	}
	return r
}

// defaultKinds fills the group the API server defaults in RouteGroupKinds.
func defaultKinds(in []gwapiv1.RouteGroupKind) []gwapiv1.RouteGroupKind {
	if in == nil {
		return nil
	}
	out := make([]gwapiv1.RouteGroupKind, len(in))
	for i, k := range in {
		if k.Group == nil {
			g := gwapiv1.Group(gwapiv1.GroupName)
			k.Group = &g
		}
		out[i] = k
	}
	return out
}

// sameParentRef compares two parent references with defaults applied
// (group gateway.networking.k8s.io, kind Gateway, namespace of the object).
func sameParentRef(a, b gwapiv1.ParentReference, ns string) bool {
	return normalizeRef(a, ns) == normalizeRef(b, ns)
}

type refKey struct {
	group, kind, namespace, name, section string
	port                                  int32
}

func normalizeRef(r gwapiv1.ParentReference, ns string) refKey {
	k := refKey{group: gwapiv1.GroupName, kind: "Gateway", namespace: ns, name: string(r.Name)}
	if r.Group != nil {
		k.group = string(*r.Group)
	}
	if r.Kind != nil {
		k.kind = string(*r.Kind)
	}
	if r.Namespace != nil && *r.Namespace != "" {
		k.namespace = string(*r.Namespace)
	}
	if r.SectionName != nil {
		k.section = string(*r.SectionName)
	}
	if r.Port != nil {
		k.port = int32(*r.Port)
	}
	return k
}

func slicesSortKeys(keys []resource.Key) {
	slices.SortFunc(keys, func(a, b resource.Key) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}
