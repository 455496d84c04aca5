package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	admissionv1client "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/inject"
)

// WebhookPath is where the injection webhook answers AdmissionReviews.
const WebhookPath = "/inject"

// caBundleRefresh is how often the webhook configuration's caBundle is
// compared with the CA's bundle (one GET; an update only when it differs, as
// after a root rotation or a `helm upgrade` that reset it).
const caBundleRefresh = 10 * time.Second

// webhookOptions are the flags of the injection webhook.
type webhookOptions struct {
	address    string
	configName string
	// bundleRefresh is how often the caBundle is compared (zero:
	// caBundleRefresh); not a flag, tests shorten it.
	bundleRefresh time.Duration
}

func addWebhookFlags(f *pflag.FlagSet, o *webhookOptions) {
	f.StringVar(&o.address, "webhook-address", "", "kube: serve the sidecar injection webhook (AdmissionReview v1, POST "+WebhookPath+") over TLS on this address, with a certificate of Gantry's CA; empty: not served")
	f.StringVar(&o.configName, "webhook-config-name", "", "kube: MutatingWebhookConfiguration whose caBundle gantry serve keeps equal to the CA's trust bundle")
}

// webhookServer serves the injection webhook with the control plane's
// serving certificate, reloaded on every handshake, and keeps the webhook
// configuration's caBundle current.
type webhookServer struct {
	ln      net.Listener
	srv     *http.Server
	cert    *servingCert
	bundle  *caBundleSync // nil: no configuration to keep
	factory informers.SharedInformerFactory
	log     *slog.Logger
}

// webhookInput is what newWebhookServer needs.
type webhookInput struct {
	Address    string
	ConfigName string
	CA         *ca.CA
	// ServingID and ServingNames are the control plane's serving
	// certificate's (the xDS port's: the same certificate).
	ServingID    ca.Identity
	ServingNames []string
	Client       kubernetes.Interface
	Inject       inject.Config
	Log          *slog.Logger
	// BundleRefresh is how often the caBundle is compared (default
	// caBundleRefresh).
	BundleRefresh time.Duration
}

// newWebhook builds the webhook of gantry serve's flags; nil when
// --webhook-address is empty.
func newWebhook(o *serveOptions, sec *xdsSecurity, log *slog.Logger) (*webhookServer, error) {
	if o.webhook.address == "" {
		return nil, nil
	}
	if o.provider != "kube" || sec == nil || sec.ca == nil || o.identity.restConfig == nil {
		return nil, usageErr(errors.New("--webhook-address: the injection webhook runs in Kubernetes mode, with Gantry's CA"))
	}
	cs, err := kubernetes.NewForConfig(o.identity.restConfig)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	aud := inject.DefaultAudience
	if len(o.identity.tokenAudiences) > 0 {
		aud = o.identity.tokenAudiences[0]
	}
	cfg := inject.Config{Image: o.envoyImage, AgentImage: o.identity.agentImage, XDSAddress: o.xdsServiceAddress,
		Audience: aud, TrustDomain: sec.ca.TrustDomain()}
	return newWebhookServer(webhookInput{
		Address: o.webhook.address, ConfigName: o.webhook.configName, CA: sec.ca,
		ServingID: sec.servingID, ServingNames: sec.servingNames, Client: cs, Inject: cfg, Log: log,
		BundleRefresh: o.webhook.bundleRefresh,
	})
}

