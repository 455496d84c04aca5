package conformance

// A strict reader of the Envoy flavor's mesh route tables: it picks the
// virtual host and the first matching route of a RouteConfiguration for a
// request the way Envoy does, and reports the outcome (redirect, backends,
// header edits, path rewrite). It knows only what Gantry emits for these
// tables; anything else in a route it meets fails the test instead of being
// ignored.

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// envoyRequest is what a client sends.
type envoyRequest struct {
	host, path string
	headers    map[string]string
}

// envoyOutcome is what Envoy does with it.
type envoyOutcome struct {
	notFound bool
	// Redirect.
	status                           int
	scheme, host, port, redirectPath string
	// Forward.
	clusters       []string
	path           string            // after rewrite
	requestSet     map[string]string // set or appended headers
	requestAppend  map[string]string
	requestRemove  []string
	responseSet    map[string]string
	responseRemove []string
}

func evalRoute(t *testing.T, rc *routev3.RouteConfiguration, req envoyRequest) envoyOutcome {
	t.Helper()
	vh := pickVirtualHost(rc, req.host)
	if vh == nil {
		return envoyOutcome{notFound: true}
	}
	for _, r := range vh.Routes {
		if matches(t, r.Match, req) {
			return outcome(t, r, req)
		}
	}
	return envoyOutcome{notFound: true}
}

func pickVirtualHost(rc *routev3.RouteConfiguration, host string) *routev3.VirtualHost {
	for _, vh := range rc.VirtualHosts {
		if slices.Contains(vh.Domains, host) {
			return vh
		}
	}
	for _, vh := range rc.VirtualHosts {
		if slices.Contains(vh.Domains, "*") {
			return vh
		}
	}
	return nil
}

func matches(t *testing.T, m *routev3.RouteMatch, req envoyRequest) bool {
	t.Helper()
	path, query, _ := strings.Cut(req.path, "?")
	ok := false
	switch p := m.PathSpecifier.(type) {
	case *routev3.RouteMatch_Prefix:
		ok = strings.HasPrefix(path, p.Prefix)
	case *routev3.RouteMatch_Path:
		ok = path == p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		ok = path == p.PathSeparatedPrefix || strings.HasPrefix(path, p.PathSeparatedPrefix+"/")
	case *routev3.RouteMatch_SafeRegex:
		ok = regexp.MustCompile("^(?:" + p.SafeRegex.Regex + ")$").MatchString(path)
	default:
		t.Fatalf("route match %T is not modelled", p)
	}
	if !ok {
		return false
	}
	for _, h := range m.Headers {
		v, present := lookup(req.headers, h.Name)
		if got := headerMatches(t, h, v, present); got == h.InvertMatch {
			return false
		}
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
	for _, q := range m.QueryParameters {
		vs, present := values[q.Name]
		switch s := q.QueryParameterMatchSpecifier.(type) {
		case *routev3.QueryParameterMatcher_StringMatch:
			if !present || !stringMatches(t, s.StringMatch, vs[0]) {
				return false
			}
		case *routev3.QueryParameterMatcher_PresentMatch:
			if present != s.PresentMatch {
				return false
			}
		default:
			t.Fatalf("query matcher %T is not modelled", s)
		}
	}
	return m.RuntimeFraction == nil && len(m.DynamicMetadata) == 0
}

func lookup(headers map[string]string, name string) (string, bool) {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func headerMatches(t *testing.T, h *routev3.HeaderMatcher, v string, present bool) bool {
	t.Helper()
	switch s := h.HeaderMatchSpecifier.(type) {
	case *routev3.HeaderMatcher_StringMatch:
		return present && stringMatches(t, s.StringMatch, v)
	case *routev3.HeaderMatcher_PresentMatch:
		return present == s.PresentMatch
	default:
		t.Fatalf("header matcher %T is not modelled", s)
	}
	return false
}

func stringMatches(t *testing.T, m *matcherv3.StringMatcher, v string) bool {
	t.Helper()
	if m.IgnoreCase {
		t.Fatalf("ignore_case string matches are not modelled")
	}
	switch p := m.MatchPattern.(type) {
	case *matcherv3.StringMatcher_Exact:
		return v == p.Exact
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(v, p.Prefix)
	case *matcherv3.StringMatcher_SafeRegex:
		return regexp.MustCompile("^(?:" + p.SafeRegex.Regex + ")$").MatchString(v)
	default:
		t.Fatalf("string matcher %T is not modelled", p)
	}
	return false
}

func outcome(t *testing.T, r *routev3.Route, req envoyRequest) envoyOutcome {
	t.Helper()
	out := envoyOutcome{requestSet: map[string]string{}, requestAppend: map[string]string{}, responseSet: map[string]string{}}
	path, _, _ := strings.Cut(req.path, "?")
	switch a := r.Action.(type) {
	case *routev3.Route_Redirect:
		return redirectOutcome(t, a.Redirect, r.Match, path)
	case *routev3.Route_Route:
		ra := a.Route
		switch c := ra.ClusterSpecifier.(type) {
		case *routev3.RouteAction_Cluster:
			out.clusters = []string{c.Cluster}
		case *routev3.RouteAction_WeightedClusters:
			for _, wc := range c.WeightedClusters.Clusters {
				out.clusters = append(out.clusters, wc.Name)
				addHeaders(&out, wc.RequestHeadersToAdd, wc.RequestHeadersToRemove, wc.ResponseHeadersToAdd, wc.ResponseHeadersToRemove)
			}
		default:
			t.Fatalf("cluster specifier %T is not modelled", c)
		}
		out.path = rewritten(t, ra, r.Match, path)
	case *routev3.Route_DirectResponse:
		return envoyOutcome{status: int(a.DirectResponse.Status)}
	default:
		t.Fatalf("route action %T is not modelled", a)
	}
	addHeaders(&out, r.RequestHeadersToAdd, r.RequestHeadersToRemove, r.ResponseHeadersToAdd, r.ResponseHeadersToRemove)
	return out
}

func addHeaders(out *envoyOutcome, reqAdd []*corev3.HeaderValueOption, reqRemove []string, respAdd []*corev3.HeaderValueOption, respRemove []string) {
	for _, h := range reqAdd {
		if h.AppendAction == corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
			out.requestAppend[strings.ToLower(h.Header.Key)] = h.Header.Value
		} else {
			out.requestSet[strings.ToLower(h.Header.Key)] = h.Header.Value
		}
	}
	for _, h := range respAdd {
		out.responseSet[strings.ToLower(h.Header.Key)] = h.Header.Value
	}
	out.requestRemove = append(out.requestRemove, lower(reqRemove)...)
	out.responseRemove = append(out.responseRemove, lower(respRemove)...)
}

func lower(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, strings.ToLower(s))
	}
	return out
}

