package translate

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// httpRoute adapts an HTTPRoute to the route interface. The compiled rules
// are computed once per translation and shared by every attachment.
type httpRoute struct {
	obj      *gwapiv1.HTTPRoute
	compiled *compiledRoute
}

var _ route = (*httpRoute)(nil)

func (r *httpRoute) kind() gwapiv1.Kind                    { return kindHTTPRoute }
func (r *httpRoute) meta() *metav1.ObjectMeta              { return &r.obj.ObjectMeta }
func (r *httpRoute) parentRefs() []gwapiv1.ParentReference { return r.obj.Spec.ParentRefs }
func (r *httpRoute) hostnames() []gwapiv1.Hostname         { return r.obj.Spec.Hostnames }
func (r *httpRoute) hasHostnames() bool                    { return true }

func (r *httpRoute) outcome(x *index) routeOutcome {
	return r.compile(x).outcome
}

func (r *httpRoute) program(b *proxyBuilder, l *listenerState, hostnames []string) {
	c := r.compiled
	if c == nil || c.outcome.rejected {
		return
	}
	b.addHTTPEntries(l, idOf(r), b.isolatedHostnames(l, hostnames), c.entries)
	b.addClusters(c.clusters)
}

// compiledRoute is the listener-independent translation of an HTTP-style
// route: its ir routes in rule/match order, with precedence keys.
type compiledRoute struct {
	outcome  routeOutcome
	entries  []*routeEntry
	clusters []*ir.Cluster
}

// ruleProblem makes one rule invalid; the rule is dropped.
type ruleProblem struct {
	reason gwapiv1.RouteConditionReason
	msg    string
}

func (r *httpRoute) compile(x *index) *compiledRoute {
	if r.compiled != nil {
		return r.compiled
	}
	id := idOf(r)
	c := &compiledRoute{}
	rules := r.obj.Spec.Rules
	if len(rules) == 0 {
		rules = []gwapiv1.HTTPRouteRule{{}}
	}
	var refProblems []*backendProblem
	var firstReason gwapiv1.RouteConditionReason
	for i := range rules {
		rc := &ruleCompiler{x: x, id: id, route: r.obj, index: i, rule: &rules[i]}
		entries, prob := rc.compile()
		refProblems = append(refProblems, rc.refProblems...)
		if prob != nil {
			c.outcome.dropped = append(c.outcome.dropped, fmt.Sprintf("rule %s: %s", ruleLabel(&rules[i], i), prob.msg))
			if firstReason == "" {
				firstReason = prob.reason
			}
			continue
		}
		c.entries = append(c.entries, entries...)
		c.clusters = append(c.clusters, rc.clusters...)
	}
	if len(c.outcome.dropped) == len(rules) {
		c.outcome.rejected = true
		c.outcome.acceptedReason = firstReason
		c.outcome.acceptedMsg = strings.Join(c.outcome.dropped, "; ")
		c.outcome.dropped = nil
	}
	c.outcome.refsOK, c.outcome.refsReason = true, gwapiv1.RouteReasonResolvedRefs
	if len(refProblems) > 0 {
		msgs := make([]string, 0, len(refProblems))
		for _, p := range refProblems {
			if !contains(msgs, p.msg) {
				msgs = append(msgs, p.msg)
			}
		}
		c.outcome.refsOK, c.outcome.refsReason = false, refProblems[0].reason
		c.outcome.refsMsg = strings.Join(msgs, "; ")
	}
	r.compiled = c
	return c
}

func ruleLabel(rule *gwapiv1.HTTPRouteRule, i int) string {
	if rule.Name != nil && *rule.Name != "" {
		return strconv.Itoa(i) + " (" + string(*rule.Name) + ")"
	}
	return strconv.Itoa(i)
}

// ruleCompiler translates one rule of an HTTPRoute.
type ruleCompiler struct {
	x     *index
	id    routeID
	route *gwapiv1.HTTPRoute
	index int
	rule  *gwapiv1.HTTPRouteRule

	refProblems []*backendProblem
	clusters    []*ir.Cluster
	websocket   bool
}

