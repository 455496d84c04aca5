package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/internal/echo"
	"github.com/gantryproxy/gantry/mesh/ca/certmanager"
	"github.com/gantryproxy/gantry/test/cmtest"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestKubeCertManagerIssuer runs gantry serve --ca-issuer=cert-manager on a
// real API server with cert-manager's own controllers (CA Issuer, default
// approver): the xDS serving certificate and a Gateway fleet's client
// certificate are signed through CertificateRequests, the trust bundle is
// the Issuer's CA, and a proxyless gRPC client with that certificate is
// routed over mTLS; no request is left behind.
func TestKubeCertManagerIssuer(t *testing.T) {
	crds, err := cmtest.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	env := envtest.StartTWith(t, envtest.Options{ExtraCRDPaths: crds})
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmapi.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "gantry-system"
	envtest.Create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	for _, o := range []cmtest.Options{
		{Controllers: []string{cmtest.ControllerIssuers, cmtest.ControllerCA}},
		{Controllers: []string{cmtest.ControllerApprover}, Namespace: ns},
	} {
		ctrl, err := cmtest.Start(env.Config, o)
		var un *cmtest.ErrUnavailable
		if errors.As(err, &un) && os.Getenv("CI") == "" {
			t.Skip("no cert-manager controller for the cert-manager tests: " + un.Reason)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ctrl.Stop() })
	}
	root, err := cmtest.NewCA("cert-manager mesh root")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cmtest.CreateIssuer(ctx, c, root, ns, "mesh-ca"); err != nil {
		t.Fatal(err)
	}

	backend, err := echo.Listen("127.0.0.1:0", "v1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	createBackend(t, c, "v1", "192.0.2.1")
	const ctrl = "gantryproxy.io/e2e-cert-manager"
	envtest.Create(t, c,
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry-cm"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: ctrl}},
		&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"}, Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "gantry-cm",
			Listeners:        []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}},
		}},
		e2eRoute("r", "v1", ""),
	)

	o := &serveOptions{
		provider: "kube", controllerName: ctrl, xdsServiceAddress: "gantry.gantry-system.svc:18000",
		xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{
			namespace: ns, caSecret: "gantry-ca", serverNames: []string{"127.0.0.1"},
			caIssuer: issuerCertManager, certManager: certManagerIssuer{kind: "Issuer", name: "mesh-ca", group: "cert-manager.io"},
		},
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := newKubeWiring(env.Config, o, log)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := newControlPlane(o, w.sink, log)
	if err != nil {
		t.Fatalf("control plane with --ca-issuer=cert-manager: %v\n%s", err, logs.String())
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cp.run(runCtx, w) }()
	t.Cleanup(func() {
		stop()
		<-done
		if t.Failed() {
			t.Logf("control plane logs:\n%s", logs.String())
		}
	})

	if got := cp.security.ca.Bundle(); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(root.CertPEM)) {
		t.Fatalf("trust bundle is not the cert-manager Issuer's CA:\n%s", got)
	}
	// The client's certificate (clientFiles) is issued through the same
	// Signer, and its bundle verifies the xDS serving certificate.
	conn := kubeXDSClient(t, cp, "gateway/default/gw", "a.example.com", map[string]string{"192.0.2.1:8080": backend.Addr()})
	kubeEventually(t, "a route over xDS with cert-manager certificates", func() error { return expectBackend(conn, "v1") })

	var left cmapi.CertificateRequestList
	if err := c.List(ctx, &left, client.InNamespace(ns), client.MatchingLabels{certmanager.LabelManagedBy: certmanager.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	for _, cr := range left.Items {
		if cr.DeletionTimestamp == nil {
			t.Errorf("CertificateRequest %s left behind", cr.Name)
		}
	}
}
