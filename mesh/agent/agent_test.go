package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/certs"
	"github.com/gantryproxy/gantry/mesh/certs/certstest"
)

var reviews = ca.Identity{Namespace: "shop", ServiceAccount: "reviews"}

// tokens accepts the bearer tokens it maps to identities.
type tokens struct {
	mu sync.Mutex
	m  map[string]ca.Identity
}

func (t *tokens) Authenticate(ctx context.Context) (ca.Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range md.Get("authorization") {
		if id, ok := t.m[strings.TrimPrefix(v, "Bearer ")]; ok {
			return id, nil
		}
	}
	return ca.Identity{}, errors.New("no known token")
}

type fixture struct {
	opts   Options
	signer *certstest.Signer
}

// start serves the certificate service over TLS on loopback and returns
// agent options that reach it with a token file accepted for reviews.
func start(t *testing.T, lifetime time.Duration) *fixture {
	t.Helper()
	signer, err := certstest.New("test root")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := certs.New(certs.Options{
		Signer:        signer,
		Authenticator: certs.Chain{certs.PeerCertificate{}, &tokens{m: map[string]ca.Identity{"good": reviews}}},
		Lifetime:      lifetime,
	})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := signer.ServerCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(signer.Bundle())
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: roots, MinVersion: tls.VersionTLS12,
	})))
	svc.Register(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "control-plane-ca.pem")
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, caFile, string(signer.Bundle()))
	writeFile(t, tokenFile, "good\n")
	return &fixture{signer: signer, opts: Options{
		Address: ln.Addr().String(), CAFile: caFile, TokenFile: tokenFile,
		Dir: filepath.Join(dir, "certs"), Identity: reviews,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func leafOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFetchWritesFiles(t *testing.T) {
	f := start(t, time.Hour)
	issued, err := Fetch(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if issued.SPIFFEID != "spiffe://cluster.local/ns/shop/sa/reviews" || issued.NotAfter.Sub(issued.NotBefore) < time.Hour {
		t.Errorf("issued %+v", issued)
	}
	dir := f.opts.Dir
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)); err != nil {
		t.Fatalf("certificate and key do not pair: %v", err)
	}
	if leaf := leafOf(t, filepath.Join(dir, CertFile)); leaf.URIs[0].String() != issued.SPIFFEID {
		t.Errorf("certificate for %v", leaf.URIs)
	}
	if string(readFile(t, filepath.Join(dir, CAFile))) != string(f.signer.Bundle()) {
		t.Error("ca.crt is not the trust bundle")
	}
	for _, name := range []string{CertFile, KeyFile, CAFile} {
		if target, err := os.Readlink(filepath.Join(dir, name)); err != nil || target != filepath.Join(DataLink, name) {
			t.Errorf("%s links to %q (%v), want through %s", name, target, err, DataLink)
		}
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	// A second issuance replaces the first and leaves one issuance directory.
	if _, err := Fetch(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, issuancePrefix+"*"))
	if len(matches) != 1 {
		t.Errorf("issuance directories %v, want one", matches)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRenewWithCertificateAndRefusals(t *testing.T) {
	f := start(t, time.Hour)
	if _, err := Fetch(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	// Renewal proves the identity with the current certificate: no token.
	noToken := f.opts
	noToken.TokenFile = ""
	if _, err := Fetch(context.Background(), noToken); err != nil {
		t.Fatalf("renewal with the current certificate: %v", err)
	}
	// No certificate and no token: refused with a clear error.
	fresh := noToken
	fresh.Dir = filepath.Join(t.TempDir(), "empty")
	_, err := Fetch(context.Background(), fresh)
	var authErr *AuthError
	if !errors.As(err, &authErr) || !strings.Contains(err.Error(), "refused spiffe://cluster.local/ns/shop/sa/reviews") {
		t.Fatalf("no credentials: %v, want an AuthError naming the identity", err)
	}
	// The token file is read on every request: a revoked token is refused.
	revoked := f.opts
	revoked.Dir = fresh.Dir
	writeFile(t, revoked.TokenFile, "bad")
	if _, err := Fetch(context.Background(), revoked); !errors.As(err, &authErr) {
		t.Fatalf("revoked token: %v", err)
	}
	// A token of reviews cannot get a certificate for another account.
	other := f.opts
	other.Dir = fresh.Dir
	other.Identity = ca.Identity{Namespace: "shop", ServiceAccount: "admin"}
	writeFile(t, other.TokenFile, "good")
	if err := Run(context.Background(), other, nil); !errors.As(err, &authErr) || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Fatalf("another identity: Run returned %v, want a PermissionDenied AuthError", err)
	}
}

func TestRunRenewsAtHalfLife(t *testing.T) {
	f := start(t, 4*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu     sync.Mutex
		issued []time.Time
	)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, f.opts, func(Issued) {
			mu.Lock()
			issued = append(issued, time.Now())
			if len(issued) == 3 {
				cancel()
			}
			mu.Unlock()
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("three certificates were not issued within 15 s")
	}
	for i := 1; i < len(issued); i++ {
		// Certificates carry whole seconds: half of 4 s from a NotBefore
		// up to a second in the past.
		gap := issued[i].Sub(issued[i-1])
		if gap < 900*time.Millisecond || gap > 2500*time.Millisecond {
			t.Errorf("renewal %d came %s after the previous issuance, want 1-2 s (half of 4 s)", i, gap)
		}
	}
}

// TestReadersNeverSeeHalfAPair rotates quickly while readers read: every
// file read through the public names is complete, and a reader that
// resolves ..data once reads a certificate and key that pair.
func TestReadersNeverSeeHalfAPair(t *testing.T) {
	f := start(t, time.Hour)
	if _, err := Fetch(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	dir := f.opts.Dir
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	var badMu sync.Mutex
	report := func(s string) {
		badMu.Lock()
		bad = append(bad, s)
		badMu.Unlock()
	}
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			target, err := os.Readlink(filepath.Join(dir, DataLink))
			if err != nil {
				report("readlink: " + err.Error())
				continue
			}
			cert, err1 := os.ReadFile(filepath.Join(dir, target, CertFile))
			key, err2 := os.ReadFile(filepath.Join(dir, target, KeyFile))
			if errors.Is(err1, os.ErrNotExist) || errors.Is(err2, os.ErrNotExist) {
				continue // that issuance was replaced and removed meanwhile
			}
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				report("pair: " + err.Error())
			}
			if pub, err := os.ReadFile(filepath.Join(dir, CertFile)); err != nil || !strings.HasSuffix(string(pub), "-----END CERTIFICATE-----\n") {
				report("incomplete tls.crt")
			}
			reads++
		}
	}()
	for i := 0; i < 20; i++ {
		if _, err := Fetch(context.Background(), f.opts); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d bad reads of %d, first: %s", len(bad), reads, bad[0])
	}
	if reads == 0 {
		t.Fatal("the reader read nothing")
	}
}

func TestOptionsErrors(t *testing.T) {
	good := Options{Address: "x:1", CAFile: "ca", Dir: "d", Identity: reviews}
	for name, mutate := range map[string]func(*Options){
		"no address":  func(o *Options) { o.Address = "" },
		"no dir":      func(o *Options) { o.Dir = "" },
		"no identity": func(o *Options) { o.Identity = ca.Identity{} },
		"no CA":       func(o *Options) { o.CAFile = "" },
		"fraction":    func(o *Options) { o.RenewFraction = 1 },
	} {
		o := good
		mutate(&o)
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := good.withDefaults(); err != nil {
		t.Errorf("good options refused: %v", err)
	}
}
