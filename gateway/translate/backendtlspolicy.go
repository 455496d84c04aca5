package translate

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Kinds: the policy kind in status.Policy entries, and the CA reference kind.
const (
	kindBackendTLSPolicy              = resource.KindBackendTLSPolicy
	kindConfigMap        gwapiv1.Kind = resource.KindConfigMap
)

const (
	// caCertKey is the ConfigMap/Secret key holding a PEM CA bundle.
	caCertKey = "ca.crt"
	// unverifiableSAN is required of backends whose policy has no usable CA:
	// no certificate carries it, so connections fail (the API requires 5xx).
	unverifiableSAN = "no-valid-ca-certificate.gantry.invalid"
)

// tlsExtras is the per-translation state of the TLS features that reach
// beyond listeners: ConfigMaps by name, compiled BackendTLSPolicies and the
// CA bundles served as SDS validation secrets. Built once, on first use.
type tlsExtras struct {
	configMaps map[nsName]*corev1.ConfigMap
	// byTarget is the winning policy per Service (section "") or Service port.
	byTarget map[policyTarget]*compiledPolicy
	// all lists every policy per target, winner first.
	all      map[policyTarget][]*compiledPolicy
	policies []*compiledPolicy
	// caBundles are CA-only ir secrets by name.
	caBundles map[string]*ir.Secret
}

type policyTarget struct{ ns, svc, section string }

// compiledPolicy is one BackendTLSPolicy, validated once.
type compiledPolicy struct {
	obj *gwapiv1.BackendTLSPolicy
	tls *ir.UpstreamTLS
	// accepted/resolved conditions independent of the ancestor.
	acceptedOK     bool
	acceptedReason gwapiv1.PolicyConditionReason
	acceptedMsg    string
	refsOK         bool
	refsReason     gwapiv1.PolicyConditionReason
	refsMsg        string
	// conflicted lists targets where an older policy wins.
	conflicted []string
}

// extras returns the lazily built tlsExtras of the index.
func (x *index) extras() *tlsExtras {
	if x.tlsx != nil {
		return x.tlsx
	}
	e := &tlsExtras{
		configMaps: map[nsName]*corev1.ConfigMap{},
		byTarget:   map[policyTarget]*compiledPolicy{},
		all:        map[policyTarget][]*compiledPolicy{},
		caBundles:  map[string]*ir.Secret{},
	}
	for _, cm := range sortedList(x.set.ConfigMaps) {
		e.configMaps[nsName{cm.Namespace, cm.Name}] = cm
	}
	x.tlsx = e
	pols := sortedList(x.set.BackendTLSPolicies)
	slices.SortStableFunc(pols, func(a, b *gwapiv1.BackendTLSPolicy) int {
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			if a.CreationTimestamp.Before(&b.CreationTimestamp) {
				return -1
			}
			return 1
		}
		return byMeta(a, b)
	})
	for _, p := range pols {
		cp := x.compilePolicy(p)
		e.policies = append(e.policies, cp)
		for _, tr := range p.Spec.TargetRefs {
			if tr.Group != "" || tr.Kind != kindService {
				continue
			}
			k := policyTarget{ns: p.Namespace, svc: string(tr.Name), section: deref(tr.SectionName)}
			e.all[k] = append(e.all[k], cp)
			if w := e.byTarget[k]; w != nil {
				cp.conflicted = append(cp.conflicted, fmt.Sprintf("Service %s/%s%s is already targeted by the older BackendTLSPolicy %s", k.ns, k.svc, sectionSuffix(k.section), w.obj.Name))
				continue
			}
			e.byTarget[k] = cp
		}
	}
	return e
}

func sectionSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " port " + s
}

