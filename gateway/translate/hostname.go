package translate

import (
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// anyHost is the virtual host domain that matches every Host.
const anyHost = "*"

// hostMatches reports whether pattern (exact or "*.suffix") matches the
// exact hostname h. A wildcard matches one or more labels, never the bare
// suffix.
func hostMatches(pattern, h string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(h, suffix) && len(h) > len(suffix)
	}
	return pattern == h
}

// intersectHost returns the hostnames both a listener hostname (empty: any)
// and a route hostname accept, or "" when there are none.
func intersectHost(listener, routeHost string) string {
	switch {
	case listener == "":
		return routeHost
	case listener == routeHost:
		return routeHost
	case !strings.HasPrefix(routeHost, "*"):
		if hostMatches(listener, routeHost) {
			return routeHost
		}
	case !strings.HasPrefix(listener, "*"):
		if hostMatches(routeHost, listener) {
			return listener
		}
	default: // both wildcards: the narrower one, if nested
		if hostMatches(routeHost, "x"+listener[1:]) {
			return listener
		}
		if hostMatches(listener, "x"+routeHost[1:]) {
			return routeHost
		}
	}
	return ""
}

// routeHostnames intersects a route's hostnames with a listener hostname.
// An empty result means the route does not match the listener. Duplicates
// are removed; the order is the route's.
func routeHostnames(listener string, hosts []gwapiv1.Hostname, hasHostnames bool) []string {
	if !hasHostnames || len(hosts) == 0 {
		if listener == "" {
			return []string{anyHost}
		}
		return []string{listener}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if got := intersectHost(listener, string(h)); got != "" && !contains(out, got) {
			out = append(out, got)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// hostSpecificity ranks hostnames: exact names first, then wildcards with
// more labels, then the catch-all.
func hostSpecificity(h string) int {
	switch {
	case h == "" || h == anyHost:
		return 0
	case strings.HasPrefix(h, "*"):
		return 1 + strings.Count(h, ".")
	default:
		return 1000
	}
}
