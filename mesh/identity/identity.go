// Package identity proves who an xDS or certificate client is, and decides
// what that identity may receive.
//
// Two proofs are accepted, both naming a Kubernetes ServiceAccount:
//   - a client certificate of the mesh CA whose URI SAN is the SPIFFE ID
//     spiffe://<trust domain>/ns/<namespace>/sa/<service account>
//     (FromSPIFFE, PeerCertificate);
//   - a ServiceAccount token with Gantry's audience, checked with the
//     TokenReview API (TokenReviewer), for a workload's first contact,
//     before it has a certificate.
//
// Policy maps an identity to the node groups and secrets it may receive.
package identity

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Methods name how an identity was proven.
const (
	MethodMTLS  = "mtls"
	MethodToken = "token"
)

// FromSPIFFE returns the identity of a SPIFFE ID of trustDomain:
// spiffe://<trustDomain>/ns/<namespace>/sa/<service account>. Anything
// else (another scheme or trust domain, a query, other path forms) is an
// error.
func FromSPIFFE(u *url.URL, trustDomain string) (ca.Identity, error) {
	if u == nil {
		return ca.Identity{}, errors.New("no SPIFFE ID")
	}
	return ca.ParseSPIFFEID(u, trustDomain)
}

// serviceAccountPrefix starts the user name of a ServiceAccount token.
const serviceAccountPrefix = "system:serviceaccount:"

// FromServiceAccountUser returns the identity of a reviewed token's user
// name, system:serviceaccount:<namespace>:<service account>; any other user
// is an error.
func FromServiceAccountUser(username string) (ca.Identity, error) {
	rest, ok := strings.CutPrefix(username, serviceAccountPrefix)
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || !validName(ns) || !validName(sa) {
		return ca.Identity{}, fmt.Errorf("user %q is not a ServiceAccount (want %s<namespace>:<name>)", username, serviceAccountPrefix)
	}
	return ca.Identity{Namespace: ns, ServiceAccount: sa}, nil
}

// validName reports whether s can be a namespace or ServiceAccount name.
func validName(s string) bool {
	return s != "" && len(s) <= 253 && !strings.ContainsAny(s, "/:@ %?#")
}
