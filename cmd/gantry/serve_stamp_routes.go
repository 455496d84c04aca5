package main

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
)

// routeStamps stamps the routes' parent conditions at the cost of the
// change. The loop publishes a routes' list that it never writes again: the
// same list when no route's status changed, otherwise a new list in which
// every unchanged route keeps its entry (the same Parents slice). So the
// stamp keeps the last list it was given and its stamped copy, and nothing
// else: the same list again gets the same stamped copy (no work at all); a
// new one is compared with the last position by position (route order,
// pointers of the Parents slices) and only the routes whose slice is new
// are stamped, against the same route's previous stamped parents. A route
// gone from the list is forgotten with it, so a route that comes back gets
// new times.
type routeStamps struct {
	// in is the last list stamped; out its stamped copy, as published
	// (neither is ever written).
	in, out []status.Route
}

func newRouteStamps() *routeStamps { return &routeStamps{} }

// stamp returns routes with every route's Parents stamped; routes is not
// written.
func (s *routeStamps) stamp(routes []status.Route, now metav1.Time) []status.Route {
	if sameList(routes, s.in) {
		return s.out
	}
	out := make([]status.Route, len(routes))
	var index map[routeIdent]int // s.in by route, once routes is out of order
	j := 0
	for i := range routes {
		r := &routes[i]
		if index == nil && i > 0 && compareIdent(r, &routes[i-1]) < 0 {
			index = s.indexIn()
		}
		prev := -1
		if index != nil {
			if k, ok := index[identOf(r)]; ok {
				prev = k
			}
		} else {
			for j < len(s.in) && compareIdent(r, &s.in[j]) > 0 {
				j++
			}
			if j < len(s.in) && sameIdent(r, &s.in[j]) {
				prev = j
			}
		}
		out[i] = *r
		switch {
		case prev >= 0 && sameParents(r.Parents, s.in[prev].Parents):
			out[i].Parents = s.out[prev].Parents
		case len(r.Parents) > 0:
			var was []gwapiv1.RouteParentStatus
			if prev >= 0 {
				was = s.out[prev].Parents
			}
			out[i].Parents = stampParents(r.Parents, was, now)
		}
	}
	s.in, s.out = routes, out
	return out
}

// indexIn is the position of every route of the last list.
func (s *routeStamps) indexIn() map[routeIdent]int {
	m := make(map[routeIdent]int, len(s.in))
	for k := range s.in {
		m[identOf(&s.in[k])] = k
	}
	return m
}

// stampParents returns a stamped copy of parents: each condition keeps the
// time of the same parent's condition of its type in was (the route's
// previous stamped parents) when its status is the same, and gets now
// otherwise.
func stampParents(parents, was []gwapiv1.RouteParentStatus, now metav1.Time) []gwapiv1.RouteParentStatus {
	out := slices.Clone(parents)
	for i := range out {
		p := &out[i]
		var before []metav1.Condition
		if k := slices.IndexFunc(was, func(w gwapiv1.RouteParentStatus) bool {
			return w.ControllerName == p.ControllerName && sameParentRef(w.ParentRef, p.ParentRef)
		}); k >= 0 {
			before = was[k].Conditions
		}
		p.Conditions = slices.Clone(p.Conditions)
		for c := range p.Conditions {
			cond := &p.Conditions[c]
			cond.LastTransitionTime = now
			if k := slices.IndexFunc(before, func(b metav1.Condition) bool { return b.Type == cond.Type }); k >= 0 && before[k].Status == cond.Status {
				cond.LastTransitionTime = before[k].LastTransitionTime
			}
		}
	}
	return out
}

// sameParentRef reports whether a and b name the same parent (the fields
// parentKey joins).
func sameParentRef(a, b gwapiv1.ParentReference) bool {
	return a.Name == b.Name && sameRef(a.Group, b.Group) && sameRef(a.Kind, b.Kind) &&
		sameRef(a.Namespace, b.Namespace) && sameRef(a.SectionName, b.SectionName) && sameRef(a.Port, b.Port)
}

// sameRef compares two optional values, nil as the zero value (as
// parentKey writes them).
func sameRef[T comparable](a, b *T) bool {
	var zero T
	av, bv := zero, zero
	if a != nil {
		av = *a
	}
	if b != nil {
		bv = *b
	}
	return av == bv
}

type routeIdent struct{ kind, namespace, name string }

// sameList reports whether a and b are the same list (not merely equal).
func sameList(a, b []status.Route) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sameParents reports whether a and b are the same slice.
func sameParents(a, b []gwapiv1.RouteParentStatus) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

func identOf(r *status.Route) routeIdent { return routeIdent{r.Kind, r.Namespace, r.Name} }

// sameIdent reports whether a and b name the same route (cheap when they
// share their strings, as entries copied from one another do).
func sameIdent(a, b *status.Route) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && a.Kind == b.Kind
}

// compareIdent orders routes as status.Report.Sort does.
func compareIdent(a, b *status.Route) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
