package translate

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/status"
)

// listenerState is one Gateway listener as translation sees it: its
// validation result, the routes attached to it and what it programs.
type listenerState struct {
	gw   *gwapiv1.Gateway
	spec *gwapiv1.Listener
	// set is the ListenerSet defining the listener (nil: the Gateway).
	set *gwapiv1.ListenerSet

	accepted       bool
	acceptedReason gwapiv1.ListenerConditionReason
	acceptedMsg    string
	refsOK         bool
	refsReason     gwapiv1.ListenerConditionReason
	refsMsg        string
	conflicted     bool
	conflictReason gwapiv1.ListenerConditionReason
	supportedKinds []gwapiv1.RouteGroupKind

	// certSecrets are the ir secret names of the usable certificates.
	certSecrets []string
	// clientCA is the SDS CA bundle that client certificates are validated
	// with (Gateway spec.tls.frontend); clientCAInsecure also admits clients
	// without a valid certificate.
	clientCA         string
	clientCAInsecure bool
	// attached holds the routes attached to this listener.
	attached map[routeID]bool
}

// programmed reports whether the listener is part of the configuration.
func (l *listenerState) programmed() bool {
	if !l.accepted || l.conflicted || len(l.supportedKinds) == 0 {
		return false
	}
	return !l.terminatesTLS() || len(l.certSecrets) > 0
}

func (l *listenerState) hostname() string {
	if l.spec.Hostname == nil {
		return ""
	}
	return string(*l.spec.Hostname)
}

func (l *listenerState) allowsKind(k gwapiv1.Kind) bool {
	for _, sk := range l.supportedKinds {
		if sk.Kind == k {
			return true
		}
	}
	return false
}

// newListeners validates every listener of gw, in spec order.
func newListeners(x *index, gw *gwapiv1.Gateway) []*listenerState {
	out := make([]*listenerState, 0, len(gw.Spec.Listeners))
	for i := range gw.Spec.Listeners {
		l := &listenerState{
			gw: gw, spec: &gw.Spec.Listeners[i],
			accepted: true, acceptedReason: gwapiv1.ListenerReasonAccepted,
			refsOK: true, refsReason: gwapiv1.ListenerReasonResolvedRefs,
			attached: map[routeID]bool{},
		}
		validateListener(x, l)
		out = append(out, l)
	}
	markConflicts(out)
	return out
}

func validateListener(x *index, l *listenerState) {
	defaults, ok := listenerProtocols[l.spec.Protocol]
	if !ok {
		l.accepted, l.acceptedReason = false, gwapiv1.ListenerReasonUnsupportedProtocol
		l.acceptedMsg = fmt.Sprintf("protocol %q is not supported", l.spec.Protocol)
		return
	}
	if slices.Contains(params.ReservedPorts, int(l.spec.Port)) {
		l.accepted, l.acceptedReason = false, gwapiv1.ListenerReasonPortUnavailable
		l.acceptedMsg = fmt.Sprintf("port %d is used by the proxy itself (admin %d, metrics %d, readiness %d)",
			l.spec.Port, params.AdminPort, params.MetricsPort, params.ReadyPort)
		return
	}
	l.supportedKinds, l.refsOK, l.refsMsg = supportedKinds(l.spec.AllowedRoutes, defaults)
	if !l.refsOK {
		l.refsReason = gwapiv1.ListenerReasonInvalidRouteKinds
	}
	if l.spec.Protocol == gwapiv1.HTTPSProtocolType {
		resolveListenerTLS(x, l)
		resolveFrontendValidation(x, l)
	} else if l.spec.Protocol == gwapiv1.TLSProtocolType {
		resolveTLSProtocolListener(x, l)
	} else if l.spec.TLS != nil {
		l.accepted, l.acceptedReason = false, gwapiv1.ListenerReasonUnsupportedValue
		l.acceptedMsg = fmt.Sprintf("tls is not allowed on a %s listener", l.spec.Protocol)
	}
}

