package translate

import (
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// grpcCandidate is one GRPCRoute match of a precedence case.
type grpcCandidate struct {
	label   string
	route   string // namespace/name
	created int    // creation time in seconds
	match   gwapiv1.GRPCRouteMatch
}

// grpcEntry compiles a candidate into the route entry a virtual host sorts.
func grpcEntry(t *testing.T, c grpcCandidate, idx int) *routeEntry {
	t.Helper()
	m, prob := compileGRPCMatch(&c.match)
	if prob != nil {
		t.Fatalf("%s: %v", c.label, prob)
	}
	ns, name, _ := strings.Cut(c.route, "/")
	meta := metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(time.Unix(int64(c.created), 0))}
	e := newRouteEntry(&ir.Route{Name: c.label, Match: m}, meta, idx, 0)
	e.grpc = grpcRankOf(&c.match)
	return e
}

// pathMatches says whether an ir path match takes the request path p, the
// way the data plane does (prefixes on whole segments, regexes whole).
func pathMatches(m ir.RouteMatch, p string) bool {
	switch m.PathType {
	case ir.PathExact:
		return p == m.Path
	case ir.PathRegex:
		return regexp.MustCompile("^(?:" + m.Path + ")$").MatchString(p)
	}
	prefix := strings.TrimSuffix(m.Path, "/")
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// TestGRPCRoutePrecedence: among GRPCRoute matches that all take a request,
// the one the API prefers serves it: most characters in the service, then
// in the method, then most header matches, then the oldest route, then
// namespace/name, then rule order. Regular expression matches
// (implementation-specific) rank after exact service or method matches and
// before matches with neither.
func TestGRPCRoutePrecedence(t *testing.T) {
	regex := sptr(gwapiv1.GRPCMethodMatchRegularExpression)
	method := func(svc, m string) gwapiv1.GRPCRouteMatch {
		mm := &gwapiv1.GRPCMethodMatch{}
		if svc != "" {
			mm.Service = sptr(svc)
		}
		if m != "" {
			mm.Method = sptr(m)
		}
		return gwapiv1.GRPCRouteMatch{Method: mm}
	}
	withHeaders := func(m gwapiv1.GRPCRouteMatch, n int) gwapiv1.GRPCRouteMatch {
		for i := 0; i < n; i++ {
			m.Headers = append(m.Headers, gwapiv1.GRPCHeaderMatch{Name: gwapiv1.GRPCHeaderName("x-h" + string(rune('a'+i))), Value: "v"})
		}
		return m
	}
	cases := []struct {
		name       string
		path       string
		candidates []grpcCandidate
		want       string
	}{
		{name: "service-only beats method-only", path: "/echo.Echo/Say", want: "service", candidates: []grpcCandidate{
			{label: "method", route: "default/a", match: method("", "Say")},
			{label: "service", route: "default/b", match: method("echo.Echo", "")},
		}},
		{name: "service and method beat service-only", path: "/echo.Echo/Say", want: "both", candidates: []grpcCandidate{
			{label: "service", route: "default/a", match: method("echo.Echo", "")},
			{label: "both", route: "default/b", match: method("echo.Echo", "Say")},
		}},
		{name: "longer method wins between method-only matches", path: "/echo.Echo/Say", want: "both", candidates: []grpcCandidate{
			{label: "method", route: "default/a", match: method("", "Say")},
			{label: "both", route: "default/z", match: method("echo.Echo", "Say")},
		}},
		{name: "service characters before header matches", path: "/echo.Echo/Say", want: "service", candidates: []grpcCandidate{
			{label: "method+headers", route: "default/a", match: withHeaders(method("", "Say"), 3)},
			{label: "service", route: "default/b", match: method("echo.Echo", "")},
		}},
		{name: "more header matches on a tie", path: "/echo.Echo/Say", want: "two", candidates: []grpcCandidate{
			{label: "one", route: "default/a", match: withHeaders(method("echo.Echo", ""), 1)},
			{label: "two", route: "default/b", match: withHeaders(method("echo.Echo", ""), 2)},
		}},
		{name: "header matches beat a catch-all", path: "/x.Y/Z", want: "headers", candidates: []grpcCandidate{
			{label: "all", route: "default/a", match: gwapiv1.GRPCRouteMatch{}},
			{label: "headers", route: "default/b", match: withHeaders(gwapiv1.GRPCRouteMatch{}, 1)},
		}},
		{name: "exact method beats a regex", path: "/echo.v1.Echo/Say", want: "method", candidates: []grpcCandidate{
			{label: "regex", route: "default/a", match: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: regex, Service: sptr(`echo\.v[0-9]+\.Echo`), Method: sptr("S.*")}}},
			{label: "method", route: "default/b", match: method("", "Say")},
		}},
		{name: "a regex beats a catch-all", path: "/echo.v1.Echo/Say", want: "regex", candidates: []grpcCandidate{
			{label: "all", route: "default/a", match: gwapiv1.GRPCRouteMatch{}},
			{label: "regex", route: "default/b", match: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: regex, Method: sptr("S.*")}}},
		}},
		{name: "oldest route on a full tie", path: "/echo.Echo/Say", want: "old", candidates: []grpcCandidate{
			{label: "new", route: "default/a", created: 20, match: method("echo.Echo", "")},
			{label: "old", route: "default/b", created: 10, match: method("echo.Echo", "")},
		}},
		{name: "namespace/name when equally old", path: "/echo.Echo/Say", want: "first", candidates: []grpcCandidate{
			{label: "second", route: "default/b", match: method("echo.Echo", "")},
			{label: "first", route: "default/a", match: method("echo.Echo", "")},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range [][]int{{0, 1}, {1, 0}} {
				var es []*routeEntry
				for _, i := range order {
					e := grpcEntry(t, tc.candidates[i], 0)
					if !pathMatches(e.route.Match, tc.path) {
						t.Fatalf("%s does not take %s: the case is wrong", tc.candidates[i].label, tc.path)
					}
					es = append(es, e)
				}
				sortEntries(es)
				if got := es[0].route.Name; got != tc.want {
					t.Errorf("input order %v: %s is served by %s, want %s", order, tc.path, got, tc.want)
				}
			}
		})
	}
}

// TestGRPCEntriesBeforeHTTP: on one virtual host, GRPCRoute entries (which
// take only gRPC requests) come before HTTPRoute entries, whatever their
// paths, so the kinds' own precedence rules never mix.
func TestGRPCEntriesBeforeHTTP(t *testing.T) {
	g := grpcEntry(t, grpcCandidate{label: "grpc", route: "default/g", match: gwapiv1.GRPCRouteMatch{}}, 0)
	h := newRouteEntry(&ir.Route{Name: "http", Match: ir.RouteMatch{PathType: ir.PathExact, Path: "/echo.Echo/Say"}}, metav1.ObjectMeta{Namespace: "default", Name: "h"}, 0, 0)
	if compareEntries(g, h) >= 0 || compareEntries(h, g) <= 0 {
		t.Errorf("compare(grpc, http) = %d, compare(http, grpc) = %d; want the gRPC entry first", compareEntries(g, h), compareEntries(h, g))
	}
}
