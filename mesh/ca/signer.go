package ca

import (
	"context"
	"time"
)

// Signer turns a certificate signing request into a certificate. The
// built-in root and the cert-manager issuer both implement it, so workload
// certificates are issued and rotated the same way whoever signs them.
type Signer interface {
	// Sign signs csrPEM (a PEM "CERTIFICATE REQUEST" whose single URI SAN is
	// the workload's SPIFFE ID) for at most lifetime. It returns the PEM
	// certificate chain, leaf first, and the PEM trust bundle that verifies it.
	Sign(ctx context.Context, csrPEM []byte, lifetime time.Duration) (chainPEM, bundlePEM []byte, err error)
}
