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
	"crypto/rand"
	"fmt"
	"io"
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
	// Signer signs workload certificates instead of the built-in root
	// (the cert-manager issuer); nil means the built-in root, which then
	// also implements Signer itself (CA.Sign).
	Signer Signer
	// Store persists the built-in root (a Secret, a folder) so that it
	// survives restarts and is shared by replicas; nil keeps it in memory.
	// Used by Open.
	Store Store
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

// ParseSPIFFEID returns the identity of u, which must be
// spiffe://<trustDomain>/ns/<namespace>/sa/<service account>.
func ParseSPIFFEID(u *url.URL, trustDomain string) (Identity, error) {
	want := fmt.Errorf("SPIFFE ID %q: want spiffe://%s/ns/<namespace>/sa/<service account>", u, trustDomain)
	if u == nil || u.Scheme != "spiffe" || u.Host != trustDomain || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Identity{}, want
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" {
		return Identity{}, want
	}
	id := Identity{Namespace: parts[1], ServiceAccount: parts[3]}
	if id.validate() != nil {
		return Identity{}, want
	}
	return id, nil
}

func (id Identity) validate() error {
	for _, part := range []string{id.Namespace, id.ServiceAccount} {
		if part == "" || len(part) > 253 || strings.ContainsAny(part, "/:@ %?#") {
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
	Identity Identity
	// CertPEM is the certificate chain, leaf first.
	CertPEM   []byte
	KeyPEM    []byte
	NotBefore time.Time
	NotAfter  time.Time
	// root is the built-in root that signed it (nil for another Signer).
	root *root
	// dnsNames are the DNS and IP SANs of a serving certificate.
	dnsNames []string
}

// CA issues and rotates workload certificates through a Signer: the
// built-in root, or Options.Signer. Safe for concurrent use.
type CA struct {
	opts Options

	mu     sync.Mutex
	roots  *roots // the built-in root; nil with Options.Signer
	bundle []byte // with Options.Signer: the bundle of its last answer
	issued map[Identity]*Workload
	// serving holds the serving certificates of Serving, by identity.
	serving map[Identity]*Workload
}

// New creates a CA. Without Options.Signer it has a fresh built-in root
// kept in memory (Open loads or creates a persisted one).
func New(opts Options) (*CA, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &CA{opts: opts, issued: map[Identity]*Workload{}, serving: map[Identity]*Workload{}}
	if opts.Signer != nil {
		return c, nil
	}
	r, err := c.newRoot(opts.Clock.Now())
	if err != nil {
		return nil, err
	}
	c.roots = &roots{active: r, managed: true}
	return c, nil
}

// needsRenewal reports whether RenewFraction of [notBefore, notAfter] has
// passed at now.
func (c *CA) needsRenewal(notBefore, notAfter, now time.Time) bool {
	life := notAfter.Sub(notBefore)
	return !now.Before(notBefore.Add(time.Duration(float64(life) * c.opts.RenewFraction)))
}

// current reports whether w can still be served at now: not due for
// renewal and, with the built-in root, signed by the active root.
func (c *CA) current(w *Workload, now time.Time) bool {
	if w == nil || c.needsRenewal(w.NotBefore, w.NotAfter, now) {
		return false
	}
	return c.roots == nil || w.root == c.roots.active
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
	if w := c.issued[id]; c.current(w, now) {
		return w, nil
	}
	w, err := c.issue(id, nil, now)
	if err != nil {
		return nil, err
	}
	c.issued[id] = w
	return w, nil
}

// Serving returns the serving certificate of the control plane itself: the
// SPIFFE ID of id plus names (its Service's DNS names, or IPs), renewed
// like a workload certificate.
func (c *CA) Serving(id Identity, names []string) (*Workload, error) {
	if err := id.validate(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if err := c.rotateRoot(now); err != nil {
		return nil, err
	}
	if w := c.serving[id]; c.current(w, now) && slices.Equal(w.dnsNames, names) {
		return w, nil
	}
	w, err := c.issue(id, names, now)
	if err != nil {
		return nil, err
	}
	c.serving[id] = w
	return w, nil
}

// Bundle is the PEM trust bundle: with the built-in root, the active root
// then older roots that are still valid.
func (c *CA) Bundle() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.rotateRoot(c.opts.Clock.Now()) // a failed rotation keeps the current roots
	return c.bundleLocked()
}

// TrustDomain is the trust domain of the SPIFFE IDs the CA issues.
func (c *CA) TrustDomain() string { return c.opts.TrustDomain }

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
	var out []*ir.Secret
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
	out = append(out, &ir.Secret{Name: BundleSecret, CA: c.bundleLocked()})
	slices.SortFunc(out, func(a, b *ir.Secret) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
