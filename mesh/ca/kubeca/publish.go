package kubeca

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Names of the published trust bundle.
const (
	// BundleConfigMap is the ConfigMap holding the trust bundle in every
	// mesh namespace.
	BundleConfigMap = "gantry-ca-root-cert"
	// BundleKey is its key.
	BundleKey = "root-cert.pem"
)

// Publisher writes the trust bundle into the BundleConfigMap of every
// namespace matching Selector (a label selector; Gantry passes the
// injection label) with server-side apply. It writes a namespace again
// only when the bundle changed since it last wrote there, so a periodic
// Publish costs one List when nothing changed. Not safe for concurrent use.
type Publisher struct {
	Client   kubernetes.Interface
	Selector string

	written map[string]string // namespace -> bundle written
	reset   time.Time         // when written was last cleared
}

// rewriteEvery is how often every ConfigMap is written again anyway, so a
// deleted or edited one comes back.
const rewriteEvery = 10 * time.Minute

// Publish applies bundle to every selected namespace that does not have it
// yet and returns how many it wrote; a failing namespace does not stop the
// others and is tried again next time.
func (p *Publisher) Publish(ctx context.Context, bundle []byte) (int, error) {
	if p.written == nil || time.Since(p.reset) > rewriteEvery {
		p.written, p.reset = map[string]string{}, time.Now()
	}
	nss, err := p.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: p.Selector})
	if err != nil {
		return 0, fmt.Errorf("trust bundle: list namespaces %q: %w", p.Selector, err)
	}
	var errs []error
	n := 0
	for _, ns := range nss.Items {
		if ns.Status.Phase == corev1.NamespaceTerminating || p.written[ns.Name] == string(bundle) {
			continue
		}
		cm := corev1ac.ConfigMap(BundleConfigMap, ns.Name).
			WithLabels(map[string]string{"app.kubernetes.io/managed-by": "gantry"}).
			WithData(map[string]string{BundleKey: string(bundle)})
		if _, err := p.Client.CoreV1().ConfigMaps(ns.Name).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "gantry", Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("ConfigMap %s/%s: %w", ns.Name, BundleConfigMap, err))
			continue
		}
		p.written[ns.Name] = string(bundle)
		n++
	}
	return n, errors.Join(errs...)
}
