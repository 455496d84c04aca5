package certmanager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/test/cmtest"
	"github.com/gantryproxy/gantry/test/envtest"
)

// Namespaces of the shared cert-manager: requests in approvedNS are approved
// by cert-manager's own approver; those elsewhere wait for a test to approve
// or deny them.
const (
	approvedNS = "mesh-approved"
	clusterNS  = "cert-manager"
)

var (
	shared      envtest.Shared
	startOnce   sync.Once
	startErr    error
	controllers []*cmtest.Controller
)

func TestMain(m *testing.M) {
	crds, err := cmtest.CRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(envtest.MainWith(m, &shared, envtest.Options{CRDPaths: crds}, stopCertManager))
}

// certManager returns a client of the shared API server on which
// cert-manager's issuer controllers run for every namespace and its
// approver for approvedNS. It skips t when the API server or the controller
// binary is unavailable, except under CI.
func certManager(t *testing.T) client.WithWatch {
	t.Helper()
	shared.Skip(t)
	c, err := NewClient(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	startOnce.Do(func() { startErr = startCertManager(c) })
	var un *cmtest.ErrUnavailable
	if errors.As(startErr, &un) && os.Getenv("CI") == "" {
		t.Skip("no cert-manager controller for the cert-manager tests: " + un.Reason)
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	for _, ctrl := range controllers {
		if exited, err := ctrl.Exited(); exited {
			t.Fatalf("cert-manager controller exited (%v): %s", err, ctrl.LogTail(4000))
		}
	}
	return c
}

func stopCertManager() {
	for _, c := range controllers {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "cert-manager controller stop:", err)
		}
	}
}

func startCertManager(c client.Client) error {
	ctx := context.Background()
	for _, ns := range []string{approvedNS, clusterNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	for _, o := range []cmtest.Options{
		{Controllers: []string{cmtest.ControllerIssuers, cmtest.ControllerClusterIssuers, cmtest.ControllerCA}, ClusterResourceNamespace: clusterNS},
		{Controllers: []string{cmtest.ControllerApprover}, Namespace: approvedNS},
	} {
		ctrl, err := cmtest.Start(shared.Config, o)
		if err != nil {
			return err
		}
		controllers = append(controllers, ctrl)
	}
	return nil
}

// newCSR makes a P-256 key and a CSR whose single URI SAN is spiffeID.
func newCSR(t *testing.T, spiffeID string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, csr, err := makeCSR(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	return key, csr
}

func makeCSR(spiffeID string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(spiffeID)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		return nil, nil, err
	}
	return key, pemBlock("CERTIFICATE REQUEST", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// newIssuer creates a CA and a CA Issuer for it in ns.
func newIssuer(t *testing.T, c client.Client, ns, name string) *cmtest.CA {
	t.Helper()
	ca, err := cmtest.NewCA(name + " root")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmtest.CreateIssuer(context.Background(), c, ca, ns, name); err != nil {
		t.Fatal(err)
	}
	return ca
}
