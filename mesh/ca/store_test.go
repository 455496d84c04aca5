package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func csrFor(t testing.TB, uris []string, dns []string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{DNSNames: dns}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignChecksTheRequest(t *testing.T) {
	c, _ := newTestCA(t, Options{})
	chain, bundle, err := c.Sign(context.Background(), csrFor(t, []string{"spiffe://cluster.local/ns/shop/sa/web"}, []string{"gantry.gantry-system.svc"}), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, chain)
	if cert.URIs[0].String() != "spiffe://cluster.local/ns/shop/sa/web" || cert.DNSNames[0] != "gantry.gantry-system.svc" {
		t.Errorf("SANs %v %v", cert.URIs, cert.DNSNames)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got != time.Hour+time.Minute {
		t.Errorf("lifetime %s, want the requested hour (plus the backdating)", got)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool(t, bundle), CurrentTime: start}); err != nil {
		t.Errorf("does not verify against the returned bundle: %v", err)
	}
	for name, csr := range map[string][]byte{
		"other trust domain": csrFor(t, []string{"spiffe://evil.org/ns/shop/sa/web"}, nil),
		"two URIs":           csrFor(t, []string{"spiffe://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/c/sa/d"}, nil),
		"no URI":             csrFor(t, nil, []string{"x"}),
		"other path form":    csrFor(t, []string{"spiffe://cluster.local/ns/a"}, nil),
		"not PEM":            []byte("hello"),
	} {
		if _, _, err := c.Sign(context.Background(), csr, time.Hour); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// countingSigner is another Signer: the built-in one of a second CA.
type countingSigner struct {
	inner *CA
	calls int
}

func (s *countingSigner) Sign(ctx context.Context, csr []byte, life time.Duration) ([]byte, []byte, error) {
	s.calls++
	return s.inner.Sign(ctx, csr, life)
}

func TestIssueThroughAnotherSigner(t *testing.T) {
	other, _ := newTestCA(t, Options{})
	s := &countingSigner{inner: other}
	c, clk := newTestCA(t, Options{Signer: s})
	w, err := c.Certificate(Identity{Namespace: "shop", ServiceAccount: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if s.calls != 1 || string(c.Bundle()) != string(other.Bundle()) {
		t.Fatalf("signer calls %d; bundle taken from the signer: %v", s.calls, string(c.Bundle()) == string(other.Bundle()))
	}
	if err := verify(t, w, other.Bundle(), clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Sign goes to the other Signer too, after the CA's own checks.
	if _, _, err := c.Sign(context.Background(), csrFor(t, []string{"spiffe://cluster.local/ns/a/sa/b"}, nil), time.Hour); err != nil || s.calls != 2 {
		t.Errorf("Sign through the other Signer: %v, %d calls", err, s.calls)
	}
	if _, _, err := c.Sign(context.Background(), csrFor(t, []string{"spiffe://evil.org/ns/a/sa/b"}, nil), time.Hour); err == nil || s.calls != 2 {
		t.Errorf("a request of another trust domain reached the other Signer: %v", err)
	}
}

func TestOpenPersistsTheRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	clk := &fakeClock{now: start}
	opts := Options{Clock: clk, CALifetime: 10 * 24 * time.Hour, Store: DirStore{Dir: dir}}
	first, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Bundle()) != string(first.Bundle()) {
		t.Fatal("a restart made a new root")
	}
	w, _ := again.Certificate(Identity{Namespace: "a", ServiceAccount: "b"})
	if err := verify(t, w, first.Bundle(), clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Half the root's lifetime later one replica rotates; the other, due at
	// the same time, adopts that root instead of making a third.
	clk.advance(5 * 24 * time.Hour)
	rotated := first.Bundle()
	if strings.Count(string(rotated), "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("rotation: bundle has %d roots, want 2", strings.Count(string(rotated), "BEGIN CERTIFICATE"))
	}
	if string(again.Bundle()) != string(rotated) {
		t.Fatal("the second replica did not adopt the stored rotation")
	}
	reopened, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(reopened.Bundle()) != string(rotated) {
		t.Fatal("the rotated root and the overlap were not persisted")
	}
}

func TestOpenBringYourOwnIntermediate(t *testing.T) {
	// The user's corporate root (path length 1) and an intermediate it signed.
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "corp root"}, NotBefore: start.Add(-time.Hour),
		NotAfter: start.Add(3650 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, _ := x509.ParseCertificate(rootDER)
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "corp intermediate"}, NotBefore: start.Add(-time.Hour),
		NotAfter: start.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rootCert, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		CertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		CAFile:   rootPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clk := &fakeClock{now: start}
	c, err := Open(context.Background(), Options{Clock: clk, CALifetime: 48 * time.Hour, Store: DirStore{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Certificate(Identity{Namespace: "a", ServiceAccount: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Bundle()) != string(rootPEM) || strings.Count(string(w.CertPEM), "BEGIN CERTIFICATE") != 2 {
		t.Fatal("want the user's bundle, and leaf + intermediate in the chain")
	}
	leaf := parseCert(t, w.CertPEM)
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(w.CertPEM[len(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})):])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(t, rootPEM), Intermediates: inter, CurrentTime: clk.Now()}); err != nil {
		t.Fatalf("leaf does not chain to the user's root: %v", err)
	}
	clk.advance(40 * 24 * time.Hour)
	if _, err := c.Certificate(Identity{Namespace: "a", ServiceAccount: "b"}); err != nil {
		t.Fatal(err)
	}
	if string(c.Bundle()) != string(rootPEM) {
		t.Error("a user's intermediate was rotated")
	}
	// A key that does not match the certificate is refused, naming the files.
	other, _ := newTestCA(t, Options{})
	if err := os.WriteFile(filepath.Join(dir, KeyFile), rootKeyPEM(t, other), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{Store: DirStore{Dir: dir}}); err == nil || !strings.Contains(err.Error(), "tls.crt/tls.key") {
		t.Errorf("mismatched key: %v", err)
	}
}

func rootKeyPEM(t *testing.T, c *CA) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.roots.active.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestOpenCreateRace(t *testing.T) {
	// Another replica created the root between Load and Create: it is used.
	dir := t.TempDir()
	winner, err := Open(context.Background(), Options{Store: DirStore{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	var loads int
	s := &raceStore{DirStore: DirStore{Dir: dir}, loads: &loads}
	loser, err := Open(context.Background(), Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if string(loser.Bundle()) != string(winner.Bundle()) {
		t.Fatal("the replica that lost the race kept its own root")
	}
}

// raceStore reports nothing stored on the first Load, as if another
// replica's Create happened right after it.
type raceStore struct {
	DirStore
	loads *int
}

func (r *raceStore) Load(ctx context.Context) (*Stored, error) {
	*r.loads++
	if *r.loads == 1 {
		return nil, nil
	}
	return r.DirStore.Load(ctx)
}
