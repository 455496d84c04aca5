// Package authz compiles AuthorizationPolicies (security.gantry.io) into
// the IR's authorization of each place that enforces them: the inbound
// listeners of mesh workloads (per address and port) and the filter chains
// of Gateway listeners; and computes the policies' status. It is pure, like
// the translators that call it: no clients, clock or logging.
//
// Semantics (docs/authorization.md): a policy without targetRefs is the
// namespace default and applies to every workload and Gateway of its
// namespace. DENY rules of every applicable policy are checked first. The
// ALLOW policies of one target (its own and the namespace default) form one
// stage: once a target has an ALLOW policy, requests none of them matches
// are refused. A listener that serves several targets (a workload behind two
// Services, an HTTP port shared by Gateway listeners) checks one stage per
// target: a request must pass all of them, except that a listener's own
// (sectionName) policies on an HTTP port that several listeners share apply
// to that listener's virtual hosts only (GatewayListener). A wildcard
// inbound listener,
// shared by the workloads of a namespace, applies each Service's policies by
// destination address (MeshWildcard).
package authz

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Options say what the mesh verifies about peers.
type Options struct {
	// MeshMTLS is true when mesh workloads' inbound listeners require a
	// client certificate of the mesh; only then do ServiceAccount,
	// Namespace and Mesh sources mean anything in the mesh.
	MeshMTLS bool
	// TrustDomain of the mesh's SPIFFE IDs.
	TrustDomain string
	// ControllerName is written into the ancestor statuses.
	ControllerName string
}

// Policies indexes a Set's AuthorizationPolicies for one translation.
type Policies struct {
	opts Options
	// byNS holds each namespace's policies sorted by name.
	byNS map[string][]*securityv1alpha1.AuthorizationPolicy
	// inbound caches MeshInbound by namespace and Services: every
	// address and port of a workload gets the same (shared, never
	// modified) authorization.
	inbound map[string]*ir.Authorization
}

// New indexes set's policies.
func New(set *resource.Set, opts Options) *Policies {
	p := &Policies{opts: opts, byNS: map[string][]*securityv1alpha1.AuthorizationPolicy{}, inbound: map[string]*ir.Authorization{}}
	if set == nil {
		return p
	}
	for ap := range set.AuthorizationPolicies.Values() {
		if validate(ap) != nil {
			continue // reported by Status, left out
		}
		p.byNS[ap.Namespace] = append(p.byNS[ap.Namespace], ap)
	}
	for _, list := range p.byNS {
		slices.SortFunc(list, func(a, b *securityv1alpha1.AuthorizationPolicy) int { return cmp.Compare(a.Name, b.Name) })
	}
	return p
}

// Empty reports whether there is no policy at all (nothing to compile).
func (p *Policies) Empty() bool { return p == nil || len(p.byNS) == 0 }

// In reports whether namespace ns has a valid policy.
func (p *Policies) In(ns string) bool { return !p.Empty() && len(p.byNS[ns]) > 0 }

// peer is what the enforcing chain verifies about the peer and speaks.
type peer struct {
	// mesh: the peer presented a certificate of the mesh (SPIFFE IDs).
	mesh bool
	// clientCert: the peer presented a certificate the chain verified.
	clientCert bool
	// http: the chain sees requests (paths, methods, headers).
	http bool
}

// stageTarget is one target a listener serves, with the policies that
// apply to it and, on a listener of several workloads, their addresses.
type stageTarget struct {
	name      string
	policies  []*securityv1alpha1.AuthorizationPolicy
	addresses []string
}

