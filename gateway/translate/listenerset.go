package translate

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

const kindListenerSet gwapiv1.Kind = resource.KindListenerSet

// namespace is where the listener is defined: its ListenerSet's namespace,
// or the Gateway's. "Same" namespace rules and certificate references are
// relative to it.
func (l *listenerState) namespace() string {
	if l.set != nil {
		return l.set.Namespace
	}
	return l.gw.Namespace
}

// originKind is the kind that defines the listener (Gateway or ListenerSet),
// the "from" side of its ReferenceGrants.
func (l *listenerState) originKind() gwapiv1.Kind {
	if l.set != nil {
		return kindListenerSet
	}
	return kindGateway
}

// sectionID names the listener uniquely within its Gateway: its name, or
// "<namespace>/<listenerset>/<name>" for a ListenerSet's listener (names
// only need to be unique within their own object).
func (l *listenerState) sectionID() string {
	if l.set != nil {
		return l.set.Namespace + "/" + l.set.Name + "/" + string(l.spec.Name)
	}
	return string(l.spec.Name)
}

// listenerSetsOf lists the ListenerSets whose parentRef names gw, in the
// Gateway API precedence order: oldest first, then namespace/name.
func (x *index) listenerSetsOf(gw *gwapiv1.Gateway) []*gwapiv1.ListenerSet {
	if x.lsets == nil {
		x.lsets = map[nsName][]*gwapiv1.ListenerSet{}
		sets := sortedList(x.set.ListenerSets)
		slices.SortStableFunc(sets, func(a, b *gwapiv1.ListenerSet) int {
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				if a.CreationTimestamp.Before(&b.CreationTimestamp) {
					return -1
				}
				return 1
			}
			return byMeta(a, b)
		})
		for _, s := range sets {
			if k, ok := listenerSetParent(s); ok {
				x.lsets[k] = append(x.lsets[k], s)
			}
		}
	}
	return x.lsets[nsName{gw.Namespace, gw.Name}]
}

// listenerSetParent is the Gateway a ListenerSet attaches to.
func listenerSetParent(s *gwapiv1.ListenerSet) (nsName, bool) {
	ref := s.Spec.ParentRef
	if (ref.Group != nil && *ref.Group != gwapiv1.GroupName) || (ref.Kind != nil && *ref.Kind != kindGateway) {
		return nsName{}, false
	}
	k := nsName{s.Namespace, string(ref.Name)}
	if ref.Namespace != nil {
		k.ns = string(*ref.Namespace)
	}
	return k, true
}

// listenerSetAllowed applies the Gateway's spec.allowedListeners (default:
// no ListenerSet may attach).
func (x *index) listenerSetAllowed(gw *gwapiv1.Gateway, ns string) bool {
	al := gw.Spec.AllowedListeners
	if al == nil || al.Namespaces == nil || al.Namespaces.From == nil {
		return false
	}
	switch *al.Namespaces.From {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return ns == gw.Namespace
	case gwapiv1.NamespacesFromSelector:
		if al.Namespaces.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(al.Namespaces.Selector)
		if err != nil {
			return false
		}
		set := labels.Set{"kubernetes.io/metadata.name": ns}
		for k, v := range x.namespaceLabels(ns) {
			set[k] = v
		}
		return sel.Matches(set)
	}
	return false
}

// listenerSetState is one ListenerSet attached (or refused) by a Gateway.
type listenerSetState struct {
	obj       *gwapiv1.ListenerSet
	allowed   bool
	listeners []*listenerState
}

// addListenerSets validates the listeners of the ListenerSets that name gw
// and appends those of allowed sets after the Gateway's own. A set listener
// that conflicts with an earlier listener (the Gateway's, or an older
// set's) is marked Conflicted; the earlier one is unaffected.
func (t *translator) addListenerSets(gw *gwapiv1.Gateway, ls []*listenerState) ([]*listenerState, []*listenerSetState) {
	var sets []*listenerSetState
	for _, s := range t.x.listenerSetsOf(gw) {
		st := &listenerSetState{obj: s, allowed: t.x.listenerSetAllowed(gw, s.Namespace)}
		sets = append(sets, st)
		if !st.allowed {
			continue
		}
		for i := range s.Spec.Listeners {
			e := &s.Spec.Listeners[i]
			l := &listenerState{
				gw: gw, set: s,
				spec:     &gwapiv1.Listener{Name: e.Name, Hostname: e.Hostname, Port: e.Port, Protocol: e.Protocol, TLS: e.TLS, AllowedRoutes: e.AllowedRoutes},
				accepted: true, acceptedReason: gwapiv1.ListenerReasonAccepted,
				refsOK: true, refsReason: gwapiv1.ListenerReasonResolvedRefs,
				attached: map[routeID]bool{},
			}
			validateListener(t.x, l)
			if l.accepted {
				markSetConflict(l, ls)
			}
			ls = append(ls, l)
			st.listeners = append(st.listeners, l)
		}
	}
	return ls, sets
}

// markSetConflict marks l Conflicted if an earlier accepted, unconflicted
// listener shares its port with another protocol or the same hostname.
func markSetConflict(l *listenerState, earlier []*listenerState) {
	for _, o := range earlier {
		if !o.accepted || o.conflicted || socketOf(o) != socketOf(l) {
			continue
		}
		switch {
		case o.spec.Protocol != l.spec.Protocol:
			l.conflicted, l.conflictReason = true, gwapiv1.ListenerReasonProtocolConflict
		case o.hostname() == l.hostname():
			l.conflicted, l.conflictReason = true, gwapiv1.ListenerReasonHostnameConflict
		}
		if l.conflicted {
			return
		}
	}
}

