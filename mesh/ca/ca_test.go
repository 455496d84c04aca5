package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestCA(t *testing.T, opts Options) (*CA, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: start}
	opts.Clock = clk
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(t *testing.T, bundle []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(bundle) {
		t.Fatal("bundle holds no certificate")
	}
	return p
}

func verify(t *testing.T, w *Workload, bundle []byte, at time.Time) error {
	t.Helper()
	_, err := parseCert(t, w.CertPEM).Verify(x509.VerifyOptions{
		Roots: pool(t, bundle), CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestIssueSPIFFECertificate(t *testing.T) {
	c, clk := newTestCA(t, Options{})
	id := Identity{Namespace: "shop", ServiceAccount: "reviews"}
	w, err := c.Certificate(id)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, w.CertPEM)
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://cluster.local/ns/shop/sa/reviews" {
		t.Errorf("URI SANs %v", cert.URIs)
	}
	if len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.EmailAddresses) != 0 || cert.IsCA {
		t.Errorf("unexpected SANs or CA flag: %+v", cert)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", cert.PublicKey)
	}
	if !cert.NotAfter.Equal(start.Add(DefaultCertLifetime)) || !cert.NotBefore.Equal(start.Add(-time.Minute)) {
		t.Errorf("validity %s..%s", cert.NotBefore, cert.NotAfter)
	}
	if err := verify(t, w, c.Bundle(), clk.Now()); err != nil {
		t.Errorf("does not verify against the bundle: %v", err)
	}
	if err := verify(t, w, c.Bundle(), start.Add(DefaultCertLifetime+time.Second)); err == nil {
		t.Error("verifies after expiry")
	}
	// Certificate and key belong together.
	if _, err := tls.X509KeyPair(w.CertPEM, w.KeyPEM); err != nil {
		t.Errorf("certificate and key do not match: %v", err)
	}
	root := parseCert(t, c.Bundle())
	if !root.IsCA || root.MaxPathLen != 0 || !root.MaxPathLenZero || root.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("root is not a path-length-0 signing CA: %+v", root)
	}
}

func TestWorkloadRotation(t *testing.T) {
	c, clk := newTestCA(t, Options{CertLifetime: 24 * time.Hour})
	id := Identity{Namespace: "shop", ServiceAccount: "reviews"}
	first, err := c.Certificate(id)
	if err != nil {
		t.Fatal(err)
	}
	// Lifetime runs from NotBefore (backdated a minute): renewal is due at
	// 12h - 1m after start.
	clk.advance(11 * time.Hour)
	same, _ := c.Certificate(id)
	if same != first {
		t.Fatal("re-issued before half of the lifetime")
	}
	clk.advance(time.Hour)
	next, err := c.Certificate(id)
	if err != nil {
		t.Fatal(err)
	}
	if next == first || parseCert(t, next.CertPEM).SerialNumber.Cmp(parseCert(t, first.CertPEM).SerialNumber) == 0 {
		t.Fatal("not re-issued after half of the lifetime")
	}
	if string(next.KeyPEM) == string(first.KeyPEM) {
		t.Error("rotation kept the old key")
	}
	if !next.NotAfter.Equal(clk.Now().Add(24 * time.Hour)) {
		t.Errorf("new NotAfter %s", next.NotAfter)
	}
	// The old certificate still verifies until it expires: peers roll over.
	if err := verify(t, first, c.Bundle(), clk.Now()); err != nil {
		t.Errorf("old certificate no longer verifies during rotation: %v", err)
	}
}

