package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/certs/certstest"
)

// tokenAuth accepts "authorization: Bearer <token>" for the tokens it knows.
type tokenAuth map[string]ca.Identity

func (t tokenAuth) Authenticate(ctx context.Context) (ca.Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if id, ok := t[strings.TrimPrefix(v, "Bearer ")]; ok {
			return id, nil
		}
	}
	return ca.Identity{}, errors.New("no known token")
}

var reviews = ca.Identity{Namespace: "shop", ServiceAccount: "reviews"}

const reviewsID = "spiffe://cluster.local/ns/shop/sa/reviews"

// fixture is a certificate service on loopback behind TLS that asks for (but
// does not require) a client certificate of the signer's root.
type fixture struct {
	signer *certstest.Signer
	addr   string
	obs    chan string
}

func start(t testing.TB, lifetime time.Duration) *fixture {
	t.Helper()
	signer, err := certstest.New("test root")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{signer: signer, obs: make(chan string, 16)}
	svc, err := New(Options{
		Signer:        signer,
		Authenticator: Chain{PeerCertificate{}, tokenAuth{"good": reviews}},
		Lifetime:      lifetime,
		Observe: func(o string) {
			select {
			case f.obs <- o:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := signer.ServerCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool(t, signer.Bundle()),
		MinVersion:   tls.VersionTLS12,
	})))
	svc.Register(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	f.addr = ln.Addr().String()
	return f
}

func pool(t testing.TB, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in bundle")
	}
	return p
}

// dial connects trusting the fixture's root, with an optional client
// certificate.
func (f *fixture) dial(t testing.TB, client *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: pool(t, f.signer.Bundle()), MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrFor(t testing.TB, key *ecdsa.PrivateKey, id string) []byte {
	t.Helper()
	csr, err := CreateCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func withToken(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func parseLeaf(t *testing.T, chain []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatal("no PEM in chain")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenCallerGetsItsOwnCertificate(t *testing.T) {
	f := start(t, time.Hour)
	key := newKey(t)
	chain, bundle, err := Sign(withToken("good"), f.dial(t, nil), csrFor(t, key, reviewsID))
	if err != nil {
		t.Fatal(err)
	}
	leaf := parseLeaf(t, chain)
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != reviewsID {
		t.Errorf("URIs %v", leaf.URIs)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(t, bundle), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("chain does not verify against the returned bundle: %v", err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < time.Hour || life > time.Hour+time.Minute {
		t.Errorf("lifetime %s, want the configured hour", life)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Error("certificate is not for the workload's key")
	}
	if o := <-f.obs; o != "issued" {
		t.Errorf("outcome %q", o)
	}
}

func TestRenewalWithCurrentCertificate(t *testing.T) {
	f := start(t, time.Hour)
	key := newKey(t)
	chain, _, err := Sign(withToken("good"), f.dial(t, nil), csrFor(t, key, reviewsID))
	if err != nil {
		t.Fatal(err)
	}
	current := tls.Certificate{Certificate: [][]byte{parseLeaf(t, chain).Raw}, PrivateKey: key}
	next := newKey(t)
	chain2, _, err := Sign(context.Background(), f.dial(t, &current), csrFor(t, next, reviewsID))
	if err != nil {
		t.Fatalf("renewal with the current certificate and no token: %v", err)
	}
	if !parseLeaf(t, chain2).PublicKey.(*ecdsa.PublicKey).Equal(&next.PublicKey) {
		t.Error("renewed certificate is not for the new key")
	}
	// The certificate proves only its own identity.
	if _, _, err := Sign(context.Background(), f.dial(t, &current), csrFor(t, next, "spiffe://cluster.local/ns/shop/sa/admin")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("certificate holder asking for another identity: %v, want PermissionDenied", err)
	}
}

func TestRefusals(t *testing.T) {
	f := start(t, time.Hour)
	other, err := certstest.New("other root")
	if err != nil {
		t.Fatal(err)
	}
	// A certificate of another CA: the server names its CA in the handshake,
	// so the client does not even offer it; the call has no identity.
	foreignKey := newKey(t)
	foreignChain, _, err := other.Sign(context.Background(), csrFor(t, foreignKey, reviewsID), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign := tls.Certificate{Certificate: [][]byte{parseLeaf(t, foreignChain).Raw}, PrivateKey: foreignKey}
	key := newKey(t)
	cases := []struct {
		name string
		ctx  context.Context
		conn *grpc.ClientConn
		csr  []byte
		code codes.Code
	}{
		{name: "no credentials", ctx: context.Background(), conn: f.dial(t, nil), csr: csrFor(t, key, reviewsID), code: codes.Unauthenticated},
		{name: "unknown token", ctx: withToken("bad"), conn: f.dial(t, nil), csr: csrFor(t, key, reviewsID), code: codes.Unauthenticated},
		{name: "another identity", ctx: withToken("good"), conn: f.dial(t, nil), csr: csrFor(t, key, "spiffe://cluster.local/ns/shop/sa/admin"), code: codes.PermissionDenied},
		{name: "another trust domain", ctx: withToken("good"), conn: f.dial(t, nil), csr: csrFor(t, key, "spiffe://evil.org/ns/shop/sa/reviews"), code: codes.PermissionDenied},
		{name: "not a CSR", ctx: withToken("good"), conn: f.dial(t, nil), csr: []byte("hello"), code: codes.PermissionDenied},
		{name: "certificate of another CA", ctx: context.Background(), conn: f.dial(t, &foreign), csr: csrFor(t, key, reviewsID), code: codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.signer.Issued()
			_, _, err := Sign(tc.ctx, tc.conn, tc.csr)
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if f.signer.Issued() != before {
				t.Error("a certificate was signed")
			}
		})
	}
}

func TestOptions(t *testing.T) {
	signer, _ := certstest.New("x")
	for _, o := range []Options{
		{Authenticator: PeerCertificate{}},
		{Signer: signer},
		{Signer: signer, Authenticator: PeerCertificate{}, Lifetime: MaxLifetime + time.Second},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
