package translate

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

const kindGRPCRoute gwapiv1.Kind = resource.KindGRPCRoute

// grpcRoute adapts a GRPCRoute to the route interface. A GRPCRoute compiles
// to the same ir routes as an HTTPRoute: the gRPC method becomes the HTTP/2
// path "/<service>/<method>" and every match requires a gRPC content type.
type grpcRoute struct {
	obj      *gwapiv1.GRPCRoute
	compiled *compiledRoute
}

var _ route = (*grpcRoute)(nil)

func (r *grpcRoute) kind() gwapiv1.Kind                    { return kindGRPCRoute }
func (r *grpcRoute) meta() *metav1.ObjectMeta              { return &r.obj.ObjectMeta }
func (r *grpcRoute) parentRefs() []gwapiv1.ParentReference { return r.obj.Spec.ParentRefs }
func (r *grpcRoute) hostnames() []gwapiv1.Hostname         { return r.obj.Spec.Hostnames }
func (r *grpcRoute) hasHostnames() bool                    { return true }

func (r *grpcRoute) outcome(x *index) routeOutcome {
	if r.compiled == nil {
		r.compiled = compileGRPCRoute(x, r.obj)
	}
	return r.compiled.outcome
}

func (r *grpcRoute) program(b *proxyBuilder, l *listenerState, hostnames []string) {
	c := r.compiled
	if c == nil || c.outcome.rejected {
		return
	}
	b.addHTTPEntries(l, idOf(r), hostnames, c.entries)
	b.addClusters(c.clusters)
}

// compileGRPCRoute translates every rule: matches are compiled here, filters
// and backends by the HTTP rule compiler on an equivalent HTTP rule (the
// filter kinds GRPCRoute allows are a subset of HTTPRoute's).
func compileGRPCRoute(x *index, obj *gwapiv1.GRPCRoute) *compiledRoute {
	id := routeID{kind: kindGRPCRoute, namespace: obj.Namespace, name: obj.Name}
	rules := obj.Spec.Rules
	if len(rules) == 0 {
		rules = []gwapiv1.GRPCRouteRule{{}}
	}
	shadow := &gwapiv1.HTTPRoute{ObjectMeta: obj.ObjectMeta}
	acc := &ruleAccumulator{}
	for i := range rules {
		hr := httpRuleOf(&rules[i])
		rc := &ruleCompiler{x: x, id: id, route: shadow, index: i, rule: hr}
		entries, prob := compileGRPCRule(rc, &rules[i])
		acc.add(rc, hr, i, entries, prob)
	}
	c := acc.finish(len(rules))
	for i, cl := range c.clusters {
		if cl.Protocol != ir.AppHTTP2 { // gRPC needs HTTP/2 whatever the Service port's appProtocol says
			h2 := *cl
			h2.Protocol = ir.AppHTTP2
			c.clusters[i] = &h2
		}
	}
	return c
}

// compileGRPCRule compiles one rule: the HTTP compiler with a catch-all
// match provides the action, then each gRPC match gets its own entry.
func compileGRPCRule(rc *ruleCompiler, rule *gwapiv1.GRPCRouteRule) ([]*routeEntry, *ruleProblem) {
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwapiv1.GRPCRouteMatch{{}}
	}
	irMatches := make([]ir.RouteMatch, 0, len(matches))
	for j := range matches {
		m, prob := compileGRPCMatch(&matches[j])
		if prob != nil {
			prob.msg = fmt.Sprintf("matches[%d]: %s", j, prob.msg)
			return nil, prob
		}
		irMatches = append(irMatches, m)
	}
	base, prob := rc.compile()
	if prob != nil {
		return nil, prob
	}
	entries := make([]*routeEntry, 0, len(irMatches))
	for j, m := range irMatches {
		r := *base[0].route
		r.Name = fmt.Sprintf("%s/%s/grpc/rule/%d/match/%d", rc.id.namespace, rc.id.name, rc.index, j)
		r.Match = m
		e := newRouteEntry(&r, rc.route.ObjectMeta, rc.index, j)
		e.grpc = grpcRankOf(&matches[j])
		entries = append(entries, e)
	}
	if prob := checkEntries(entries); prob != nil {
		return nil, prob
	}
	return entries, nil
}

// grpcRankOf is what ranks a match against others (compareGRPCEntries).
func grpcRankOf(m *gwapiv1.GRPCRouteMatch) *grpcRank {
	mm := m.Method
	switch {
	case mm == nil:
		return &grpcRank{}
	case mm.Type != nil && *mm.Type == gwapiv1.GRPCMethodMatchRegularExpression:
		return &grpcRank{regex: true}
	}
	return &grpcRank{service: len(deref(mm.Service)), method: len(deref(mm.Method))}
}

