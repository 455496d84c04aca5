package main

import (
	"errors"
	"fmt"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// certManagerSigner is the seam of --ca-issuer=cert-manager: the Signer
// that creates cert-manager CertificateRequests against the issuer named by
// io.certManager. This build has no such Signer yet, so the option is
// refused at start rather than silently signing with the built-in root.
func certManagerSigner(io identityOptions) (ca.Signer, error) {
	cm := io.certManager
	if cm.name == "" || (cm.kind != "Issuer" && cm.kind != "ClusterIssuer") {
		return nil, &exitError{code: 2, err: fmt.Errorf("--ca-issuer=cert-manager needs --cert-manager-issuer-name and --cert-manager-issuer-kind Issuer or ClusterIssuer (got %q %q)", cm.kind, cm.name)}
	}
	return nil, &exitError{code: 2, err: errors.New("--ca-issuer=cert-manager: this build has no cert-manager issuer; use --ca-issuer=builtin")}
}
