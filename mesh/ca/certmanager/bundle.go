package certmanager

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// bundle returns the trust bundle for a signed request: the configured
// ConfigMap or Secret key, else status.ca, else the chain's self-signed root.
func (s *Signer) bundle(ctx context.Context, cr *cmapi.CertificateRequest) ([]byte, error) {
	if b := s.opts.Bundle; b != nil {
		return s.readBundle(ctx, *b)
	}
	if len(bytes.TrimSpace(cr.Status.CA)) > 0 {
		return cr.Status.CA, nil
	}
	chain, err := parseCerts(cr.Status.Certificate)
	if err != nil {
		return nil, fmt.Errorf("status.certificate: %w", err)
	}
	root := chain[len(chain)-1]
	if len(chain) == 1 || !bytes.Equal(root.RawIssuer, root.RawSubject) || root.CheckSignatureFrom(root) != nil {
		return nil, errors.New("no trust bundle: status.ca is empty and the chain does not end in a self-signed root; configure a bundle ConfigMap or Secret")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), nil
}

// readBundle reads a bundle key from a ConfigMap or Secret.
func (s *Signer) readBundle(ctx context.Context, b BundleRef) ([]byte, error) {
	key := client.ObjectKey{Namespace: b.Namespace, Name: b.Name}
	var data []byte
	switch b.Kind {
	case "ConfigMap":
		cm := &corev1.ConfigMap{}
		if err := s.opts.Client.Get(ctx, key, cm); err != nil {
			return nil, fmt.Errorf("bundle ConfigMap %s: %w", key, err)
		}
		data = []byte(cm.Data[b.Key])
	default:
		sec := &corev1.Secret{}
		if err := s.opts.Client.Get(ctx, key, sec); err != nil {
			return nil, fmt.Errorf("bundle Secret %s: %w", key, err)
		}
		data = sec.Data[b.Key]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("bundle %s %s: key %q is missing or empty", b.Kind, key, b.Key)
	}
	return data, nil
}

// parseCSR decodes and checks a PEM certificate signing request.
func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("certmanager: csr: want a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certmanager: csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certmanager: csr: signature: %w", err)
	}
	return csr, nil
}

// parseCerts decodes every CERTIFICATE block of data, in order.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// verify checks that the issued chain belongs to the CSR (same public key,
// same URI SANs) and verifies against the bundle.
func verify(csr *x509.CertificateRequest, chainPEM, bundlePEM []byte) error {
	chain, err := parseCerts(chainPEM)
	if err != nil {
		return fmt.Errorf("status.certificate: %w", err)
	}
	leaf := chain[0]
	if !publicKeysEqual(leaf.PublicKey, csr.PublicKey) {
		return errors.New("the issued certificate's public key is not the CSR's")
	}
	if want, got := uriStrings(csr.URIs), uriStrings(leaf.URIs); !slices.Equal(want, got) {
		return fmt.Errorf("the issued certificate's URI SANs %v differ from the CSR's %v", got, want)
	}
	roots, err := parseCerts(bundlePEM)
	if err != nil {
		return fmt.Errorf("trust bundle: %w", err)
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for _, r := range roots {
		opts.Roots.AddCert(r)
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("the issued certificate does not verify against the trust bundle: %w", err)
	}
	return nil
}

func publicKeysEqual(a, b any) bool {
	k, ok := a.(interface{ Equal(x crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func uriStrings(us []*url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	slices.Sort(out)
	return out
}
