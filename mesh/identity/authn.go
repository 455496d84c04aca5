package identity

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Authenticator proves the identity of a gRPC caller: a verified client
// certificate of the mesh CA first; otherwise, when Tokens is set, a bearer
// ServiceAccount token in the "authorization" metadata.
type Authenticator struct {
	TrustDomain string
	// Tokens reviews bearer tokens; nil accepts certificates only.
	Tokens *TokenReviewer
}

// Authenticate returns the caller's identity and how it was proven
// (MethodMTLS or MethodToken). Errors are gRPC Unauthenticated statuses
// that say what was wrong, never echoing a token.
func (a *Authenticator) Authenticate(ctx context.Context) (ca.Identity, string, error) {
	id, err := PeerCertificate(ctx, a.TrustDomain)
	switch {
	case err == nil:
		return id, MethodMTLS, nil
	case !errors.Is(err, errNoCertificate):
		return ca.Identity{}, "", status.Error(codes.Unauthenticated, err.Error())
	}
	id, err = TokenAuthenticator{Reviewer: a.Tokens}.Authenticate(ctx)
	if err != nil {
		return ca.Identity{}, "", err
	}
	return id, MethodToken, nil
}

// TokenAuthenticator proves a caller by the ServiceAccount token in its
// "authorization: Bearer" metadata, reviewed by Reviewer (nil: tokens are
// refused). It is the token half of Authenticator, for services that take
// an authenticator returning only the identity (the certificate service).
type TokenAuthenticator struct {
	Reviewer *TokenReviewer
}

// Authenticate returns the token's identity; errors are gRPC statuses
// (Unauthenticated, or Unavailable when reviews are throttled).
func (t TokenAuthenticator) Authenticate(ctx context.Context) (ca.Identity, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return ca.Identity{}, err
	}
	if t.Reviewer == nil {
		return ca.Identity{}, status.Error(codes.Unauthenticated, "tokens are not accepted here: present a client certificate of the mesh CA")
	}
	id, err := t.Reviewer.Review(ctx, token)
	if _, isStatus := status.FromError(err); err != nil && isStatus {
		return ca.Identity{}, err
	}
	if err != nil {
		return ca.Identity{}, status.Error(codes.Unauthenticated, err.Error())
	}
	return id, nil
}

// bearerToken reads "authorization: Bearer <token>".
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "no credentials: present a client certificate of the mesh CA or a ServiceAccount token (authorization: Bearer)")
	}
	if len(vals) > 1 {
		return "", status.Error(codes.Unauthenticated, "more than one authorization value")
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return "", status.Error(codes.Unauthenticated, "authorization: want \"Bearer <ServiceAccount token>\"")
	}
	return strings.TrimSpace(token), nil
}
