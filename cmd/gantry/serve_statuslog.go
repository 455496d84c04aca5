package main

import (
	"context"
	"log/slog"
	"sync"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// statusLog is the file provider's status sink: a warning when an object's
// conditions say it is not accepted (or, for a Gateway, not programmed),
// logged when that status is new rather than on every batch, and a summary
// line per batch. Its cost follows the change: a route whose Parents slice
// is the one of the last batch (the loop hands out unchanged routes' slices
// again) is not read.
type statusLog struct {
	log *slog.Logger

	mu       sync.Mutex
	routes   map[*gwapiv1.RouteParentStatus]*uint64 // first element of a Parents slice -> last batch it was in
	byRoute  map[routeIdent]*gwapiv1.RouteParentStatus
	round    uint64
	gateways map[string]string // namespace/name -> its last warnings
}

func newStatusLog(log *slog.Logger) *statusLog {
	return &statusLog{log: log, routes: map[*gwapiv1.RouteParentStatus]*uint64{}, byRoute: map[routeIdent]*gwapiv1.RouteParentStatus{}, gateways: map[string]string{}}
}

func (s *statusLog) sink(_ context.Context, res *translate.Result) {
	if res == nil || res.Status == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := res.Status
	s.logGateways(st.Gateways)
	s.logRoutes(st.Routes)
	s.log.Info("configuration translated", "gateways", len(st.Gateways), "routes", len(st.Routes), "proxies", len(res.Proxies))
}

func (s *statusLog) logGateways(gws []status.Gateway) {
	next := make(map[string]string, len(gws))
	for _, g := range gws {
		key, warned := g.Namespace+"/"+g.Name, ""
		for _, c := range g.Status.Conditions {
			if c.Status != "True" && (c.Type == "Accepted" || c.Type == "Programmed") {
				warned += c.Type + "\x00" + c.Reason + "\x00" + c.Message + "\x00"
			}
		}
		next[key] = warned
		if prev, ok := s.gateways[key]; warned == "" || (ok && prev == warned) {
			continue
		}
		for _, c := range g.Status.Conditions {
			if c.Status != "True" && (c.Type == "Accepted" || c.Type == "Programmed") {
				s.log.Warn("gateway not "+c.Type, "gateway", key, "reason", c.Reason, "message", c.Message)
			}
		}
	}
	s.gateways = next
}

func (s *statusLog) logRoutes(routes []status.Route) {
	s.round++
	seen := 0
	for _, r := range routes {
		if len(r.Parents) == 0 {
			continue
		}
		seen++
		if last, ok := s.routes[&r.Parents[0]]; ok {
			*last = s.round
			continue
		}
		round := s.round
		s.routes[&r.Parents[0]] = &round
		id := routeIdent{r.Kind, r.Namespace, r.Name}
		delete(s.routes, s.byRoute[id]) // the route's last status, if any
		s.byRoute[id] = &r.Parents[0]
		for _, ps := range r.Parents {
			for _, c := range ps.Conditions {
				if c.Status != "True" && (c.Type == "Accepted" || c.Type == "ResolvedRefs") {
					s.log.Warn("route not "+c.Type, "route", r.Kind+" "+r.Namespace+"/"+r.Name, "parent", string(ps.ParentRef.Name), "reason", c.Reason, "message", c.Message)
				}
			}
		}
	}
	if len(s.routes) == seen {
		return // every slice remembered is in this batch
	}
	for id, p := range s.byRoute {
		if *s.routes[p] != s.round {
			delete(s.routes, p)
			delete(s.byRoute, id)
		}
	}
}