// grpcName is what the API allows for a service or method name; a regular
// expression match is checked by compiling it instead.
var grpcNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$`)

// compileGRPCMatch turns a method and header match into an ir match on the
// request path "/<service>/<method>".
func compileGRPCMatch(m *gwapiv1.GRPCRouteMatch) (ir.RouteMatch, *ruleProblem) {
	out := ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", GRPC: true}
	if mm := m.Method; mm != nil {
		svc, method := deref(mm.Service), deref(mm.Method)
		regex := mm.Type != nil && *mm.Type == gwapiv1.GRPCMethodMatchRegularExpression
		if svc == "" && method == "" {
			return out, unsupported("method: one of service and method is required")
		}
		switch {
		case regex:
			for _, part := range []string{svc, method} {
				if _, err := regexp.Compile(part); err != nil {
					return out, unsupported("method: regex %q: %v", part, err)
				}
			}
			// Groups keep an alternation inside its own path segment.
			out.PathType, out.Path = ir.PathRegex, "/(?:"+orAny(svc)+")/(?:"+orAny(method)+")"
			if prob := checkRegex("method", out.Path); prob != nil {
				return out, prob
			}
		default:
			for _, part := range []string{svc, method} {
				if part != "" && !grpcNamePattern.MatchString(part) {
					return out, unsupported("method: %q is not a valid gRPC name", part)
				}
			}
			switch {
			case svc != "" && method != "":
				out.PathType, out.Path = ir.PathExact, "/"+svc+"/"+method
			case svc != "":
				out.PathType, out.Path = ir.PathPrefix, "/"+svc
			default:
				out.PathType, out.Path = ir.PathRegex, "/[^/]+/"+regexp.QuoteMeta(method)
			}
		}
	}
	seen := map[string]bool{}
	for _, h := range m.Headers {
		name := strings.ToLower(string(h.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		regex := h.Type != nil && *h.Type == gwapiv1.GRPCHeaderMatchRegularExpression
		sm, prob := stringMatch(string(h.Name), !regex, regex, h.Value)
		if prob != nil {
			return out, prob
		}
		out.Headers = append(out.Headers, sm)
	}
	return out, nil
}

func orAny(s string) string {
	if s == "" {
		return "[^/]+"
	}
	return s
}

func deref[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

// httpRuleOf is the HTTP rule with the same name, filters and backends as a
// gRPC rule and no matches (the compiler then makes one catch-all entry).
func httpRuleOf(g *gwapiv1.GRPCRouteRule) *gwapiv1.HTTPRouteRule {
	out := &gwapiv1.HTTPRouteRule{Name: g.Name, SessionPersistence: g.SessionPersistence}
	for _, f := range g.Filters {
		out.Filters = append(out.Filters, httpFilterOf(f))
	}
	for _, br := range g.BackendRefs {
		hb := gwapiv1.HTTPBackendRef{BackendRef: br.BackendRef}
		for _, f := range br.Filters {
			hb.Filters = append(hb.Filters, httpFilterOf(f))
		}
		out.BackendRefs = append(out.BackendRefs, hb)
	}
	return out
}

func httpFilterOf(f gwapiv1.GRPCRouteFilter) gwapiv1.HTTPRouteFilter {
	return gwapiv1.HTTPRouteFilter{
		Type:                   gwapiv1.HTTPRouteFilterType(f.Type),
		RequestHeaderModifier:  f.RequestHeaderModifier,
		ResponseHeaderModifier: f.ResponseHeaderModifier,
		RequestMirror:          f.RequestMirror,
		ExtensionRef:           f.ExtensionRef,
	}
}

// ruleAccumulator gathers the rules of one route into a compiledRoute with
// the same outcome rules as HTTPRoute: invalid rules are dropped, a route
// with no valid rule is rejected, unresolved references are reported.
type ruleAccumulator struct {
	c           compiledRoute
	refProblems []*backendProblem
	firstReason gwapiv1.RouteConditionReason
}

func (a *ruleAccumulator) add(rc *ruleCompiler, rule *gwapiv1.HTTPRouteRule, i int, entries []*routeEntry, prob *ruleProblem) {
	a.refProblems = append(a.refProblems, rc.refProblems...)
	if prob != nil {
		a.c.outcome.dropped = append(a.c.outcome.dropped, fmt.Sprintf("rule %s: %s", ruleLabel(rule, i), prob.msg))
		if a.firstReason == "" {
			a.firstReason = prob.reason
		}
		return
	}
	a.c.entries = append(a.c.entries, entries...)
	a.c.clusters = append(a.c.clusters, rc.clusters...)
}

func (a *ruleAccumulator) finish(rules int) *compiledRoute {
	c := &a.c
	if len(c.outcome.dropped) == rules {
		c.outcome.rejected = true
		c.outcome.acceptedReason = a.firstReason
		c.outcome.acceptedMsg = strings.Join(c.outcome.dropped, "; ")
		c.outcome.dropped = nil
	}
	c.outcome.refsOK, c.outcome.refsReason = true, gwapiv1.RouteReasonResolvedRefs
	if len(a.refProblems) > 0 {
		msgs := make([]string, 0, len(a.refProblems))
		for _, p := range a.refProblems {
			if !contains(msgs, p.msg) {
				msgs = append(msgs, p.msg)
			}
		}
		c.outcome.refsOK, c.outcome.refsReason = false, a.refProblems[0].reason
		c.outcome.refsMsg = strings.Join(msgs, "; ")
	}
	return c
}
