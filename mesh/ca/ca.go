// Package ca is Gantry's built-in mesh certificate authority: an ECDSA P-256
// root that issues SPIFFE workload certificates
// (spiffe://<trust domain>/ns/<namespace>/sa/<service account>) and serves
// them, with the trust bundle, as ir.Secrets.
//
// Time comes from an injected Clock, so issuance and rotation are testable:
// a workload certificate is re-issued once RenewFraction of its lifetime has
// passed; the root is replaced once RenewFraction of its own lifetime has
// passed, and the previous root stays in the trust bundle until it expires,
// so certificates of both roots verify during the overlap.
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Clock tells the time.
type Clock interface{ Now() time.Time }

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Defaults of Options.
const (
	DefaultTrustDomain   = "cluster.local"
	DefaultCALifetime    = 365 * 24 * time.Hour
	DefaultCertLifetime  = 24 * time.Hour
	DefaultRenewFraction = 0.5
	// clockSkew backdates NotBefore so peers with a slightly late clock
	// accept a fresh certificate.
	clockSkew = time.Minute
)

// Secret names.
const (
	// BundleSecret holds the trust bundle (every valid root).
	BundleSecret = "mesh/ca-bundle"
	// secretPrefix starts workload secrets: "mesh/<ns>/<sa>".
	secretPrefix = "mesh/"
)

// Options configure a CA.
type Options struct {
	TrustDomain   string
	CALifetime    time.Duration
	CertLifetime  time.Duration
	RenewFraction float64 // in (0, 1]
	Clock         Clock
	// Rand is the randomness source for keys and serials (crypto/rand by
	// default).
	Rand io.Reader
}

func (o Options) withDefaults() (Options, error) {
	if o.TrustDomain == "" {
		o.TrustDomain = DefaultTrustDomain
	}
	if o.CALifetime == 0 {
		o.CALifetime = DefaultCALifetime
	}
	if o.CertLifetime == 0 {
		o.CertLifetime = DefaultCertLifetime
	}
	if o.RenewFraction == 0 {
		o.RenewFraction = DefaultRenewFraction
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	switch {
	case strings.ContainsAny(o.TrustDomain, "/:@ ") || strings.ToLower(o.TrustDomain) != o.TrustDomain:
		return o, fmt.Errorf("ca: trust domain %q: want a lower-case DNS name", o.TrustDomain)
	case o.CALifetime < 0 || o.CertLifetime < 0 || o.CertLifetime > o.CALifetime:
		return o, fmt.Errorf("ca: lifetimes: want 0 < cert lifetime (%s) <= CA lifetime (%s)", o.CertLifetime, o.CALifetime)
	case o.RenewFraction <= 0 || o.RenewFraction > 1:
		return o, fmt.Errorf("ca: renew fraction %v: want (0, 1]", o.RenewFraction)
	}
	return o, nil
}

// Identity is a workload's namespace and service account.
type Identity struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

func (id Identity) validate() error {
	for _, part := range []string{id.Namespace, id.ServiceAccount} {
		if part == "" || strings.ContainsAny(part, "/:@ ") {
			return fmt.Errorf("ca: identity %s/%s: namespace and service account must be non-empty names", id.Namespace, id.ServiceAccount)
		}
	}
	return nil
}

// SPIFFEID is spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.
func (id Identity) SPIFFEID(trustDomain string) string {
	return "spiffe://" + trustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// SecretName is the SDS name of the identity's certificate: "mesh/<ns>/<sa>".
func (id Identity) SecretName() string { return secretPrefix + id.Namespace + "/" + id.ServiceAccount }

// Workload is one issued certificate with its key.
type Workload struct {
	Identity  Identity
	CertPEM   []byte
	KeyPEM    []byte
	NotBefore time.Time
	NotAfter  time.Time
	// root is the root that signed it.
	root *root
}

// root is one signing certificate.
type root struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// CA issues and rotates workload certificates. Safe for concurrent use.
type CA struct {
	opts Options

	mu     sync.Mutex
	active *root
	old    []*root // previous roots still valid, oldest first
	issued map[Identity]*Workload
}

// New creates a CA with a fresh root.
func New(opts Options) (*CA, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &CA{opts: opts, issued: map[Identity]*Workload{}}
	r, err := c.newRoot(opts.Clock.Now())
	if err != nil {
		return nil, err
	}
	c.active = r
	return c, nil
}

// needsRenewal reports whether RenewFraction of [notBefore, notAfter] has
// passed at now.
func (c *CA) needsRenewal(notBefore, notAfter, now time.Time) bool {
	life := notAfter.Sub(notBefore)
	return !now.Before(notBefore.Add(time.Duration(float64(life) * c.opts.RenewFraction)))
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

// rotateRoot replaces the active root once it is due, keeping the old one
// in the bundle, and drops expired old roots.
func (c *CA) rotateRoot(now time.Time) error {
	c.old = slices.DeleteFunc(c.old, func(r *root) bool { return !now.Before(r.cert.NotAfter) })
	a := c.active.cert
	if !c.needsRenewal(a.NotBefore, a.NotAfter, now) {
		return nil
	}
	r, err := c.newRoot(now)
	if err != nil {
		return err
	}
	if now.Before(a.NotAfter) {
		c.old = append(c.old, c.active)
	}
	c.active = r
	return nil
}

// issue signs a new certificate for id with the active root.
func (c *CA) issue(id Identity, now time.Time) (*Workload, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.opts.Rand)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: key: %w", id.SPIFFEID(c.opts.TrustDomain), err)
	}
	serial, err := c.serial()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(id.SPIFFEID(c.opts.TrustDomain))
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", id.SPIFFEID(c.opts.TrustDomain), err)
	}
	notAfter := now.Add(c.opts.CertLifetime)
	if rootEnd := c.active.cert.NotAfter; notAfter.After(rootEnd) {
		notAfter = rootEnd
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"gantry"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{u},
	}
	der, err := x509.CreateCertificate(c.opts.Rand, tmpl, c.active.cert, &key.PublicKey, c.active.key)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: certificate: %w", u, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: key: %w", u, err)
	}
	return &Workload{
		Identity:  id,
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		NotBefore: tmpl.NotBefore,
		NotAfter:  notAfter,
		root:      c.active,
	}, nil
}

