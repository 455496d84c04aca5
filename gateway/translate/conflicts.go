package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// RouteReasonConflicted is the Accepted=False reason of a route that lost a
// conflict on every listener it matched: an HTTPRoute and a GRPCRoute with
// intersecting hostnames, or two TLSRoutes for the same SNI name. (Routes
// sharing a TCP or UDP listener all stay attached; the oldest carries the
// traffic.)
const RouteReasonConflicted gwapiv1.RouteConditionReason = "Conflicted"

// pendingAttachment is one parentRef of one route matched against the
// listeners of a Gateway, before conflicts between routes are settled.
type pendingAttachment struct {
	route route
	index int
	ref   gwapiv1.ParentReference
	at    attachment
	out   routeOutcome
}

// claim is one listener match of one pending attachment.
type claim struct {
	p, m int
}

// resolveRouteConflicts settles, per listener, which routes keep their
// attachment. Older routes win (creation time, then namespace/name), as the
// Gateway API prescribes for HTTPRoute/GRPCRoute hostname conflicts; the
// same rule picks the one route a TCP or UDP listener carries.
// Losing matches are removed; a parentRef left with none is not accepted.
func resolveRouteConflicts(pending []pendingAttachment) {
	byListener := map[*listenerState][]claim{}
	var order []*listenerState
	for i := range pending {
		if pending[i].out.rejected {
			continue
		}
		for j, m := range pending[i].at.matches {
			if _, seen := byListener[m.l]; !seen {
				order = append(order, m.l)
			}
			byListener[m.l] = append(byListener[m.l], claim{p: i, m: j})
		}
	}
	losers := map[claim]string{}
	for _, l := range order {
		cs := byListener[l]
		slices.SortStableFunc(cs, func(a, b claim) int { return compareAge(pending[a.p].route, pending[b.p].route) })
		settleListener(pending, l, cs, losers)
	}
	for i := range pending {
		p := &pending[i]
		if len(p.at.matches) == 0 {
			continue
		}
		var kept []listenerMatch
		var why []string
		for j, m := range p.at.matches {
			if msg, lost := losers[claim{p: i, m: j}]; lost {
				why = append(why, msg)
				continue
			}
			kept = append(kept, m)
		}
		p.at.matches = kept
		if len(kept) == 0 {
			p.at.reason, p.at.msg = RouteReasonConflicted, strings.Join(why, "; ")
		}
	}
}

// settleListener decides the claims on one listener, oldest first.
func settleListener(pending []pendingAttachment, l *listenerState, cs []claim, losers map[claim]string) {
	var won []claim
	// wonByKind keeps the HTTP-kind checks linear when one kind dominates.
	wonByKind := map[gwapiv1.Kind][]claim{}
	sni := map[string]bool{} // SNI names already served on a TLS listener
	for _, c := range cs {
		r := pending[c.p].route
		m := &pending[c.p].at.matches[c.m]
		switch l.spec.Protocol {
		case gwapiv1.TCPProtocolType, gwapiv1.UDPProtocolType:
			// Every route stays attached (accepted, counted); only the oldest
			// carries the listener's traffic.
			if len(won) > 0 {
				m.standby = fmt.Sprintf("listener %s carries the older %s; this route carries no traffic there",
					l.spec.Name, describeRoute(pending[won[0].p].route))
				continue
			}
		case gwapiv1.TLSProtocolType:
			var free []string
			for _, h := range m.hostnames {
				if !sni[h] {
					free = append(free, h)
				}
			}
			if len(free) == 0 {
				losers[c] = fmt.Sprintf("listener %s: every hostname is already routed by an older TLSRoute", l.spec.Name)
				continue
			}
			for _, h := range free {
				sni[h] = true
			}
			m.hostnames = free
		default:
			if w, ok := kindConflict(pending, wonByKind[otherHTTPKind(r.kind())], r, m.hostnames); ok {
				losers[c] = fmt.Sprintf("listener %s: hostnames intersect those of the older %s", l.spec.Name, describeRoute(w))
				continue
			}
		}
		won = append(won, c)
		wonByKind[r.kind()] = append(wonByKind[r.kind()], c)
	}
}

// otherHTTPKind is the HTTP route kind that conflicts with k, if any.
func otherHTTPKind(k gwapiv1.Kind) gwapiv1.Kind {
	switch k {
	case kindHTTPRoute:
		return kindGRPCRoute
	case kindGRPCRoute:
		return kindHTTPRoute
	}
	return ""
}

// kindConflict finds an accepted route of the other HTTP kind (HTTPRoute vs
// GRPCRoute) whose hostnames intersect hs.
func kindConflict(pending []pendingAttachment, won []claim, r route, hs []string) (route, bool) {
	if r.kind() != kindHTTPRoute && r.kind() != kindGRPCRoute {
		return nil, false
	}
	for _, w := range won {
		other := pending[w.p].route
		if other.kind() == r.kind() || (other.kind() != kindHTTPRoute && other.kind() != kindGRPCRoute) {
			continue
		}
		for _, a := range pending[w.p].at.matches[w.m].hostnames {
			for _, b := range hs {
				if hostsIntersect(a, b) {
					return other, true
				}
			}
		}
	}
	return nil, false
}

// hostsIntersect reports whether two attached hostnames (exact, "*.suffix"
// or "*" for any) can both match one request.
func hostsIntersect(a, b string) bool {
	if a == anyHost || b == anyHost {
		return true
	}
	return intersectHost(a, b) != ""
}

// compareAge orders routes oldest first, then by namespace/name and kind.
func compareAge(a, b route) int {
	ma, mb := a.meta(), b.meta()
	if !ma.CreationTimestamp.Equal(&mb.CreationTimestamp) {
		if ma.CreationTimestamp.Before(&mb.CreationTimestamp) {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(ma.Namespace, mb.Namespace), cmp.Compare(ma.Name, mb.Name), cmp.Compare(a.kind(), b.kind()))
}

func describeRoute(r route) string {
	return fmt.Sprintf("%s %s/%s", r.kind(), r.meta().Namespace, r.meta().Name)
}