// newWebhookServer listens on in.Address and wires the handler.
func newWebhookServer(in webhookInput) (*webhookServer, error) {
	// A bad sidecar configuration is refused now, not at the first pod.
	if err := in.Inject.Check(); err != nil {
		return nil, usageErr(fmt.Errorf("webhook: %w", err))
	}
	factory := informers.NewSharedInformerFactory(in.Client, 0)
	nsLister := factory.Core().V1().Namespaces().Lister()
	cert := &servingCert{ca: in.CA, id: in.ServingID, names: in.ServingNames}
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, &inject.Webhook{Config: in.Inject, Namespaces: namespaceLabels{lister: nsLister, client: in.Client}})
	ln, err := net.Listen("tcp", in.Address)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--webhook-address %s: %w", in.Address, err))
	}
	w := &webhookServer{
		ln: ln, cert: cert, factory: factory, log: in.Log,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cert.get},
			ErrorLog:          slog.NewLogLogger(in.Log.Handler(), slog.LevelWarn),
		},
	}
	if in.ConfigName != "" {
		every := in.BundleRefresh
		if every <= 0 {
			every = caBundleRefresh
		}
		w.bundle = &caBundleSync{client: in.Client.AdmissionregistrationV1().MutatingWebhookConfigurations(), name: in.ConfigName,
			bundle: in.CA.Bundle, every: every, log: in.Log}
	}
	return w, nil
}

// addr is the webhook's listening address.
func (w *webhookServer) addr() string { return w.ln.Addr().String() }

// run serves until ctx ends.
func (w *webhookServer) run(ctx context.Context) error {
	w.factory.Start(ctx.Done())
	w.factory.WaitForCacheSync(ctx.Done())
	if w.bundle != nil {
		go w.bundle.run(ctx)
	}
	go func() {
		<-ctx.Done()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.srv.Shutdown(stop)
	}()
	w.log.Info("sidecar injection webhook serving", "address", w.addr(), "path", WebhookPath)
	if err := w.srv.ServeTLS(w.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// servingCert hands out the control plane's current serving certificate:
// the CA renews it at half of its lifetime, and the next handshake gets the
// new one.
type servingCert struct {
	ca    *ca.CA
	id    ca.Identity
	names []string

	mu   sync.Mutex
	w    *ca.Workload
	cert *tls.Certificate
}

func (s *servingCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	w, err := s.ca.Serving(s.id, s.names)
	if err != nil {
		return nil, fmt.Errorf("webhook serving certificate: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w != s.w {
		pair, err := tls.X509KeyPair(w.CertPEM, w.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("webhook serving certificate: %w", err)
		}
		s.w, s.cert = w, &pair
	}
	return s.cert, nil
}

// namespaceLabels reads a namespace's labels from the informer's cache,
// and from the API server when the cache does not have it yet (a namespace
// created a moment ago).
type namespaceLabels struct {
	lister corev1listers.NamespaceLister
	client kubernetes.Interface
}

func (n namespaceLabels) Labels(ctx context.Context, name string) (map[string]string, error) {
	if ns, err := n.lister.Get(name); err == nil {
		return ns.Labels, nil
	}
	ns, err := n.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return ns.Labels, nil
}

// caBundleSync keeps the caBundle of every webhook of one
// MutatingWebhookConfiguration equal to the CA's trust bundle.
type caBundleSync struct {
	client admissionv1client.MutatingWebhookConfigurationInterface
	name   string
	bundle func() []byte
	every  time.Duration
	log    *slog.Logger
	warned bool
}

func (c *caBundleSync) run(ctx context.Context) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		if err := c.sync(ctx); err != nil && ctx.Err() == nil {
			if !c.warned {
				c.log.Warn("webhook configuration: caBundle not updated; retrying", "name", c.name, "error", err)
			}
			c.warned = true
		} else {
			c.warned = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sync updates the configuration when a webhook's caBundle differs.
func (c *caBundleSync) sync(ctx context.Context) error {
	cfg, err := c.client.Get(ctx, c.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("MutatingWebhookConfiguration %s: %w", c.name, err)
	}
	bundle := c.bundle()
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
			cfg.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
		}
	}
	if !changed {
		return nil
	}
	if _, err := c.client.Update(ctx, cfg, metav1.UpdateOptions{FieldManager: "gantry"}); err != nil {
		if apierrors.IsConflict(err) {
			return nil // changed meanwhile: the next round compares again
		}
		return fmt.Errorf("MutatingWebhookConfiguration %s: %w", c.name, err)
	}
	c.log.Info("webhook configuration: caBundle updated", "name", c.name, "webhooks", len(cfg.Webhooks))
	return nil
}