// parentListeners returns the listeners a parentRef can attach to on gw's
// proxy: the Gateway's own listeners for a Gateway parentRef, a
// ListenerSet's listeners for a ListenerSet parentRef (none for a set the
// Gateway refused). ok is false when the parentRef names neither gw nor one
// of its ListenerSets.
func parentListeners(ref gwapiv1.ParentReference, routeNS string, gw *gwapiv1.Gateway, ls []*listenerState, sets []*listenerSetState) ([]*listenerState, bool) {
	if ref.Group != nil && string(*ref.Group) != gwapiv1.GroupName {
		return nil, false
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	var out []*listenerState
	found := false
	for _, l := range ls {
		switch {
		case ref.Kind == nil || *ref.Kind == kindGateway:
			if l.set == nil && ns == gw.Namespace && string(ref.Name) == gw.Name {
				out, found = append(out, l), true
			}
		case *ref.Kind == kindListenerSet:
			if l.set != nil && l.set.Namespace == ns && l.set.Name == string(ref.Name) {
				out, found = append(out, l), true
			}
		}
	}
	if !found && (ref.Kind == nil || *ref.Kind == kindGateway) {
		found = ns == gw.Namespace && string(ref.Name) == gw.Name
	}
	if !found && ref.Kind != nil && *ref.Kind == kindListenerSet {
		for _, s := range sets {
			found = found || (s.obj.Namespace == ns && s.obj.Name == string(ref.Name))
		}
	}
	return out, found
}

// ownListeners are the Gateway's own listeners (no ListenerSet's).
func ownListeners(ls []*listenerState) []*listenerState {
	out := make([]*listenerState, 0, len(ls))
	for _, l := range ls {
		if l.set == nil {
			out = append(out, l)
		}
	}
	return out
}

// listenerSetGateway is the Gateway of a route's ListenerSet parentRef.
func (t *translator) listenerSetGateway(ref gwapiv1.ParentReference, routeNS string) (nsName, bool) {
	if ref.Kind == nil || *ref.Kind != kindListenerSet {
		return nsName{}, false
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	for s := range t.x.set.ListenerSets.Values() {
		if s.Namespace == ns && s.Name == string(ref.Name) {
			return listenerSetParent(s)
		}
	}
	return nsName{}, false
}

// listenerSetStatuses renders the status of the ListenerSets of one Gateway
// and sets the Gateway's attachedListenerSets.
func listenerSetStatuses(gw *gwapiv1.Gateway, gst *status.Gateway, sets []*listenerSetState) []status.ListenerSet {
	out := make([]status.ListenerSet, 0, len(sets))
	attached := int32(0)
	for _, s := range sets {
		gen := s.obj.Generation
		st := status.ListenerSet{Namespace: s.obj.Namespace, Name: s.obj.Name, Generation: gen}
		if !s.allowed {
			msg := fmt.Sprintf("Gateway %s/%s does not allow ListenerSets from namespace %s (spec.allowedListeners)", gw.Namespace, gw.Name, s.obj.Namespace)
			st.Status.Conditions = []metav1.Condition{
				status.Condition(gwapiv1.ListenerSetConditionAccepted, false, gwapiv1.ListenerSetReasonNotAllowed, msg, gen),
				status.Condition(gwapiv1.ListenerSetConditionProgrammed, false, gwapiv1.ListenerSetReasonNotAllowed, msg, gen),
			}
			out = append(out, st)
			continue
		}
		var good, bad []string
		for _, l := range s.listeners {
			ls := listenerStatus(l, gen)
			st.Status.Listeners = append(st.Status.Listeners, gwapiv1.ListenerEntryStatus(ls))
			if l.programmed() {
				good = append(good, string(l.spec.Name))
			} else {
				bad = append(bad, string(l.spec.Name))
			}
		}
		st.Status.Conditions = listenerSetConditions(good, bad, gen)
		if len(good) > 0 {
			attached++
		}
		out = append(out, st)
	}
	if gw.Spec.AllowedListeners != nil || len(sets) > 0 {
		gst.Status.AttachedListenerSets = &attached
	}
	return out
}

func listenerSetConditions(good, bad []string, gen int64) []metav1.Condition {
	if len(good) == 0 {
		msg := "no valid listener; invalid: " + strings.Join(bad, ", ")
		return []metav1.Condition{
			status.Condition(gwapiv1.ListenerSetConditionAccepted, false, gwapiv1.ListenerSetReasonListenersNotValid, msg, gen),
			status.Condition(gwapiv1.ListenerSetConditionProgrammed, false, gwapiv1.ListenerSetReasonListenersNotValid, msg, gen),
		}
	}
	acc := status.Condition(gwapiv1.ListenerSetConditionAccepted, true, gwapiv1.ListenerSetReasonAccepted, "", gen)
	if len(bad) > 0 {
		acc = status.Condition(gwapiv1.ListenerSetConditionAccepted, true, gwapiv1.ListenerSetReasonListenersNotValid,
			fmt.Sprintf("invalid listeners: %s; accepted: %s", strings.Join(bad, ", "), strings.Join(good, ", ")), gen)
	}
	return []metav1.Condition{acc, status.Condition(gwapiv1.ListenerSetConditionProgrammed, true, gwapiv1.ListenerSetReasonProgrammed, "", gen)}
}
