package main

import (
	"cmp"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
)

// routeStamps stamps the routes' parent conditions at the cost of the
// change. The loop publishes a routes' list that it never writes again: the
// same list when no route's status changed, otherwise a new list in which
// every unchanged route keeps its entry (the same Parents slice). So the
// stamp keeps the last list it was given and its stamped copy: the same
// list again gets the same stamped copy (no work at all); a new one is
// compared with the last position by position (route order, pointers of
// the Parents slices) and only the routes whose slice is new are stamped,
// against the conditions recorded per key. Routes gone from the list are
// forgotten, so a route that comes back gets new times.
type routeStamps struct {
	// in is the last list stamped; out its stamped copy, as published
	// (neither is ever written).
	in, out []status.Route
	// conds are the last stamped route conditions by key, with the stamp
	// that recorded each.
	conds map[string]stampedCond
	// byRoute is each route's current stamp, so that a route's old stamp
	// is dropped when its status changes or it is gone.
	byRoute map[routeIdent]*routeStamp
	round   uint64
}

type routeIdent struct{ kind, namespace, name string }

type routeStamp struct {
	id    routeIdent
	keys  []string
	round uint64 // the call of stamp that made it
}

type stampedCond struct {
	cond  metav1.Condition
	owner *routeStamp
}

func newRouteStamps() *routeStamps {
	return &routeStamps{conds: map[string]stampedCond{}, byRoute: map[routeIdent]*routeStamp{}}
}

// stamp returns routes with every route's Parents stamped; routes is not
// written.
func (s *routeStamps) stamp(routes []status.Route, now metav1.Time) []status.Route {
	if sameList(routes, s.in) {
		return s.out
	}
	s.round++
	out := make([]status.Route, len(routes))
	var gone []*routeStamp
	j := 0
	skip := func() { // s.in[j] is not in routes (as far as the order tells)
		if st := s.byRoute[identOf(&s.in[j])]; st != nil && st.round != s.round {
			gone = append(gone, st)
		}
		j++
	}
	for i := range routes {
		r := &routes[i]
		for j < len(s.in) && !sameIdent(r, &s.in[j]) && compareIdent(r, &s.in[j]) > 0 {
			skip()
		}
		out[i] = *r
		if j < len(s.in) && sameIdent(r, &s.in[j]) {
			same := sameParents(r.Parents, s.in[j].Parents)
			if same {
				out[i].Parents = s.out[j].Parents
			}
			j++
			if same {
				continue
			}
		}
		if len(r.Parents) > 0 {
			out[i].Parents = s.stampRoute(r, now)
		}
	}
	for j < len(s.in) {
		skip()
	}
	for _, st := range gone {
		s.drop(st)
	}
	s.in, s.out = routes, out
	return out
}

// drop forgets a route's stamp and the conditions only it recorded, unless
// the route was stamped anew since (a list out of order names a route
// after the place where the walk took it for gone).
func (s *routeStamps) drop(st *routeStamp) {
	if s.byRoute[st.id] == st {
		delete(s.byRoute, st.id)
	}
	for _, k := range st.keys {
		if s.conds[k].owner == st {
			delete(s.conds, k)
		}
	}
}

// stampRoute stamps a route whose Parents slice is new and makes its
// stamp the route's current one.
func (s *routeStamps) stampRoute(rt *status.Route, now metav1.Time) []gwapiv1.RouteParentStatus {
	st := &routeStamp{id: identOf(rt), round: s.round}
	out := make([]gwapiv1.RouteParentStatus, len(rt.Parents))
	copy(out, rt.Parents)
	for j := range out {
		p := &out[j]
		owner := fmt.Sprintf("%s/%s/%s/parent/%s/%s", rt.Kind, rt.Namespace, rt.Name, p.ControllerName, parentKey(p.ParentRef))
		stampList(&p.Conditions, owner, now, func(k string) (metav1.Condition, bool) {
			c, ok := s.conds[k]
			return c.cond, ok
		}, func(k string, cond metav1.Condition) {
			s.conds[k] = stampedCond{cond: cond, owner: st}
			st.keys = append(st.keys, k)
		})
	}
	if old := s.byRoute[st.id]; old != nil {
		s.drop(old)
	}
	s.byRoute[st.id] = st
	return out
}

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
