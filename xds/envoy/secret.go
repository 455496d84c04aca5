package envoy

import (
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/gantryproxy/gantry/xds/ir"
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
		case s.Files != nil:
			if err := fileSecret(ps, s); err != nil {
				return nil, fmt.Errorf("secret %s: %w", s.Name, err)
			}
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

// fileSecret points the secret at files on the proxy's filesystem, re-read
// when an entry is moved into the watched directory.
func fileSecret(ps *tlsv3.Secret, s *ir.Secret) error {
	f := s.Files
	watched := &corev3.WatchedDirectory{Path: f.Directory}
	switch {
	case len(s.Certificate)+len(s.Key)+len(s.CA) > 0:
		return fmt.Errorf("files and PEM data are exclusive")
	case f.Directory == "":
		return fmt.Errorf("files: no directory to watch")
	case f.Certificate != "" && f.Key != "":
		ps.Type = &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: fileSource(f.Certificate),
			PrivateKey:       fileSource(f.Key),
			WatchedDirectory: watched,
		}}
	case f.Certificate != "" || f.Key != "":
		return fmt.Errorf("files: certificate and key must be set together")
	case f.CA != "":
		ps.Type = &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa:        fileSource(f.CA),
			WatchedDirectory: watched,
		}}
	default:
		return fmt.Errorf("files: no certificate, key or CA")
	}
	return nil
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
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
