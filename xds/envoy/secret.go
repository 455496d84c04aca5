package envoy

import (
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// secrets maps certificates (with their key) and CA bundles. A secret with a
// certificate and also a CA (a kubernetes.io/tls Secret with ca.crt) is
// served as the certificate.
func (b *builder) secrets() ([]types.Resource, error) {
	out := make([]types.Resource, 0, len(b.proxy.Secrets))
	seen := map[string]bool{}
	for _, s := range b.proxy.Secrets {
		if s == nil {
			continue
		}
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("secret %q: empty or duplicate name", s.Name)
		}
		seen[s.Name] = true
		ps := &tlsv3.Secret{Name: s.Name}
		switch {
		case len(s.Certificate) > 0 && len(s.Key) > 0:
			ps.Type = &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inlineBytes(s.Certificate),
				PrivateKey:       inlineBytes(s.Key),
			}}
		case len(s.Certificate) > 0 || len(s.Key) > 0:
			return nil, fmt.Errorf("secret %s: certificate and key must be set together", s.Name)
		case len(s.CA) > 0:
			ps.Type = &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inlineBytes(s.CA),
			}}
		default:
			return nil, fmt.Errorf("secret %s: no certificate, key or CA", s.Name)
		}
		out = append(out, ps)
	}
	return out, nil
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: append([]byte(nil), b...)}}
}

// sdsConfig names a secret fetched over ADS.
func sdsConfig(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

func tlsSocket(ctx proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       tlsSocketName,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}
