package loop

import (
	"cmp"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// withMesh adds the mesh to an edge translation: one proxy per namespace
// with a connected mesh client ("mesh/<ns>", the node.cluster of sidecars
// and proxyless gRPC clients of that namespace), even when the Set holds
// nothing there, and none for other namespaces; and the Service-parent
// entries of every route's status. edge is not modified.
func (l *Loop) withMesh(set *resource.Set, edge *translate.Result) *translate.Result {
	var secrets []*ir.Secret
	if l.opts.MeshSecrets != nil {
		secrets = l.opts.MeshSecrets()
	}
	return mergeMesh(edge, l.meshTranslate(set, l.meshNamespaces(), secrets), nil)
}

// meshTranslate translates the mesh groups of the namespaces ns and adds
// secrets (the trust bundle) to each.
func (l *Loop) meshTranslate(set *resource.Set, ns []string, secrets []*ir.Secret) *meshtranslate.Result {
	mesh := meshtranslate.Translate(set, l.meshOptions(ns))
	mesh.Proxies = addMeshSecrets(mesh.Proxies, secrets)
	return mesh
}

// meshOptions are the mesh translation's options for the groups of the
// namespaces ns.
func (l *Loop) meshOptions(ns []string) meshtranslate.Options {
	return meshtranslate.Options{
		ControllerName: l.opts.ControllerName,
		Namespaces:     ns,
		OnlyNamespaces: true,
		Telemetry:      l.opts.MeshTelemetry,
		MTLS:           l.opts.MeshTLS,
		OutboundPolicy: l.opts.MeshOutboundPolicy,
	}
}

// addMeshSecrets returns the proxies with extra (the trust bundle) added to
// each, unless one of that name is there already. The proxies are copied,
// not modified.
func addMeshSecrets(pxs []*ir.Proxy, extra []*ir.Secret) []*ir.Proxy {
	if len(extra) == 0 {
		return pxs
	}
	out := make([]*ir.Proxy, len(pxs))
	for i, px := range pxs {
		cp := *px
		cp.Secrets = slices.Clone(px.Secrets)
		for _, s := range extra {
			if !slices.ContainsFunc(cp.Secrets, func(x *ir.Secret) bool { return x != nil && x.Name == s.Name }) {
				cp.Secrets = append(cp.Secrets, s)
			}
		}
		out[i] = &cp
	}
	return out
}

// meshNamespaces lists the namespaces of connected mesh groups.
func (l *Loop) meshNamespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for g := range l.flavors {
		if ns, ok := strings.CutPrefix(g, meshtranslate.GroupPrefix); ok && ns != "" && !strings.Contains(ns, "/") {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

// mergeMesh returns edge plus the mesh proxies and route statuses. A route
// with both Gateway and Service parents gets one entry with both kinds.
//
// Status lists are shared, never copied whole nor written: only the
// Gateways are copied (the loop marks Programmed and rejections on them),
// every other list is edge's or mesh's own, as published before, and so
// are the routes when the mesh reports none. Whoever changes a list later
// (the file provider's stamp) makes its own copy. memo, when set, is the
// last merge of the routes' statuses (routeMerge); it is updated.
func mergeMesh(edge *translate.Result, mesh *meshtranslate.Result, memo *routeMerge) *translate.Result {
	out := &translate.Result{Status: &status.Report{}}
	if edge != nil {
		out.Proxies = slices.Clone(edge.Proxies)
		if edge.Status != nil {
			out.Status = cloneGateways(edge.Status)
		}
	}
	out.Proxies = append(out.Proxies, mesh.Proxies...)
	out.Status.AuthorizationPolicies = mesh.Status.AuthorizationPolicies // edge and mesh targets alike
	slices.SortStableFunc(out.Proxies, func(a, b *ir.Proxy) int { return cmp.Compare(a.Name, b.Name) })
	// The edge's routes are sorted (every translation and merge keeps them
	// so), and so is their merge with the mesh's: only the other lists are
	// put in order here, so that a batch does not compare every route.
	routes := memo.merge(out.Status.Routes, mesh.Status.Routes)
	out.Status.Routes = nil
	out.Status.SortShared()
	out.Status.Routes = routes
	return out
}

// routeMerge is the last merge of the Gateways' and the mesh's route
// statuses: its two lists, its result, and for each route in both the
// merged entries by the first elements of the two it was made of. The
// same two lists give the same result again; a route in both whose two
// Parents slices are those of last time gets the same merged slice, so the
// status sinks see it unchanged. Only the loop goroutine uses it.
type routeMerge struct {
	a, b, out []status.Route
	both      map[[2]*gwapiv1.RouteParentStatus][]gwapiv1.RouteParentStatus
}

// merge returns the routes of a and b in route order, a route in both
// with a's parent entries then b's, in one pass over the sorted lists. a
// is sorted (mergeMesh); neither list is written. m may be nil.
func (m *routeMerge) merge(a, b []status.Route) []status.Route {
	if len(b) == 0 {
		return a
	}
	if m != nil && sameRoutes(a, m.a) && sameRoutes(b, m.b) {
		return m.out
	}
	sorted := status.Report{Routes: b}
	sorted.SortShared()
	b = sorted.Routes
	both := map[[2]*gwapiv1.RouteParentStatus][]gwapiv1.RouteParentStatus{}
	out := make([]status.Route, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := compareRoutes(&a[i], &b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			merged := a[i]
			merged.Parents = m.parents(a[i].Parents, b[j].Parents, both)
			out = append(out, merged)
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	out = append(out, b[j:]...)
	if m != nil {
		m.a, m.b, m.out, m.both = a, b, out, both
	}
	return out
}

// parents is pa then pb: last merge's slice when it was made of the same
// two, a new one otherwise; recorded in both.
func (m *routeMerge) parents(pa, pb []gwapiv1.RouteParentStatus, both map[[2]*gwapiv1.RouteParentStatus][]gwapiv1.RouteParentStatus) []gwapiv1.RouteParentStatus {
	if len(pa) == 0 || len(pb) == 0 {
		return slices.Concat(pa, pb)
	}
	key := [2]*gwapiv1.RouteParentStatus{&pa[0], &pb[0]}
	ps, ok := []gwapiv1.RouteParentStatus(nil), false
	if m != nil {
		ps, ok = m.both[key]
	}
	if !ok || len(ps) != len(pa)+len(pb) {
		ps = slices.Concat(pa, pb)
	}
	both[key] = ps
	return ps
}

// sameRoutes reports whether a and b are the same list (not merely equal).
func sameRoutes(a, b []status.Route) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// meshProxy translates the mesh group of one namespace that the last result
// does not cover (a client connected from a namespace the inputs know
// nothing about). nil when group is not a mesh group or set is nil.
func (l *Loop) meshProxy(set *resource.Set, group string) *ir.Proxy {
	ns, ok := strings.CutPrefix(group, meshtranslate.GroupPrefix)
	if !ok || ns == "" || strings.Contains(ns, "/") || set == nil {
		return nil
	}
	var secrets []*ir.Secret
	if l.opts.MeshSecrets != nil {
		secrets = l.opts.MeshSecrets()
	}
	for _, px := range l.meshTranslate(set, []string{ns}, secrets).Proxies {
		if px.Name == group {
			return px
		}
	}
	return nil
}

// withProxy returns res with px added in name order; res is not modified.
func withProxy(res *translate.Result, px *ir.Proxy) *translate.Result {
	out := *res
	out.Proxies = append(slices.Clone(res.Proxies), px)
	slices.SortStableFunc(out.Proxies, func(a, b *ir.Proxy) int { return cmp.Compare(a.Name, b.Name) })
	return &out
}

// hasMeshProxy reports whether res holds a mesh group: only then can an
// EndpointSlice change need more than the endpoint fast path.
func hasMeshProxy(res *translate.Result) bool {
	return slices.ContainsFunc(res.Proxies, func(px *ir.Proxy) bool { return strings.HasPrefix(px.Name, meshtranslate.GroupPrefix) })
}

// meshEndpointsChanged reports whether an EndpointSlice-only change alters
// what the mesh derives from endpoints (gRPC server listeners, accepted
// SPIFFE IDs), which the endpoint fast path does not refresh.
func meshEndpointsChanged(prev, next *resource.Set) bool {
	return meshtranslate.EndpointFacts(prev) != meshtranslate.EndpointFacts(next)
}
