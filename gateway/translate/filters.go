package translate

import (
	"fmt"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// ruleFilters is what a rule's filters amount to.
type ruleFilters struct {
	reqHeaders  *ir.HeaderMutation
	respHeaders *ir.HeaderMutation
	redirect    *ir.Redirect
	rewrite     *ir.Rewrite
	mirrors     []ir.Mirror
	cors        *ir.CORSPolicy
}

// needsPrefix reports whether a filter replaces the matched path prefix,
// which only PathPrefix matches have.
func (f *ruleFilters) needsPrefix() bool {
	return (f.redirect != nil && f.redirect.PrefixPath != nil) || (f.rewrite != nil && f.rewrite.PrefixPath != nil)
}

func unsupported(format string, args ...any) *ruleProblem {
	return &ruleProblem{reason: gwapiv1.RouteReasonUnsupportedValue, msg: fmt.Sprintf(format, args...)}
}

// filters translates a rule's filters. Filters Gantry does not implement
// make the rule invalid rather than being ignored.
func (rc *ruleCompiler) filters(in []gwapiv1.HTTPRouteFilter) (*ruleFilters, *ruleProblem) {
	f := &ruleFilters{}
	for i := range in {
		fl := &in[i]
		var prob *ruleProblem
		switch fl.Type {
		case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
			if prob = checkHeaderFilter("requestHeaderModifier", fl.RequestHeaderModifier); fl.RequestHeaderModifier == nil {
				prob = unsupported("requestHeaderModifier is missing")
			}
			f.reqHeaders = mergeHeaders(f.reqHeaders, fl.RequestHeaderModifier)
		case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
			if prob = checkHeaderFilter("responseHeaderModifier", fl.ResponseHeaderModifier); fl.ResponseHeaderModifier == nil {
				prob = unsupported("responseHeaderModifier is missing")
			}
			f.respHeaders = mergeHeaders(f.respHeaders, fl.ResponseHeaderModifier)
		case gwapiv1.HTTPRouteFilterRequestRedirect:
			f.redirect, prob = compileRedirect(fl.RequestRedirect)
			if prob == nil {
				prob = checkPathModifier("requestRedirect", f.redirect.FullPath, f.redirect.PrefixPath)
			}
		case gwapiv1.HTTPRouteFilterURLRewrite:
			f.rewrite, prob = compileRewrite(fl.URLRewrite)
			if prob == nil {
				prob = checkPathModifier("urlRewrite", f.rewrite.FullPath, f.rewrite.PrefixPath)
			}
		case gwapiv1.HTTPRouteFilterRequestMirror:
			var m *ir.Mirror
			m, prob = rc.mirror(fl.RequestMirror)
			if m != nil {
				f.mirrors = append(f.mirrors, *m)
			}
		case gwapiv1.HTTPRouteFilterCORS:
			f.cors, prob = compileCORS(fl.CORS)
		default:
			prob = unsupported("filter type %q is not supported", fl.Type)
		}
		if prob != nil {
			prob.msg = fmt.Sprintf("filters[%d]: %s", i, prob.msg)
			return nil, prob
		}
	}
	if f.redirect != nil && f.rewrite != nil {
		return nil, &ruleProblem{reason: gwapiv1.RouteReasonIncompatibleFilters, msg: "RequestRedirect and URLRewrite cannot be combined"}
	}
	return f, nil
}

// mergeHeaders adds a header filter's edits to m (nil: a new mutation).
func mergeHeaders(m *ir.HeaderMutation, h *gwapiv1.HTTPHeaderFilter) *ir.HeaderMutation {
	if h == nil {
		return m
	}
	if m == nil {
		m = &ir.HeaderMutation{}
	}
	for _, s := range h.Set {
		m.Set = append(m.Set, ir.Header{Name: string(s.Name), Value: s.Value})
	}
	for _, a := range h.Add {
		m.Add = append(m.Add, ir.Header{Name: string(a.Name), Value: a.Value})
	}
	m.Remove = append(m.Remove, h.Remove...)
	return m
}

var redirectCodes = map[int]bool{301: true, 302: true, 303: true, 307: true, 308: true}

func compileRedirect(r *gwapiv1.HTTPRequestRedirectFilter) (*ir.Redirect, *ruleProblem) {
	if r == nil {
		return nil, unsupported("requestRedirect is missing")
	}
	out := &ir.Redirect{StatusCode: 302}
	if r.StatusCode != nil {
		if !redirectCodes[*r.StatusCode] {
			return nil, unsupported("redirect statusCode %d is not supported", *r.StatusCode)
		}
		out.StatusCode = uint32(*r.StatusCode)
	}
	if r.Scheme != nil {
		if *r.Scheme != "http" && *r.Scheme != "https" {
			return nil, unsupported("redirect scheme %q is not supported", *r.Scheme)
		}
		out.Scheme = *r.Scheme
	}
	if r.Hostname != nil {
		out.Hostname = string(*r.Hostname)
	}
	switch {
	case r.Port != nil:
		out.Port = uint32(*r.Port)
	case out.Scheme == "https":
		out.Port = 443 // the spec: a scheme without a port means its well-known port
	case out.Scheme == "http":
		out.Port = 80
	}
	full, prefix, prob := pathModifier(r.Path)
	out.FullPath, out.PrefixPath = full, prefix
	return out, prob
}

func compileRewrite(r *gwapiv1.HTTPURLRewriteFilter) (*ir.Rewrite, *ruleProblem) {
	if r == nil {
		return nil, unsupported("urlRewrite is missing")
	}
	out := &ir.Rewrite{}
	if r.Hostname != nil {
		out.Hostname = string(*r.Hostname)
	}
	full, prefix, prob := pathModifier(r.Path)
	out.FullPath, out.PrefixPath = full, prefix
	return out, prob
}

func pathModifier(p *gwapiv1.HTTPPathModifier) (full, prefix *string, prob *ruleProblem) {
	if p == nil {
		return nil, nil, nil
	}
	switch p.Type {
	case gwapiv1.FullPathHTTPPathModifier:
		if p.ReplaceFullPath == nil {
			return nil, nil, unsupported("path.replaceFullPath is missing")
		}
		v := *p.ReplaceFullPath
		return &v, nil, nil
	case gwapiv1.PrefixMatchHTTPPathModifier:
		if p.ReplacePrefixMatch == nil {
			return nil, nil, unsupported("path.replacePrefixMatch is missing")
		}
		v := *p.ReplacePrefixMatch
		return nil, &v, nil
	}
	return nil, nil, unsupported("path modifier type %q is not supported", p.Type)
}

// mirror resolves a RequestMirror filter. An unresolvable mirror backend is
// reported (ResolvedRefs) and left out; the rule stays.
func (rc *ruleCompiler) mirror(m *gwapiv1.HTTPRequestMirrorFilter) (*ir.Mirror, *ruleProblem) {
	if m == nil {
		return nil, unsupported("requestMirror is missing")
	}
	out := &ir.Mirror{}
	switch {
	case m.Percent != nil && m.Fraction != nil:
		return nil, unsupported("requestMirror: percent and fraction are exclusive")
	case m.Percent != nil:
		if *m.Percent < 0 || *m.Percent > 100 {
			return nil, unsupported("requestMirror: percent %d is out of range", *m.Percent)
		}
		out.Numerator, out.Denominator = uint32(*m.Percent), 100
	case m.Fraction != nil:
		den := int32(100)
		if m.Fraction.Denominator != nil {
			den = *m.Fraction.Denominator
		}
		if den <= 0 || m.Fraction.Numerator < 0 || m.Fraction.Numerator > den {
			return nil, unsupported("requestMirror: fraction %d/%d is out of range", m.Fraction.Numerator, den)
		}
		out.Numerator, out.Denominator = uint32(m.Fraction.Numerator), uint32(den)
	}
	c, prob := rc.x.resolveBackend(rc.id, m.BackendRef)
	if prob != nil {
		prob.msg = "requestMirror: " + prob.msg
		rc.refProblems = append(rc.refProblems, prob)
		return nil, nil
	}
	rc.clusters = append(rc.clusters, c)
	out.Cluster = c.Name
	return out, nil
}

// parseDuration reads a Gateway API duration ("1h", "10s", "500ms").
func parseDuration(field string, d *gwapiv1.Duration) (time.Duration, *ruleProblem) {
	if d == nil {
		return 0, nil
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil || v < 0 {
		return 0, unsupported("%s: invalid duration %q", field, *d)
	}
	return v, nil
}

func (rc *ruleCompiler) timeouts(fwd *ir.ForwardAction) *ruleProblem {
	t := rc.rule.Timeouts
	if t == nil {
		return nil
	}
	req, prob := parseDuration("timeouts.request", t.Request)
	if prob != nil {
		return prob
	}
	be, prob := parseDuration("timeouts.backendRequest", t.BackendRequest)
	if prob != nil {
		return prob
	}
	if req > 0 && be > req {
		return unsupported("timeouts.backendRequest %s exceeds timeouts.request %s", *t.BackendRequest, *t.Request)
	}
	fwd.Timeout, fwd.PerTryTimeout = req, be
	return nil
}

func (rc *ruleCompiler) retry(fwd *ir.ForwardAction) *ruleProblem {
	r := rc.rule.Retry
	if r == nil {
		return nil
	}
	attempts := 1
	if r.Attempts != nil {
		attempts = *r.Attempts
	}
	if attempts < 0 {
		return unsupported("retry.attempts %d is negative", attempts)
	}
	if attempts == 0 {
		return nil
	}
	backoff, prob := parseDuration("retry.backoff", r.Backoff)
	if prob != nil {
		return prob
	}
	p := &ir.RetryPolicy{Attempts: uint32(attempts), Backoff: backoff, ConnectFailure: true}
	for _, c := range r.Codes {
		if c < 400 || c > 599 {
			return unsupported("retry.codes: %d is not a 4xx or 5xx status", c)
		}
		p.Codes = append(p.Codes, uint32(c))
	}
	fwd.Retry = p
	return nil
}
