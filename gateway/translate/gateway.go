package translate

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// gatewayResult is the translation of one Gateway: its proxy, its status,
// and the status entries of the route parentRefs that point at it.
type gatewayResult struct {
	proxy   *ir.Proxy
	status  status.Gateway
	parents []routeParent
	// listenerSets is the status of the ListenerSets naming the Gateway.
	listenerSets []status.ListenerSet
	// memo is what the next translation of the Gateway may reuse.
	memo *gatewayMemo
}

// routeParent is the status of one parentRef (by index) of one route.
type routeParent struct {
	route  route
	index  int
	status gwapiv1.RouteParentStatus
}

// translateGateway computes one Gateway's proxy and status from the routes
// that name it. It is self-contained so that a change can recompute only the
// Gateways it touches.
func (t *translator) translateGateway(gw *gwapiv1.Gateway) *gatewayResult {
	ls, sets := t.addListenerSets(gw, newListeners(t.x, gw))
	b := newProxyBuilder(t.x, gw, ls)
	res := &gatewayResult{}
	routes := t.routesOf(gw)
	pending := make([]pendingAttachment, 0, len(routes))
	res.memo = newGatewayMemo(t.x, gw, ls, sets, b, len(routes))
	for _, r := range routes {
		out := r.outcome(t.x)
		n := len(pending)
		for i, ref := range r.parentRefs() {
			cands, ok := parentListeners(ref, r.meta().Namespace, gw, ls, sets)
			if !ok {
				continue
			}
			pending = append(pending, pendingAttachment{route: r, index: i, ref: ref, at: attach(t.x, r, ref, cands), out: out})
		}
		res.memo.noteLive(r, pending[n:])
	}
	resolveRouteConflicts(pending)
	res.parents = make([]routeParent, 0, len(pending))
	for _, p := range pending {
		res.memo.programParent(p)
		res.parents = append(res.parents, routeParent{route: p.route, index: p.index, status: t.parentStatus(p.route, p.ref, p.at, p.out)})
	}
	res.proxy = b.build()
	res.status = res.memo.gatewayStatus()
	res.listenerSets = listenerSetStatuses(gw, &res.status, sets)
	return res
}

// attachment is the outcome of matching one parentRef against listeners.
type attachment struct {
	matches []listenerMatch
	reason  gwapiv1.RouteConditionReason
	msg     string
}

type listenerMatch struct {
	l         *listenerState
	hostnames []string
	// standby, when set, says why the route is attached to l (accepted and
	// counted) but carries no traffic there: a TCP or UDP listener carries
	// its oldest route only.
	standby string
}

// attach selects the listeners a parentRef attaches to: by sectionName and
// port, then allowedRoutes (kinds, namespaces), then hostnames.
func attach(x *index, r route, ref gwapiv1.ParentReference, ls []*listenerState) attachment {
	var candidates []*listenerState
	for _, l := range ls {
		if ref.SectionName != nil && *ref.SectionName != l.spec.Name {
			continue
		}
		if ref.Port != nil && *ref.Port != l.spec.Port {
			continue
		}
		candidates = append(candidates, l)
	}
	if len(candidates) == 0 {
		return attachment{reason: gwapiv1.RouteReasonNoMatchingParent, msg: "no listener matches the parentRef's sectionName and port"}
	}
	var allowed []*listenerState
	for _, l := range candidates {
		if l.allowsKind(r.kind()) && namespaceAllowed(x, l, r.meta().Namespace) {
			allowed = append(allowed, l)
		}
	}
	if len(allowed) == 0 {
		return attachment{reason: gwapiv1.RouteReasonNotAllowedByListeners, msg: "no listener allows this route's kind and namespace"}
	}
	var at attachment
	for _, l := range allowed {
		hs := routeHostnames(l.hostname(), r.hostnames(), r.hasHostnames())
		if len(hs) > 0 {
			at.matches = append(at.matches, listenerMatch{l: l, hostnames: hs})
		}
	}
	if len(at.matches) == 0 {
		return attachment{reason: gwapiv1.RouteReasonNoMatchingListenerHostname, msg: "no listener hostname matches the route's hostnames"}
	}
	return at
}

