package certs

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Authenticator proves who the caller of a request is.
type Authenticator interface {
	Authenticate(ctx context.Context) (ca.Identity, error)
}

// PeerCertificate authenticates a caller by the SPIFFE ID of the client
// certificate it presented over mTLS. It trusts only a certificate that the
// server's TLS configuration has verified (a verified chain exists), so the
// server must verify client certificates against the mesh trust bundle.
type PeerCertificate struct {
	// TrustDomain the SPIFFE ID must belong to (default
	// ca.DefaultTrustDomain).
	TrustDomain string
}

var _ Authenticator = PeerCertificate{}

// Authenticate returns the identity of the verified peer certificate.
func (p PeerCertificate) Authenticate(ctx context.Context) (ca.Identity, error) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return ca.Identity{}, errors.New("no peer")
	}
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ca.Identity{}, errors.New("connection is not TLS")
	}
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return ca.Identity{}, errors.New("no verified client certificate")
	}
	leaf := info.State.VerifiedChains[0][0]
	if len(leaf.URIs) != 1 {
		return ca.Identity{}, fmt.Errorf("client certificate has %d URI SANs, want one SPIFFE ID", len(leaf.URIs))
	}
	td := p.TrustDomain
	if td == "" {
		td = ca.DefaultTrustDomain
	}
	return ca.ParseSPIFFEID(leaf.URIs[0], td)
}

// Chain tries each Authenticator in order and returns the first identity;
// when all fail, the error lists every failure.
type Chain []Authenticator

var _ Authenticator = Chain(nil)

// Authenticate returns the first authenticator's identity that succeeds.
func (c Chain) Authenticate(ctx context.Context) (ca.Identity, error) {
	var errs []error
	for _, a := range c {
		id, err := a.Authenticate(ctx)
		if err == nil {
			return id, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return ca.Identity{}, errors.New("no authenticator")
	}
	return ca.Identity{}, errors.Join(errs...)
}