// MeshInbound is the authorization of a mesh inbound listener of namespace
// ns serving the given Services (names in ns); nil when no policy applies.
func (p *Policies) MeshInbound(ns string, services []string) *ir.Authorization {
	if !p.In(ns) {
		return nil
	}
	id := ns + "/" + strings.Join(services, ",")
	if a, ok := p.inbound[id]; ok {
		return a
	}
	var targets []stageTarget
	for _, svc := range services {
		targets = append(targets, stageTarget{name: "service/" + ns + "/" + svc, policies: p.applying(ns, func(r gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool {
			return r.Kind == "Service" && string(r.Name) == svc
		})})
	}
	if len(targets) == 0 {
		targets = []stageTarget{{name: "namespace/" + ns, policies: p.applying(ns, nil)}}
	}
	a := p.compile(targets, peer{mesh: p.opts.MeshMTLS, clientCert: p.opts.MeshMTLS, http: true})
	p.inbound[id] = a
	return a
}

// MeshWildcard is the authorization of a mesh inbound listener on a
// wildcard address ("0.0.0.0:port", "[::]:port"): every workload of
// namespace ns listening on ":port" asks for it, so each Service's policies
// apply by destination address, addresses giving the endpoint addresses of
// each Service with that port. The namespace defaults apply to the other
// addresses. nil when no policy applies.
func (p *Policies) MeshWildcard(ns string, addresses map[string][]string) *ir.Authorization {
	if !p.In(ns) {
		return nil
	}
	var targets []stageTarget
	for _, svc := range slices.Sorted(maps.Keys(addresses)) {
		targets = append(targets, stageTarget{name: "service/" + ns + "/" + svc, addresses: addresses[svc],
			policies: p.applying(ns, func(r gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool {
				return r.Kind == "Service" && string(r.Name) == svc
			})})
	}
	return p.compileScoped(ns, targets, peer{mesh: p.opts.MeshMTLS, clientCert: p.opts.MeshMTLS, http: true})
}

// compileScoped is compile for targets told apart by destination address:
// each target's own DENY rules and ALLOW stage apply to its addresses only;
// the namespace defaults' DENY rules apply everywhere and their ALLOW rules
// form the stage of every other address.
func (p *Policies) compileScoped(ns string, targets []stageTarget, pr peer) *ir.Authorization {
	out := &ir.Authorization{}
	defaults := p.applying(ns, nil)
	var defaultAllow []*securityv1alpha1.AuthorizationPolicy
	for _, ap := range defaults {
		if ap.Spec.Action == securityv1alpha1.ActionDeny {
			out.Deny = append(out.Deny, p.rules(ap, pr)...)
		} else {
			defaultAllow = append(defaultAllow, ap)
		}
	}
	var scoped []string
	for _, t := range targets {
		var allow []*securityv1alpha1.AuthorizationPolicy
		own := false
		for _, ap := range t.policies {
			switch {
			case len(ap.Spec.TargetRefs) == 0 && ap.Spec.Action == securityv1alpha1.ActionAllow:
				allow = append(allow, ap)
			case len(ap.Spec.TargetRefs) == 0:
				// a namespace default DENY: added above, for every address
			case ap.Spec.Action == securityv1alpha1.ActionDeny:
				for _, r := range p.rules(ap, pr) {
					r.Name += "@" + t.name
					r.Destinations = t.addresses
					out.Deny = append(out.Deny, r)
				}
			default:
				allow, own = append(allow, ap), true
			}
		}
		if !own || len(t.addresses) == 0 {
			continue // the namespace defaults' stage covers it
		}
		set := ir.AuthzRuleSet{Name: t.name, Destinations: t.addresses}
		for _, ap := range allow {
			set.Rules = append(set.Rules, p.rules(ap, pr)...)
		}
		out.Allow = append(out.Allow, set)
		scoped = append(scoped, t.addresses...)
	}
	if len(defaultAllow) > 0 {
		set := ir.AuthzRuleSet{Name: "namespace/" + ns}
		if len(scoped) > 0 {
			slices.Sort(scoped)
			set.Destinations, set.ExceptDestinations = slices.Compact(scoped), true
		}
		for _, ap := range defaultAllow {
			set.Rules = append(set.Rules, p.rules(ap, pr)...)
		}
		out.Allow = append(out.Allow, set)
	}
	if len(out.Deny) == 0 && len(out.Allow) == 0 {
		return nil
	}
	return out
}

// GatewayChain describes a filter chain of a Gateway.
type GatewayChain struct {
	Namespace, Gateway string
	// Listeners are the names of the Gateway listeners the chain serves
	// (several HTTP listeners share a port's chain); "" for a listener of a
	// ListenerSet, which only Gateway-wide policies reach.
	Listeners []string
	// ClientCertificate is true when the chain requires and verifies a
	// client certificate.
	ClientCertificate bool
	// HTTP is true for HTTP connection managers, false for TCP proxies.
	HTTP bool
}

// Gateway is the authorization of one filter chain of a Gateway; nil when
// no policy applies. A sectionName policy on a listener whose chain serves
// other listeners too is left out: it applies to that listener's virtual
// hosts (GatewayListener).
func (p *Policies) Gateway(c GatewayChain) *ir.Authorization {
	if !p.In(c.Namespace) {
		return nil
	}
	shared := len(c.Listeners) > 1
	var targets []stageTarget
	for _, l := range c.Listeners {
		targets = append(targets, stageTarget{name: "gateway/" + c.Namespace + "/" + c.Gateway + "/" + l,
			policies: p.applying(c.Namespace, func(r gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool {
				if r.Kind != "Gateway" || string(r.Name) != c.Gateway {
					return false
				}
				if r.SectionName == nil {
					return true
				}
				return !shared && l != "" && string(*r.SectionName) == l
			})})
	}
	return p.compile(targets, peer{clientCert: c.ClientCertificate, http: c.HTTP})
}

// GatewayListener is the authorization of the virtual hosts of listener l
// on chain c, which several listeners share (an HTTP port): the chain's
// policies (the namespace defaults and the Gateway-wide ones) and those
// naming l by sectionName, checked instead of the chain's on l's hosts. nil
// when no sectionName policy names l: its hosts keep the chain's.
func (p *Policies) GatewayListener(c GatewayChain, l string) *ir.Authorization {
	if !p.In(c.Namespace) || l == "" {
		return nil
	}
	own := false
	policies := p.applying(c.Namespace, func(r gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool {
		if r.Kind != "Gateway" || string(r.Name) != c.Gateway {
			return false
		}
		if r.SectionName == nil {
			return true
		}
		if string(*r.SectionName) == l {
			own = true
			return true
		}
		return false
	})
	if !own {
		return nil
	}
	return p.compile([]stageTarget{{name: "gateway/" + c.Namespace + "/" + c.Gateway + "/" + l, policies: policies}},
		peer{clientCert: c.ClientCertificate, http: c.HTTP})
}

// applying lists the policies of ns that apply to a target: the namespace
// defaults and, when match is set, those with a targetRef it accepts.
func (p *Policies) applying(ns string, match func(gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool) []*securityv1alpha1.AuthorizationPolicy {
	var out []*securityv1alpha1.AuthorizationPolicy
	for _, ap := range p.byNS[ns] {
		if len(ap.Spec.TargetRefs) == 0 || (match != nil && slices.ContainsFunc(ap.Spec.TargetRefs, match)) {
			out = append(out, ap)
		}
	}
	return out
}

// compile builds the deny stage (every DENY rule of every target, once) and
// one allow stage per distinct set of ALLOW policies.
func (p *Policies) compile(targets []stageTarget, pr peer) *ir.Authorization {
	out := &ir.Authorization{}
	denied := map[string]bool{}
	allowSets := map[string]bool{}
	for _, t := range targets {
		var allow []*securityv1alpha1.AuthorizationPolicy
		for _, ap := range t.policies {
			if ap.Spec.Action == securityv1alpha1.ActionDeny {
				if !denied[key(ap)] {
					denied[key(ap)] = true
					out.Deny = append(out.Deny, p.rules(ap, pr)...)
				}
				continue
			}
			allow = append(allow, ap)
		}
		if len(allow) == 0 {
			continue
		}
		var names []string
		set := ir.AuthzRuleSet{Name: t.name}
		for _, ap := range allow {
			names = append(names, key(ap))
			set.Rules = append(set.Rules, p.rules(ap, pr)...)
		}
		id := strings.Join(names, ",")
		if allowSets[id] {
			continue // the same policies as another target's stage
		}
		allowSets[id] = true
		out.Allow = append(out.Allow, set)
	}
	if len(out.Deny) == 0 && len(out.Allow) == 0 {
		return nil
	}
	return out
}

func key(ap *securityv1alpha1.AuthorizationPolicy) string { return ap.Namespace + "/" + ap.Name }
