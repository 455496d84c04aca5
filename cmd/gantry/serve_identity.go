package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	infrakube "github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/ca/kubeca"
	"github.com/gantryproxy/gantry/mesh/identity"
	"github.com/gantryproxy/gantry/mesh/inject"
	"github.com/gantryproxy/gantry/xds/ir"
	"github.com/gantryproxy/gantry/xds/server"
)

// CA issuers of --ca-issuer.
const (
	issuerBuiltin     = "builtin"
	issuerCertManager = "cert-manager"
)

// identityOptions are the flags of the xDS server's security and the CA.
type identityOptions struct {
	xdsInsecure    bool
	trustDomain    string
	caDir          string
	caSecret       string
	namespace      string
	serverNames    []string
	tokenAudiences []string
	certLifetime   time.Duration
	caIssuer       string
	certManager    certManagerIssuer
	agentImage     string

	// restConfig is set by the kube wiring (kube mode).
	restConfig *rest.Config
	// security is set by newControlPlane, for the host infra's Envoys.
	security *xdsSecurity
}

// certManagerIssuer names the cert-manager Issuer or ClusterIssuer that
// signs with --ca-issuer=cert-manager.
type certManagerIssuer struct {
	kind, name, group string
}

func addIdentityFlags(f *pflag.FlagSet, o *identityOptions) {
	f.BoolVar(&o.xdsInsecure, "xds-insecure", false, "standalone only: serve xDS in plaintext to any client, without authentication (local development)")
	f.StringVar(&o.trustDomain, "trust-domain", ca.DefaultTrustDomain, "SPIFFE trust domain of workload identities")
	f.StringVar(&o.caDir, "ca-dir", defaultCADir(), "standalone: folder of the CA root (tls.crt, tls.key, ca.crt); created when empty")
	f.StringVar(&o.caSecret, "ca-secret", "gantry-ca", "kube: Secret (in --namespace) holding the CA root, created when absent; a kubernetes.io/tls Secret brought by the user is used as is")
	addNamespaceFlags(f, &o.namespace, nil, "kube: the control plane's namespace, which holds the CA Secret (default $POD_NAMESPACE)")
	f.StringSliceVar(&o.serverNames, "xds-server-names", nil, "DNS names (or IPs) of the xDS serving certificate (default: localhost standalone; gantry.<namespace>.svc and gantry.<namespace>.svc.cluster.local in kube)")
	f.StringSliceVar(&o.tokenAudiences, "xds-token-audience", []string{identity.DefaultAudience}, "kube: audience a ServiceAccount token must carry to authenticate")
	f.DurationVar(&o.certLifetime, "cert-lifetime", ca.DefaultCertLifetime, "lifetime of issued certificates; renewed at half of it")
	f.StringVar(&o.agentImage, "agent-image", defaultAgentImage(), "kube infra: image of gantry agent, which gets each Gateway fleet's certificate beside Envoy")
	f.StringVar(&o.caIssuer, "ca-issuer", issuerBuiltin, "who signs certificates: builtin (Gantry's root) or cert-manager (CertificateRequests)")
	f.StringVar(&o.certManager.kind, "cert-manager-issuer-kind", "Issuer", "--ca-issuer=cert-manager: Issuer or ClusterIssuer")
	f.StringVar(&o.certManager.name, "cert-manager-issuer-name", "", "--ca-issuer=cert-manager: name of the issuer")
	f.StringVar(&o.certManager.group, "cert-manager-issuer-group", "cert-manager.io", "--ca-issuer=cert-manager: API group of the issuer")
}

// defaultCADir is <user config dir>/gantry/ca.
func defaultCADir() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join(".gantry", "ca")
	}
	return filepath.Join(d, "gantry", "ca")
}

// xdsSecurity is how the xDS server proves itself and checks its clients.
type xdsSecurity struct {
	insecure bool
	ca       *ca.CA // nil when insecure
	// identity proves callers (certificates, and tokens in kube mode); the
	// certificate service takes its token half (identity.TokenAuthenticator).
	identity *identity.Authenticator
	creds    credentials.TransportCredentials
	authn    server.Authenticator
	authz    server.Authorizer
	// publish writes the trust bundle where workloads read it (kube).
	publish func(ctx context.Context, bundle []byte) (int, error)
	log     *slog.Logger
	// host are the client certificates of host Envoys (standalone).
	host hostCerts
	// servingID and servingNames are the control plane's serving
	// certificate's (xDS, and the injection webhook).
	servingID    ca.Identity
	servingNames []string
}

// controlPlaneServiceAccount is the ServiceAccount name in the control
// plane's serving certificate (its SPIFFE ID).
const controlPlaneServiceAccount = "gantry"

