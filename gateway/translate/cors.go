package translate

import (
	"regexp"
	"strings"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// originPattern is what an allowed origin may look like: a scheme, a host
// that may start with "*" (any labels to the left), an optional port.
var originPattern = regexp.MustCompile(`^(https?)://(\*|(\*\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:[0-9]{1,5})?$`)

// compileCORS translates a CORS filter into the route's CORS policy.
func compileCORS(c *gwapiv1.HTTPCORSFilter) (*ir.CORSPolicy, *ruleProblem) {
	if c == nil {
		return nil, unsupported("cors is missing")
	}
	out := &ir.CORSPolicy{}
	for i, o := range c.AllowOrigins {
		m, ok := originMatch(string(o))
		if !ok {
			return nil, unsupported("cors.allowOrigins[%d]: %q is not an origin", i, o)
		}
		out.AllowOrigins = append(out.AllowOrigins, m)
	}
	for _, m := range c.AllowMethods {
		if !contains(out.AllowMethods, string(m)) {
			out.AllowMethods = append(out.AllowMethods, string(m))
		}
	}
	for _, h := range c.AllowHeaders {
		out.AllowHeaders = appendFold(out.AllowHeaders, string(h))
	}
	for _, h := range c.ExposeHeaders {
		out.ExposeHeaders = appendFold(out.ExposeHeaders, string(h))
	}
	if c.MaxAge > 0 {
		out.MaxAge = secondsDuration(c.MaxAge)
	}
	if c.AllowCredentials != nil && *c.AllowCredentials {
		out.AllowCredentials = true
	}
	return out, nil
}

// originMatch turns an allowed origin into a string match: "*" allows any
// origin, a leading "*" in the host matches any labels to its left, anything
// else must equal the Origin header.
func originMatch(o string) (ir.StringMatch, bool) {
	if o == "*" {
		return ir.StringMatch{Type: ir.MatchExact, Value: "*"}, true
	}
	sub := originPattern.FindStringSubmatch(o)
	if sub == nil {
		return ir.StringMatch{}, false
	}
	host := sub[2]
	if !strings.HasPrefix(host, "*") {
		return ir.StringMatch{Type: ir.MatchExact, Value: o}, true
	}
	re := "^" + regexp.QuoteMeta(sub[1]+"://") + ".*" + regexp.QuoteMeta(strings.TrimPrefix(host, "*")+sub[len(sub)-1]) + "$"
	return ir.StringMatch{Type: ir.MatchRegex, Value: re}, true
}

// appendFold appends a header name unless it is already listed (header
// names compare case-insensitively).
func appendFold(list []string, h string) []string {
	for _, v := range list {
		if strings.EqualFold(v, h) {
			return list
		}
	}
	return append(list, h)
}

// secondsDuration converts a number of seconds.
func secondsDuration(s int32) time.Duration {
	return time.Duration(s) * time.Second
}