// compilePolicy validates a policy's CA references, well-known CAs, hostname
// and subject alt names into the upstream TLS its targets get.
func (x *index) compilePolicy(p *gwapiv1.BackendTLSPolicy) *compiledPolicy {
	v := p.Spec.Validation
	cp := &compiledPolicy{
		obj:        p,
		tls:        &ir.UpstreamTLS{SNI: string(v.Hostname)},
		acceptedOK: true, acceptedReason: gwapiv1.PolicyReasonAccepted,
		refsOK: true, refsReason: gwapiv1.BackendTLSPolicyReasonResolvedRefs,
	}
	for _, san := range v.SubjectAltNames {
		switch san.Type {
		case gwapiv1.HostnameSubjectAltNameType:
			cp.tls.SubjectAltNameMatchers = append(cp.tls.SubjectAltNameMatchers, ir.SANMatch{Type: ir.SANDNS, Value: string(san.Hostname)})
		case gwapiv1.URISubjectAltNameType:
			cp.tls.SubjectAltNameMatchers = append(cp.tls.SubjectAltNameMatchers, ir.SANMatch{Type: ir.SANURI, Value: string(san.URI)})
		}
	}
	switch {
	case v.WellKnownCACertificates != nil && *v.WellKnownCACertificates != "":
		if *v.WellKnownCACertificates != gwapiv1.WellKnownCACertificatesSystem {
			cp.acceptedOK, cp.acceptedReason = false, gwapiv1.PolicyReasonInvalid
			cp.acceptedMsg = fmt.Sprintf("wellKnownCACertificates %q is not supported", *v.WellKnownCACertificates)
			cp.tls.SystemCA, cp.tls.SubjectAltNameMatchers = true, []ir.SANMatch{{Type: ir.SANDNS, Value: unverifiableSAN}}
			return cp
		}
		cp.tls.SystemCA = true
	default:
		x.resolvePolicyCAs(cp)
	}
	return cp
}

// resolvePolicyCAs concatenates the usable CA bundles of a policy into one
// validation secret; bad references set ResolvedRefs False, and with none
// usable the policy is not accepted and its backends cannot be verified.
func (x *index) resolvePolicyCAs(cp *compiledPolicy) {
	p := cp.obj
	var bundle []byte
	var problems []string
	for i, ref := range p.Spec.Validation.CACertificateRefs {
		data, reason, msg := x.caBundle(p.Namespace, ref.Group, ref.Kind, string(ref.Name))
		if msg != "" {
			problems = append(problems, fmt.Sprintf("caCertificateRefs[%d]: %s", i, msg))
			if cp.refsOK {
				cp.refsOK = false
				cp.refsReason = gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef
				if reason == caBadKind {
					cp.refsReason = gwapiv1.BackendTLSPolicyReasonInvalidKind
				}
			}
			continue
		}
		bundle = append(bundle, data...)
	}
	cp.refsMsg = strings.Join(problems, "; ")
	if len(bundle) == 0 {
		cp.acceptedOK, cp.acceptedReason = false, gwapiv1.BackendTLSPolicyReasonNoValidCACertificate
		cp.acceptedMsg = "no usable CA certificate: " + cp.refsMsg
		cp.tls.SystemCA, cp.tls.SubjectAltNameMatchers = true, []ir.SANMatch{{Type: ir.SANDNS, Value: unverifiableSAN}}
		return
	}
	name := "backendtls/" + p.Namespace + "/" + p.Name
	x.extras().caBundles[name] = &ir.Secret{Name: name, CA: bundle}
	cp.tls.ValidationSecret = name
}

type caProblem int

const (
	caOK caProblem = iota
	caBadKind
	caBadRef
)

// caBundle reads the PEM bundle under "ca.crt" of a ConfigMap (or Secret)
// in namespace ns, checking that it holds at least one certificate.
func (x *index) caBundle(ns string, group gwapiv1.Group, kind gwapiv1.Kind, name string) ([]byte, caProblem, string) {
	var data []byte
	switch {
	case group == "" && kind == kindConfigMap:
		cm := x.extras().configMaps[nsName{ns, name}]
		if cm == nil {
			return nil, caBadRef, fmt.Sprintf("ConfigMap %s/%s not found", ns, name)
		}
		data = []byte(cm.Data[caCertKey])
	case group == "" && kind == kindSecret:
		s := x.secrets[nsName{ns, name}]
		if s == nil {
			return nil, caBadRef, fmt.Sprintf("Secret %s/%s not found", ns, name)
		}
		data = secretBytes(s, caCertKey)
	default:
		return nil, caBadKind, fmt.Sprintf("kind %s/%s is not supported (ConfigMap or Secret)", group, kind)
	}
	if len(data) == 0 {
		return nil, caBadRef, fmt.Sprintf("%s %s/%s has no %s", kind, ns, name, caCertKey)
	}
	if err := checkCABundle(data); err != nil {
		return nil, caBadRef, fmt.Sprintf("%s %s/%s: %s: %v", kind, ns, name, caCertKey, err)
	}
	return data, caOK, ""
}

// checkCABundle requires PEM data with only parseable certificates.
func checkCABundle(data []byte) error {
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate")
	}
	return nil
}

