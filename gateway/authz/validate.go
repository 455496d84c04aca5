package authz

import (
	"fmt"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/xds/ir"
)

// validate checks what the API server's schema and CEL rules check, for
// policies read from files, and what the proxies would refuse (header names
// and values, paths, CIDRs): an invalid policy is reported and left out,
// never sent.
func validate(ap *securityv1alpha1.AuthorizationPolicy) error {
	switch ap.Spec.Action {
	case securityv1alpha1.ActionAllow:
	case securityv1alpha1.ActionDeny:
		if len(ap.Spec.Rules) == 0 {
			return fmt.Errorf("spec.rules: a DENY policy needs at least one rule")
		}
	default:
		return fmt.Errorf("spec.action: %q is not ALLOW or DENY", ap.Spec.Action)
	}
	for i, r := range ap.Spec.TargetRefs {
		okKind := (r.Group == "" && r.Kind == "Service") || (r.Group == "gateway.networking.k8s.io" && r.Kind == "Gateway")
		if !okKind {
			return fmt.Errorf("spec.targetRefs[%d]: kind must be Service (group \"\") or Gateway (group gateway.networking.k8s.io)", i)
		}
		if r.SectionName != nil && r.Kind != "Gateway" {
			return fmt.Errorf("spec.targetRefs[%d]: sectionName is allowed only with kind Gateway", i)
		}
	}
	p := &Policies{opts: Options{MeshMTLS: true, TrustDomain: "check"}}
	all := peer{mesh: true, clientCert: true, http: true}
	for i, r := range ap.Spec.Rules {
		for j, s := range r.Sources {
			if _, ok := p.source(ap.Namespace, s, all); !ok {
				return fmt.Errorf("spec.rules[%d].sources[%d]: type %q needs its own field set to a valid value", i, j, s.Type)
			}
		}
		for j, to := range r.To {
			if len(to.Paths)+len(to.Methods)+len(to.Headers)+len(to.Ports) == 0 {
				return fmt.Errorf("spec.rules[%d].to[%d]: needs paths, methods, headers or ports", i, j)
			}
		}
	}
	a := &ir.Authorization{Allow: []ir.AuthzRuleSet{{Name: "check", Rules: p.rules(ap, all)}}}
	if err := a.Check(); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nil
}
