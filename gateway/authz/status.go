package authz

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// Kind is the policy kind in status reports.
const Kind = resource.KindAuthorizationPolicy

// ConditionFullyEnforced says whether every rule of the policy is checked
// as written on the ancestor (True), or some source or attribute cannot be
// checked there and fails closed (False, reason FailsClosed).
const ConditionFullyEnforced = "FullyEnforced"

// Status reasons of ConditionFullyEnforced.
const (
	ReasonEnforced    = "Enforced"
	ReasonFailsClosed = "FailsClosed"
)

// maxAncestors is the API's limit on status.ancestors.
const maxAncestors = 16

// Status is the status of every policy of set: one ancestor per target (the
// Service, the Gateway or its listener, or the namespace for a namespace
// default), Accepted when the target exists and the policy is applied
// there, with FullyEnforced saying whether any part fails closed.
func Status(set *resource.Set, opts Options) []status.Policy {
	if set == nil {
		return nil
	}
	p := New(set, opts)
	x := indexTargets(set)
	var out []status.Policy
	for ap := range set.AuthorizationPolicies.Values() {
		st := status.Policy{Kind: Kind, Namespace: ap.Namespace, Name: ap.Name, Generation: ap.Generation,
			Status: gwapiv1.PolicyStatus{Ancestors: []gwapiv1.PolicyAncestorStatus{}}}
		for _, a := range p.ancestors(ap, x) {
			if len(st.Status.Ancestors) == maxAncestors {
				break
			}
			st.Status.Ancestors = append(st.Status.Ancestors, a)
		}
		out = append(out, st)
	}
	return out
}

// targets indexes what policies can target.
type targets struct {
	services map[string]bool             // "ns/name"
	gateways map[string]*gwapiv1.Gateway // "ns/name"
}

func indexTargets(set *resource.Set) *targets {
	x := &targets{services: map[string]bool{}, gateways: map[string]*gwapiv1.Gateway{}}
	for s := range set.Services.Values() {
		x.services[s.Namespace+"/"+s.Name] = true
	}
	for g := range set.Gateways.Values() {
		x.gateways[g.Namespace+"/"+g.Name] = g
	}
	return x
}

// ancestors computes one entry per target of ap.
func (p *Policies) ancestors(ap *securityv1alpha1.AuthorizationPolicy, x *targets) []gwapiv1.PolicyAncestorStatus {
	ns := gwapiv1.Namespace(ap.Namespace)
	if len(ap.Spec.TargetRefs) == 0 {
		group, kind := gwapiv1.Group(""), gwapiv1.Kind("Namespace")
		ref := gwapiv1.ParentReference{Group: &group, Kind: &kind, Name: gwapiv1.ObjectName(ap.Namespace)}
		return []gwapiv1.PolicyAncestorStatus{p.ancestor(ap, ref, "", p.namespacePeer(ap.Namespace, x), "the namespace's mesh workloads and Gateways")}
	}
	var out []gwapiv1.PolicyAncestorStatus
	for _, r := range ap.Spec.TargetRefs {
		group, kind := r.Group, r.Kind
		ref := gwapiv1.ParentReference{Group: &group, Kind: &kind, Namespace: &ns, Name: r.Name, SectionName: r.SectionName}
		name := ap.Namespace + "/" + string(r.Name)
		switch {
		case r.Kind == "Service" && r.Group == "":
			if !x.services[name] {
				out = append(out, p.ancestor(ap, ref, "Service "+name+" does not exist", peer{}, ""))
				continue
			}
			out = append(out, p.ancestor(ap, ref, "", p.meshPeer(), "the inbound listeners of Service "+name+"'s endpoints"))
		case r.Kind == "Gateway" && r.Group == gwapiv1.GroupName:
			out = append(out, p.gatewayAncestor(ap, ref, x.gateways[name], r.SectionName))
		default:
			out = append(out, p.ancestor(ap, ref, fmt.Sprintf("%s %s (group %q) cannot be targeted", r.Kind, name, r.Group), peer{}, ""))
		}
	}
	return out
}

// namespacePeer is what every place a namespace default applies to
// verifies: the mesh's inbound listeners and each listener of the
// namespace's Gateways (none of which verifies mesh identities).
func (p *Policies) namespacePeer(ns string, x *targets) peer {
	out := p.meshPeer()
	for _, name := range slices.Sorted(maps.Keys(x.gateways)) {
		gw := x.gateways[name]
		if gw.Namespace != ns {
			continue
		}
		out.mesh = false
		for i := range gw.Spec.Listeners {
			lp := listenerPeer(gw, &gw.Spec.Listeners[i])
			out.clientCert = out.clientCert && lp.clientCert
			out.http = out.http && lp.http
		}
	}
	return out
}

