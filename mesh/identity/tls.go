package identity

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// ServerTLS is the TLS configuration of a server whose certificate comes
// from c: the SPIFFE ID of id plus dnsNames, renewed as it comes due; a
// client certificate is verified against the current trust bundle when one
// is sent (VerifyClientCertIfGiven), so that clients without a certificate
// yet can still authenticate with a token. Only TLS 1.3, only HTTP/2.
func ServerTLS(c *ca.CA, id ca.Identity, dnsNames []string) *tls.Config {
	s := &servingState{ca: c, id: id, dns: dnsNames}
	return &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}, GetConfigForClient: s.config}
}

// servingState caches the parsed certificate and pool between handshakes.
type servingState struct {
	ca  *ca.CA
	id  ca.Identity
	dns []string

	mu     sync.Mutex
	w      *ca.Workload
	cert   tls.Certificate
	bundle []byte
	pool   *x509.CertPool
}

func (s *servingState) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	w, err := s.ca.Serving(s.id, s.dns)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	bundle := s.ca.Bundle()
	s.mu.Lock()
	defer s.mu.Unlock()
	if w != s.w {
		cert, err := tls.X509KeyPair(w.CertPEM, w.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		s.w, s.cert = w, cert
	}
	if s.pool == nil || !bytes.Equal(bundle, s.bundle) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle) {
			return nil, errors.New("trust bundle holds no certificate")
		}
		s.bundle, s.pool = bundle, pool
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{"h2"},
		Certificates: []tls.Certificate{s.cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.pool,
	}, nil
}

// ClientTLS is the TLS configuration of a client of a server with a
// certificate from the mesh CA: it trusts bundlePEM, checks serverName, and
// presents cert when it is not nil.
func ClientTLS(bundlePEM []byte, serverName string, cert *tls.Certificate) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundlePEM) {
		return nil, errors.New("trust bundle holds no certificate")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: serverName, NextProtos: []string{"h2"}}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}
