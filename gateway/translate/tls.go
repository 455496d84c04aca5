package translate

import (
	"crypto/tls"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// secretName is the ir (SDS) name of a Secret.
func secretName(ns, name string) string { return ns + "/" + name }

// resolveListenerTLS checks an HTTPS listener's TLS settings and resolves
// its certificateRefs. Usable certificates go to l.certSecrets; each bad
// reference makes ResolvedRefs False.
func resolveListenerTLS(x *index, l *listenerState) {
	t := l.spec.TLS
	if t == nil || len(t.CertificateRefs) == 0 {
		l.refsOK, l.refsReason = false, gwapiv1.ListenerReasonInvalidCertificateRef
		l.refsMsg = "an HTTPS listener needs tls.certificateRefs"
		return
	}
	if t.Mode != nil && *t.Mode != gwapiv1.TLSModeTerminate {
		l.accepted, l.acceptedReason = false, gwapiv1.ListenerReasonUnsupportedValue
		l.acceptedMsg = fmt.Sprintf("tls.mode %q is not supported on an HTTPS listener", *t.Mode)
		return
	}
	var problems []string
	var reason gwapiv1.ListenerConditionReason
	for i, ref := range t.CertificateRefs {
		name, r, msg := resolveCertificateFrom(x, l.originKind(), l.namespace(), ref)
		if msg != "" {
			problems = append(problems, fmt.Sprintf("certificateRefs[%d]: %s", i, msg))
			if reason == "" {
				reason = r
			}
			continue
		}
		if !contains(l.certSecrets, name) {
			l.certSecrets = append(l.certSecrets, name)
		}
	}
	if len(problems) > 0 {
		l.refsOK, l.refsReason, l.refsMsg = false, reason, strings.Join(problems, "; ")
	}
}

// resolveCertificate returns the ir secret name of one certificateRef, or a
// reason and message saying why it cannot be used.
func resolveCertificate(x *index, gwNamespace string, ref gwapiv1.SecretObjectReference) (string, gwapiv1.ListenerConditionReason, string) {
	return resolveCertificateFrom(x, kindGateway, gwNamespace, ref)
}

// resolveCertificateFrom resolves a certificateRef of an object of kind
// fromKind (Gateway or ListenerSet) in namespace gwNamespace.
func resolveCertificateFrom(x *index, fromKind gwapiv1.Kind, gwNamespace string, ref gwapiv1.SecretObjectReference) (string, gwapiv1.ListenerConditionReason, string) {
	group, kind := "", string(kindSecret)
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	if group != "" || kind != string(kindSecret) {
		return "", gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("unsupported kind %s/%s", group, kind)
	}
	ns := gwNamespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if !x.allowed(refGrant{
		fromGroup: gwapiv1.GroupName, fromKind: string(fromKind), fromNamespace: gwNamespace,
		toGroup: "", toKind: string(kindSecret), toNamespace: ns, toName: string(ref.Name),
	}) {
		return "", gwapiv1.ListenerReasonRefNotPermitted, fmt.Sprintf("Secret %s/%s is in another namespace and no ReferenceGrant allows it", ns, ref.Name)
	}
	s := x.secrets[nsName{ns, string(ref.Name)}]
	if s == nil {
		return "", gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("Secret %s/%s not found", ns, ref.Name)
	}
	if err := checkTLSSecret(s); err != nil {
		return "", gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("Secret %s/%s: %v", ns, ref.Name, err)
	}
	return secretName(ns, string(ref.Name)), "", ""
}

// checkTLSSecret requires a kubernetes.io/tls Secret whose certificate and
// key parse and belong together.
func checkTLSSecret(s *corev1.Secret) error {
	if s.Type != "" && s.Type != corev1.SecretTypeTLS && s.Type != corev1.SecretTypeOpaque {
		return fmt.Errorf("type %q is not %s", s.Type, corev1.SecretTypeTLS)
	}
	crt, key := secretBytes(s, corev1.TLSCertKey), secretBytes(s, corev1.TLSPrivateKeyKey)
	if len(crt) == 0 || len(key) == 0 {
		return fmt.Errorf("%s and %s are required", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return fmt.Errorf("invalid certificate or key: %w", err)
	}
	return nil
}

func secretBytes(s *corev1.Secret, k string) []byte {
	if v, ok := s.Data[k]; ok {
		return v
	}
	if v, ok := s.StringData[k]; ok {
		return []byte(v)
	}
	return nil
}

// irSecret returns the SDS secret for an ir secret name.
func (x *index) irSecret(name string) *ir.Secret {
	ns, n, _ := strings.Cut(name, "/")
	s := x.secrets[nsName{ns, n}]
	if s == nil {
		return nil
	}
	return &ir.Secret{
		Name:        name,
		Certificate: secretBytes(s, corev1.TLSCertKey),
		Key:         secretBytes(s, corev1.TLSPrivateKeyKey),
	}
}
