package loop

import (
	"cmp"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// pieces are what the last translation was computed from and what it
// gave, kept apart so that the next batch recomputes only what its changes
// reach. Only the loop goroutine uses them.
type pieces struct {
	set *resource.Set
	// edge is the Gateways' translation, before the mesh joins it and
	// before any mark (Programmed, rejections, transition times).
	edge *translate.Result
	// mesh is the mesh translation, trust bundle added; meshNS and
	// secrets are the connected namespaces and bundle it was made for.
	mesh    *meshtranslate.Result
	meshNS  []string
	secrets []*ir.Secret
	// memo is the Gateways' translation in pieces per route, for the next
	// route change (translate.Memo); nil when there is none.
	memo *translate.Memo
	// path says how the Gateways' result was made (pathFull, ...).
	path string
	// merge is the last merge of the Gateways' and the mesh's route
	// statuses (mesh.go).
	merge *routeMerge
}

// How a batch's Gateways were translated.
const (
	pathFull = "full"      // everything
	pathKept = "kept"      // nothing reached: the previous result
	pathMemo = "memo"      // the changed routes, from the memo
	pathSub  = "sub-set"   // the reached Gateways whole, merged
	pathEnds = "endpoints" // the endpoint fast path's refresh
)

// withEndpoints returns the pieces for set, an endpoint-only change of
// their Set, with the proxies refreshed (by name) as in fresh.
func (p *pieces) withEndpoints(set *resource.Set, fresh []*ir.Proxy) *pieces {
	byName := make(map[string]*ir.Proxy, len(fresh))
	for _, px := range fresh {
		byName[px.Name] = px
	}
	swap := func(pxs []*ir.Proxy) []*ir.Proxy {
		if pxs == nil {
			return nil // as a translation gives none
		}
		out := make([]*ir.Proxy, len(pxs))
		for i, px := range pxs {
			out[i] = cmp.Or(byName[px.Name], px)
		}
		return out
	}
	memo := p.memo
	p.memo = nil // consumed: a panic below leaves no half-changed memo behind
	next := *p
	next.set = set
	next.memo, next.path = memo.Endpoints(set, fresh), pathEnds
	edge, mesh := *p.edge, *p.mesh
	edge.Proxies, mesh.Proxies = swap(p.edge.Proxies), swap(p.mesh.Proxies)
	next.edge, next.mesh = &edge, &mesh
	return &next
}

// scope is what a batch's changes reach.
type scope struct {
	// all: translate everything again.
	all bool
	// gateways whose inputs changed (namespace/name); their routes are
	// translated with them.
	gateways map[objKey]bool
	// mesh: translate the mesh again.
	mesh bool
}

// meshReads reports whether the mesh reads routes of the kind (with a
// Service parent).
func meshReads(kind string) bool {
	return kind == resource.KindHTTPRoute || kind == resource.KindGRPCRoute
}

// isRoute reports whether the kinds table says the kind is a route.
func isRoute(kind string) bool {
	k, ok := resource.KindOf(kind)
	return ok && k.Role == resource.RoleRoute
}

// scopeOf works out which Gateways and whether the mesh the changes reach.
// Only changes to routes with Gateway or Service parents, and to Gateways,
// are scoped; any other change (a Service, a Secret, a ReferenceGrant, a
// class, ...) translates everything, as do ListenerSets and
// BackendTLSPolicies in the Set, whose statuses span Gateways.
func scopeOf(changes []change, set *resource.Set) scope {
	sc := scope{gateways: map[objKey]bool{}}
	if set.ListenerSets.Len() > 0 || set.BackendTLSPolicies.Len() > 0 {
		return scope{all: true}
	}
	for _, c := range changes {
		switch {
		case c.kind == resource.KindGateway:
			sc.gateways[objKey{nsOf(c), nameOf(c)}] = true
		case c.kind == resource.KindPod: // read by the mesh only (workload identities and settings)
			sc.mesh = true
		case !isRoute(c.kind):
			return scope{all: true}
		default:
			for _, o := range []object{c.old, c.new} {
				if o == nil {
					continue
				}
				for _, ref := range parentRefs(o) {
					switch {
					case isGatewayParent(ref):
						sc.gateways[parentKey(ref, o.GetNamespace())] = true
					case meshReads(c.kind) && isServiceParent(ref):
						sc.mesh = true
					default:
						return scope{all: true}
					}
				}
			}
		}
	}
	if len(sc.gateways) > 0 && set.AuthorizationPolicies.Len() > 0 {
		// The policies' status (made with the mesh) names Gateways and
		// their listeners.
		sc.mesh = true
	}
	return sc
}

func nsOf(c change) string {
	if c.new != nil {
		return c.new.GetNamespace()
	}
	return c.old.GetNamespace()
}

func nameOf(c change) string {
	if c.new != nil {
		return c.new.GetName()
	}
	return c.old.GetName()
}

// parentRefs are a route's parentRefs (nil for any other object).
func parentRefs(o object) []gwapiv1.ParentReference {
	switch r := o.(type) {
	case *gwapiv1.HTTPRoute:
		return r.Spec.ParentRefs
	case *gwapiv1.GRPCRoute:
		return r.Spec.ParentRefs
	case *gwapiv1.TCPRoute:
		return r.Spec.ParentRefs
	case *gwapiv1.TLSRoute:
		return r.Spec.ParentRefs
	case *gwapiv1.UDPRoute:
		return r.Spec.ParentRefs
	}
	return nil
}

// isGatewayParent reports whether ref names a Gateway (the group and kind
// defaults included).
func isGatewayParent(ref gwapiv1.ParentReference) bool {
	return (ref.Group == nil || *ref.Group == gwapiv1.GroupName) && (ref.Kind == nil || *ref.Kind == "Gateway")
}

// isServiceParent reports whether ref names a Service (group "", kind
// Service), as the mesh reads it.
func isServiceParent(ref gwapiv1.ParentReference) bool {
	return ref.Group != nil && *ref.Group == "" && ref.Kind != nil && *ref.Kind == "Service"
}

func parentKey(ref gwapiv1.ParentReference, routeNS string) objKey {
	k := objKey{routeNS, string(ref.Name)}
	if ref.Namespace != nil {
		k.ns = string(*ref.Namespace)
	}
	return k
}

// translate computes the result for set: in full the first time and
// whenever a change reaches beyond routes and Gateways, otherwise only the
// Gateways the changes reach (and the mesh when they reach it), the rest
// kept from the previous pieces. The result is the same as a full
// translation of set (the equivalence test holds it to that).
func (l *Loop) translate(set *resource.Set) *translate.Result {
	next := &pieces{set: set, meshNS: l.meshNamespaces()}
	if l.opts.MeshSecrets != nil {
		next.secrets = l.opts.MeshSecrets()
	}
	prev := l.pieces
	// This batch consumes the previous pieces (the memo is changed in
	// place; the status lists never are, they are shared with the reports
	// published before): a panic on the way leaves none, and the next
	// batch translates in full.
	l.pieces = nil
	sc := scope{all: true}
	var changes []change
	if prev != nil {
		changes = diffSets(prev.set, set)
		sc = scopeOf(changes, set)
	}
	topts := translate.Options{ControllerName: l.opts.ControllerName}
	switch {
	case sc.all:
		next.edge, next.memo = translate.TranslateMemo(set, topts)
		next.path = pathFull
	case len(sc.gateways) == 0:
		next.edge, next.memo, next.path = prev.edge, prev.memo, pathKept
	default:
		next.edge, next.memo, next.path = translateGateways(prev, set, sc.gateways, changes, topts)
	}
	if sc.all || sc.mesh || prev == nil || !slices.Equal(prev.meshNS, next.meshNS) || !reflect.DeepEqual(prev.secrets, next.secrets) {
		next.mesh = l.meshTranslate(set, next.meshNS, next.secrets)
	} else {
		next.mesh = prev.mesh
	}
	next.merge = &routeMerge{}
	if prev != nil && prev.merge != nil {
		next.merge = prev.merge
	}
	l.pieces = next
	return mergeMesh(next.edge, next.mesh, next.merge)
}

// translateGateways is the Gateways' result for set when changes reach
// only the Gateways gws: from the memo when it can take the changes (only
// routes changed; only they are translated), otherwise from a translation
// of those Gateways and their routes merged into the previous result, or
// at last a full translation.
func translateGateways(prev *pieces, set *resource.Set, gws map[objKey]bool, changes []change, topts translate.Options) (*translate.Result, *translate.Memo, string) {
	memo := prev.memo
	names := gatewayNames(gws)
	if up, ok := memo.Routes(set, names, routeChanges(changes)); ok {
		if edge := mergeUpdate(prev.edge, up, gws, changes); edge != nil {
			return edge, memo, pathMemo
		}
	} else {
		sub, subMemo := translate.TranslateMemo(subSet(set, gws), topts)
		if edge := mergeEdge(prev.edge, sub, gws, set); edge != nil {
			return edge, memo.Adopt(subMemo, set, names), pathSub
		}
	}
	edge, memo := translate.TranslateMemo(set, topts) // a status the merge cannot place
	return edge, memo, pathFull
}

// gatewayNames lists gws, sorted.
func gatewayNames(gws map[objKey]bool) []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(gws))
	for k := range gws {
		out = append(out, types.NamespacedName{Namespace: k.ns, Name: k.name})
	}
	slices.SortFunc(out, func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// routeChanges are the changes of routes, as translate takes them.
func routeChanges(changes []change) []translate.RouteChange {
	var out []translate.RouteChange
	for _, c := range changes {
		if !isRoute(c.kind) {
			continue
		}
		var rc translate.RouteChange
		if c.old != nil {
			rc.Old = c.old.(metav1.Object)
		}
		if c.new != nil {
			rc.New = c.new.(metav1.Object)
		}
		out = append(out, rc)
	}
	return out
}

// subSet is set with only the given Gateways and the routes that name one
// of them as a parent. Translating it gives those Gateways' proxies and
// statuses, and their routes' parent entries, exactly as a full
// translation does (each Gateway's translation reads only its own routes).
func subSet(set *resource.Set, gws map[objKey]bool) *resource.Set {
	out := *set
	out.Gateways = set.Gateways.Filter(func(g *gwapiv1.Gateway) bool { return gws[objKey{g.Namespace, g.Name}] })
	out.HTTPRoutes = routesOf(set.HTTPRoutes, gws)
	out.GRPCRoutes = routesOf(set.GRPCRoutes, gws)
	out.TCPRoutes = routesOf(set.TCPRoutes, gws)
	out.TLSRoutes = routesOf(set.TLSRoutes, gws)
	out.UDPRoutes = routesOf(set.UDPRoutes, gws)
	return &out
}

func routesOf[R object](routes plist.List[R], gws map[objKey]bool) plist.List[R] {
	return routes.Filter(func(r R) bool {
		return slices.ContainsFunc(parentRefs(r), func(ref gwapiv1.ParentReference) bool {
			return isGatewayParent(ref) && gws[parentKey(ref, r.GetNamespace())]
		})
	})
}

// mergeEdge is prev with the Gateways of gws replaced by what sub (the
// translation of subSet) gives them: proxies, Gateway statuses and the
// routes' parent entries for those Gateways, in parentRef order. nil when
// an entry cannot be placed (a parentRef not found on its route).
func mergeEdge(prev, sub *translate.Result, gws map[objKey]bool, set *resource.Set) *translate.Result {
	names := map[string]bool{}
	for k := range gws {
		names[translate.ProxyName(k.ns, k.name)] = true
	}
	out := &translate.Result{Status: &status.Report{GatewayClasses: sub.Status.GatewayClasses}}
	for _, px := range prev.Proxies {
		if !names[px.Name] {
			out.Proxies = append(out.Proxies, px)
		}
	}
	out.Proxies = append(out.Proxies, sub.Proxies...)
	slices.SortFunc(out.Proxies, func(a, b *ir.Proxy) int { return cmp.Compare(a.Name, b.Name) })
	for _, g := range prev.Status.Gateways {
		if !gws[objKey{g.Namespace, g.Name}] {
			out.Status.Gateways = append(out.Status.Gateways, g)
		}
	}
	out.Status.Gateways = append(out.Status.Gateways, sub.Status.Gateways...)
	routes, ok := mergeRoutes(prev.Status.Routes, sub.Status.Routes, gws, set)
	if !ok {
		return nil
	}
	out.Status.Routes = routes
	out.Status.Sort()
	return out
}

type routeKey struct{ kind, ns, name string }

func compareRoutes(a, b *status.Route) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// mergeRoutes keeps the previous routes' parent entries for Gateways
// outside gws and adds sub's; both lists are sorted (status.Report.Sort),
// and so is the result. A route whose entries come from both gets them in
// parentRef order.
func mergeRoutes(prev, sub []status.Route, gws map[objKey]bool, set *resource.Set) ([]status.Route, bool) {
	out := make([]status.Route, 0, len(prev)+len(sub))
	mixed := map[routeKey]int{} // route -> index in out
	for i, j := 0, 0; i < len(prev) || j < len(sub); {
		c := -1
		switch {
		case i == len(prev):
			c = 1
		case j < len(sub):
			c = compareRoutes(&prev[i], &sub[j])
		}
		if c > 0 { // only in sub: a route newly attached to gws
			out = append(out, sub[j])
			j++
			continue
		}
		r := prev[i]
		i++
		kept := keptParents(r, gws)
		if c == 0 {
			if len(kept) > 0 {
				mixed[routeKey{r.Kind, r.Namespace, r.Name}] = len(out)
			}
			r.Generation, r.Parents = sub[j].Generation, slices.Concat(kept, sub[j].Parents)
			j++
		} else if len(kept) != len(r.Parents) {
			r.Parents = kept
		}
		if len(r.Parents) > 0 {
			out = append(out, r)
		}
	}
	if len(mixed) == 0 {
		return out, true
	}
	want := map[routeKey]bool{}
	for k := range mixed {
		want[k] = true
	}
	specs := routeSpecs(set, want)
	for k, i := range mixed {
		if !orderParents(out[i].Parents, specs[k]) {
			return nil, false
		}
	}
	return out, true
}

// keptParents are r's parent entries for Gateways outside gws (and for
// parents that are not Gateways): r.Parents itself when that is all of
// them, a new slice otherwise.
func keptParents(r status.Route, gws map[objKey]bool) []gwapiv1.RouteParentStatus {
	in := func(p gwapiv1.RouteParentStatus) bool {
		return isGatewayParent(p.ParentRef) && gws[parentKey(p.ParentRef, r.Namespace)]
	}
	if !slices.ContainsFunc(r.Parents, in) {
		return r.Parents
	}
	var out []gwapiv1.RouteParentStatus
	for _, p := range r.Parents {
		if !in(p) {
			out = append(out, p)
		}
	}
	return out
}

// orderParents sorts entries by the index of their parentRef on the
// route; false when one is not on it.
func orderParents(ps []gwapiv1.RouteParentStatus, refs []gwapiv1.ParentReference) bool {
	idx := make([]int, len(ps))
	for i, p := range ps {
		idx[i] = slices.IndexFunc(refs, func(r gwapiv1.ParentReference) bool { return reflect.DeepEqual(r, p.ParentRef) })
		if idx[i] < 0 {
			return false
		}
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(idx[a], idx[b]) })
	sorted := make([]gwapiv1.RouteParentStatus, len(ps))
	for i, j := range order {
		sorted[i] = ps[j]
	}
	copy(ps, sorted)
	return true
}

// routeSpecs returns the parentRefs of the routes in want, by route key.
func routeSpecs(set *resource.Set, want map[routeKey]bool) map[routeKey][]gwapiv1.ParentReference {
	out := map[routeKey][]gwapiv1.ParentReference{}
	add := func(kind string, o object) {
		if k := (routeKey{kind, o.GetNamespace(), o.GetName()}); want[k] {
			out[k] = parentRefs(o)
		}
	}
	for r := range set.HTTPRoutes.Values() {
		add("HTTPRoute", r)
	}
	for r := range set.GRPCRoutes.Values() {
		add("GRPCRoute", r)
	}
	for r := range set.TCPRoutes.Values() {
		add("TCPRoute", r)
	}
	for r := range set.TLSRoutes.Values() {
		add("TLSRoute", r)
	}
	for r := range set.UDPRoutes.Values() {
		add("UDPRoute", r)
	}
	return out
}
