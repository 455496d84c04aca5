package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"
)

var _ Signer = (*CA)(nil)

// Sign implements Signer with the built-in root: csrPEM must be a signed
// PEM "CERTIFICATE REQUEST" whose single URI SAN is a SPIFFE ID of the
// trust domain; DNS and IP SANs are kept (serving certificates), e-mail
// SANs are refused. The caller has checked that the requester owns that
// identity and may have the other SANs (a workload's request carries only
// its SPIFFE ID).
// lifetime is capped by the CA's certificate lifetime and by the root's
// own expiry.
//
// With Options.Signer the request goes to that Signer (after the same
// checks), so callers sign through the CA whoever signs.
func (c *CA) Sign(ctx context.Context, csrPEM []byte, lifetime time.Duration) (chainPEM, bundlePEM []byte, err error) {
	if c.roots == nil {
		if _, _, err := ParseCSR(csrPEM, c.opts.TrustDomain); err != nil {
			return nil, nil, err
		}
		if lifetime <= 0 || lifetime > c.opts.CertLifetime {
			lifetime = c.opts.CertLifetime
		}
		chain, bundle, err := c.opts.Signer.Sign(ctx, csrPEM, lifetime)
		if err != nil {
			return nil, nil, fmt.Errorf("ca: %w", err)
		}
		c.mu.Lock()
		c.bundle = bundle
		c.mu.Unlock()
		return chain, bundle, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if err := c.rotateRoot(now); err != nil {
		return nil, nil, err
	}
	return c.signLocked(csrPEM, lifetime, now)
}

// ParseCSR decodes and checks a PEM certificate request: its signature,
// exactly one URI SAN that is a SPIFFE ID of trustDomain, and no e-mail
// SAN. It returns the request and the identity it names.
func ParseCSR(csrPEM []byte, trustDomain string) (*x509.CertificateRequest, Identity, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, Identity{}, errors.New("ca: want a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("ca: certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, Identity{}, fmt.Errorf("ca: certificate request: %w", err)
	}
	if len(csr.URIs) != 1 || len(csr.EmailAddresses) != 0 {
		return nil, Identity{}, errors.New("ca: certificate request: want exactly one URI SAN (the SPIFFE ID) and no e-mail SANs")
	}
	id, err := ParseSPIFFEID(csr.URIs[0], trustDomain)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("ca: certificate request: %w", err)
	}
	return csr, id, nil
}

func (c *CA) signLocked(csrPEM []byte, lifetime time.Duration, now time.Time) ([]byte, []byte, error) {
	csr, _, err := ParseCSR(csrPEM, c.opts.TrustDomain)
	if err != nil {
		return nil, nil, err
	}
	serial, err := c.serial()
	if err != nil {
		return nil, nil, err
	}
	if lifetime <= 0 || lifetime > c.opts.CertLifetime {
		lifetime = c.opts.CertLifetime
	}
	active := c.roots.active
	notAfter := now.Add(lifetime)
	if end := active.cert.NotAfter; notAfter.After(end) {
		notAfter = end
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"gantry"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         csr.URIs,
		DNSNames:     csr.DNSNames,
		IPAddresses:  csr.IPAddresses,
	}
	der, err := x509.CreateCertificate(c.opts.Rand, tmpl, active.cert, csr.PublicKey, active.key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: %s: certificate: %w", csr.URIs[0], err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), active.chainPEM()...)
	return chain, c.bundleLocked(), nil
}

// chainPEM is what follows a leaf signed by r: r itself when it is an
// intermediate, and its issuers.
func (r *root) chainPEM() []byte {
	if len(r.chain) == 0 && isSelfSigned(r.cert) {
		return nil
	}
	return append(slices.Clone(r.pem), r.chain...)
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

// issue makes a key and a certificate request for id (and names: DNS
// names or IPs) and has it signed: by the built-in root, or by
// Options.Signer.
func (c *CA) issue(id Identity, names []string, now time.Time) (*Workload, error) {
	spiffe := id.SPIFFEID(c.opts.TrustDomain)
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: key: %w", spiffe, err)
	}
	u, err := url.Parse(spiffe)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", spiffe, err)
	}
	tmpl := &x509.CertificateRequest{URIs: []*url.URL{u}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	csrDER, err := x509.CreateCertificateRequest(c.opts.Rand, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: certificate request: %w", spiffe, err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})
	var chain []byte
	var signedBy *root
	if c.roots != nil {
		signedBy = c.roots.active
		chain, _, err = c.signLocked(csrPEM, c.opts.CertLifetime, now)
	} else {
		var bundle []byte
		chain, bundle, err = c.opts.Signer.Sign(context.Background(), csrPEM, c.opts.CertLifetime)
		if err == nil {
			c.bundle = bundle
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", spiffe, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: key: %w", spiffe, err)
	}
	b, _ := pem.Decode(chain)
	if b == nil {
		return nil, fmt.Errorf("ca: %s: signer returned no certificate", spiffe)
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: signed certificate: %w", spiffe, err)
	}
	return &Workload{
		Identity:  id,
		CertPEM:   chain,
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		root:      signedBy,
		dnsNames:  slices.Clone(names),
	}, nil
}
