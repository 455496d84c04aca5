package certmanager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestNewRejectsBadOptions(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{name: "no client", o: Options{Namespace: "ns", Issuer: IssuerRef{Kind: "Issuer", Name: "ca"}}, want: "no client"},
		{name: "no namespace", o: Options{Client: c, Issuer: IssuerRef{Kind: "Issuer", Name: "ca"}}, want: "namespace"},
		{name: "no name", o: Options{Client: c, Namespace: "ns", Issuer: IssuerRef{Kind: "Issuer"}}, want: "issuer name"},
		{name: "no kind", o: Options{Client: c, Namespace: "ns", Issuer: IssuerRef{Name: "ca"}}, want: "issuer ca: kind"},
		{name: "wrong kind", o: Options{Client: c, Namespace: "ns", Issuer: IssuerRef{Kind: "Certificate", Name: "ca"}}, want: `issuer ca: kind "Certificate": the cert-manager.io group has only Issuer and ClusterIssuer`},
		{name: "bundle kind", o: Options{Client: c, Namespace: "ns", Issuer: IssuerRef{Kind: "Issuer", Name: "ca"}, Bundle: &BundleRef{Kind: "Pod", Name: "x"}}, want: `bundle x: kind "Pod"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
	// An external issuer's group takes any kind.
	s, err := New(Options{Client: c, Namespace: "ns", Issuer: IssuerRef{Kind: "AWSPCAClusterIssuer", Name: "pca", Group: "awspca.cert-manager.io"}, Bundle: &BundleRef{Kind: "Secret", Name: "roots"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := s.opts.Bundle; b.Namespace != "ns" || b.Key != DefaultBundleKey {
		t.Fatalf("bundle defaults not applied: %+v", b)
	}
}

func TestSignRejectsBadInput(t *testing.T) {
	s, err := New(Options{Client: fake.NewClientBuilder().Build(), Namespace: "ns", Issuer: IssuerRef{Kind: "Issuer", Name: "ca"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Sign(context.Background(), []byte("not pem"), time.Hour); err == nil || !strings.Contains(err.Error(), "CERTIFICATE REQUEST") {
		t.Fatalf("want a CSR error, got %v", err)
	}
	_, csr := newCSR(t, "spiffe://cluster.local/ns/a/sa/b")
	if _, _, err := s.Sign(context.Background(), csr, 0); err == nil || !strings.Contains(err.Error(), "lifetime") {
		t.Fatalf("want a lifetime error, got %v", err)
	}
}

func TestOutcome(t *testing.T) {
	s := &Signer{opts: Options{Namespace: "ns", Issuer: IssuerRef{Kind: "Issuer", Name: "ca", Group: DefaultGroup}}}
	cond := func(typ cmapi.CertificateRequestConditionType, status cmmeta.ConditionStatus, reason string) cmapi.CertificateRequestCondition {
		return cmapi.CertificateRequestCondition{Type: typ, Status: status, Reason: reason, Message: "msg " + reason}
	}
	for _, tc := range []struct {
		name  string
		conds []cmapi.CertificateRequestCondition
		cert  []byte
		want  outcome
		err   string
	}{
		{name: "new", want: pending},
		{name: "approved", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionApproved, cmmeta.ConditionTrue, "ok")}, want: pending},
		{name: "pending", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmapi.CertificateRequestReasonPending)}, want: pending},
		{name: "ready without certificate", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionTrue, "Issued")}, want: pending},
		{name: "issued", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionTrue, "Issued")}, cert: []byte("x"), want: issued},
		{name: "denied", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionDenied, cmmeta.ConditionTrue, "NoWay")}, want: refused, err: "denied: NoWay: msg NoWay"},
		{name: "invalid", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionInvalidRequest, cmmeta.ConditionTrue, "BadCSR")}, want: refused, err: "invalid request: BadCSR: msg BadCSR"},
		{name: "failed", conds: []cmapi.CertificateRequestCondition{cond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmapi.CertificateRequestReasonFailed)}, want: refused, err: "failed: Failed: msg Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &cmapi.CertificateRequest{Status: cmapi.CertificateRequestStatus{Conditions: tc.conds, Certificate: tc.cert}}
			cr.Namespace, cr.Name = "ns", "gantry-abc"
			if got := s.outcome(cr); got != tc.want {
				t.Fatalf("outcome %v, want %v", got, tc.want)
			}
			_, err := s.judge(cr)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), "CertificateRequest ns/gantry-abc for Issuer ca (cert-manager.io): "+tc.err)) {
				t.Fatalf("judge error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestBundleFromChain: with status.ca empty the bundle is the chain's
// self-signed root; a chain without one is an error.
func TestBundleFromChain(t *testing.T) {
	s := &Signer{opts: Options{Namespace: "ns"}}
	root, rootKey := testCert(t, nil, nil, true)
	leaf, _ := testCert(t, root, rootKey, false)
	cr := &cmapi.CertificateRequest{Status: cmapi.CertificateRequestStatus{Certificate: append(pemOf(leaf), pemOf(root)...)}}
	got, err := s.bundle(context.Background(), cr)
	if err != nil || string(got) != string(pemOf(root)) {
		t.Fatalf("bundle %q, %v; want the root", got, err)
	}
	cr.Status.Certificate = pemOf(leaf)
	if _, err := s.bundle(context.Background(), cr); err == nil || !strings.Contains(err.Error(), "no trust bundle") {
		t.Fatalf("want a no-bundle error, got %v", err)
	}
	cr.Status.CA = pemOf(root)
	if got, err := s.bundle(context.Background(), cr); err != nil || string(got) != string(pemOf(root)) {
		t.Fatalf("status.ca not used: %q, %v", got, err)
	}
}

// TestVerifyRejects: a certificate for another key, with other URI SANs, or
// from another CA is refused.
func TestVerifyRejects(t *testing.T) {
	root, rootKey := testCert(t, nil, nil, true)
	other, _ := testCert(t, nil, nil, true)
	leaf, _ := testCert(t, root, rootKey, false)
	_, csrPEM := newCSR(t, "spiffe://cluster.local/ns/a/sa/b")
	csr, err := parseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(csr, pemOf(leaf), pemOf(root)); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Fatalf("want a public key error, got %v", err)
	}
	csr.PublicKey = leaf.PublicKey
	if err := verify(csr, pemOf(leaf), pemOf(root)); err == nil || !strings.Contains(err.Error(), "URI SANs") {
		t.Fatalf("want a URI SAN error, got %v", err)
	}
	csr.URIs = leaf.URIs
	if err := verify(csr, pemOf(leaf), pemOf(other)); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("want a verification error, got %v", err)
	}
	if err := verify(csr, pemOf(leaf), pemOf(root)); err != nil {
		t.Fatal(err)
	}
}

func testCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: isCA, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if !isCA {
		tmpl.URIs = []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/leaf/sa/leaf"}}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
