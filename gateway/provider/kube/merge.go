package kube

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
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
	out.Listeners = mergeListeners(existing.Listeners, desired.Listeners, func(l *gwapiv1.ListenerStatus) listenerFields {
		return listenerFields{name: l.Name, conditions: &l.Conditions, kinds: &l.SupportedKinds}
	}, gen, now)
	return out
}

// withBoundAddresses returns st with the bound addresses, and Programmed
// turned False when the addresses fall short (st itself is not changed).
func withBoundAddresses(st gwapiv1.GatewayStatus, b status.BoundAddresses) gwapiv1.GatewayStatus {
	st.Addresses = b.Addresses
	if b.Reason == "" {
		return st
	}
	conds := slices.Clone(st.Conditions)
	for i, c := range conds {
		if c.Type == string(gwapiv1.GatewayConditionProgrammed) && c.Status == metav1.ConditionTrue {
			conds[i].Status, conds[i].Reason, conds[i].Message = metav1.ConditionFalse, string(b.Reason), b.Message
		}
	}
	st.Conditions = conds
	return st
}

// mergeListenerSetStatus is mergeGatewayStatus for ListenerSets.
func mergeListenerSetStatus(existing, desired gwapiv1.ListenerSetStatus, gen int64, now metav1.Time) gwapiv1.ListenerSetStatus {
	out := desired
	out.Conditions = mergeConditions(existing.Conditions, desired.Conditions, gen, now)
	out.Listeners = mergeListeners(existing.Listeners, desired.Listeners, func(l *gwapiv1.ListenerEntryStatus) listenerFields {
		return listenerFields{name: l.Name, conditions: &l.Conditions, kinds: &l.SupportedKinds}
	}, gen, now)
	return out
}

// listenerFields gives mergeListeners a listener status entry's name and
// access to its conditions and supported kinds.
type listenerFields struct {
	name       gwapiv1.SectionName
	conditions *[]metav1.Condition
	kinds      *[]gwapiv1.RouteGroupKind
}

// mergeListeners returns the desired listener entries with transition
// times kept from the existing entry of the same name and supported kinds
// defaulted.
func mergeListeners[T any](existing, desired []T, fields func(*T) listenerFields, gen int64, now metav1.Time) []T {
	var out []T
	for _, l := range desired {
		lf := fields(&l)
		var prev []metav1.Condition
		for _, e := range existing {
			if ef := fields(&e); ef.name == lf.name {
				prev = *ef.conditions
				break
			}
		}
		*lf.conditions = mergeConditions(prev, *lf.conditions, gen, now)
		*lf.kinds = defaultKinds(*lf.kinds)
		out = append(out, l)
	}
	return out
}

// mergeRouteParents merges this controller's parent entries into existing:
// other controllers' entries are kept untouched and in place, this
// controller's entries are replaced in place, dropped when no longer
// desired, and new ones appended in desired order.
func mergeRouteParents(existing, desired []gwapiv1.RouteParentStatus, controller gwapiv1.GatewayController, routeNS string, gen int64, now metav1.Time) []gwapiv1.RouteParentStatus {
	return mergeEntries(existing, desired, func(p *gwapiv1.RouteParentStatus) entryFields {
		return entryFields{controller: &p.ControllerName, ref: &p.ParentRef, conditions: &p.Conditions}
	}, entryScope{controller: controller, ns: routeNS, gen: gen, now: now})
}

// mergePolicyAncestors is mergeRouteParents for policy ancestor entries.
func mergePolicyAncestors(existing, desired []gwapiv1.PolicyAncestorStatus, controller gwapiv1.GatewayController, policyNS string, gen int64, now metav1.Time) []gwapiv1.PolicyAncestorStatus {
	return mergeEntries(existing, desired, func(p *gwapiv1.PolicyAncestorStatus) entryFields {
		return entryFields{controller: &p.ControllerName, ref: &p.AncestorRef, conditions: &p.Conditions}
	}, entryScope{controller: controller, ns: policyNS, gen: gen, now: now})
}

// entryFields points at the fields of a route parent or policy ancestor
// status entry that mergeEntries reads and writes.
type entryFields struct {
	controller *gwapiv1.GatewayController
	ref        *gwapiv1.ParentReference
	conditions *[]metav1.Condition
}

// entryScope is what mergeEntries needs besides the entries: the
// controller whose entries it owns, the namespace refs default to, and the
// generation and time stamped on conditions.
type entryScope struct {
	controller gwapiv1.GatewayController
	ns         string
	gen        int64
	now        metav1.Time
}

// mergeEntries is mergeRouteParents for any entry type; fields gives access
// to an entry's controller, reference and conditions.
func mergeEntries[T any](existing, desired []T, fields func(*T) entryFields, s entryScope) []T {
	own := func(d T, prev []metav1.Condition) T {
		f := fields(&d)
		*f.controller = s.controller
		*f.conditions = mergeConditions(prev, *f.conditions, s.gen, s.now)
		*f.ref = defaultRef(*f.ref)
		return d
	}
	used := make([]bool, len(desired))
	out := make([]T, 0, len(existing)+len(desired))
	for _, e := range existing {
		ef := fields(&e)
		if *ef.controller != s.controller {
			out = append(out, e)
			continue
		}
		for i, d := range desired {
			if !used[i] && sameParentRef(*ef.ref, *fields(&d).ref, s.ns) {
				used[i] = true
				out = append(out, own(d, *ef.conditions))
				break
			}
		}
	}
	for i, d := range desired {
		if !used[i] {
			out = append(out, own(d, nil))
		}
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
