package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"
)

// root is one signing certificate: a root, or an intermediate brought by
// the user. Older roots kept for the overlap have no key.
type root struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
	// chain is the PEM of the certificates between cert and the trust
	// bundle (an intermediate's issuers); empty for a root.
	chain []byte
}

// roots is the built-in signer's state.
type roots struct {
	active *root
	old    []*root // previous roots still valid, oldest first
	// managed roots are Gantry's own and rotate; a root or intermediate
	// brought by the user never is.
	managed bool
	// trust is the bundle of a user's root or intermediate (its ca.crt).
	trust []byte
	// version is the Store's version of this state.
	version string
}

func (c *CA) serial() (*big.Int, error) {
	s, err := rand.Int(c.opts.Rand, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("ca: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func (c *CA) newRoot(now time.Time) (*root, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("ca: root key: %w", err)
	}
	serial, err := c.serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"gantry"}, CommonName: "Gantry mesh CA " + c.opts.TrustDomain},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(c.opts.CALifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: c.opts.TrustDomain}},
	}
	der, err := x509.CreateCertificate(c.opts.Rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: root certificate: %w", err)
	}
	return &root{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// rotateRoot replaces a managed active root once it is due, keeping the
// old one in the bundle, and drops expired old roots. With a Store the new
// root is saved first; when another replica saved one meanwhile, that one
// is adopted instead.
func (c *CA) rotateRoot(now time.Time) error {
	rs := c.roots
	if rs == nil {
		return nil
	}
	rs.old = slices.DeleteFunc(rs.old, func(r *root) bool { return !now.Before(r.cert.NotAfter) })
	a := rs.active.cert
	if !rs.managed || !c.needsRenewal(a.NotBefore, a.NotAfter, now) {
		return nil
	}
	r, err := c.newRoot(now)
	if err != nil {
		return err
	}
	next := &roots{active: r, old: slices.Clone(rs.old), managed: true, version: rs.version}
	if now.Before(a.NotAfter) {
		next.old = append(next.old, rs.active)
	}
	if c.opts.Store != nil {
		return c.saveRotation(next)
	}
	c.roots = next
	return nil
}

// bundleLocked is the trust bundle: the built-in signer's, or the last
// bundle an external Signer returned.
func (c *CA) bundleLocked() []byte {
	if c.roots == nil {
		return slices.Clone(c.bundle)
	}
	return c.roots.bundle()
}

// bundle is the roots, newest first, or the bundle of a user's root or
// intermediate.
func (rs *roots) bundle() []byte {
	if len(rs.trust) > 0 {
		return slices.Clone(rs.trust)
	}
	out := slices.Clone(rs.active.pem)
	for i := len(rs.old) - 1; i >= 0; i-- {
		out = append(out, rs.old[i].pem...)
	}
	return out
}
