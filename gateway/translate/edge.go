package translate

import (
	"fmt"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/xds/ir"
)

// This file holds the checks that keep a rule Envoy would refuse out of the
// configuration: the CRDs accept header edits of Host or pseudo-headers,
// control characters in header values and paths, and regular expressions
// larger than Envoy's RE2 limit, any of which would make the whole proxy's
// configuration fail to build (or be refused by Envoy). Each one makes just
// its rule invalid, with a message naming the field.

// edgeProblem is the rule problem for a field that Envoy would refuse.
func edgeProblem(field string, err error) *ruleProblem {
	return unsupported("%s: %v", field, err)
}

// checkHeaderFilter checks a RequestHeaderModifier or ResponseHeaderModifier
// (field names it, for example "filters[0].requestHeaderModifier").
func checkHeaderFilter(field string, h *gwapiv1.HTTPHeaderFilter) *ruleProblem {
	if h == nil {
		return nil
	}
	for _, list := range []struct {
		name    string
		headers []gwapiv1.HTTPHeader
	}{{name: "set", headers: h.Set}, {name: "add", headers: h.Add}} {
		for i, hd := range list.headers {
			f := fmt.Sprintf("%s.%s[%d]", field, list.name, i)
			if err := ir.CheckMutableHeader(string(hd.Name)); err != nil {
				return edgeProblem(f+".name", err)
			}
			if err := ir.CheckHeaderValue(hd.Value); err != nil {
				return edgeProblem(f+".value", err)
			}
		}
	}
	for i, name := range h.Remove {
		if err := ir.CheckMutableHeader(name); err != nil {
			return edgeProblem(fmt.Sprintf("%s.remove[%d]", field, i), err)
		}
	}
	return nil
}

// checkPathModifier checks the path of a redirect or rewrite.
func checkPathModifier(field string, full, prefix *string) *ruleProblem {
	if full != nil {
		if err := ir.CheckPath(*full); err != nil {
			return edgeProblem(field+".path.replaceFullPath", err)
		}
	}
	if prefix != nil {
		if err := ir.CheckPath(*prefix); err != nil {
			return edgeProblem(field+".path.replacePrefixMatch", err)
		}
	}
	return nil
}

// checkRegex checks a regular expression of a match.
func checkRegex(field, expr string) *ruleProblem {
	if err := ir.CheckRegex(expr); err != nil {
		return edgeProblem(field, err)
	}
	return nil
}

// checkEntries is the last check of a compiled rule: every route passes
// ir.Route.Check, the same checks xds/envoy makes before building. The
// field-level checks above name the Gateway API field; this one catches
// anything they miss, naming the IR field.
func checkEntries(entries []*routeEntry) *ruleProblem {
	for _, e := range entries {
		if err := e.route.Check(); err != nil {
			return unsupported("the rule cannot be programmed: %v", err)
		}
	}
	return nil
}

// fleetParams are a Gateway's fleet parameters: the defaults, then its
// class's ConfigMap, then its own (both were validated before translation
// got here, so an error cannot happen and the defaults stay).
func (t *translator) fleetParams(gw *gwapiv1.Gateway) params.Params {
	p := params.Default()
	if gc := t.x.classes[string(gw.Spec.GatewayClassName)]; gc != nil && gc.Spec.ParametersRef != nil {
		if ns, name, err := params.ClassRef(gc.Spec.ParametersRef); err == nil {
			if cm := t.x.extras().configMaps[nsName{ns, name}]; cm != nil {
				if q, err := p.Apply(cm); err == nil {
					p = q
				}
			}
		}
	}
	if name, ok, err := params.GatewayRef(gw); ok && err == nil {
		if cm := t.x.extras().configMaps[nsName{gw.Namespace, name}]; cm != nil {
			if q, err := p.Apply(cm); err == nil {
				p = q
			}
		}
	}
	return p
}

// setEdge gives every HTTP connection manager of p the Gateway's edge
// settings (one shared value; IR is never modified after translation).
func setEdge(p *ir.Proxy, e params.Edge) {
	s := &ir.EdgeSettings{
		NormalizePath:                    e.NormalizePath,
		MergeSlashes:                     e.MergeSlashes,
		EscapedSlashes:                   ir.EscapedSlashesAction(e.EscapedSlashesAction),
		HeadersWithUnderscores:           ir.UnderscoresAction(e.HeadersWithUnderscoresAction),
		StripTrailingHostDot:             e.StripTrailingHostDot,
		HTTP2MaxConcurrentStreams:        e.HTTP2MaxConcurrentStreams,
		HTTP2InitialStreamWindowSize:     e.HTTP2InitialStreamWindowSize,
		HTTP2InitialConnectionWindowSize: e.HTTP2InitialConnectionWindowSize,
	}
	for _, l := range p.Listeners {
		for _, fc := range l.FilterChains {
			if fc.HTTP != nil {
				fc.HTTP.Edge = s
			}
		}
	}
}
