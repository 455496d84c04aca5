package translate

import (
	"cmp"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Memo is what a translation keeps so that the next one, when only routes
// changed, recomputes the changed routes and what they reach instead of
// their Gateways whole (Memo.Routes). It is data passed in and returned,
// never global: TranslateMemo makes one, Routes updates it and Adopt takes
// in the Gateways of another. A Memo is used by one goroutine and is
// consumed by the call it is passed to: after Routes or Adopt only the
// memo they leave may be used (the same value, changed in place).
type Memo struct {
	// set is the Set the memo's Gateways were translated from, in every
	// object but routes.
	set  *resource.Set
	opts Options
	// gateways holds the Gateways' pieces by name; nil for a Gateway that
	// has no proxy (another class, rejected). complete: every Gateway of
	// set is in gateways, so one not in it does not exist.
	gateways map[nsName]*gatewayMemo
	complete bool
	// pending are endpoint changes not applied yet (memo_endpoints.go).
	pending *pendingEndpoints
}

// gatewayMemo is one Gateway's translation in pieces: its listeners, the
// builder's route tables and clusters, and per route what it added.
type gatewayMemo struct {
	x      *index
	gw     *gwapiv1.Gateway
	ls     []*listenerState
	sets   []*listenerSetState
	b      *proxyBuilder
	routes map[routeID]*routeMemo
	// live counts, by kind, the routes that match some listener and are
	// not rejected (HTTPRoutes and GRPCRoutes together conflict).
	live  map[gwapiv1.Kind]int
	proxy *ir.Proxy
}

// routeMemo is what one route added to its Gateway's translation.
type routeMemo struct {
	kind      gwapiv1.Kind
	live      bool
	hosts     []tableHost
	clusters  []string
	listeners []*listenerState
}

// tableHost is one virtual host of a route table a route added entries to
// through listener l.
type tableHost struct {
	t *routeTable
	h string
	l *listenerState
}

func newGatewayMemo(x *index, gw *gwapiv1.Gateway, ls []*listenerState, sets []*listenerSetState, b *proxyBuilder, n int) *gatewayMemo {
	return &gatewayMemo{x: x, gw: gw, ls: ls, sets: sets, b: b, routes: make(map[routeID]*routeMemo, n), live: map[gwapiv1.Kind]int{}}
}

// programParent attaches and programs one parentRef of a route (conflicts
// settled), recording what it adds.
func (g *gatewayMemo) programParent(p pendingAttachment) {
	id := idOf(p.route)
	rm := g.routes[id]
	if rm == nil {
		rm = &routeMemo{kind: p.route.kind()}
		g.routes[id] = rm
	}
	g.b.track = rm
	for _, m := range p.at.matches {
		m.l.attached[id] = true
		rm.listeners = append(rm.listeners, m.l)
		if m.l.programmed() && m.standby == "" {
			p.route.program(g.b, m.l, m.hostnames)
		}
	}
	g.b.track = nil
}

// noteLive counts the route by kind when one of its parentRefs matched a
// listener before conflicts were settled (a route that lost one counts:
// it wins when the other goes).
func (g *gatewayMemo) noteLive(r route, pend []pendingAttachment) {
	if !anyLive(pend) {
		return
	}
	id := idOf(r)
	rm := g.routes[id]
	if rm == nil {
		rm = &routeMemo{kind: r.kind()}
		g.routes[id] = rm
	}
	rm.live = true
	g.live[rm.kind]++
}

// gatewayStatus is the Gateway's status from its listeners.
func (g *gatewayMemo) gatewayStatus() status.Gateway {
	st := gatewayStatus(g.gw, ownListeners(g.ls))
	g.b.addGatewayTLSConditions(&st)
	checkAddresses(g.gw, &st)
	return st
}

// incremental reports whether a route change can be applied to the
// Gateway's pieces: no ListenerSets, BackendTLSPolicies or
// AuthorizationPolicies (their effects span routes and Gateways), no
// stream listener (its routes settle who carries the traffic), no 421
// hosts, one cluster per name, and not both HTTPRoutes and GRPCRoutes
// accepted (their hostnames conflict). Otherwise the Gateway is translated
// whole.
func (g *gatewayMemo) incremental() bool {
	if g.x.set.ListenerSets.Len() > 0 || g.x.set.BackendTLSPolicies.Len() > 0 || !g.x.policies().Empty() || g.b.clash {
		return false
	}
	if g.live[kindHTTPRoute] > 0 && g.live[kindGRPCRoute] > 0 {
		return false
	}
	for _, l := range g.ls {
		if isStreamProtocol(l.spec.Protocol) {
			return false
		}
	}
	for _, t := range g.b.tables {
		if len(t.hostAuthz) > 0 {
			return false
		}
	}
	return !g.b.misdirectedPossible()
}

// misdirectedPossible reports whether addMisdirectedHosts may add a host:
// an HTTPS listener with no or a wildcard hostname has a more specific
// programmed sibling on its port.
func (b *proxyBuilder) misdirectedPossible() bool {
	for _, l := range b.listeners {
		if l.spec.Protocol != gwapiv1.HTTPSProtocolType || !l.programmed() || hostSpecificity(l.hostname()) >= hostSpecificity("x") {
			continue
		}
		for _, o := range b.listeners {
			if o != l && o.spec.Port == l.spec.Port && o.spec.Protocol == gwapiv1.HTTPSProtocolType && o.programmed() && o.hostname() != "" {
				return true
			}
		}
	}
	return false
}

// memoKinds is resource's table of kinds, which sameInputs walks.
var memoKinds = resource.Kinds()

// sameInputs reports whether the memo's Set and b hold the same objects,
// in order, of every kind but routes (and Pods, which only the mesh reads)
// and skip, and the same Gateways but those of except: then a route's
// translation reads the same inputs from both, and so does the
// translation of any Gateway outside except. The same pointer is the same
// object without a look (objects of a Set are immutable), and so are the
// runs of a list two Sets share (KindInfo.Differing); others are compared
// by content.
func (m *Memo) sameInputs(b *resource.Set, except map[nsName]bool, skip ...string) bool {
	a := m.set
	if a == nil || b == nil {
		return false
	}
	same := func(x, y metav1.Object) bool { return x == y || reflect.DeepEqual(x, y) }
	for i := range memoKinds {
		k := &memoKinds[i]
		if k.Role == resource.RoleRoute || k.Kind == resource.KindPod || slices.Contains(skip, k.Kind) { // Pods: read by the mesh only
			continue
		}
		if k.Kind == resource.KindGateway && len(except) > 0 {
			if !sameGateways(a, b, except, same) {
				return false
			}
			continue
		}
		if a.Count(k.Kind) != b.Count(k.Kind) {
			return false
		}
		for x, y := range k.Differing(a, b) {
			if !same(x, y) {
				return false
			}
		}
	}
	return true
}

// sameGateways compares the Gateways of a and b outside except, by name.
func sameGateways(a, b *resource.Set, except map[nsName]bool, same func(x, y metav1.Object) bool) bool {
	in := map[nsName]*gwapiv1.Gateway{}
	for g := range a.Gateways.Values() {
		if !except[nsName{g.Namespace, g.Name}] {
			in[nsName{g.Namespace, g.Name}] = g
		}
	}
	n := 0
	for g := range b.Gateways.Values() {
		k := nsName{g.Namespace, g.Name}
		if except[k] {
			continue
		}
		if o := in[k]; o == nil || !same(o, g) {
			return false
		}
		n++
	}
	return n == len(in)
}

// sortParents sorts parents by parentRef index.
func sortParents(ps []routeParent) {
	slices.SortStableFunc(ps, func(a, b routeParent) int { return cmp.Compare(a.index, b.index) })
}
