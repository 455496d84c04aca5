// Package certmanager signs workload certificates through cert-manager: each
// signing request becomes a cert-manager CertificateRequest against a
// configured Issuer or ClusterIssuer, the Signer waits until cert-manager has
// approved and signed it, checks the result (same public key and URI SANs as
// the CSR, a chain that verifies against the trust bundle) and deletes the
// request again. It implements ca.Signer, so the mesh issues and rotates
// certificates the same way whoever signs them.
package certmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/mesh/ca"
)

var _ ca.Signer = (*Signer)(nil)

// Defaults of Options.
const (
	// DefaultGroup is cert-manager's own API group (Issuer, ClusterIssuer).
	DefaultGroup = "cert-manager.io"
	// DefaultTimeout bounds one Sign call when its context has no earlier
	// deadline.
	DefaultTimeout = time.Minute
	// DefaultBundleKey is the key read from a bundle ConfigMap or Secret.
	DefaultBundleKey = "ca.crt"
)

// Labels on every CertificateRequest the Signer creates.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "gantry"
	// NamePrefix starts the generated name of each request.
	NamePrefix = "gantry-"
)

// IssuerRef names the cert-manager issuer that signs.
type IssuerRef struct {
	// Kind is Issuer (in Options.Namespace) or ClusterIssuer for cert-manager's
	// own group; any kind for an external issuer's group.
	Kind string
	Name string
	// Group is the issuer's API group; empty means cert-manager.io.
	Group string
}

func (r IssuerRef) String() string { return fmt.Sprintf("%s %s (%s)", r.Kind, r.Name, r.Group) }

// BundleRef names a ConfigMap or Secret key that holds the PEM trust bundle,
// for issuers that do not report their CA in the request's status.ca, or
// whose status.ca is not the root workloads should trust.
type BundleRef struct {
	Kind      string // ConfigMap or Secret
	Namespace string // empty: Options.Namespace
	Name      string
	Key       string // empty: ca.crt
}

// Options configure a Signer.
type Options struct {
	// Client reaches the API server; its scheme must know cert-manager's
	// v1 types and core/v1 (NewClient builds one).
	Client client.WithWatch
	// Namespace holds the CertificateRequests (and an Issuer).
	Namespace string
	Issuer    IssuerRef
	// Bundle, when set, is the trust bundle returned with every certificate;
	// otherwise the request's status.ca, otherwise the chain's self-signed
	// root.
	Bundle *BundleRef
	// Timeout bounds one Sign call (DefaultTimeout when zero).
	Timeout time.Duration
	// Logger receives what Sign cannot return (a request it failed to
	// delete); nil means slog.Default().
	Logger *slog.Logger
}

// Signer issues certificates through cert-manager CertificateRequests.
type Signer struct {
	opts Options
}

// Scheme returns a scheme with the types the Signer reads and writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := cmapi.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("certmanager: scheme: %w", err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("certmanager: scheme: %w", err)
	}
	return s, nil
}

// NewClient returns a client for cfg with Scheme.
func NewClient(cfg *rest.Config) (client.WithWatch, error) {
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("certmanager: client: %w", err)
	}
	return c, nil
}

