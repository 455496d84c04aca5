package probe

import (
	"regexp"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// The matching below follows what grpc-go's xDS client does with a route
// configuration (gRFC A28): the virtual host by authority (exact, then the
// longest suffix wildcard, then the longest prefix wildcard, then "*"), then
// the first route whose path and header matchers all match the call.
// Routes with query parameter matchers never match a gRPC call.

// matchVirtualHost picks the virtual host for authority, compared with
// its port as grpc-go compares the dial target (Gantry's gRPC flavor lists
// every domain with and without the listener's port).
func matchVirtualHost(rc *routev3.RouteConfiguration, authority string) *routev3.VirtualHost {
	return pickVirtualHost(rc.GetVirtualHosts(), authority)
}

// domainRank orders domain match kinds; lower is better.
func domainRank(domain, host string) (rank int, length int, ok bool) {
	d := strings.ToLower(domain)
	switch {
	case d == "*":
		return 3, 1, true
	case strings.HasPrefix(d, "*"):
		return 1, len(d), strings.HasSuffix(host, d[1:])
	case strings.HasSuffix(d, "*"):
		return 2, len(d), strings.HasPrefix(host, d[:len(d)-1])
	default:
		return 0, len(d), d == host
	}
}

func pickVirtualHost(vhs []*routev3.VirtualHost, authority string) *routev3.VirtualHost {
	host := strings.ToLower(authority)
	var best *routev3.VirtualHost
	bestRank, bestLen := 4, 0
	for _, vh := range vhs {
		for _, d := range vh.GetDomains() {
			rank, length, ok := domainRank(d, host)
			if ok && (rank < bestRank || rank == bestRank && length > bestLen) {
				best, bestRank, bestLen = vh, rank, length
			}
		}
	}
	return best
}

// matchRoute returns the first route of vh that matches the call.
func matchRoute(vh *routev3.VirtualHost, path string, md map[string][]string) *routev3.Route {
	for _, r := range vh.GetRoutes() {
		m := r.GetMatch()
		if len(m.GetQueryParameters()) > 0 || !pathMatches(m, path) {
			continue
		}
		if headersMatch(m.GetHeaders(), md) {
			return r
		}
	}
	return nil
}

func pathMatches(m *routev3.RouteMatch, path string) bool {
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	p := path
	if fold {
		p = strings.ToLower(p)
	}
	lower := func(s string) string {
		if fold {
			return strings.ToLower(s)
		}
		return s
	}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return strings.HasPrefix(p, lower(ps.Prefix))
	case *routev3.RouteMatch_Path:
		return p == lower(ps.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		pre := lower(ps.PathSeparatedPrefix)
		return p == pre || strings.HasPrefix(p, strings.TrimSuffix(pre, "/")+"/")
	case *routev3.RouteMatch_SafeRegex:
		return fullMatch(ps.SafeRegex.GetRegex(), path)
	}
	return false
}

func fullMatch(pattern, s string) bool {
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(s)
}

// headersMatch checks every matcher against the call metadata; values of a
// key are joined with ",", keys ending in "-bin" are never matched, as in
// grpc-go.
func headersMatch(hms []*routev3.HeaderMatcher, md map[string][]string) bool {
	for _, hm := range hms {
		name := strings.ToLower(hm.GetName())
		vals, present := md[name]
		if strings.HasSuffix(name, "-bin") {
			present = false
		}
		if name == "content-type" {
			vals, present = []string{"application/grpc"}, true
		}
		if headerMatches(hm, strings.Join(vals, ","), present) == hm.GetInvertMatch() {
			return false
		}
	}
	return true
}

func headerMatches(hm *routev3.HeaderMatcher, v string, present bool) bool {
	if pm, ok := hm.GetHeaderMatchSpecifier().(*routev3.HeaderMatcher_PresentMatch); ok {
		return present == pm.PresentMatch
	}
	if !present {
		return false
	}
	switch s := hm.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch: // the only value matcher xds/envoy emits
		return stringMatches(s.StringMatch, v)
	}
	return false
}

func stringMatches(sm *matcherv3.StringMatcher, v string) bool {
	want := func(s string) (string, string) {
		if sm.GetIgnoreCase() {
			return strings.ToLower(v), strings.ToLower(s)
		}
		return v, s
	}
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		a, b := want(p.Exact)
		return a == b
	case *matcherv3.StringMatcher_Prefix:
		a, b := want(p.Prefix)
		return strings.HasPrefix(a, b)
	case *matcherv3.StringMatcher_Suffix:
		a, b := want(p.Suffix)
		return strings.HasSuffix(a, b)
	case *matcherv3.StringMatcher_Contains:
		a, b := want(p.Contains)
		return strings.Contains(a, b)
	case *matcherv3.StringMatcher_SafeRegex:
		return fullMatch(p.SafeRegex.GetRegex(), v)
	}
	return false
}

// routeClusters are the clusters a route can send a call to, sorted.
func routeClusters(r *routev3.Route) []string {
	a := r.GetRoute()
	if a == nil {
		return nil
	}
	var out []string
	if c := a.GetCluster(); c != "" {
		out = append(out, c)
	}
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		out = append(out, wc.GetName())
	}
	sort.Strings(out)
	return out
}

// allClusters are the clusters of every route of rc, sorted, once each.
func allClusters(rc *routev3.RouteConfiguration) []string {
	seen := map[string]bool{}
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			for _, c := range routeClusters(r) {
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