// Certificate returns id's current certificate, issuing or re-issuing it
// when it is missing, due for renewal, or signed by a root that is no
// longer active.
func (c *CA) Certificate(id Identity) (*Workload, error) {
	if err := id.validate(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if err := c.rotateRoot(now); err != nil {
		return nil, err
	}
	return c.certificateLocked(id, now)
}

func (c *CA) certificateLocked(id Identity, now time.Time) (*Workload, error) {
	if w := c.issued[id]; w != nil && w.root == c.active && !c.needsRenewal(w.NotBefore, w.NotAfter, now) {
		return w, nil
	}
	w, err := c.issue(id, now)
	if err != nil {
		return nil, err
	}
	c.issued[id] = w
	return w, nil
}

// Bundle is the PEM trust bundle: the active root, then older roots that
// are still valid.
func (c *CA) Bundle() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.rotateRoot(c.opts.Clock.Now()) // a failed rotation keeps the current roots
	return c.bundleLocked()
}

func (c *CA) bundleLocked() []byte {
	out := slices.Clone(c.active.pem)
	for i := len(c.old) - 1; i >= 0; i-- {
		out = append(out, c.old[i].pem...)
	}
	return out
}

// Secrets returns the trust bundle (BundleSecret) and the certificate of
// every identity ("mesh/<ns>/<sa>"), rotating what is due, sorted by name.
// Identities no longer asked for are forgotten. An invalid identity fails
// the call and names it; nothing is rotated then.
func (c *CA) Secrets(ids []Identity) ([]*ir.Secret, error) {
	for _, id := range ids {
		if err := id.validate(); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if err := c.rotateRoot(now); err != nil {
		return nil, err
	}
	want := map[Identity]bool{}
	out := []*ir.Secret{{Name: BundleSecret, CA: c.bundleLocked()}}
	for _, id := range ids {
		if want[id] {
			continue
		}
		want[id] = true
		w, err := c.certificateLocked(id, now)
		if err != nil {
			return nil, err
		}
		out = append(out, &ir.Secret{Name: id.SecretName(), Certificate: w.CertPEM, Key: w.KeyPEM})
	}
	for id := range c.issued {
		if !want[id] {
			delete(c.issued, id)
		}
	}
	slices.SortFunc(out, func(a, b *ir.Secret) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
