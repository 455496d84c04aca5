package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// compileMatch translates one HTTPRouteMatch.
func compileMatch(m *gwapiv1.HTTPRouteMatch) (ir.RouteMatch, *ruleProblem) {
	out := ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}
	if p := m.Path; p != nil {
		typ := gwapiv1.PathMatchPathPrefix
		if p.Type != nil {
			typ = *p.Type
		}
		val := "/"
		if p.Value != nil {
			val = *p.Value
		}
		switch typ {
		case gwapiv1.PathMatchExact, gwapiv1.PathMatchPathPrefix:
			if !strings.HasPrefix(val, "/") {
				return out, unsupported("path %q must start with /", val)
			}
			out.PathType, out.Path = ir.PathExact, val
			if typ == gwapiv1.PathMatchPathPrefix {
				out.PathType, out.Path = ir.PathPrefix, trimPrefixSlash(val)
			}
		case gwapiv1.PathMatchRegularExpression:
			if prob := checkRegex("path", val); prob != nil {
				return out, prob
			}
			out.PathType, out.Path = ir.PathRegex, val
		default:
			return out, unsupported("path match type %q is not supported", typ)
		}
	}
	seen := map[string]bool{}
	for _, h := range m.Headers {
		name := strings.ToLower(string(h.Name))
		if seen[name] { // only the first entry of a name counts
			continue
		}
		seen[name] = true
		sm, prob := stringMatch(string(h.Name), h.Type == nil || *h.Type == gwapiv1.HeaderMatchExact,
			h.Type != nil && *h.Type == gwapiv1.HeaderMatchRegularExpression, h.Value)
		if prob != nil {
			return out, prob
		}
		out.Headers = append(out.Headers, sm)
	}
	seenQ := map[string]bool{}
	for _, q := range m.QueryParams {
		if seenQ[string(q.Name)] {
			continue
		}
		seenQ[string(q.Name)] = true
		sm, prob := stringMatch(string(q.Name), q.Type == nil || *q.Type == gwapiv1.QueryParamMatchExact,
			q.Type != nil && *q.Type == gwapiv1.QueryParamMatchRegularExpression, q.Value)
		if prob != nil {
			return out, prob
		}
		out.Query = append(out.Query, sm)
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	return out, nil
}

func stringMatch(name string, exact, regex bool, value string) (ir.StringMatch, *ruleProblem) {
	switch {
	case exact:
		return ir.StringMatch{Name: name, Type: ir.MatchExact, Value: value}, nil
	case regex:
		if prob := checkRegex(name, value); prob != nil {
			return ir.StringMatch{}, prob
		}
		return ir.StringMatch{Name: name, Type: ir.MatchRegex, Value: value}, nil
	}
	return ir.StringMatch{}, unsupported("%s: match type is not supported", name)
}

// trimPrefixSlash drops a trailing slash: PathPrefix "/a/" is "/a".
func trimPrefixSlash(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}

// routeEntry is one ir route with what ranks it against routes of other
// rules and routes on the same virtual host.
type routeEntry struct {
	route   *ir.Route
	created metav1.Time
	ns      string
	name    string
	rule    int
	match   int
	// grpc is set for GRPCRoute entries, which rank by their own rules.
	grpc *grpcRank
}

// grpcRank is what GRPCRoute precedence compares: the number of characters
// of the match's exact service and method, and whether it is a regular
// expression match (implementation-specific, so its place is Gantry's).
type grpcRank struct {
	service, method int
	regex           bool
}

func newRouteEntry(r *ir.Route, meta metav1.ObjectMeta, rule, match int) *routeEntry {
	return &routeEntry{route: r, created: meta.CreationTimestamp, ns: meta.Namespace, name: meta.Name, rule: rule, match: match}
}