// namespaceAllowed applies a listener's allowedRoutes.namespaces.
func namespaceAllowed(x *index, l *listenerState, routeNS string) bool {
	from := gwapiv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if ar := l.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		sel = ar.Namespaces.Selector
	}
	switch from {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return routeNS == l.namespace()
	case gwapiv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		set := labels.Set{"kubernetes.io/metadata.name": routeNS}
		for k, v := range x.namespaceLabels(routeNS) {
			set[k] = v
		}
		return s.Matches(set)
	}
	return false
}

// parentStatus renders one RouteParentStatus.
func (t *translator) parentStatus(r route, ref gwapiv1.ParentReference, at attachment, out routeOutcome) gwapiv1.RouteParentStatus {
	gen := r.meta().Generation
	var conds []metav1.Condition
	switch {
	case len(at.matches) == 0:
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, false, at.reason, at.msg, gen))
	case out.rejected:
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, false, out.acceptedReason, out.acceptedMsg, gen))
	default:
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, true, gwapiv1.RouteReasonAccepted, standbyMessage(at.matches), gen))
	}
	conds = append(conds, status.Condition(gwapiv1.RouteConditionResolvedRefs, out.refsOK, out.refsReason, out.refsMsg, gen))
	if len(at.matches) > 0 && !out.rejected && len(out.dropped) > 0 {
		conds = append(conds, status.Condition(gwapiv1.RouteConditionPartiallyInvalid, true, gwapiv1.RouteReasonUnsupportedValue,
			"Dropped Rule(s): "+strings.Join(out.dropped, "; "), gen))
	}
	return gwapiv1.RouteParentStatus{
		ParentRef:      ref,
		ControllerName: gwapiv1.GatewayController(t.opts.ControllerName),
		Conditions:     conds,
	}
}

// gatewayStatus renders a Gateway's conditions and listener statuses.
func gatewayStatus(gw *gwapiv1.Gateway, ls []*listenerState) status.Gateway {
	gen := gw.Generation
	st := status.Gateway{Namespace: gw.Namespace, Name: gw.Name, Generation: gen}
	var bad, good []string
	for _, l := range ls {
		st.Status.Listeners = append(st.Status.Listeners, listenerStatus(l, gen))
		if l.programmed() {
			good = append(good, string(l.spec.Name))
		} else {
			bad = append(bad, string(l.spec.Name))
		}
	}
	var accepted, programmed metav1.Condition
	switch {
	case len(bad) == 0:
		accepted = status.Condition(gwapiv1.GatewayConditionAccepted, true, gwapiv1.GatewayReasonAccepted, "", gen)
	case len(good) == 0:
		accepted = status.Condition(gwapiv1.GatewayConditionAccepted, false, gwapiv1.GatewayReasonListenersNotValid,
			fmt.Sprintf("no valid listener; invalid: %s", strings.Join(bad, ", ")), gen)
	default:
		accepted = status.Condition(gwapiv1.GatewayConditionAccepted, true, gwapiv1.GatewayReasonListenersNotValid,
			fmt.Sprintf("invalid listeners: %s; accepted: %s", strings.Join(bad, ", "), strings.Join(good, ", ")), gen)
	}
	if len(good) > 0 {
		programmed = status.Condition(gwapiv1.GatewayConditionProgrammed, true, gwapiv1.GatewayReasonProgrammed, "", gen)
	} else {
		programmed = status.Condition(gwapiv1.GatewayConditionProgrammed, false, gwapiv1.GatewayReasonInvalid, "no listener is programmed", gen)
	}
	st.Status.Conditions = []metav1.Condition{accepted, programmed}
	return st
}

// standbyMessage explains the listeners where an accepted route carries no
// traffic; empty when it carries traffic on every listener it matched.
func standbyMessage(ms []listenerMatch) string {
	var why []string
	for _, m := range ms {
		if m.standby != "" {
			why = append(why, m.standby)
		}
	}
	return strings.Join(why, "; ")
}