// policyFor finds the policy for a Service cluster: one naming the port's
// name wins over one naming the whole Service.
func (x *index) policyFor(c *ir.Cluster) *compiledPolicy {
	for _, k := range x.policyTargets(c) {
		if p := x.extras().byTarget[k]; p != nil {
			return p
		}
	}
	return nil
}

// policyTargets are the targets a cluster answers to, most specific first.
// Only HTTP clusters take BackendTLSPolicy (not TCP or UDP passthrough).
func (x *index) policyTargets(c *ir.Cluster) []policyTarget {
	if c.Protocol == ir.AppTCP || c.Protocol == ir.AppUDP {
		return nil
	}
	svc, sp, ok := x.serviceOfCluster(c.Name)
	if !ok || svc == nil || sp == nil {
		return nil
	}
	whole := policyTarget{ns: svc.Namespace, svc: svc.Name}
	if sp.Name == "" {
		return []policyTarget{whole}
	}
	return []policyTarget{{ns: svc.Namespace, svc: svc.Name, section: sp.Name}, whole}
}

// policyStatuses reports each policy on every Gateway whose proxy has a
// cluster it applies to (its ancestors), sorted by policy.
func (t *translator) policyStatuses(proxies []*ir.Proxy) []status.Policy {
	e := t.x.extras()
	ancestors := map[*compiledPolicy][]nsName{}
	for _, p := range proxies {
		gw, ok := gatewayOfProxy(p.Name)
		if !ok {
			continue
		}
		for c := range p.Clusters.Values() {
			for _, k := range t.x.policyTargets(c) {
				for _, cp := range e.all[k] {
					if !slices.Contains(ancestors[cp], gw) {
						ancestors[cp] = append(ancestors[cp], gw)
					}
				}
			}
		}
	}
	var out []status.Policy
	for _, cp := range e.policies {
		gws := ancestors[cp]
		if len(gws) == 0 {
			continue // not used by any Gateway of this controller
		}
		slices.SortFunc(gws, func(a, b nsName) int { return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name)) })
		st := status.Policy{Kind: kindBackendTLSPolicy, Namespace: cp.obj.Namespace, Name: cp.obj.Name, Generation: cp.obj.Generation,
			Status: gwapiv1.PolicyStatus{Ancestors: []gwapiv1.PolicyAncestorStatus{}}}
		for _, gw := range gws {
			st.Status.Ancestors = append(st.Status.Ancestors, t.policyAncestor(cp, gw))
		}
		out = append(out, st)
	}
	return out
}

func (t *translator) policyAncestor(cp *compiledPolicy, gw nsName) gwapiv1.PolicyAncestorStatus {
	gen := cp.obj.Generation
	acc := status.Condition(gwapiv1.PolicyConditionAccepted, cp.acceptedOK, cp.acceptedReason, cp.acceptedMsg, gen)
	if cp.acceptedOK && len(cp.conflicted) > 0 {
		acc = status.Condition(gwapiv1.PolicyConditionAccepted, false, gwapiv1.PolicyReasonConflicted, strings.Join(cp.conflicted, "; "), gen)
	}
	group := gwapiv1.Group(gwapiv1.GroupName)
	kind := kindGateway
	ns := gwapiv1.Namespace(gw.ns)
	return gwapiv1.PolicyAncestorStatus{
		AncestorRef:    gwapiv1.ParentReference{Group: &group, Kind: &kind, Namespace: &ns, Name: gwapiv1.ObjectName(gw.name)},
		ControllerName: gwapiv1.GatewayController(t.opts.ControllerName),
		Conditions: []metav1.Condition{acc,
			status.Condition(gwapiv1.BackendTLSPolicyConditionResolvedRefs, cp.refsOK, cp.refsReason, cp.refsMsg, gen)},
	}
}

// gatewayOfProxy parses "gateway/<ns>/<name>".
func gatewayOfProxy(name string) (nsName, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "gateway" {
		return nsName{}, false
	}
	return nsName{parts[1], parts[2]}, true
}

// finishCluster returns the cluster as this Gateway's proxy gets it: with
// the upstream TLS of its BackendTLSPolicy and the Gateway's client
// certificate. The shared cluster is never modified.
func (b *proxyBuilder) finishCluster(c *ir.Cluster) *ir.Cluster {
	cp := b.x.policyFor(c)
	if cp == nil {
		return c
	}
	out := *c
	tls := *cp.tls
	tls.SubjectAltNameMatchers = slices.Clone(cp.tls.SubjectAltNameMatchers)
	if cs := b.backendClientCert(); cs != "" {
		tls.ClientCertificateSecret = cs
	}
	out.TLS = &tls
	return &out
}
