package translate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// frontendValidation returns the client certificate validation that applies
// to a listener's port: a perPort entry overrides the default.
func frontendValidation(gw *gwapiv1.Gateway, port gwapiv1.PortNumber) *gwapiv1.FrontendTLSValidation {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return nil
	}
	f := gw.Spec.TLS.Frontend
	for _, pp := range f.PerPort {
		if pp.Port == port {
			return pp.TLS.Validation
		}
	}
	return f.Default.Validation
}

// resolveFrontendValidation resolves the CA certificates an HTTPS listener
// validates client certificates with. Bad references set ResolvedRefs
// False on the listener; with none usable the listener is not accepted.
func resolveFrontendValidation(x *index, l *listenerState) {
	v := frontendValidation(l.gw, l.spec.Port)
	if v == nil || !l.accepted {
		return
	}
	var bundle []byte
	var problems []string
	var reason gwapiv1.ListenerConditionReason
	for i, ref := range v.CACertificateRefs {
		data, r, msg := x.frontendCA(l.gw.Namespace, ref)
		if msg != "" {
			problems = append(problems, fmt.Sprintf("tls.frontend caCertificateRefs[%d]: %s", i, msg))
			if reason == "" {
				reason = r
			}
			continue
		}
		bundle = append(bundle, data...)
	}
	if len(problems) > 0 {
		if l.refsOK {
			l.refsOK, l.refsReason, l.refsMsg = false, reason, strings.Join(problems, "; ")
		} else {
			l.refsMsg += "; " + strings.Join(problems, "; ")
		}
	}
	if len(bundle) == 0 {
		l.accepted, l.acceptedReason = false, gwapiv1.ListenerReasonNoValidCACertificate
		l.acceptedMsg = "no usable CA certificate for client certificate validation"
		return
	}
	name := "frontend/" + l.gw.Namespace + "/" + l.gw.Name + "/" + strconv.Itoa(int(l.spec.Port))
	x.extras().caBundles[name] = &ir.Secret{Name: name, CA: bundle}
	l.clientCA = name
	l.clientCAInsecure = v.Mode == gwapiv1.AllowInsecureFallback
}

// frontendCA reads one caCertificateRef of a Gateway.
func (x *index) frontendCA(gwNamespace string, ref gwapiv1.ObjectReference) ([]byte, gwapiv1.ListenerConditionReason, string) {
	ns := gwNamespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if ref.Group != "" || (ref.Kind != kindConfigMap && ref.Kind != kindSecret) {
		return nil, gwapiv1.ListenerReasonInvalidCACertificateKind, fmt.Sprintf("kind %s/%s is not supported (ConfigMap or Secret)", ref.Group, ref.Kind)
	}
	if !x.allowed(refGrant{
		fromGroup: gwapiv1.GroupName, fromKind: string(kindGateway), fromNamespace: gwNamespace,
		toGroup: "", toKind: string(ref.Kind), toNamespace: ns, toName: string(ref.Name),
	}) {
		return nil, gwapiv1.ListenerReasonRefNotPermitted, fmt.Sprintf("%s %s/%s is in another namespace and no ReferenceGrant allows it", ref.Kind, ns, ref.Name)
	}
	data, _, msg := x.caBundle(ns, ref.Group, ref.Kind, string(ref.Name))
	if msg != "" {
		return nil, gwapiv1.ListenerReasonInvalidCACertificateRef, msg
	}
	return data, "", ""
}

// gatewayTLS is what a Gateway's spec.tls.backend resolves to.
type gatewayTLS struct {
	clientCert string
	set        bool
	reason     gwapiv1.GatewayConditionReason
	msg        string
}

// backendClientCert is the SDS name of the Gateway's client certificate
// for backends (spec.tls.backend.clientCertificateRef), "" if none.
func (b *proxyBuilder) backendClientCert() string {
	return b.gatewayTLS().clientCert
}

func (b *proxyBuilder) gatewayTLS() *gatewayTLS {
	if b.gwTLS != nil {
		return b.gwTLS
	}
	g := &gatewayTLS{}
	b.gwTLS = g
	t := b.gw.Spec.TLS
	if t == nil || t.Backend == nil || t.Backend.ClientCertificateRef == nil {
		return g
	}
	g.set = true
	name, reason, msg := resolveCertificate(b.x, b.gw.Namespace, *t.Backend.ClientCertificateRef)
	if msg != "" {
		g.reason, g.msg = gwapiv1.GatewayReasonInvalidClientCertificateRef, "tls.backend.clientCertificateRef: "+msg
		if reason == gwapiv1.ListenerReasonRefNotPermitted {
			g.reason = gwapiv1.GatewayReasonRefNotPermitted
		}
		return g
	}
	g.clientCert = name
	return g
}

// addGatewayTLSConditions adds the Gateway conditions of its TLS settings:
// ResolvedRefs when a backend client certificate is configured, and
// InsecureFrontendValidationMode when a listener accepts clients without a
// valid certificate.
func (b *proxyBuilder) addGatewayTLSConditions(st *status.Gateway) {
	gen := b.gw.Generation
	if g := b.gatewayTLS(); g.set {
		if g.clientCert != "" {
			st.Status.Conditions = append(st.Status.Conditions,
				status.Condition(gwapiv1.GatewayConditionResolvedRefs, true, gwapiv1.GatewayReasonResolvedRefs, "", gen))
		} else {
			st.Status.Conditions = append(st.Status.Conditions,
				status.Condition(gwapiv1.GatewayConditionResolvedRefs, false, g.reason, g.msg, gen))
		}
	}
	var insecure []string
	for _, l := range b.listeners {
		if l.clientCAInsecure && l.programmed() {
			insecure = append(insecure, string(l.spec.Name))
		}
	}
	if len(insecure) > 0 {
		st.Status.Conditions = append(st.Status.Conditions, status.Condition(gwapiv1.GatewayConditionInsecureFrontendValidationMode, true,
			gwapiv1.GatewayReasonConfigurationChanged, "listeners accept clients without a valid certificate: "+strings.Join(insecure, ", "), gen))
	}
}

// addReferencedSecrets adds to p the SDS secrets its clusters and filter
// chains name beyond listener certificates: CA bundles (BackendTLSPolicy,
// client validation) and the backend client certificate. Sorted by name.
func (b *proxyBuilder) addReferencedSecrets(p *ir.Proxy) {
	have := map[string]bool{}
	for _, s := range p.Secrets {
		have[s.Name] = true
	}
	var names []string
	want := func(n string) {
		if n != "" && !have[n] {
			have[n] = true
			names = append(names, n)
		}
	}
	for c := range p.Clusters.Values() {
		if c.TLS != nil {
			want(c.TLS.ValidationSecret)
			want(c.TLS.ClientCertificateSecret)
		}
	}
	for _, l := range p.Listeners {
		for _, fc := range l.FilterChains {
			if fc.TLS != nil {
				want(fc.TLS.ValidationSecret)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	for _, n := range names {
		if s := b.x.extras().caBundles[n]; s != nil {
			p.Secrets = append(p.Secrets, s)
		} else if s := b.x.irSecret(n); s != nil {
			p.Secrets = append(p.Secrets, s)
		}
	}
	slices.SortFunc(p.Secrets, func(a, b *ir.Secret) int { return strings.Compare(a.Name, b.Name) })
}