// compile returns one entry per match of the rule, or why the rule is invalid.
func (rc *ruleCompiler) compile() ([]*routeEntry, *ruleProblem) {
	f, prob := rc.filters(rc.rule.Filters)
	if prob != nil {
		return nil, prob
	}
	matches := rc.rule.Matches
	if len(matches) == 0 {
		matches = []gwapiv1.HTTPRouteMatch{{}}
	}
	irMatches := make([]ir.RouteMatch, 0, len(matches))
	for j := range matches {
		m, prob := compileMatch(&matches[j])
		if prob != nil {
			return nil, &ruleProblem{reason: prob.reason, msg: fmt.Sprintf("matches[%d]: %s", j, prob.msg)}
		}
		if f.needsPrefix() && m.PathType != ir.PathPrefix {
			return nil, &ruleProblem{reason: gwapiv1.RouteReasonUnsupportedValue, msg: "ReplacePrefixMatch requires PathPrefix matches"}
		}
		irMatches = append(irMatches, m)
	}
	base := &ir.Route{RequestHeaders: f.reqHeaders, ResponseHeaders: f.respHeaders, CORS: f.cors, Metadata: rc.metadata()}
	if f.redirect != nil {
		base.Redirect = f.redirect
	} else {
		fwd, direct, prob := rc.forward(f)
		if prob != nil {
			return nil, prob
		}
		base.Forward, base.DirectResponse = fwd, direct
	}
	entries := make([]*routeEntry, 0, len(irMatches))
	prefix := rc.id.namespace + "/" + rc.id.name + "/rule/" + strconv.Itoa(rc.index) + "/match/"
	for j, m := range irMatches {
		r := *base
		r.Name = prefix + strconv.Itoa(j)
		r.Match = m
		entries = append(entries, newRouteEntry(&r, rc.route.ObjectMeta, rc.index, j))
	}
	if prob := checkEntries(entries); prob != nil {
		return nil, prob
	}
	return entries, nil
}

func (rc *ruleCompiler) metadata() map[string]string {
	md := map[string]string{
		"kind":      string(rc.id.kind),
		"namespace": rc.id.namespace,
		"name":      rc.id.name,
		"rule":      strconv.Itoa(rc.index),
	}
	if rc.rule.Name != nil && *rc.rule.Name != "" {
		md["ruleName"] = string(*rc.rule.Name)
	}
	return md
}

// forward builds the forward action of a rule from its backendRefs. With no
// backend able to take traffic the rule answers 500.
func (rc *ruleCompiler) forward(f *ruleFilters) (*ir.ForwardAction, *ir.DirectResponse, *ruleProblem) {
	if rc.rule.SessionPersistence != nil {
		return nil, nil, &ruleProblem{reason: gwapiv1.RouteReasonUnsupportedValue, msg: "sessionPersistence is not supported"}
	}
	fwd := &ir.ForwardAction{Rewrite: f.rewrite, Mirrors: f.mirrors}
	if prob := rc.timeouts(fwd); prob != nil {
		return nil, nil, prob
	}
	if prob := rc.retry(fwd); prob != nil {
		return nil, nil, prob
	}
	valid := 0
	for i := range rc.rule.BackendRefs {
		br := &rc.rule.BackendRefs[i]
		w := int32(1)
		if br.Weight != nil {
			w = *br.Weight
		}
		wc, prob := rc.backend(br)
		if prob != nil {
			return nil, nil, prob
		}
		if w <= 0 {
			continue
		}
		wc.Weight = uint32(w)
		if wc.Cluster != "" {
			valid++
		}
		fwd.Backends = append(fwd.Backends, wc)
	}
	if valid == 0 {
		return nil, &ir.DirectResponse{Status: 500}, nil
	}
	fwd.UpgradeWebSocket = rc.websocket
	return fwd, nil, nil
}

// backend resolves one backendRef with its filters; an unresolved backend
// keeps its share and answers 500.
func (rc *ruleCompiler) backend(br *gwapiv1.HTTPBackendRef) (ir.WeightedCluster, *ruleProblem) {
	var wc ir.WeightedCluster
	for i, fl := range br.Filters {
		switch fl.Type {
		case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
			if prob := checkHeaderFilter(fmt.Sprintf("backendRef %s: filters[%d].requestHeaderModifier", br.Name, i), fl.RequestHeaderModifier); prob != nil {
				return wc, prob
			}
			wc.RequestHeaders = mergeHeaders(wc.RequestHeaders, fl.RequestHeaderModifier)
		case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
			if prob := checkHeaderFilter(fmt.Sprintf("backendRef %s: filters[%d].responseHeaderModifier", br.Name, i), fl.ResponseHeaderModifier); prob != nil {
				return wc, prob
			}
			wc.ResponseHeaders = mergeHeaders(wc.ResponseHeaders, fl.ResponseHeaderModifier)
		default:
			return wc, &ruleProblem{reason: gwapiv1.RouteReasonUnsupportedValue, msg: fmt.Sprintf("backendRef %s: filters[%d]: type %q is not supported on a backendRef", br.Name, i, fl.Type)}
		}
	}
	c, prob := rc.x.resolveBackend(rc.id, br.BackendObjectReference)
	if prob != nil {
		rc.refProblems = append(rc.refProblems, prob)
		wc.InvalidStatus = 500
		return wc, nil
	}
	rc.clusters = append(rc.clusters, c)
	rc.websocket = rc.websocket || c.Protocol == ir.AppWebSocket
	wc.Cluster = c.Name
	return wc, nil
}