func redirectOutcome(t *testing.T, r *routev3.RedirectAction, m *routev3.RouteMatch, path string) envoyOutcome {
	t.Helper()
	out := envoyOutcome{status: 301, host: r.HostRedirect, redirectPath: path}
	switch r.ResponseCode {
	case routev3.RedirectAction_FOUND:
		out.status = 302
	case routev3.RedirectAction_SEE_OTHER:
		out.status = 303
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		out.status = 307
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		out.status = 308
	}
	if s, ok := r.SchemeRewriteSpecifier.(*routev3.RedirectAction_SchemeRedirect); ok {
		out.scheme = s.SchemeRedirect
	}
	// A scheme's default port may be left out or sent; the upstream suite
	// accepts both when it expects none, so it is reported as none.
	if r.PortRedirect != 0 && !(out.scheme == "https" && r.PortRedirect == 443) && !(out.scheme == "http" && r.PortRedirect == 80) {
		out.port = itoa(r.PortRedirect)
	}
	switch p := r.PathRewriteSpecifier.(type) {
	case nil:
	case *routev3.RedirectAction_PathRedirect:
		out.redirectPath = p.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		out.redirectPath = rewritePrefix(t, m, path, p.PrefixRewrite)
	case *routev3.RedirectAction_RegexRewrite:
		out.redirectPath = regexp.MustCompile(p.RegexRewrite.Pattern.Regex).ReplaceAllString(path, envoySubst(p.RegexRewrite.Substitution))
	default:
		t.Fatalf("redirect path %T is not modelled", p)
	}
	return out
}

func rewritten(t *testing.T, ra *routev3.RouteAction, m *routev3.RouteMatch, path string) string {
	t.Helper()
	switch {
	case ra.PrefixRewrite != "":
		return rewritePrefix(t, m, path, ra.PrefixRewrite)
	case ra.RegexRewrite != nil:
		return regexp.MustCompile(ra.RegexRewrite.Pattern.Regex).ReplaceAllString(path, envoySubst(ra.RegexRewrite.Substitution))
	}
	return path
}

// rewritePrefix replaces the matched prefix, as Envoy's prefix_rewrite.
func rewritePrefix(t *testing.T, m *routev3.RouteMatch, path, with string) string {
	t.Helper()
	var prefix string
	switch p := m.PathSpecifier.(type) {
	case *routev3.RouteMatch_Prefix:
		prefix = p.Prefix
	case *routev3.RouteMatch_PathSeparatedPrefix:
		prefix = p.PathSeparatedPrefix
	case *routev3.RouteMatch_Path:
		prefix = p.Path
	default:
		t.Fatalf("prefix rewrite after %T is not modelled", p)
	}
	return with + strings.TrimPrefix(path, prefix)
}

// envoySubst turns Envoy's \1 back-references into Go's ${1}.
func envoySubst(s string) string {
	return regexp.MustCompile(`\\(\d)`).ReplaceAllString(s, `$${$1}`)
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
