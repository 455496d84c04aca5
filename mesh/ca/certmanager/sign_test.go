package certmanager

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/test/cmtest"
	"github.com/gantryproxy/gantry/test/envtest"
)

// signOK signs a CSR for id through s and checks the result: the chain
// verifies against the bundle, the URI SAN survives, the key is the CSR's,
// the lifetime is the one asked for, and no request is left behind.
func signOK(t *testing.T, c client.Client, s *Signer, id string, lifetime time.Duration) (chain, bundle []byte) {
	t.Helper()
	key, csr := newCSR(t, id)
	chain, bundle, err := s.Sign(context.Background(), csr, lifetime)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	certs, err := parseCerts(chain)
	if err != nil {
		t.Fatal(err)
	}
	leaf := certs[0]
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatalf("bundle has no certificate: %q", bundle)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client usage: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("server usage: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id {
		t.Fatalf("URI SANs %v, want [%s]", leaf.URIs, id)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) || leaf.IsCA {
		t.Fatalf("leaf key or isCA wrong (isCA %v)", leaf.IsCA)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < lifetime-time.Minute || got > lifetime+time.Minute {
		t.Fatalf("lifetime %s, want %s", got, lifetime)
	}
	var left cmapi.CertificateRequestList
	if err := c.List(context.Background(), &left, client.InNamespace(s.opts.Namespace), client.MatchingLabels{LabelManagedBy: ManagedBy}); err != nil {
		t.Fatal(err)
	}
	for _, cr := range left.Items {
		if cr.DeletionTimestamp == nil {
			t.Errorf("CertificateRequest %s left behind", cr.Name)
		}
	}
	return chain, bundle
}

func TestSignIssuer(t *testing.T) {
	c := certManager(t)
	ca := newIssuer(t, c, approvedNS, "mesh-ca")
	s, err := New(Options{Client: c, Namespace: approvedNS, Issuer: IssuerRef{Kind: "Issuer", Name: "mesh-ca"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"spiffe://cluster.local/ns/shop/sa/cart", "spiffe://cluster.local/ns/shop/sa/checkout"} {
		_, bundle := signOK(t, c, s, id, 2*time.Hour)
		if !strings.Contains(string(bundle), strings.TrimSpace(string(ca.CertPEM))) {
			t.Fatalf("bundle is not the issuer's CA:\n%s", bundle)
		}
	}
}

func TestSignClusterIssuer(t *testing.T) {
	c := certManager(t)
	ca, err := cmtest.NewCA("cluster root")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmtest.CreateClusterIssuer(context.Background(), c, ca, clusterNS, "mesh-cluster-ca"); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Client: c, Namespace: approvedNS, Issuer: IssuerRef{Kind: "ClusterIssuer", Name: "mesh-cluster-ca", Group: "cert-manager.io"}})
	if err != nil {
		t.Fatal(err)
	}
	signOK(t, c, s, "spiffe://example.org/ns/a/sa/b", 10*time.Minute)
}

// TestSignBundle: a configured bundle (ConfigMap, or Secret in another
// namespace) is returned and checked; a bundle of another CA is refused.
func TestSignBundle(t *testing.T) {
	c := certManager(t)
	ca := newIssuer(t, c, approvedNS, "bundle-ca")
	other, err := cmtest.NewCA("other root")
	if err != nil {
		t.Fatal(err)
	}
	envtest.Create(t, c,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "trust"}, Data: map[string]string{"ca.crt": string(ca.CertPEM)}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "wrong-trust"}, Data: map[string]string{"roots.pem": string(other.CertPEM)}},
	)
	s, err := New(Options{Client: c, Namespace: approvedNS, Issuer: IssuerRef{Kind: "Issuer", Name: "bundle-ca"}, Bundle: &BundleRef{Kind: "ConfigMap", Name: "trust"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, bundle := signOK(t, c, s, "spiffe://cluster.local/ns/x/sa/y", time.Hour); string(bundle) != string(ca.CertPEM) {
		t.Fatalf("bundle is not the ConfigMap's:\n%s", bundle)
	}
	envtest.Create(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: "trust"}, Data: map[string][]byte{"ca.crt": ca.CertPEM}})
	fromSecret, err := New(Options{Client: c, Namespace: approvedNS, Issuer: IssuerRef{Kind: "Issuer", Name: "bundle-ca"}, Bundle: &BundleRef{Kind: "Secret", Namespace: clusterNS, Name: "trust"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, bundle := signOK(t, c, fromSecret, "spiffe://cluster.local/ns/x/sa/z", time.Hour); string(bundle) != string(ca.CertPEM) {
		t.Fatalf("bundle is not the Secret's:\n%s", bundle)
	}
	wrong, err := New(Options{Client: c, Namespace: approvedNS, Issuer: IssuerRef{Kind: "Issuer", Name: "bundle-ca"}, Bundle: &BundleRef{Kind: "ConfigMap", Name: "wrong-trust", Key: "roots.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	_, csr := newCSR(t, "spiffe://cluster.local/ns/x/sa/y")
	_, _, err = wrong.Sign(context.Background(), csr, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "does not verify against the trust bundle") || !strings.Contains(err.Error(), "Issuer bundle-ca") {
		t.Fatalf("want a verification error naming the issuer, got %v", err)
	}
}

// TestSignDenied: a request an approver denies is reported with the
// approver's reason, at once, and deleted.
func TestSignDenied(t *testing.T) {
	c := certManager(t)
	ns := envtest.NewNamespace(t, c, "denied")
	newIssuer(t, c, ns, "deny-ca")
	s, err := New(Options{Client: c, Namespace: ns, Issuer: IssuerRef{Kind: "Issuer", Name: "deny-ca"}})
	if err != nil {
		t.Fatal(err)
	}
	_, csr := newCSR(t, "spiffe://cluster.local/ns/evil/sa/admin")
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Sign(context.Background(), csr, time.Hour)
		errc <- err
	}()
	cr := waitForRequest(t, c, ns)
	cr.Status.Conditions = append(cr.Status.Conditions, cmapi.CertificateRequestCondition{
		Type: cmapi.CertificateRequestConditionDenied, Status: cmmeta.ConditionTrue,
		Reason: "PolicyDenied", Message: "service account admin may not be used by the mesh",
	})
	if err := c.Status().Update(context.Background(), cr); err != nil {
		t.Fatal(err)
	}
	err = <-errc
	for _, want := range []string{"CertificateRequest " + ns + "/" + cr.Name, "Issuer deny-ca (cert-manager.io)", "denied: PolicyDenied: service account admin may not be used"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want an error with %q, got %v", want, err)
		}
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cr), cr); err == nil && cr.DeletionTimestamp == nil {
		t.Fatalf("denied request %s was not deleted", cr.Name)
	}
}

// TestSignMissingIssuer: a request for an Issuer that does not exist, or of
// the wrong kind, ends at the deadline with cert-manager's reason.
func TestSignMissingIssuer(t *testing.T) {
	c := certManager(t)
	newIssuer(t, c, approvedNS, "namespaced-ca")
	for _, tc := range []struct {
		name string
		ref  IssuerRef
		want string
	}{
		{name: "missing", ref: IssuerRef{Kind: "Issuer", Name: "nowhere"}, want: `Ready=False Pending: Referenced "Issuer" not found`},
		{name: "wrong kind", ref: IssuerRef{Kind: "ClusterIssuer", Name: "namespaced-ca"}, want: `Ready=False Pending: Referenced "ClusterIssuer" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Options{Client: c, Namespace: approvedNS, Issuer: tc.ref, Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, csr := newCSR(t, "spiffe://cluster.local/ns/a/sa/b")
			start := time.Now()
			_, _, err = s.Sign(context.Background(), csr, time.Hour)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.ref.Kind+" "+tc.ref.Name+" (cert-manager.io)") || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a deadline error with %q naming %s %s, got %v", tc.want, tc.ref.Kind, tc.ref.Name, err)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("Sign took %s with a 3s timeout", d)
			}
		})
	}
}

// TestSignNotApproved: without an approver the error says so.
func TestSignNotApproved(t *testing.T) {
	c := certManager(t)
	ns := envtest.NewNamespace(t, c, "unapproved")
	newIssuer(t, c, ns, "ca")
	s, err := New(Options{Client: c, Namespace: ns, Issuer: IssuerRef{Kind: "Issuer", Name: "ca"}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, csr := newCSR(t, "spiffe://cluster.local/ns/a/sa/b")
	_, _, err = s.Sign(context.Background(), csr, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "not approved (is an approver running for this issuer?)") {
		t.Fatalf("want a not-approved error, got %v", err)
	}
}

// waitForRequest returns the first Gantry CertificateRequest in ns.
func waitForRequest(t *testing.T, c client.Client, ns string) *cmapi.CertificateRequest {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var list cmapi.CertificateRequestList
		if err := c.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{LabelManagedBy: ManagedBy}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			return &list.Items[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no CertificateRequest appeared in %s", ns)
	return nil
}

// TestSignWithDocumentedRBAC: the Role of docs/cert-manager.md (create, get,
// watch, delete on CertificateRequests; get on the bundle ConfigMap by name)
// is enough, and a user without it is refused.
func TestSignWithDocumentedRBAC(t *testing.T) {
	c := certManager(t)
	ca := newIssuer(t, c, approvedNS, "rbac-ca")
	admin := shared.Client(t, kscheme.Scheme)
	envtest.Create(t, admin,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "rbac-trust"}, Data: map[string]string{"ca.crt": string(ca.CertPEM)}},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "gantry-cert-manager"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificaterequests"}, Verbs: []string{"create", "get", "watch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"rbac-trust"}, Verbs: []string{"get"}},
			},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "gantry-cert-manager"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "gantry-cert-manager"},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "gantry-signer", APIGroup: "rbac.authorization.k8s.io"}},
		},
	)
	// Without watch the Signer still gets there, by reading with backoff.
	envtest.Create(t, admin,
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "gantry-no-watch"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificaterequests"}, Verbs: []string{"create", "get", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"rbac-trust"}, Verbs: []string{"get"}},
			},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: approvedNS, Name: "gantry-no-watch"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "gantry-no-watch"},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "gantry-no-watch", APIGroup: "rbac.authorization.k8s.io"}},
		},
	)
	for _, tc := range []struct {
		user string
		ok   bool
	}{{user: "gantry-signer", ok: true}, {user: "gantry-no-watch", ok: true}, {user: "someone-else", ok: false}} {
		cfg, err := shared.Env.UserConfig(tc.user)
		if err != nil {
			t.Fatal(err)
		}
		uc, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Options{Client: uc, Namespace: approvedNS, Issuer: IssuerRef{Kind: "Issuer", Name: "rbac-ca"}, Bundle: &BundleRef{Kind: "ConfigMap", Name: "rbac-trust"}})
		if err != nil {
			t.Fatal(err)
		}
		if tc.ok {
			signOK(t, c, s, "spiffe://cluster.local/ns/rbac/sa/ok", time.Hour)
			continue
		}
		_, csr := newCSR(t, "spiffe://cluster.local/ns/rbac/sa/no")
		if _, _, err := s.Sign(context.Background(), csr, time.Hour); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Fatalf("user %s: want a forbidden error, got %v", tc.user, err)
		}
	}
}