func (p *Policies) meshPeer() peer {
	return peer{mesh: p.opts.MeshMTLS, clientCert: p.opts.MeshMTLS, http: true}
}

// gatewayAncestor is the entry of a Gateway target, or of one listener.
func (p *Policies) gatewayAncestor(ap *securityv1alpha1.AuthorizationPolicy, ref gwapiv1.ParentReference, gw *gwapiv1.Gateway, section *gwapiv1.SectionName) gwapiv1.PolicyAncestorStatus {
	if gw == nil {
		return p.ancestor(ap, ref, "Gateway "+ap.Namespace+"/"+string(ref.Name)+" does not exist", peer{}, "")
	}
	if section == nil {
		// Every listener: identity sources hold only where every listener
		// verifies client certificates.
		pr := peer{clientCert: len(gw.Spec.Listeners) > 0, http: true}
		for i := range gw.Spec.Listeners {
			lp := listenerPeer(gw, &gw.Spec.Listeners[i])
			pr.clientCert = pr.clientCert && lp.clientCert
			pr.http = pr.http && lp.http
		}
		return p.ancestor(ap, ref, "", pr, "every listener of Gateway "+gw.Namespace+"/"+gw.Name)
	}
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		if l.Name != *section {
			continue
		}
		return p.ancestor(ap, ref, "", listenerPeer(gw, l), "listener "+string(l.Name)+" of Gateway "+gw.Namespace+"/"+gw.Name)
	}
	return p.ancestor(ap, ref, "Gateway "+gw.Namespace+"/"+gw.Name+" has no listener "+string(*section), peer{}, "")
}

// listenerPeer is what a Gateway listener verifies: a client certificate
// when it terminates TLS for HTTP and its port's frontend validation does
// not admit clients without one.
func listenerPeer(gw *gwapiv1.Gateway, l *gwapiv1.Listener) peer {
	out := peer{http: l.Protocol == gwapiv1.HTTPProtocolType || l.Protocol == gwapiv1.HTTPSProtocolType}
	if l.Protocol != gwapiv1.HTTPSProtocolType || gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return out
	}
	f := gw.Spec.TLS.Frontend
	v := f.Default.Validation
	for _, pp := range f.PerPort {
		if pp.Port == l.Port {
			v = pp.TLS.Validation
		}
	}
	out.clientCert = v != nil && len(v.CACertificateRefs) > 0 && v.Mode != gwapiv1.AllowInsecureFallback
	return out
}

// ancestor builds one entry: not found (missing set), or accepted with
// FullyEnforced computed for what pr verifies at where.
func (p *Policies) ancestor(ap *securityv1alpha1.AuthorizationPolicy, ref gwapiv1.ParentReference, missing string, pr peer, where string) gwapiv1.PolicyAncestorStatus {
	out := gwapiv1.PolicyAncestorStatus{AncestorRef: ref, ControllerName: gwapiv1.GatewayController(p.opts.ControllerName)}
	gen := ap.Generation
	if missing != "" {
		out.Conditions = []metav1.Condition{status.Condition(gwapiv1.PolicyConditionAccepted, false, gwapiv1.PolicyReasonTargetNotFound, missing, gen)}
		return out
	}
	if err := validate(ap); err != nil {
		out.Conditions = []metav1.Condition{status.Condition(gwapiv1.PolicyConditionAccepted, false, gwapiv1.PolicyReasonInvalid, err.Error()+"; the policy is left out", gen)}
		return out
	}
	out.Conditions = []metav1.Condition{status.Condition(gwapiv1.PolicyConditionAccepted, true, gwapiv1.PolicyReasonAccepted, "applied to "+where, gen)}
	var gaps []string
	for i, r := range ap.Spec.Rules {
		for j, s := range r.Sources {
			if why := p.unverifiable(ap.Namespace, s, pr, where); why != "" {
				gaps = append(gaps, fmt.Sprintf("rules[%d].sources[%d]: %s", i, j, why))
			}
		}
		for j, to := range r.To {
			if req := request(to); !pr.http && req.HTTPOnly() {
				gaps = append(gaps, fmt.Sprintf("rules[%d].to[%d]: paths, methods and headers need HTTP, which is not spoken at %s", i, j, where))
			}
		}
	}
	if len(gaps) == 0 {
		out.Conditions = append(out.Conditions, status.Condition(ConditionFullyEnforced, true, ReasonEnforced, "every rule is checked as written", gen))
		return out
	}
	effect := "so those ALLOW rules match nothing there"
	if ap.Spec.Action == securityv1alpha1.ActionDeny {
		effect = "so those DENY rules apply to every peer and request there"
	}
	out.Conditions = append(out.Conditions, status.Condition(ConditionFullyEnforced, false, ReasonFailsClosed,
		strings.Join(gaps, "; ")+"; "+effect+" (fail closed)", gen))
	return out
}
