package translate

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

// This file exposes the Gateway-independent part of route translation
// (rules, matches, filters, backends) to translators of other parents: the
// mesh translator compiles the same HTTPRoutes and GRPCRoutes for Service
// parents. It adds no behaviour of its own.

// RouteCompiler compiles HTTPRoutes and GRPCRoutes of one Set, each once.
// It is not safe for concurrent use.
type RouteCompiler struct {
	x      *index
	byID   map[routeID]route
	cached map[routeID]*CompiledRoute
}

// NewRouteCompiler indexes set for route compilation.
func NewRouteCompiler(set *resource.Set) *RouteCompiler {
	c := &RouteCompiler{x: newIndex(set), byID: map[routeID]route{}, cached: map[routeID]*CompiledRoute{}}
	for _, r := range c.x.routes {
		if r.kind() == kindHTTPRoute || r.kind() == kindGRPCRoute {
			c.byID[idOf(r)] = r
		}
	}
	return c
}

// RouteOutcome is the parent-independent part of a route's status.
type RouteOutcome struct {
	// Rejected is set when no rule is valid; AcceptedReason and
	// AcceptedMessage then say why.
	Rejected        bool
	AcceptedReason  gwapiv1.RouteConditionReason
	AcceptedMessage string
	// Dropped names the rules left out of an accepted route.
	Dropped []string
	// ResolvedRefs, RefsReason and RefsMessage make the ResolvedRefs condition.
	ResolvedRefs bool
	RefsReason   gwapiv1.RouteConditionReason
	RefsMessage  string
}

// RouteEntry is one compiled route match with its precedence keys.
type RouteEntry struct{ e *routeEntry }

// Route is the ir route; shared, never to be modified.
func (e RouteEntry) Route() *ir.Route { return e.e.route }

// CompiledRoute is a route's translation, independent of any parent.
type CompiledRoute struct {
	Outcome RouteOutcome
	// Entries are in rule and match order.
	Entries []RouteEntry
	// Clusters are the resolved backends (shared, never to be modified).
	Clusters []*ir.Cluster
}

// Compile translates the HTTPRoute or GRPCRoute kind namespace/name; ok is
// false when the Set has no such route.
func (c *RouteCompiler) Compile(kind gwapiv1.Kind, namespace, name string) (*CompiledRoute, bool) {
	id := routeID{kind: kind, namespace: namespace, name: name}
	if cr, ok := c.cached[id]; ok {
		return cr, true
	}
	r := c.byID[id]
	if r == nil {
		return nil, false
	}
	var in *compiledRoute
	switch v := r.(type) {
	case *httpRoute:
		in = v.compile(c.x)
	case *grpcRoute:
		v.outcome(c.x)
		in = v.compiled
	}
	if in == nil {
		return nil, false
	}
	out := &CompiledRoute{
		Outcome: RouteOutcome{
			Rejected: in.outcome.rejected, AcceptedReason: in.outcome.acceptedReason, AcceptedMessage: in.outcome.acceptedMsg,
			Dropped:      in.outcome.dropped,
			ResolvedRefs: in.outcome.refsOK, RefsReason: in.outcome.refsReason, RefsMessage: in.outcome.refsMsg,
		},
		Clusters: in.clusters,
	}
	for _, e := range in.entries {
		out.Entries = append(out.Entries, RouteEntry{e: e})
	}
	c.cached[id] = out
	return out, true
}

// ServiceCluster is the cluster of a Service port (with its endpoints), the
// same one routes resolve to; nil when the Service or port does not exist.
func (c *RouteCompiler) ServiceCluster(namespace, name string, port int32) *ir.Cluster {
	svc := c.x.services[nsName{namespace, name}]
	if svc == nil {
		return nil
	}
	sp := servicePort(svc, port)
	if sp == nil {
		return nil
	}
	return c.x.cluster(svc, sp)
}

// SortRouteEntries orders entries of several routes on one virtual host by
// Gateway API precedence, as a Gateway's route tables are.
func SortRouteEntries(es []RouteEntry) {
	inner := make([]*routeEntry, len(es))
	for i, e := range es {
		inner[i] = e.e
	}
	sortEntries(inner)
	for i, e := range inner {
		es[i] = RouteEntry{e: e}
	}
}