func TestRootRotationKeepsOldRootUntilExpiry(t *testing.T) {
	c, clk := newTestCA(t, Options{CALifetime: 10 * 24 * time.Hour, CertLifetime: 24 * time.Hour})
	id := Identity{Namespace: "shop", ServiceAccount: "reviews"}
	before, _ := c.Certificate(id)
	if n := strings.Count(string(c.Bundle()), "BEGIN CERTIFICATE"); n != 1 {
		t.Fatalf("bundle has %d roots, want 1", n)
	}
	firstRoot := parseCert(t, c.Bundle())
	clk.advance(5 * 24 * time.Hour) // half the root's lifetime: a new root
	after, err := c.Certificate(id)
	if err != nil {
		t.Fatal(err)
	}
	bundle := c.Bundle()
	if n := strings.Count(string(bundle), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("bundle has %d roots during the overlap, want 2", n)
	}
	if parseCert(t, bundle).Equal(parseCert(t, []byte(strings.SplitAfter(string(bundle), "-----END CERTIFICATE-----\n")[1]))) {
		t.Fatal("bundle repeats one root")
	}
	if after == before || parseCert(t, after.CertPEM).Issuer.String() != parseCert(t, bundle).Subject.String() {
		t.Fatal("workload certificate was not re-issued by the new root")
	}
	if err := verify(t, after, bundle, clk.Now()); err != nil {
		t.Errorf("new certificate: %v", err)
	}
	if err := verify(t, before, bundle, start.Add(time.Hour)); err != nil {
		t.Errorf("certificate of the previous root no longer verifies during the overlap: %v", err)
	}
	clk.advance(5*24*time.Hour + time.Minute) // the first root has expired
	for _, block := range strings.SplitAfter(string(c.Bundle()), "-----END CERTIFICATE-----\n") {
		if block != "" && parseCert(t, []byte(block)).Equal(firstRoot) {
			t.Error("the expired first root is still in the bundle")
		}
	}
}

func TestCertificateCappedByRoot(t *testing.T) {
	c, _ := newTestCA(t, Options{CALifetime: 48 * time.Hour, CertLifetime: 48 * time.Hour, RenewFraction: 1})
	w, err := c.Certificate(Identity{Namespace: "a", ServiceAccount: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if root := parseCert(t, c.Bundle()); w.NotAfter.After(root.NotAfter) {
		t.Errorf("certificate outlives its root: %s > %s", w.NotAfter, root.NotAfter)
	}
}

func TestSecrets(t *testing.T) {
	c, clk := newTestCA(t, Options{TrustDomain: "example.org"})
	ids := []Identity{{Namespace: "shop", ServiceAccount: "web"}, {Namespace: "default", ServiceAccount: "default"}, {Namespace: "shop", ServiceAccount: "web"}}
	secrets, err := c.Secrets(ids)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range secrets {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "mesh/ca-bundle,mesh/default/default,mesh/shop/web" {
		t.Fatalf("secrets %s", got)
	}
	if len(secrets[0].CA) == 0 || secrets[0].Certificate != nil || len(secrets[2].Certificate) == 0 || len(secrets[2].Key) == 0 {
		t.Fatal("bundle or workload secret has the wrong fields")
	}
	if u := parseCert(t, secrets[2].Certificate).URIs[0].String(); u != "spiffe://example.org/ns/shop/sa/web" {
		t.Errorf("URI %s", u)
	}
	again, _ := c.Secrets(ids)
	if string(again[2].Certificate) != string(secrets[2].Certificate) {
		t.Error("unchanged time re-issued a certificate")
	}
	clk.advance(13 * time.Hour)
	rotated, _ := c.Secrets(ids[:1])
	if len(rotated) != 2 || string(rotated[1].Certificate) == string(secrets[2].Certificate) {
		t.Error("due certificate not rotated, or a forgotten identity kept")
	}
	if _, err := c.Secrets([]Identity{{Namespace: "a/b", ServiceAccount: "x"}}); err == nil || !strings.Contains(err.Error(), "a/b/x") {
		t.Errorf("invalid identity: %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{
		{TrustDomain: "Bad/Domain"},
		{CertLifetime: 48 * time.Hour, CALifetime: 24 * time.Hour},
		{RenewFraction: 1.5},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

func TestIdentities(t *testing.T) {
	pod := func(ns, sa string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns}, Spec: corev1.PodSpec{ServiceAccountName: sa}}
	}
	got := Identities([]*corev1.Pod{pod("shop", "web"), pod("default", ""), pod("shop", "web"), pod("", "x"), nil, pod("a", "z")})
	want := []Identity{{"a", "z"}, {"default", "default"}, {"shop", "web"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestSecretsBuildAsSDS: the secrets are valid SDS resources for Envoy.
func TestSecretsBuildAsSDS(t *testing.T) {
	c, _ := newTestCA(t, Options{})
	secrets, err := c.Secrets([]Identity{{Namespace: "shop", ServiceAccount: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := envoy.Build(&ir.Proxy{Name: "mesh/shop", Secrets: secrets}, envoy.Options{Flavor: envoy.FlavorEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	if err := envoy.Validate(res); err != nil {
		t.Fatal(err)
	}
	if len(res.Secrets) != 2 {
		t.Fatalf("%d SDS secrets, want 2", len(res.Secrets))
	}
}
