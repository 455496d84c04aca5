package identity

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// errNoCertificate means the peer presented no verified client certificate.
var errNoCertificate = errors.New("no verified client certificate")

// PeerCertificate returns the identity of the gRPC peer of ctx from its
// client certificate, which the TLS handshake has verified against the mesh
// trust bundle: the leaf's single URI SAN must be a SPIFFE ID of
// trustDomain. It returns errNoCertificate when the peer sent none.
func PeerCertificate(ctx context.Context, trustDomain string) (ca.Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ca.Identity{}, errNoCertificate
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return ca.Identity{}, errNoCertificate
	}
	leaf := info.State.VerifiedChains[0][0]
	if len(leaf.URIs) != 1 {
		return ca.Identity{}, fmt.Errorf("client certificate: want exactly one URI SAN (a SPIFFE ID), got %d", len(leaf.URIs))
	}
	id, err := FromSPIFFE(leaf.URIs[0], trustDomain)
	if err != nil {
		return ca.Identity{}, fmt.Errorf("client certificate: %w", err)
	}
	return id, nil
}