// New checks the options and returns a Signer.
func New(o Options) (*Signer, error) {
	if o.Issuer.Group == "" {
		o.Issuer.Group = DefaultGroup
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.Client == nil:
		return nil, errors.New("certmanager: no client")
	case o.Namespace == "":
		return nil, errors.New("certmanager: namespace: want the namespace of the CertificateRequests")
	case o.Issuer.Name == "":
		return nil, errors.New("certmanager: issuer name: want the name of an Issuer or ClusterIssuer")
	case o.Issuer.Kind == "":
		return nil, fmt.Errorf("certmanager: issuer %s: kind: want Issuer or ClusterIssuer", o.Issuer.Name)
	case o.Issuer.Group == DefaultGroup && o.Issuer.Kind != "Issuer" && o.Issuer.Kind != "ClusterIssuer":
		return nil, fmt.Errorf("certmanager: issuer %s: kind %q: the %s group has only Issuer and ClusterIssuer", o.Issuer.Name, o.Issuer.Kind, DefaultGroup)
	case o.Timeout < 0:
		return nil, fmt.Errorf("certmanager: timeout %s: want > 0", o.Timeout)
	}
	if b := o.Bundle; b != nil {
		if b.Kind != "ConfigMap" && b.Kind != "Secret" {
			return nil, fmt.Errorf("certmanager: bundle %s: kind %q: want ConfigMap or Secret", b.Name, b.Kind)
		}
		if b.Name == "" {
			return nil, fmt.Errorf("certmanager: bundle %s: no name", b.Kind)
		}
		copied := *b
		if copied.Namespace == "" {
			copied.Namespace = o.Namespace
		}
		if copied.Key == "" {
			copied.Key = DefaultBundleKey
		}
		o.Bundle = &copied
	}
	return &Signer{opts: o}, nil
}

// Sign creates a CertificateRequest for csrPEM, waits until the issuer has
// signed it (or denied it, or failed, or the deadline passed), checks the
// certificate and returns the chain and the trust bundle. The request is
// deleted afterwards whatever the outcome: cert-manager does not clean up
// requests that no Certificate owns.
func (s *Signer) Sign(ctx context.Context, csrPEM []byte, lifetime time.Duration) (chainPEM, bundlePEM []byte, err error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, nil, err
	}
	if lifetime <= 0 {
		return nil, nil, fmt.Errorf("certmanager: lifetime %s: want > 0", lifetime)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	cr := s.request(csrPEM, lifetime)
	if err := s.opts.Client.Create(ctx, cr); err != nil {
		return nil, nil, fmt.Errorf("certmanager: create CertificateRequest in %s for %s: %w", s.opts.Namespace, s.opts.Issuer, err)
	}
	defer s.delete(ctx, cr)
	done, err := s.wait(ctx, cr)
	if err != nil {
		return nil, nil, err
	}
	chainPEM = done.Status.Certificate
	bundlePEM, err = s.bundle(ctx, done)
	if err != nil {
		return nil, nil, s.errorf(cr, "%w", err)
	}
	if err := verify(csr, chainPEM, bundlePEM); err != nil {
		return nil, nil, s.errorf(cr, "%w", err)
	}
	return chainPEM, bundlePEM, nil
}

// request is the CertificateRequest for one CSR.
func (s *Signer) request(csrPEM []byte, lifetime time.Duration) *cmapi.CertificateRequest {
	return &cmapi.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: NamePrefix,
			Namespace:    s.opts.Namespace,
			Labels:       map[string]string{LabelManagedBy: ManagedBy},
		},
		Spec: cmapi.CertificateRequestSpec{
			Duration:  &metav1.Duration{Duration: lifetime},
			IssuerRef: cmmeta.IssuerReference{Name: s.opts.Issuer.Name, Kind: s.opts.Issuer.Kind, Group: s.opts.Issuer.Group},
			Request:   csrPEM,
			IsCA:      false,
			Usages: []cmapi.KeyUsage{
				cmapi.UsageDigitalSignature,
				cmapi.UsageKeyEncipherment,
				cmapi.UsageServerAuth,
				cmapi.UsageClientAuth,
			},
		},
	}
}

// delete removes the request, with its own short deadline so that a
// cancelled Sign still cleans up.
func (s *Signer) delete(ctx context.Context, cr *cmapi.CertificateRequest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.opts.Client.Delete(ctx, cr, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && client.IgnoreNotFound(err) != nil {
		s.opts.Logger.Warn("certmanager: could not delete CertificateRequest", "namespace", cr.Namespace, "name", cr.Name, "error", err)
	}
}

// errorf prefixes an error with the request and the issuer.
func (s *Signer) errorf(cr *cmapi.CertificateRequest, format string, args ...any) error {
	return fmt.Errorf("certmanager: CertificateRequest %s/%s for %s: "+format, append([]any{cr.Namespace, cr.Name, s.opts.Issuer}, args...)...)
}
