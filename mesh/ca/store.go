package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Stored is the persisted state of the built-in signer, in the
// kubernetes.io/tls layout.
type Stored struct {
	// CertPEM is the signing certificate (root or intermediate), then the
	// intermediates above it (tls.crt).
	CertPEM []byte
	// KeyPEM is its private key (tls.key).
	KeyPEM []byte
	// BundlePEM is the trust bundle (ca.crt): for a managed root, the
	// active root then the older roots still valid.
	BundlePEM []byte
	// Managed is set on roots Gantry made and rotates; a root or
	// intermediate brought by the user is never rotated by Gantry.
	Managed bool
	// Version is the store's version of what was loaded (a Secret's
	// resourceVersion); Update fails with ErrConflict when it changed.
	Version string
}

// Errors of a Store.
var (
	ErrExists   = errors.New("ca: stored root already exists")
	ErrConflict = errors.New("ca: stored root changed meanwhile")
)

// Store persists the built-in signer's state.
type Store interface {
	// Load returns the stored state, or nil when there is none.
	Load(ctx context.Context) (*Stored, error)
	// Create stores s when nothing is stored yet, else fails with ErrExists.
	Create(ctx context.Context, s *Stored) error
	// Update replaces the state loaded at s.Version, or fails with
	// ErrConflict when it changed since.
	Update(ctx context.Context, s *Stored) error
}

// storeTimeout bounds one Store call made while rotating.
const storeTimeout = 10 * time.Second

// Open creates a CA whose built-in root lives in opts.Store: the stored
// root (Gantry's own, or one brought by the user) when there is one, else a
// new one, created only if no other replica created one first.
func Open(ctx context.Context, opts Options) (*CA, error) {
	if opts.Store == nil || opts.Signer != nil {
		return New(opts)
	}
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	st, err := c.opts.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("ca: load root: %w", err)
	}
	if st == nil {
		st = c.stored(c.roots)
		switch err := c.opts.Store.Create(ctx, st); {
		case errors.Is(err, ErrExists):
			if st, err = c.opts.Store.Load(ctx); err != nil || st == nil {
				return nil, fmt.Errorf("ca: load root created by another replica: %v", err)
			}
		case err != nil:
			return nil, fmt.Errorf("ca: store new root: %w", err)
		}
	}
	rs, err := c.parseStored(st)
	if err != nil {
		return nil, err
	}
	c.roots = rs
	return c, nil
}

// Refresh reloads the stored root, adopting a rotation another replica
// saved. Call it periodically with a Store.
func (c *CA) Refresh(ctx context.Context) error {
	if c.opts.Store == nil || c.roots == nil {
		return nil
	}
	st, err := c.opts.Store.Load(ctx)
	if err != nil || st == nil {
		return fmt.Errorf("ca: reload root: %v", cmpErr(err, "gone from the store"))
	}
	rs, err := c.parseStored(st)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !rs.active.cert.Equal(c.roots.active.cert) || !bytes.Equal(rs.bundle(), c.roots.bundle()) {
		c.roots = rs
	} else {
		c.roots.version = rs.version
	}
	return nil
}

func cmpErr(err error, otherwise string) error {
	if err != nil {
		return err
	}
	return errors.New(otherwise)
}

// saveRotation stores next and adopts it; when another replica rotated
// first, its root is adopted instead.
func (c *CA) saveRotation(next *roots) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st := c.stored(next)
	err := c.opts.Store.Update(ctx, st)
	if errors.Is(err, ErrConflict) {
		loaded, lerr := c.opts.Store.Load(ctx)
		if lerr != nil || loaded == nil {
			return fmt.Errorf("ca: reload rotated root: %v", cmpErr(lerr, "gone from the store"))
		}
		rs, perr := c.parseStored(loaded)
		if perr != nil {
			return perr
		}
		c.roots = rs
		return nil
	}
	if err != nil {
		return fmt.Errorf("ca: store rotated root: %w", err)
	}
	next.version = st.Version
	c.roots = next
	return nil
}

// stored is the persisted form of rs.
func (*CA) stored(rs *roots) *Stored {
	keyDER, _ := x509.MarshalPKCS8PrivateKey(rs.active.key) // our own ECDSA key always marshals
	return &Stored{
		CertPEM:   append(append([]byte{}, rs.active.pem...), rs.active.chain...),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		BundlePEM: rs.bundle(),
		Managed:   rs.managed,
		Version:   rs.version,
	}
}

// parseStored checks a stored state: a signing certificate (CA, able to
// sign certificates) with its key, and a bundle that verifies it.
func (c *CA) parseStored(st *Stored) (*roots, error) {
	pair, err := tls.X509KeyPair(st.CertPEM, st.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: stored root: tls.crt/tls.key: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("ca: stored root: tls.crt: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("ca: stored root: tls.crt is not a CA certificate that may sign certificates")
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("ca: stored root: tls.key cannot sign")
	}
	first, rest := splitPEM(st.CertPEM)
	r := &root{cert: cert, key: key, pem: first, chain: rest}
	rs := &roots{active: r, managed: st.Managed, version: st.Version}
	bundle := st.BundlePEM
	if len(bundle) == 0 && isSelfSigned(cert) {
		bundle = first
	}
	if err := verifiesAgainst(cert, rest, bundle); err != nil {
		return nil, fmt.Errorf("ca: stored root: ca.crt does not verify tls.crt: %w", err)
	}
	if !st.Managed {
		rs.trust = bundle
		return rs, nil
	}
	for _, blk := range splitAll(bundle) {
		old, err := parsePEMCert(blk)
		if err != nil {
			return nil, fmt.Errorf("ca: stored root: ca.crt: %w", err)
		}
		if !old.Equal(cert) {
			rs.old = append([]*root{{cert: old, pem: blk}}, rs.old...) // stored newest first
		}
	}
	return rs, nil
}

func verifiesAgainst(cert *x509.Certificate, chainPEM, bundlePEM []byte) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundlePEM) {
		return errors.New("no certificate in ca.crt")
	}
	inter.AppendCertsFromPEM(chainPEM)
	// This checks the chain of trust, not validity: the time is the end of
	// the certificate's own validity window.
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: cert.NotAfter.Add(-time.Second), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// splitPEM returns the first PEM block of data and the rest.
func splitPEM(data []byte) (first, rest []byte) {
	blocks := splitAll(data)
	if len(blocks) == 0 {
		return nil, nil
	}
	return blocks[0], bytes.Join(blocks[1:], nil)
}

// splitAll returns each CERTIFICATE block of data, re-encoded.
func splitAll(data []byte) [][]byte {
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(b))
		}
	}
}

func parsePEMCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
