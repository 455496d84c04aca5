package authz

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/xds/ir"
)

// rules converts a policy's rules for a chain that verifies what pr says.
// What the chain cannot check fails closed: an unverifiable source of an
// ALLOW rule matches nothing, and a DENY rule with one applies to every
// peer; an HTTP attribute on a TCP chain makes an ALLOW entry match nothing
// and is dropped from a DENY entry (which then covers more).
func (p *Policies) rules(ap *securityv1alpha1.AuthorizationPolicy, pr peer) []ir.AuthzRule {
	deny := ap.Spec.Action == securityv1alpha1.ActionDeny
	var out []ir.AuthzRule
	for i, r := range ap.Spec.Rules {
		rule := ir.AuthzRule{Name: key(ap) + "/rule/" + strconv.Itoa(i)}
		unverifiable := false
		for _, s := range r.Sources {
			src, ok := p.source(ap.Namespace, s, pr)
			if !ok {
				unverifiable = true
				src = ir.AuthzSource{Never: true}
			}
			rule.Sources = append(rule.Sources, src)
		}
		if deny && unverifiable {
			rule.Sources = nil
		}
		allDropped := len(r.To) > 0
		for _, to := range r.To {
			req := request(to)
			if !pr.http && req.HTTPOnly() {
				if !deny {
					continue
				}
				req = ir.AuthzRequest{Ports: req.Ports}
			}
			allDropped = false
			rule.To = append(rule.To, req)
		}
		if allDropped {
			rule.To, rule.Sources = nil, []ir.AuthzSource{{Never: true}}
		}
		out = append(out, rule)
	}
	return out
}

// source converts one source; false when the chain cannot verify it.
func (p *Policies) source(ns string, s securityv1alpha1.AuthorizationSource, pr peer) (ir.AuthzSource, bool) {
	prefix := "spiffe://" + p.opts.TrustDomain + "/"
	switch s.Type {
	case securityv1alpha1.SourceServiceAccount:
		if !pr.mesh || s.ServiceAccount == nil {
			return ir.AuthzSource{}, false
		}
		sans := s.ServiceAccount.Namespace
		if sans == "" {
			sans = ns
		}
		return ir.AuthzSource{Principal: &ir.NameMatch{Type: ir.MatchExact, Value: prefix + "ns/" + sans + "/sa/" + s.ServiceAccount.Name}}, true
	case securityv1alpha1.SourceNamespace:
		if !pr.mesh || s.Namespace == nil {
			return ir.AuthzSource{}, false
		}
		return ir.AuthzSource{Principal: &ir.NameMatch{Type: ir.MatchPrefix, Value: prefix + "ns/" + *s.Namespace + "/sa/"}}, true
	case securityv1alpha1.SourceMesh:
		if !pr.mesh {
			return ir.AuthzSource{}, false
		}
		return ir.AuthzSource{Principal: &ir.NameMatch{Type: ir.MatchPrefix, Value: prefix}}, true
	case securityv1alpha1.SourceCIDR:
		if s.CIDR == nil {
			return ir.AuthzSource{}, false
		}
		if _, err := netip.ParsePrefix(*s.CIDR); err != nil {
			return ir.AuthzSource{}, false
		}
		return ir.AuthzSource{CIDR: *s.CIDR}, true
	case securityv1alpha1.SourceClientCertificate:
		if !pr.clientCert || s.ClientCertificate == nil || s.ClientCertificate.Value == "" {
			return ir.AuthzSource{}, false
		}
		return ir.AuthzSource{Principal: &ir.NameMatch{Type: ir.MatchExact, Value: s.ClientCertificate.Value}}, true
	}
	return ir.AuthzSource{}, false
}

// unverifiable explains why a source cannot be checked where pr applies;
// "" when it can.
func (p *Policies) unverifiable(ns string, s securityv1alpha1.AuthorizationSource, pr peer, where string) string {
	if _, ok := p.source(ns, s, pr); ok {
		return ""
	}
	switch s.Type {
	case securityv1alpha1.SourceServiceAccount, securityv1alpha1.SourceNamespace, securityv1alpha1.SourceMesh:
		return fmt.Sprintf("a %s source needs the peer's mesh certificate, which is not verified at %s", s.Type, where)
	case securityv1alpha1.SourceClientCertificate:
		return fmt.Sprintf("a ClientCertificate source needs a verified client certificate, which is not required at %s", where)
	}
	return fmt.Sprintf("the %s source is not valid", s.Type)
}

// request converts one "to" entry; unset types take the API defaults.
func request(to securityv1alpha1.RequestMatch) ir.AuthzRequest {
	var out ir.AuthzRequest
	for _, pm := range to.Paths {
		t := ir.PathPrefix
		if pm.Type == securityv1alpha1.PathMatchExact {
			t = ir.PathExact
		}
		out.Paths = append(out.Paths, ir.AuthzPath{Type: t, Value: pm.Value})
	}
	for _, m := range to.Methods {
		out.Methods = append(out.Methods, string(m))
	}
	for _, h := range to.Headers {
		sm := ir.StringMatch{Name: string(h.Name), Type: ir.MatchExact}
		switch h.Type {
		case securityv1alpha1.HeaderMatchPrefix:
			sm.Type = ir.MatchPrefix
		case securityv1alpha1.HeaderMatchPresent:
			sm.Type = ir.MatchPresent
		}
		if h.Value != nil && sm.Type != ir.MatchPresent {
			sm.Value = *h.Value
		}
		out.Headers = append(out.Headers, sm)
	}
	for _, port := range to.Ports {
		out.Ports = append(out.Ports, uint32(port))
	}
	slices.Sort(out.Ports)
	return out
}
