package probe

import (
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMatchVirtualHost(t *testing.T) {
	rc := &routev3.RouteConfiguration{VirtualHosts: []*routev3.VirtualHost{
		{Name: "any", Domains: []string{"*"}},
		{Name: "suffix", Domains: []string{"*.example.com"}},
		{Name: "longer-suffix", Domains: []string{"*.app.example.com"}},
		{Name: "prefix", Domains: []string{"api.*"}},
		{Name: "exact", Domains: []string{"app.example.com", "app.example.com:8080"}},
	}}
	tests := map[string]string{
		"app.example.com:8080": "exact",
		"APP.example.com":      "exact",
		"app.example.com:9090": "any", // the port is part of the comparison
		"x.app.example.com":    "longer-suffix",
		"b.example.com":        "suffix",
		"api.example.org":      "prefix",
		"other.org":            "any",
	}
	for authority, want := range tests {
		if got := matchVirtualHost(rc, authority); got.GetName() != want {
			t.Errorf("%s: virtual host %q, want %q", authority, got.GetName(), want)
		}
	}
}

func TestMatchRoute(t *testing.T) {
	exact := func(s string) *routev3.HeaderMatcher_StringMatch {
		return &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}}
	}
	vh := &routev3.VirtualHost{Routes: []*routev3.Route{
		{Name: "query", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			QueryParameters: []*routev3.QueryParameterMatcher{{Name: "q"}}}},
		{Name: "exact", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/v2"}}},
		{Name: "prefix-nocase", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/V2/"},
			CaseSensitive: wrapperspb.Bool(false)}},
		{Name: "regex", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: "/r/[0-9]+"}}}},
		{Name: "header", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers: []*routev3.HeaderMatcher{{Name: "x-canary", HeaderMatchSpecifier: exact("true")}}}},
		{Name: "not-beta", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/b"},
			Headers: []*routev3.HeaderMatcher{{Name: "x-beta", InvertMatch: true,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}}}},
		{Name: "rest", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}},
	}}
	tests := []struct {
		path string
		md   map[string][]string
		want string
	}{
		{"/v2", nil, "exact"},
		{"/v2/items", nil, "prefix-nocase"},
		{"/r/12", nil, "regex"},
		{"/r/12x", nil, "rest"},
		{"/a", map[string][]string{"x-canary": {"true"}}, "header"},
		{"/a", map[string][]string{"x-canary": {"false"}}, "rest"},
		{"/b", nil, "not-beta"},
		{"/b", map[string][]string{"x-beta": {"1"}}, "rest"},
	}
	for _, tc := range tests {
		if got := matchRoute(vh, tc.path, tc.md); got.GetName() != tc.want {
			t.Errorf("%s %v: route %q, want %q", tc.path, tc.md, got.GetName(), tc.want)
		}
	}
}
