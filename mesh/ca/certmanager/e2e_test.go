package certmanager

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	serverID = "spiffe://cluster.local/ns/shop/sa/server"
	clientID = "spiffe://cluster.local/ns/shop/sa/client"
)

// TestGRPCMutualTLS: a grpc-go client and server authenticate each other
// with certificates signed by the real cert-manager through the Signer (keys
// made here, CSRs through Sign); the server sees the client's SPIFFE ID; a
// client whose certificate another CA signed is refused.
func TestGRPCMutualTLS(t *testing.T) {
	c := certManager(t)
	newIssuer(t, c, approvedNS, "e2e-mesh")
	newIssuer(t, c, approvedNS, "e2e-other")
	mesh := signerFor(t, c, "e2e-mesh")
	other := signerFor(t, c, "e2e-other")

	serverCert, bundle := issue(t, mesh, serverID)
	clientCert, clientBundle := issue(t, mesh, clientID)
	rogueCert, _ := issue(t, other, clientID)
	if string(bundle) != string(clientBundle) {
		t.Fatal("one issuer returned two bundles")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatal("empty bundle")
	}

	seen := make(chan string, 4)
	addr := serve(t, &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		MinVersion:   tls.VersionTLS13,
	}, func(id, _ string) { seen <- id })

	if err := check(t, addr, clientCert, roots); err != nil {
		t.Fatalf("mTLS call with cert-manager certificates: %v", err)
	}
	select {
	case id := <-seen:
		if id != clientID {
			t.Fatalf("server saw client %q, want %q", id, clientID)
		}
	default:
		t.Fatal("the server's handler did not run")
	}

	// The rogue client differs from the accepted one only by its certificate:
	// same SPIFFE ID, same client code, a chain from the other issuer's CA.
	var unknown x509.UnknownAuthorityError
	if _, err := rogueCert.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); !errors.As(err, &unknown) {
		t.Fatalf("the other issuer's certificate should not verify against the mesh bundle: %v", err)
	}
	err := check(t, addr, rogueCert, roots)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("client with another CA's certificate: got %v, want Unavailable (handshake refused)", err)
	}
	t.Logf("client with another CA's certificate refused: %v", err)
	select {
	case id := <-seen:
		t.Fatalf("the server handled a call from %q with another CA's certificate", id)
	default:
	}
}

func signerFor(t *testing.T, c client.WithWatch, issuer string) *Signer {
	t.Helper()
	s, err := New(Options{Client: c, Namespace: approvedNS, Issuer: IssuerRef{Kind: "Issuer", Name: issuer}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// issue makes a key here, signs its CSR through s and returns the TLS
// certificate and the bundle.
func issue(t *testing.T, s *Signer, id string) (tls.Certificate, []byte) {
	t.Helper()
	key, csr := newCSR(t, id)
	chain, bundle, err := s.Sign(context.Background(), csr, time.Hour)
	if err != nil {
		t.Fatalf("sign %s: %v", id, err)
	}
	cert, err := tls.X509KeyPair(chain, keyPEM(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return cert, bundle
}

func keyPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// serve starts a gRPC health server on loopback whose interceptor reports
// each caller's SPIFFE ID and certificate serial number.
func serve(t *testing.T, cfg *tls.Config, seen func(id, serial string)) string {
	t.Helper()
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p, ok := peer.FromContext(ctx)
		if !ok {
			return nil, status.Error(codes.Unauthenticated, "no peer")
		}
		info, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok || info.SPIFFEID == nil {
			return nil, status.Error(codes.Unauthenticated, "no SPIFFE ID")
		}
		seen(info.SPIFFEID.String(), info.State.PeerCertificates[0].SerialNumber.String())
		return handler(ctx, req)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)), grpc.UnaryInterceptor(record))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// check calls Health.Check with cert, verifying the server's chain against
// roots and its SPIFFE ID (the certificates carry no DNS name).
func check(t *testing.T, addr string, cert tls.Certificate, roots *x509.CertPool) error {
	t.Helper()
	return call(addr, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }, roots)
}

// call makes one connection (one handshake) and one Health.Check on it.
func call(addr string, cert func(*tls.CertificateRequestInfo) (*tls.Certificate, error), roots *x509.CertPool) error {
	cfg := &tls.Config{
		GetClientCertificate: cert,
		MinVersion:           tls.VersionTLS13,
		InsecureSkipVerify:   true, // replaced by VerifyConnection: chain and SPIFFE ID
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPeer(cs, roots, serverID)
		},
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, wantID string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return err
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != wantID {
		return fmt.Errorf("peer is %v, want %s", leaf.URIs, wantID)
	}
	return nil
}
