package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/ca/certmanager"
)

// certManagerSigner is the Signer of --ca-issuer=cert-manager: cert-manager
// CertificateRequests in the control plane's namespace against the issuer
// named by the --cert-manager-issuer-* flags (Kubernetes mode only).
func certManagerSigner(io identityOptions, log *slog.Logger) (ca.Signer, error) {
	cm := io.certManager
	if cm.name == "" {
		return nil, &exitError{code: 2, err: fmt.Errorf("--ca-issuer=cert-manager needs --cert-manager-issuer-name (and --cert-manager-issuer-kind Issuer or ClusterIssuer, got %q)", cm.kind)}
	}
	if io.restConfig == nil {
		return nil, &exitError{code: 2, err: errors.New("--ca-issuer=cert-manager needs Kubernetes mode (cert-manager runs in a cluster)")}
	}
	c, err := certmanager.NewClient(io.restConfig)
	if err != nil {
		return nil, err
	}
	s, err := certmanager.New(certmanager.Options{
		Client: c, Namespace: io.namespace, Logger: log,
		Issuer: certmanager.IssuerRef{Kind: cm.kind, Name: cm.name, Group: cm.group},
	})
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--ca-issuer=cert-manager: %w", err)}
	}
	return s, nil
}
