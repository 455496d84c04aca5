package translate

import (
	"cmp"
	"maps"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// RouteChange is one route object that changed: added (Old nil), removed
// (New nil) or replaced.
type RouteChange struct{ Old, New metav1.Object }

// RouteUpdate is what Memo.Routes computes for the Gateways it was given.
type RouteUpdate struct {
	// Proxies are the new proxies of those Gateways that have one, sorted
	// by name; Gateways their statuses, sorted.
	Proxies  []*ir.Proxy
	Gateways []status.Gateway
	// Routes holds, for every changed route, its parent entries for those
	// Gateways (none when it names none of them any more), sorted as
	// status.Report sorts routes. Other routes' entries did not change.
	Routes []status.Route
}

// Routes translates the Gateways gws of set again, where set differs from
// the memo's Set only in the routes of changes, and every changed route's
// old and new Gateway parents are in gws. Only the changed routes are
// compiled and attached; their entries are inserted in and removed from
// the route tables' virtual hosts, and only the virtual hosts, route
// tables and cluster lists they reach are made again: everything else
// keeps its pointer. The result is what a full translation of set gives
// those Gateways. ok is false, the memo untouched, when the memo cannot
// do it (other inputs changed, or a Gateway needs translating whole).
func (m *Memo) Routes(set *resource.Set, gws []types.NamespacedName, changes []RouteChange) (*RouteUpdate, bool) {
	m.settle()
	if m == nil || !m.sameInputs(set, nil) {
		return nil, false
	}
	var plans []*gatewayPlan
	for _, k := range gws {
		g, ok := m.gateways[nsName{k.Namespace, k.Name}]
		if !ok && !m.complete {
			return nil, false // not translated since the memo was made
		}
		if g == nil {
			continue // no proxy: a Gateway of another class, rejected or absent, and it stays so
		}
		if !g.incremental() {
			return nil, false
		}
		p, ok := g.plan(changes)
		if !ok {
			return nil, false
		}
		plans = append(plans, p)
	}
	t := &translator{opts: m.opts}
	up := &RouteUpdate{}
	parents := map[routeID][]routeParent{}
	for _, p := range plans {
		t.x = p.g.x
		px, st := p.apply(t)
		up.Proxies = append(up.Proxies, px)
		up.Gateways = append(up.Gateways, st)
		for _, c := range p.changed {
			parents[c] = append(parents[c], p.parents[c]...)
		}
	}
	m.set = set
	up.Routes = changedRouteStatuses(changes, parents)
	slices.SortFunc(up.Proxies, func(a, b *ir.Proxy) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(up.Gateways, func(a, b status.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return up, true
}

// changedRouteStatuses is one status entry per changed route, its parents
// in parentRef order, sorted as status.Report sorts routes.
func changedRouteStatuses(changes []RouteChange, parents map[routeID][]routeParent) []status.Route {
	out := make([]status.Route, 0, len(changes))
	for _, c := range changes {
		o := cmp.Or(c.New, c.Old)
		r, ok := routeOf(o)
		if !ok {
			continue
		}
		ps := parents[idOf(r)]
		sortParents(ps)
		st := status.Route{Kind: string(r.kind()), Namespace: o.GetNamespace(), Name: o.GetName(), Generation: o.GetGeneration()}
		for _, p := range ps {
			st.Parents = append(st.Parents, p.status)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b status.Route) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return slices.CompactFunc(out, func(a, b status.Route) bool {
		return a.Kind == b.Kind && a.Namespace == b.Namespace && a.Name == b.Name
	})
}

// Adopt takes sub's Gateways (a translation of set restricted to the
// Gateways gws and their routes) into the memo, which then stands for set;
// a memo whose inputs differ from set's in more than routes and those
// Gateways keeps only sub's.
func (m *Memo) Adopt(sub *Memo, set *resource.Set, gws []types.NamespacedName) *Memo {
	except := map[nsName]bool{}
	for _, k := range gws {
		except[nsName{k.Namespace, k.Name}] = true
	}
	m.settle()
	if m == nil || !m.sameInputs(set, except) {
		return &Memo{set: set, opts: sub.opts, gateways: sub.gateways}
	}
	for k := range except {
		delete(m.gateways, k) // absent from sub: no longer in set
	}
	for k, g := range sub.gateways {
		m.gateways[k] = g
	}
	m.set = set
	return m
}

// gatewayPlan is the changed routes of one Gateway compiled and matched
// against its listeners, before anything of the memo is changed.
type gatewayPlan struct {
	g       *gatewayMemo
	changed []routeID
	pending map[routeID][]pendingAttachment
	routes  map[routeID]route
	// parents are the changed routes' parent entries, made by apply.
	parents map[routeID][]routeParent
}

// plan compiles and attaches the changed routes that name the Gateway;
// false when the memo cannot take them (a cluster name that would give two
// clusters, a cluster with TLS, HTTPRoutes and GRPCRoutes both accepted).
func (g *gatewayMemo) plan(changes []RouteChange) (*gatewayPlan, bool) {
	p := &gatewayPlan{g: g, pending: map[routeID][]pendingAttachment{}, routes: map[routeID]route{}, parents: map[routeID][]routeParent{}}
	live := maps.Clone(g.live)
	for _, c := range changes {
		r, ok := routeOf(cmp.Or(c.New, c.Old))
		if !ok {
			continue
		}
		id := idOf(r)
		p.changed = append(p.changed, id)
		if rm := g.routes[id]; rm != nil && rm.live {
			live[rm.kind]--
		}
		if c.New == nil || !namesGateway(r, g.gw) {
			continue
		}
		out := r.outcome(g.x)
		var pend []pendingAttachment
		for i, ref := range r.parentRefs() {
			cands, ok := parentListeners(ref, r.meta().Namespace, g.gw, g.ls, g.sets)
			if !ok {
				continue
			}
			pend = append(pend, pendingAttachment{route: r, index: i, ref: ref, at: attach(g.x, r, ref, cands), out: out})
		}
		if anyLive(pend) {
			live[r.kind()]++
		}
		if !g.clustersFit(r) {
			return nil, false
		}
		p.pending[id], p.routes[id] = pend, r
	}
	return p, live[kindHTTPRoute] == 0 || live[kindGRPCRoute] == 0
}

func anyLive(pend []pendingAttachment) bool {
	for _, p := range pend {
		if len(p.at.matches) > 0 && !p.out.rejected {
			return true
		}
	}
	return false
}

// clustersFit reports whether the route's clusters join the Gateway's
// without TLS and without another cluster of the same name.
func (g *gatewayMemo) clustersFit(r route) bool {
	var c *compiledRoute
	switch r := r.(type) {
	case *httpRoute:
		c = r.compiled
	case *grpcRoute:
		c = r.compiled
	}
	if c == nil {
		return true
	}
	for _, cl := range c.clusters {
		if have := g.b.clusters[cl.Name]; cl.TLS != nil || have != nil && have != cl {
			return false
		}
	}
	return true
}

// namesGateway reports whether a Gateway parentRef of r names gw.
func namesGateway(r route, gw *gwapiv1.Gateway) bool {
	for _, ref := range r.parentRefs() {
		if ref.Group != nil && string(*ref.Group) != gwapiv1.GroupName || ref.Kind != nil && *ref.Kind != kindGateway {
			continue
		}
		ns := r.meta().Namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		if ns == gw.Namespace && string(ref.Name) == gw.Name {
			return true
		}
	}
	return false
}
