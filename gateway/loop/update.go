package loop

import (
	"cmp"
	"reflect"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// mergeUpdate is prev with what the memo computed for the Gateways gws:
// their proxies and statuses replaced by name, and the changed routes'
// parent entries for gws replaced (kept for other parents, in parentRef
// order). Only the changed entries are touched: the lists of proxies and
// Gateways are copied (pointers and a few structs) and patched by binary
// search; nothing is rebuilt or sorted. The routes' list of prev is shared
// with the reports published before and is never written: a route whose
// entries come out as they were keeps its entry (and its Parents slice, by
// which sinks know it unchanged), and the list is copied once, on the
// first route whose status did change. nil when an entry cannot be placed.
func mergeUpdate(prev *translate.Result, up *translate.RouteUpdate, gws map[objKey]bool, changes []change) *translate.Result {
	rep := *prev.Status
	out := &translate.Result{Status: &rep, Proxies: slices.Clone(prev.Proxies)}
	for _, px := range up.Proxies {
		out.Proxies = put(out.Proxies, px, func(a, b *ir.Proxy) int { return cmp.Compare(a.Name, b.Name) })
	}
	rep.Gateways = slices.Clone(prev.Status.Gateways)
	for _, g := range up.Gateways {
		rep.Gateways = put(rep.Gateways, g, func(a, b status.Gateway) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
	}
	refs := map[routeKey][]gwapiv1.ParentReference{}
	for _, c := range changes {
		if c.new != nil && isRoute(c.kind) {
			refs[routeKey{c.kind, c.new.GetNamespace(), c.new.GetName()}] = parentRefs(c.new)
		}
	}
	routes, copied := prev.Status.Routes, false
	for _, r := range up.Routes {
		i, found := slices.BinarySearchFunc(routes, &r, func(a status.Route, b *status.Route) int { return compareRoutes(&a, b) })
		var kept []gwapiv1.RouteParentStatus
		if found {
			kept = keptParents(routes[i], gws)
		}
		ps := slices.Concat(kept, r.Parents)
		if len(kept) > 0 && len(r.Parents) > 0 && !orderParents(ps, refs[routeKey{r.Kind, r.Namespace, r.Name}]) {
			return nil
		}
		r.Parents = ps
		if (found && sameRouteStatus(&routes[i], &r)) || (!found && len(ps) == 0) {
			continue
		}
		if !copied {
			routes, copied = slices.Clone(routes), true
		}
		switch {
		case len(ps) == 0:
			routes = slices.Delete(routes, i, i+1)
		case found:
			routes[i] = r
		default:
			routes = slices.Insert(routes, i, r)
		}
	}
	if len(routes) == 0 {
		routes = nil // as a translation gives none
	}
	rep.Routes = routes
	return out
}

// sameRouteStatus reports whether b says what a says (a route's entries
// recomputed unchanged).
func sameRouteStatus(a, b *status.Route) bool {
	return a.Generation == b.Generation && reflect.DeepEqual(a.Parents, b.Parents)
}

// put replaces the element of sorted list s that compares equal to v, or
// inserts v in order.
func put[T any](s []T, v T, compare func(a, b T) int) []T {
	i, found := slices.BinarySearchFunc(s, v, compare)
	if found {
		s[i] = v
		return s
	}
	return slices.Insert(s, i, v)
}
