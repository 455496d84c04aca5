package main

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/certs"
	"github.com/gantryproxy/gantry/mesh/identity"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
)

// meshTLSOptions configure mesh mTLS and the workload certificate service.
type meshTLSOptions struct {
	mtls    bool
	certDir string
	// The fields below are not flags: the CA wiring (or a test) sets them.
	// trustDomain of workload identities (default ca.DefaultTrustDomain).
	trustDomain string
	// certLifetime of the certificates the service issues (default
	// certs.DefaultLifetime).
	certLifetime time.Duration
	// signer signs workload CSRs; the certificate service is served on the
	// xDS port only when it is set.
	signer ca.Signer
	// authenticators prove callers' identities after their mTLS
	// certificate (the ServiceAccount token check).
	authenticators []certs.Authenticator
}

func addMeshTLSFlags(f *pflag.FlagSet, o *meshTLSOptions) {
	f.BoolVar(&o.mtls, "mesh-mtls", false, "mesh: mutual TLS between workloads (clusters present the workload certificate and check the destination's SPIFFE IDs; gRPC servers require client certificates)")
	f.StringVar(&o.certDir, "mesh-cert-dir", ca.DefaultCertDir, "mesh: where gantry agent writes tls.crt, tls.key and ca.crt in the proxy's container")
}

// useSecurity serves the certificate service with the xDS security's CA:
// it signs (the built-in root, or cert-manager behind it), its trust
// domain, --cert-lifetime, and the ServiceAccount token check after the
// client certificate. Nothing changes without a CA (--xds-insecure), so a
// signer set otherwise (tests) stays.
func (o *meshTLSOptions) useSecurity(sec *xdsSecurity, io identityOptions) {
	if sec == nil || sec.ca == nil {
		return
	}
	o.signer = sec.ca
	o.trustDomain = sec.ca.TrustDomain()
	o.certLifetime = min(io.certLifetime, certs.MaxLifetime)
	if sec.identity != nil && sec.identity.Tokens != nil {
		o.authenticators = append(o.authenticators, identity.TokenAuthenticator{Reviewer: sec.identity.Tokens})
	}
}

// translateOptions is the mesh translation's mTLS setting (nil: off).
func (o *meshTLSOptions) translateOptions() *meshtranslate.MTLS {
	if o == nil || !o.mtls {
		return nil
	}
	return &meshtranslate.MTLS{TrustDomain: o.trustDomain, CertDir: o.certDir}
}

// certService builds the workload certificate service, counting requests
// by outcome in gantry_workload_certificate_requests_total, and returns what
// registers it on the xDS server; nil when no signer is configured.
func (o *meshTLSOptions) certService(reg prometheus.Registerer) (func(*grpc.Server), error) {
	if o == nil || o.signer == nil {
		return nil, nil
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_workload_certificate_requests_total",
		Help: "Requests to the workload certificate service, by outcome (issued, unauthenticated, invalid, failed).",
	}, []string{"outcome"})
	if err := reg.Register(requests); err != nil {
		return nil, fmt.Errorf("certificate service metrics: %w", err)
	}
	auth := certs.Chain{certs.PeerCertificate{TrustDomain: o.trustDomain}}
	auth = append(auth, o.authenticators...)
	svc, err := certs.New(certs.Options{
		Signer: o.signer, Authenticator: auth, TrustDomain: o.trustDomain, Lifetime: o.certLifetime,
		Observe: func(outcome string) { requests.WithLabelValues(outcome).Inc() },
	})
	if err != nil {
		return nil, err
	}
	return svc.Register, nil
}