// pathRank orders path match types: exact first, then regular expressions,
// then prefixes (a prefix "/" would shadow any regex after it).
func pathRank(t ir.PathMatchType) int {
	switch t {
	case ir.PathExact:
		return 0
	case ir.PathRegex:
		return 1
	}
	return 2
}

// compareEntries is the Gateway API precedence. GRPCRoute entries come
// before HTTPRoute entries (the kinds are never merged; a gRPC entry only
// takes gRPC requests) and rank by compareGRPCEntries. HTTPRoute entries:
// exact path, longest path, method, most headers, most query parameters,
// oldest route, route namespace/name, then rule and match order.
func compareEntries(a, b *routeEntry) int {
	if ga, gb := a.grpc != nil, b.grpc != nil; ga != gb {
		return cmp.Compare(boolRank(ga), boolRank(gb))
	} else if ga {
		return compareGRPCEntries(a, b)
	}
	ma, mb := &a.route.Match, &b.route.Match
	if c := cmp.Compare(pathRank(ma.PathType), pathRank(mb.PathType)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(mb.Path), len(ma.Path)); c != 0 {
		return c
	}
	if c := cmp.Compare(boolRank(ma.Method != ""), boolRank(mb.Method != "")); c != 0 {
		return c
	}
	if c := cmp.Compare(len(mb.Headers), len(ma.Headers)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(mb.Query), len(ma.Query)); c != 0 {
		return c
	}
	return compareRouteOrder(a, b)
}

// compareGRPCEntries is the GRPCRoute precedence of the API (the hostname
// criteria are settled by the virtual hosts): most characters in the
// service, then in the method, then most header matches; ties go to the
// oldest route, then route namespace/name, then rule and match order.
// Regular expression matches count no characters and come right after the
// exact matches with the same counts (so after every exact service or
// method match, before matches with neither).
func compareGRPCEntries(a, b *routeEntry) int {
	if c := cmp.Compare(b.grpc.service, a.grpc.service); c != 0 {
		return c
	}
	if c := cmp.Compare(b.grpc.method, a.grpc.method); c != 0 {
		return c
	}
	if c := cmp.Compare(boolRank(a.grpc.regex), boolRank(b.grpc.regex)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.route.Match.Headers), len(a.route.Match.Headers)); c != 0 {
		return c
	}
	return compareRouteOrder(a, b)
}

// compareRouteOrder breaks ties: the oldest route, route namespace/name,
// then rule and match order.
func compareRouteOrder(a, b *routeEntry) int {
	if !a.created.Equal(&b.created) {
		if a.created.Before(&b.created) {
			return -1
		}
		return 1
	}
	return cmp.Or(compareJoined(a.ns, a.name, b.ns, b.name),
		cmp.Compare(a.rule, b.rule), cmp.Compare(a.match, b.match),
		cmp.Compare(a.route.Match.Path, b.route.Match.Path))
}

// compareJoined compares "a1/a2" with "b1/b2" (the spec orders routes by
// "{namespace}/{name}") without building the strings.
func compareJoined(a1, a2, b1, b2 string) int {
	at := func(s1, s2 string, i int) int {
		switch {
		case i < len(s1):
			return int(s1[i])
		case i == len(s1):
			return '/'
		case i-len(s1)-1 < len(s2):
			return int(s2[i-len(s1)-1])
		}
		return -1
	}
	n := max(len(a1)+1+len(a2), len(b1)+1+len(b2))
	for i := 0; i < n; i++ {
		if c := cmp.Compare(at(a1, a2, i), at(b1, b2, i)); c != 0 {
			return c
		}
	}
	return 0
}

func boolRank(b bool) int {
	if b {
		return 0
	}
	return 1
}

// sortEntries orders a virtual host's routes by precedence.
func sortEntries(es []*routeEntry) {
	slices.SortStableFunc(es, compareEntries)
}

// describe is used in messages.
func (e *routeEntry) String() string {
	return fmt.Sprintf("%s/%s rule %d match %d", e.ns, e.name, e.rule, e.match)
}
