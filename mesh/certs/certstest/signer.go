// Package certstest provides a ca.Signer backed by a throw-away root, for
// tests of the certificate service, the agent and mTLS end to end.
package certstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Signer signs CSRs with its own root, copying their URI SANs.
type Signer struct {
	root    *x509.Certificate
	key     *ecdsa.PrivateKey
	rootPEM []byte

	mu sync.Mutex
	// Issued counts the certificates signed.
	issued int
}

var _ ca.Signer = (*Signer)(nil)

// New makes a Signer with a fresh P-256 root named name.
func New(name string) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Signer{root: root, key: key, rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Bundle is the root, PEM.
func (s *Signer) Bundle() []byte { return s.rootPEM }

// Issued is the number of certificates signed so far.
func (s *Signer) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// Sign implements ca.Signer.
func (s *Signer) Sign(_ context.Context, csrPEM []byte, lifetime time.Duration) ([]byte, []byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, nil, errors.New("certstest: no PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certstest: %w", err)
	}
	now := time.Now()
	der, err := s.create(&x509.Certificate{NotAfter: now.Add(lifetime), URIs: csr.URIs}, csr.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	s.issued++
	s.mu.Unlock()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), s.rootPEM, nil
}

// create signs tmpl (its NotAfter and SANs) for pub as a client and server
// certificate.
func (s *Signer) create(tmpl *x509.Certificate, pub any) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.root, pub, s.key)
	if err != nil {
		return nil, fmt.Errorf("certstest: %w", err)
	}
	return der, nil
}

// ServerCertificate issues a serving certificate for the DNS names and IP
// addresses of names, valid for an hour.
func (s *Signer) ServerCertificate(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{NotAfter: time.Now().Add(time.Hour)}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := s.create(tmpl, &key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
