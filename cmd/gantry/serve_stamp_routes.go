package main

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
)

// routeStamps stamps the routes' parent conditions at the cost of the
// change. The loop hands out an unchanged route's Parents as the same
// slice in every report and never modifies a slice it handed out, so a
// Parents slice stamped before gets its stamped copy again: no key is
// built and nothing is copied. Only new slices are stamped against the
// conditions recorded per key; the keys of routes gone from the report are
// forgotten, so a route that comes back gets new times.
type routeStamps struct {
	// bySlice maps the first element of a stamped input slice to its stamp.
	bySlice map[*gwapiv1.RouteParentStatus]*routeStamp
	// conds are the last stamped route conditions by key, with the stamp
	// that recorded each.
	conds map[string]stampedCond
	// byRoute is each route's current stamp, so that a route's old stamp
	// is dropped when its status changes (without a sweep).
	byRoute map[routeIdent]*routeStamp
	round   uint64
}

type routeIdent struct{ kind, namespace, name string }

type routeStamp struct {
	n     int
	in    *gwapiv1.RouteParentStatus
	out   []gwapiv1.RouteParentStatus
	keys  []string
	round uint64
}

type stampedCond struct {
	cond  metav1.Condition
	owner *routeStamp
}

func newRouteStamps() *routeStamps {
	return &routeStamps{bySlice: map[*gwapiv1.RouteParentStatus]*routeStamp{}, conds: map[string]stampedCond{},
		byRoute: map[routeIdent]*routeStamp{}}
}

// stamp replaces each route's Parents with its stamped copy.
func (s *routeStamps) stamp(routes []status.Route, now metav1.Time) {
	s.round++
	seen := 0
	for i := range routes {
		rt := &routes[i]
		if len(rt.Parents) == 0 {
			continue
		}
		seen++
		in := &rt.Parents[0]
		if st, ok := s.bySlice[in]; ok && st.n == len(rt.Parents) {
			st.round = s.round
			rt.Parents = st.out
			continue
		}
		st := s.stampRoute(rt, now)
		st.in = in
		s.bySlice[in] = st
		id := routeIdent{rt.Kind, rt.Namespace, rt.Name}
		if old := s.byRoute[id]; old != nil {
			s.drop(old)
		}
		s.byRoute[id] = st
		rt.Parents = st.out
	}
	if len(s.bySlice) > seen { // some stamps were not used: sweep
		s.forgetUnseen()
	}
}

// stampRoute stamps a route whose Parents slice is new.
func (s *routeStamps) stampRoute(rt *status.Route, now metav1.Time) *routeStamp {
	st := &routeStamp{n: len(rt.Parents), round: s.round, out: make([]gwapiv1.RouteParentStatus, len(rt.Parents))}
	copy(st.out, rt.Parents)
	for j := range st.out {
		p := &st.out[j]
		owner := fmt.Sprintf("%s/%s/%s/parent/%s/%s", rt.Kind, rt.Namespace, rt.Name, p.ControllerName, parentKey(p.ParentRef))
		stampList(&p.Conditions, owner, now, func(k string) (metav1.Condition, bool) {
			c, ok := s.conds[k]
			return c.cond, ok
		}, func(k string, cond metav1.Condition) {
			s.conds[k] = stampedCond{cond: cond, owner: st}
			st.keys = append(st.keys, k)
		})
	}
	return st
}

// forgetUnseen drops the stamps not used in this round (routes gone from
// the report).
func (s *routeStamps) forgetUnseen() {
	for id, st := range s.byRoute {
		if st.round != s.round {
			delete(s.byRoute, id)
			s.drop(st)
		}
	}
}

// drop forgets a stamp and the conditions only it recorded.
func (s *routeStamps) drop(st *routeStamp) {
	if s.bySlice[st.in] == st {
		delete(s.bySlice, st.in)
	}
	for _, k := range st.keys {
		if s.conds[k].owner == st {
			delete(s.conds, k)
		}
	}
}
