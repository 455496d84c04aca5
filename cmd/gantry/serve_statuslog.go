package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// statusLog is the file provider's status sink: a warning when an object's
// conditions say it is not accepted (or, for a Gateway, not programmed),
// logged when that status is new rather than on every batch, and a summary
// line per batch. Its cost follows the change: published routes' lists are
// never written, so the same list as last batch is not read at all, and a
// new one is compared with the last position by position (route order,
// pointers of the Parents slices); only routes whose slice is new are read.
type statusLog struct {
	log *slog.Logger

	mu       sync.Mutex
	routes   []status.Route    // the last batch's routes
	gateways map[string]string // namespace/name -> its last warnings
}

func newStatusLog(log *slog.Logger) *statusLog {
	return &statusLog{log: log, gateways: map[string]string{}}
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
	if sameList(routes, s.routes) {
		return
	}
	j := 0
	for i := range routes {
		r := &routes[i]
		for j < len(s.routes) && !sameIdent(r, &s.routes[j]) && compareIdent(r, &s.routes[j]) > 0 {
			j++ // gone
		}
		if j < len(s.routes) && sameIdent(r, &s.routes[j]) {
			j++
			if sameParents(r.Parents, s.routes[j-1].Parents) {
				continue
			}
		}
		for _, ps := range r.Parents {
			for _, c := range ps.Conditions {
				if c.Status != "True" && (c.Type == "Accepted" || c.Type == "ResolvedRefs") {
					s.log.Warn("route not "+c.Type, "route", r.Kind+" "+r.Namespace+"/"+r.Name, "parent", string(ps.ParentRef.Name), "reason", c.Reason, "message", c.Message)
				}
			}
		}
	}
	s.routes = routes
}