// newXDSSecurity builds the CA and the xDS server's TLS and checks from o.
func newXDSSecurity(o *serveOptions, log *slog.Logger) (*xdsSecurity, error) {
	io := o.identity
	if io.xdsInsecure {
		if o.provider == "kube" {
			return nil, &exitError{code: 2, err: errors.New("--xds-insecure: Kubernetes mode serves xDS over TLS only")}
		}
		log.Warn("xDS is served in plaintext to any client, without authentication (--xds-insecure): for local development only")
		return &xdsSecurity{insecure: true, log: log}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sec := &xdsSecurity{log: log}
	opts := ca.Options{TrustDomain: io.trustDomain, CertLifetime: io.certLifetime}
	servingNS, names := "local", io.serverNames
	var cs kubernetes.Interface
	switch o.provider {
	case "kube":
		if io.namespace == "" {
			io.namespace = os.Getenv("POD_NAMESPACE")
		}
		if io.restConfig == nil || io.namespace == "" {
			return nil, &exitError{code: 2, err: errors.New("--namespace (or POD_NAMESPACE) is required in Kubernetes mode: the CA Secret lives there")}
		}
		c, err := kubernetes.NewForConfig(io.restConfig)
		if err != nil {
			return nil, fmt.Errorf("xDS security: %w", err)
		}
		cs, servingNS = c, io.namespace
		if len(names) == 0 {
			names = []string{"gantry." + io.namespace + ".svc", "gantry." + io.namespace + ".svc.cluster.local"}
		}
		opts.Store = kubeca.SecretStore{Secrets: cs.CoreV1().Secrets(io.namespace), Name: io.caSecret}
		pub := &kubeca.Publisher{Client: cs, Selector: inject.NamespaceLabel + "=" + inject.NamespaceEnabled}
		sec.publish = pub.Publish
	default:
		if len(names) == 0 {
			names = []string{"localhost", "127.0.0.1"}
		}
		opts.Store = ca.DirStore{Dir: io.caDir}
	}
	signer, err := caSigner(io, log)
	if err != nil {
		return nil, err
	}
	opts.Signer = signer
	c, err := ca.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	servingID := ca.Identity{Namespace: servingNS, ServiceAccount: controlPlaneServiceAccount}
	if _, err := c.Serving(servingID, names); err != nil {
		return nil, fmt.Errorf("xDS serving certificate: %w", err)
	}
	authn := &identity.Authenticator{TrustDomain: c.TrustDomain()}
	if cs != nil {
		authn.Tokens = identity.NewTokenReviewer(cs.AuthenticationV1().TokenReviews(), identity.TokenReviewOptions{Audiences: io.tokenAudiences})
	}
	sec.ca, sec.identity = c, authn
	sec.servingID, sec.servingNames = servingID, names
	sec.creds = credentials.NewTLS(identity.ServerTLS(c, servingID, names))
	sec.authn = sec.identity.ForXDS()
	sec.authz = identity.Policy{FleetServiceAccount: infrakube.ResourceName}.ForXDS()
	log.Info("xDS over TLS: clients authenticate with a certificate of the mesh CA or a ServiceAccount token",
		"trustDomain", c.TrustDomain(), "serverNames", names, "issuer", io.caIssuer, "tokens", cs != nil)
	return sec, nil
}

// fleetIdentity is what each Gateway's fleet needs to authenticate.
func (io identityOptions) fleetIdentity() *infrakube.FleetIdentity {
	aud := identity.DefaultAudience
	if len(io.tokenAudiences) > 0 {
		aud = io.tokenAudiences[0]
	}
	td := io.trustDomain
	if td == "" {
		td = ca.DefaultTrustDomain
	}
	img := io.agentImage
	if img == "" {
		img = defaultAgentImage()
	}
	return &infrakube.FleetIdentity{AgentImage: img, Audience: aud, TrustDomain: td, Bundle: io.security.ca.Bundle}
}

// defaultAgentImage is Gantry's image of this version.
func defaultAgentImage() string { return "ghcr.io/gantryproxy/gantry:" + version }

// caSigner is the Signer of --ca-issuer: nil for the built-in root.
func caSigner(io identityOptions, log *slog.Logger) (ca.Signer, error) {
	switch io.caIssuer {
	case issuerBuiltin, "":
		return nil, nil
	case issuerCertManager:
		return certManagerSigner(io, log)
	}
	return nil, &exitError{code: 2, err: fmt.Errorf("--ca-issuer %q: want %s or %s", io.caIssuer, issuerBuiltin, issuerCertManager)}
}

// serverOptions fills the xDS server's security options.
func (s *xdsSecurity) serverOptions(opts server.Options) server.Options {
	opts.Insecure = s.insecure
	opts.Credentials, opts.Authenticator, opts.Authorizer = s.creds, s.authn, s.authz
	return opts
}

// meshSecrets are the secrets every mesh group carries: the trust bundle
// (SDS "mesh/ca-bundle"); none without a CA.
func (s *xdsSecurity) meshSecrets() []*ir.Secret {
	if s == nil || s.ca == nil {
		return nil
	}
	return []*ir.Secret{{Name: ca.BundleSecret, CA: s.ca.Bundle()}}
}

// caRefresh is how often the CA reloads its stored root (another replica's
// rotation) and the trust bundle is published.
const caRefresh = time.Minute

// run keeps the CA and the published bundle current until ctx ends.
func (s *xdsSecurity) run(ctx context.Context) {
	if s.ca == nil {
		return
	}
	t := time.NewTicker(caRefresh)
	defer t.Stop()
	for {
		if err := s.ca.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("CA: reload of the stored root failed; keeping the current one", "error", err)
		}
		s.refreshHostCerts()
		if s.publish != nil {
			if n, err := s.publish(ctx, s.ca.Bundle()); err != nil && ctx.Err() == nil {
				s.log.Warn("trust bundle: publishing failed", "error", err)
			} else if n > 0 {
				s.log.Info("trust bundle published", "configMap", kubeca.BundleConfigMap, "namespaces", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
