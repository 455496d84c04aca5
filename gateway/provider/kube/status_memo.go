package kube

import (
	"cmp"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// routeWrites remembers the routes of the last report, in its order (kind,
// namespace, name), each with the parent entries the writer last wrote (or
// found already written) for it. The loop publishes routes' lists it never
// writes again, and a route whose status did not change keeps its Parents
// slice from one report to the next; so the next report is compared with
// this one position by position (route names, pointers of the Parents
// slices), and only the routes whose slice is new, the routes new to the
// report and the routes gone from it cost anything: no map, no lookup per
// route. A sweep (periodic, or after Forget) starts from an empty memory
// and checks every route again, which also repairs entries someone else
// changed meanwhile.
type routeWrites struct {
	routes []writtenRoute
}

type writtenRoute struct {
	key        resource.Key
	first      *gwapiv1.RouteParentStatus
	n          int
	generation int64
	// written: the entries above are what the object holds (false until
	// a write of them succeeded).
	written bool
}

func writtenOf(r *status.Route) writtenRoute {
	w := writtenRoute{key: resource.Key{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}, n: len(r.Parents), generation: r.Generation}
	if len(r.Parents) > 0 {
		w.first = &r.Parents[0]
	}
	return w
}

// same reports whether r holds the entries remembered as written.
func (w *writtenRoute) same(r *status.Route) bool {
	return w.written && w.n > 0 && len(r.Parents) == w.n && &r.Parents[0] == w.first && r.Generation == w.generation
}

// routeDiff is what changed between the remembered routes and a report's.
type routeDiff struct {
	// write are the indexes of the report's routes to write.
	write []int
	// gone are the remembered routes the report no longer holds.
	gone []resource.Key
	// next is the memory for the report's routes, written flags carried
	// over for the unchanged ones; the routes of write are recorded in it
	// once written (record).
	next *routeWrites
}

// diff compares routes with the remembered ones in one pass. false when
// routes are not in order (kind, namespace, name), as every report
// (status.Report.Sort) is; the caller then sorts a copy. The remembered
// list is updated in place while the report holds the same routes in the
// same places, and replaced by a new one from the first route that came
// or went.
func (m *routeWrites) diff(routes []status.Route) (routeDiff, bool) {
	var d routeDiff
	prev, next, aligned := m.routes, m.routes, true
	if len(prev) != len(routes) {
		next, aligned = make([]writtenRoute, 0, len(routes)), false
	}
	diverge := func(i int) { // routes[:i] and prev[:i] hold the same routes
		if aligned {
			aligned = false
			next = append(make([]writtenRoute, 0, len(routes)), prev[:i]...)
		}
	}
	j := 0
	for i := range routes {
		r := &routes[i]
		for j < len(prev) && !prev[j].names(r) && compareKey(r, &prev[j].key) > 0 {
			diverge(i)
			d.gone = append(d.gone, prev[j].key)
			j++
		}
		w := writtenOf(r)
		matched := j < len(prev) && prev[j].names(r)
		if matched {
			if prev[j].same(r) {
				w = prev[j]
			}
			j++
		} else {
			// Out of order shows here and only here: a route matched
			// comes after the one before it, as the remembered ones do.
			if i > 0 && compareKey(r, &resource.Key{Kind: routes[i-1].Kind, Namespace: routes[i-1].Namespace, Name: routes[i-1].Name}) <= 0 {
				return routeDiff{}, false
			}
			diverge(i)
		}
		if !w.written {
			d.write = append(d.write, i)
		}
		if aligned {
			next[i] = w
		} else {
			next = append(next, w)
		}
	}
	for ; j < len(prev); j++ {
		d.gone = append(d.gone, prev[j].key)
	}
	d.next = &routeWrites{routes: next}
	return d, true
}

// record remembers routes[i] as written.
func (m *routeWrites) record(i int, r *status.Route) {
	w := writtenOf(r)
	w.written = true
	m.routes[i] = w
}

// names reports whether w is r's (cheap when they share their strings).
func (w *writtenRoute) names(r *status.Route) bool {
	return w.key.Name == r.Name && w.key.Namespace == r.Namespace && w.key.Kind == r.Kind
}

// compareKey orders a route and a key as status.Report.Sort orders routes.
func compareKey(r *status.Route, k *resource.Key) int {
	return cmp.Or(cmp.Compare(r.Kind, k.Kind), cmp.Compare(r.Namespace, k.Namespace), cmp.Compare(r.Name, k.Name))
}

// sortedRoutes is routes in report order: routes itself when sorted, else
// a sorted copy.
func sortedRoutes(routes []status.Route) []status.Route {
	rep := status.Report{Routes: routes}
	rep.SortShared()
	return rep.Routes
}

// inRoutes reports whether the sorted routes hold key.
func inRoutes(routes []status.Route, key resource.Key) bool {
	_, ok := slices.BinarySearchFunc(routes, key, func(r status.Route, k resource.Key) int { return compareKey(&r, &k) })
	return ok
}