// supportedKinds checks allowedRoutes.kinds against the kinds the protocol
// serves; with no kinds given, the protocol's defaults apply.
func supportedKinds(ar *gwapiv1.AllowedRoutes, defaults []gwapiv1.Kind) ([]gwapiv1.RouteGroupKind, bool, string) {
	group := gwapiv1.Group(gwapiv1.GroupName)
	if ar == nil || len(ar.Kinds) == 0 {
		out := make([]gwapiv1.RouteGroupKind, 0, len(defaults))
		for _, k := range defaults {
			out = append(out, gwapiv1.RouteGroupKind{Group: &group, Kind: k})
		}
		return out, true, ""
	}
	var out []gwapiv1.RouteGroupKind
	var bad []string
	for _, rk := range ar.Kinds {
		g := gwapiv1.GroupName
		if rk.Group != nil {
			g = string(*rk.Group)
		}
		known := false
		for _, k := range defaults {
			known = known || (g == gwapiv1.GroupName && rk.Kind == k)
		}
		if !known {
			bad = append(bad, g+"/"+string(rk.Kind))
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o.Kind == rk.Kind
		}
		if !dup {
			out = append(out, gwapiv1.RouteGroupKind{Group: &group, Kind: rk.Kind})
		}
	}
	if len(bad) > 0 {
		return out, false, "unsupported route kinds: " + strings.Join(bad, ", ")
	}
	return out, true, ""
}

// markConflicts marks listeners that are not distinct. On one port every
// listener must share a protocol (otherwise all of them are in conflict);
// among HTTP/HTTPS listeners of a port, hostnames must differ.
func markConflicts(ls []*listenerState) {
	byPort := map[listenerSocket][]*listenerState{}
	var ports []listenerSocket
	for _, l := range ls {
		if !l.accepted {
			continue
		}
		k := socketOf(l)
		if _, seen := byPort[k]; !seen {
			ports = append(ports, k)
		}
		byPort[k] = append(byPort[k], l)
	}
	for _, p := range ports {
		group := byPort[p]
		mixed := false
		for _, l := range group {
			mixed = mixed || l.spec.Protocol != group[0].spec.Protocol
		}
		if mixed {
			for _, l := range group {
				l.conflicted, l.conflictReason = true, gwapiv1.ListenerReasonProtocolConflict
			}
			continue
		}
		seen := map[string][]*listenerState{}
		for _, l := range group {
			seen[l.hostname()] = append(seen[l.hostname()], l)
		}
		for _, l := range group {
			if len(seen[l.hostname()]) > 1 {
				l.conflicted, l.conflictReason = true, gwapiv1.ListenerReasonHostnameConflict
			}
		}
	}
}

// listenerStatus renders the status of one listener.
func listenerStatus(l *listenerState, gen int64) gwapiv1.ListenerStatus {
	accepted := l.accepted && !l.conflicted
	reason, msg := l.acceptedReason, l.acceptedMsg
	if l.accepted && l.conflicted {
		reason, msg = l.conflictReason, "listener conflicts with another listener on port "+fmt.Sprint(l.spec.Port)
	}
	conds := []metav1.Condition{status.Condition(gwapiv1.ListenerConditionAccepted, accepted, reason, msg, gen)}
	switch {
	case l.programmed():
		conds = append(conds, status.Condition(gwapiv1.ListenerConditionProgrammed, true, gwapiv1.ListenerReasonProgrammed, "", gen))
	case l.accepted && l.conflicted:
		// A conflicted listener says why it is not programmed: the conflict.
		conds = append(conds, status.Condition(gwapiv1.ListenerConditionProgrammed, false, l.conflictReason, msg, gen))
	default:
		conds = append(conds, status.Condition(gwapiv1.ListenerConditionProgrammed, false, gwapiv1.ListenerReasonInvalid, "listener is not programmed", gen))
	}
	conds = append(conds, status.Condition(gwapiv1.ListenerConditionResolvedRefs, l.refsOK, l.refsReason, l.refsMsg, gen))
	if l.conflicted {
		conds = append(conds, status.Condition(gwapiv1.ListenerConditionConflicted, true, l.conflictReason, msg, gen))
	} else {
		conds = append(conds, status.Condition(gwapiv1.ListenerConditionConflicted, false, gwapiv1.ListenerReasonNoConflicts, "", gen))
	}
	kinds := l.supportedKinds
	if kinds == nil {
		kinds = []gwapiv1.RouteGroupKind{}
	}
	return gwapiv1.ListenerStatus{
		Name:           l.spec.Name,
		SupportedKinds: kinds,
		AttachedRoutes: int32(len(l.attached)),
		Conditions:     conds,
	}
}
