// Package agent is the workload side of Gantry's certificate delivery, run
// as `gantry agent` in the proxy container (or next to a proxyless gRPC
// application): it generates the workload's private key, which never leaves
// it, asks the control plane's certificate service (mesh/certs) to sign a
// CSR for the workload's SPIFFE ID, writes the certificate chain, key and
// trust bundle into a directory (see files.go), and renews them once half of
// their lifetime has passed.
//
// It authenticates with its current certificate over mTLS while it holds a
// valid one, and with a Kubernetes ServiceAccount token (re-read from its
// file on every request, as the kubelet rotates it) sent as
// "authorization: Bearer <token>".
package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/certs"
)

// Options configure the agent.
type Options struct {
	// Address is the control plane's certificate service (host:port, the
	// xDS port).
	Address string
	// CAFile is the PEM bundle that verifies the control plane's serving
	// certificate; ServerName overrides the name checked (default: the host
	// of Address).
	CAFile     string
	ServerName string
	// Insecure talks to the control plane in plaintext (standalone
	// development only; a token then travels in clear).
	Insecure bool
	// TokenFile is a projected ServiceAccount token with Gantry's audience;
	// empty means the agent authenticates with its current certificate only.
	TokenFile string
	// Dir receives tls.crt, tls.key and ca.crt.
	Dir string
	// Identity is the workload's namespace and service account, and
	// TrustDomain its SPIFFE trust domain (default ca.DefaultTrustDomain).
	Identity    ca.Identity
	TrustDomain string
	// RenewFraction of a certificate's lifetime after which it is renewed
	// (default 0.5).
	RenewFraction float64
	// Logger receives renewals and retries (default slog.Default()).
	Logger *slog.Logger
}

// OptionsError reports options that cannot work (a missing address,
// directory or identity...).
type OptionsError struct{ Err error }

func (e *OptionsError) Error() string { return e.Err.Error() }
func (e *OptionsError) Unwrap() error { return e.Err }

func (o Options) withDefaults() (Options, error) {
	o, err := o.defaults()
	if err != nil {
		return o, &OptionsError{Err: err}
	}
	return o, nil
}

func (o Options) defaults() (Options, error) {
	if o.TrustDomain == "" {
		o.TrustDomain = ca.DefaultTrustDomain
	}
	if o.RenewFraction == 0 {
		o.RenewFraction = 0.5
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.Address == "":
		return o, errors.New("agent: no control-plane address")
	case o.Dir == "":
		return o, errors.New("agent: no output directory")
	case o.Identity.Namespace == "" || o.Identity.ServiceAccount == "":
		return o, errors.New("agent: identity needs a namespace and a service account")
	case o.CAFile == "" && !o.Insecure:
		return o, errors.New("agent: no CA file to verify the control plane (or ask for plaintext explicitly)")
	case o.RenewFraction <= 0 || o.RenewFraction >= 1:
		return o, fmt.Errorf("agent: renew fraction %v: want (0, 1)", o.RenewFraction)
	}
	return o, nil
}

// Issued describes the certificate written by Fetch.
type Issued struct {
	SPIFFEID  string
	NotBefore time.Time
	NotAfter  time.Time
}

// renewAt is when the certificate is due for renewal.
func (i Issued) renewAt(fraction float64) time.Time {
	return i.NotBefore.Add(time.Duration(float64(i.NotAfter.Sub(i.NotBefore)) * fraction))
}

// AuthError is returned when the control plane refuses the agent's
// credentials or its request: retrying will not help.
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// Fetch obtains one certificate and writes it into o.Dir.
func Fetch(ctx context.Context, o Options) (Issued, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Issued{}, err
	}
	return fetch(ctx, o)
}

func fetch(ctx context.Context, o Options) (Issued, error) {
	spiffeID := o.Identity.SPIFFEID(o.TrustDomain)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, fmt.Errorf("agent: key: %w", err)
	}
	csr, err := certs.CreateCSR(key, spiffeID)
	if err != nil {
		return Issued{}, fmt.Errorf("agent: %w", err)
	}
	conn, err := dial(o)
	if err != nil {
		return Issued{}, err
	}
	defer func() { _ = conn.Close() }()
	chain, bundle, err := certs.Sign(ctx, conn, csr)
	if err != nil {
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied:
			return Issued{}, &AuthError{Err: fmt.Errorf("agent: control plane %s refused %s: %w", o.Address, spiffeID, err)}
		}
		return Issued{}, fmt.Errorf("agent: control plane %s: %w", o.Address, err)
	}
	leaf, err := checkIssued(chain, bundle, key, spiffeID)
	if err != nil {
		return Issued{}, fmt.Errorf("agent: control plane %s returned %w", o.Address, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Issued{}, fmt.Errorf("agent: key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFiles(o.Dir, chain, keyPEM, bundle); err != nil {
		return Issued{}, fmt.Errorf("agent: %w", err)
	}
	return Issued{SPIFFEID: spiffeID, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}, nil
}

// checkIssued verifies that chain is for key and spiffeID and verifies
// against bundle.
func checkIssued(chain, bundle []byte, key *ecdsa.PrivateKey, spiffeID string) (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair(chain, mustKeyPEM(key))
	if err != nil {
		return nil, fmt.Errorf("a certificate that does not match the key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("an unreadable certificate: %w", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != spiffeID {
		return nil, fmt.Errorf("a certificate for %v, want %s", leaf.URIs, spiffeID)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return nil, errors.New("an empty trust bundle")
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("a certificate its trust bundle does not verify: %w", err)
	}
	return leaf, nil
}

func mustKeyPEM(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(fmt.Sprintf("marshal a generated P-256 key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// dial connects to the control plane: TLS verified with o.CAFile, offering
// the current certificate of o.Dir when it holds a valid one, and the token
// of o.TokenFile on every call.
func dial(o Options) (*grpc.ClientConn, error) {
	var opts []grpc.DialOption
	if o.Insecure {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg, err := tlsConfig(o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	if o.TokenFile != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenFile{path: o.TokenFile, secure: !o.Insecure}))
	}
	conn, err := grpc.NewClient(o.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("agent: control plane %s: %w", o.Address, err)
	}
	return conn, nil
}

func tlsConfig(o Options) (*tls.Config, error) {
	data, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("agent: CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("agent: CA file %s: no PEM certificate", o.CAFile)
	}
	return &tls.Config{
		RootCAs:    roots,
		ServerName: o.ServerName,
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return currentCertificate(o.Dir), nil
		},
	}, nil
}

// currentCertificate is the certificate and key of dir while the
// certificate is valid, or an empty certificate (none offered).
func currentCertificate(dir string) *tls.Certificate {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return &tls.Certificate{}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Now().After(leaf.NotAfter) {
		return &tls.Certificate{}
	}
	return &pair
}

// tokenFile sends the token of a file as a bearer token, reading the file
// on every call.
type tokenFile struct {
	path   string
	secure bool
}

func (t tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	data, err := os.ReadFile(t.path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return nil, fmt.Errorf("token file %s: empty", t.path)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (t tokenFile) RequireTransportSecurity() bool { return t.secure }
