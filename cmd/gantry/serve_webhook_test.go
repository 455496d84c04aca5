package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/mesh/agent"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/inject"
	"github.com/gantryproxy/gantry/test/envtest"
)

// chartWebhookConfiguration renders the chart's MutatingWebhookConfiguration
// (release gantry in gantry-system, default values), as helm template does.
func chartWebhookConfiguration(t *testing.T) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "..", "charts", "gantry"))
	if err != nil {
		t.Fatal(err)
	}
	opts := common.ReleaseOptions{Name: "gantry", Namespace: "gantry-system", Revision: 1, IsInstall: true}
	vals, err := commonutil.ToRenderValuesWithSchemaValidation(ch, map[string]any{}, opts, common.DefaultCapabilities.Copy(), false)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	out := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := yaml.UnmarshalStrict([]byte(files["gantry/templates/webhook.yaml"]), out); err != nil {
		t.Fatalf("the chart's webhook.yaml: %v", err)
	}
	return out
}

// TestWebhookOnAPIServer: the real API server calls the webhook of gantry
// serve's own wiring in Kubernetes mode (TLS with the serving certificate of
// Gantry's CA, kept in its Secret; caBundle written by gantry serve into the
// chart's configuration, pointed at the loopback URL).
func TestWebhookOnAPIServer(t *testing.T) {
	env := envtest.StartT(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gantry-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// gantry serve's own wiring, in Kubernetes mode, with the webhook.
	o := &serveOptions{
		provider: "kube", controllerName: "gantryproxy.io/webhook-test", xdsServiceAddress: "gantry.gantry-system.svc.cluster.local:18000",
		xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{namespace: "gantry-system", caSecret: "gantry-ca", serverNames: []string{"127.0.0.1"}},
		webhook:  webhookOptions{address: "127.0.0.1:0", configName: "gantry-inject", bundleRefresh: 200 * time.Millisecond},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	kw, err := newKubeWiring(env.Config, o, log)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := newControlPlane(o, kw.sink, log)
	if err != nil {
		t.Fatal(err)
	}
	w, root := cp.webhook, cp.security.ca
	done := make(chan error, 1)
	go func() { done <- cp.run(ctx, kw) }()

	mwc := chartWebhookConfiguration(t)
	url := "https://" + w.addr() + WebhookPath
	mwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	mwcs := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := mwcs.Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCABundle(ctx, t, cs, root.Bundle())

	for name, l := range map[string]map[string]string{"mesh": {inject.NamespaceLabel: inject.NamespaceEnabled}, "plain": nil} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The API server reads webhook configurations from a cache: wait until
	// a dry-run create (which calls webhooks without side effects) comes
	// back injected.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := cs.CoreV1().Pods("mesh").Create(ctx, appPod("probe", nil, nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && isInjected(p) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no injected dry-run pod after 30 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("labelled namespace", func(t *testing.T) {
		p := createPod(ctx, t, cs, "mesh", appPod("web", nil, nil))
		checkInjectedPod(t, p, "mesh")
	})
	t.Run("unlabelled namespace", func(t *testing.T) {
		if p := createPod(ctx, t, cs, "plain", appPod("web", nil, nil)); isInjected(p) {
			t.Fatalf("pod of an unlabelled namespace injected: %v", names(p.Spec.InitContainers))
		}
	})
	t.Run("opt-out annotation", func(t *testing.T) {
		p := createPod(ctx, t, cs, "mesh", appPod("batch", map[string]string{inject.OptOut: "false"}, nil))
		if isInjected(p) || len(p.Spec.InitContainers) != 0 {
			t.Fatalf("opted-out pod injected: %v", names(p.Spec.InitContainers))
		}
	})
	t.Run("opt-out label", func(t *testing.T) {
		p := createPod(ctx, t, cs, "mesh", appPod("batch-2", nil, map[string]string{inject.OptOut: "false"}))
		if isInjected(p) {
			t.Fatalf("opted-out pod injected: %v", names(p.Spec.InitContainers))
		}
	})
	t.Run("pod of a Deployment's ReplicaSet", func(t *testing.T) {
		// As the ReplicaSet controller creates it: generateName, an owner,
		// no name or namespace in the object.
		p := appPod("", nil, map[string]string{"app": "reviews", "pod-template-hash": "7d9f"})
		p.GenerateName, p.Namespace = "reviews-7d9f-", ""
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "reviews-7d9f", UID: "b5a7c1f0-0000-4000-8000-000000000001", Controller: &yes, BlockOwnerDeletion: &yes}}
		got := createPod(ctx, t, cs, "mesh", p)
		if !strings.HasPrefix(got.Name, "reviews-7d9f-") || len(got.OwnerReferences) != 1 {
			t.Fatalf("pod %s owners %v", got.Name, got.OwnerReferences)
		}
		checkInjectedPod(t, got, "mesh")
	})
	t.Run("invalid capture annotation refused", func(t *testing.T) {
		_, err := cs.CoreV1().Pods("mesh").Create(ctx, appPod("bad", map[string]string{inject.ExcludeOutboundPorts: "http"}, nil), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `annotation traffic.gantry.io/exclude-outbound-ports "http": "http" is not a port`) {
			t.Fatalf("create: %v, want a refusal naming the annotation", err)
		}
	})
	t.Run("caBundle restored", func(t *testing.T) {
		// As after a helm upgrade that rendered it empty.
		cur, err := mwcs.Get(ctx, "gantry-inject", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Webhooks[0].ClientConfig.CABundle = nil
		if _, err := mwcs.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitCABundle(ctx, t, cs, root.Bundle())
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("gantry serve: %v", err)
	}
}

func waitCABundle(ctx context.Context, t *testing.T, cs kubernetes.Interface, want []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cur, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "gantry-inject", metav1.GetOptions{})
		if err == nil && bytes.Equal(cur.Webhooks[0].ClientConfig.CABundle, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("caBundle not the CA's bundle after 20 s (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// appPod is an application pod with an HTTP readiness probe.
func appPod(name string, annotations, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example/app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/ready", Port: intstr.FromString("http"),
			}}},
		}}},
	}
}

func createPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod in %s: %v", ns, err)
	}
	return got
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func isInjected(p *corev1.Pod) bool {
	return slices.Contains(names(p.Spec.InitContainers), inject.ContainerName)
}

// checkInjectedPod checks what the API server stored: the four containers
// in order, the probe rewritten, the mesh group of the namespace.
func checkInjectedPod(t *testing.T, p *corev1.Pod, ns string) {
	t.Helper()
	want := []string{inject.CaptureContainerName, inject.AgentInitContainerName, inject.AgentContainerName, inject.ContainerName}
	if got := names(p.Spec.InitContainers); !slices.Equal(got, want) {
		t.Fatalf("init containers %v, want %v", got, want)
	}
	if rp := p.Spec.Containers[0].ReadinessProbe; rp.HTTPGet == nil || rp.HTTPGet.Port.IntValue() != agent.ProbePort || rp.HTTPGet.Path != "/app-health/app/readyz" {
		t.Errorf("readiness probe not rewritten: %+v", rp)
	}
	boot := strings.Join(p.Spec.InitContainers[3].Args, " ")
	if !strings.Contains(boot, `"cluster":"mesh/`+ns+`"`) || !strings.Contains(boot, "UpstreamTlsContext") {
		t.Errorf("bootstrap: not mesh/%s over TLS: %s", ns, boot)
	}
	if p.Annotations[inject.SDSAnnotation] == "" || len(p.Spec.Volumes) < 3 {
		t.Errorf("SDS annotation %q, volumes %d", p.Annotations[inject.SDSAnnotation], len(p.Spec.Volumes))
	}
}

// TestWebhookCertificateRotates: the webhook's serving certificate is the
// CA's current one; once the CA renews it (half of its lifetime), the next
// handshake gets the new one without a restart.
func TestWebhookCertificateRotates(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := ca.ClockFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	root, err := ca.New(ca.Options{Clock: clock, CertLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := &servingCert{ca: root, id: ca.Identity{Namespace: "gantry-system", ServiceAccount: "gantry"}, names: []string{"gantry.gantry-system.svc"}}
	serial := func() string {
		c, err := s.get(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(leaf.DNSNames, "gantry.gantry-system.svc") {
			t.Fatalf("names %v", leaf.DNSNames)
		}
		return leaf.SerialNumber.String()
	}
	first := serial()
	mu.Lock()
	now = now.Add(20 * time.Minute)
	mu.Unlock()
	if serial() != first {
		t.Fatal("renewed before half of its lifetime")
	}
	mu.Lock()
	now = now.Add(15 * time.Minute) // 35 of 60 minutes: past half
	mu.Unlock()
	if serial() == first {
		t.Fatal("the same certificate after half of its lifetime")
	}
}

// TestWebhookNeedsKubernetes: the webhook is refused outside Kubernetes
// mode (no API server to send pods, no namespace labels).
func TestWebhookNeedsKubernetes(t *testing.T) {
	o := &serveOptions{provider: "file", webhook: webhookOptions{address: "127.0.0.1:0"}}
	_, err := newWebhook(o, &xdsSecurity{insecure: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || exitCode(err) != exitUsageError || !strings.Contains(err.Error(), "--webhook-address") {
		t.Fatalf("newWebhook in file mode: %v", err)
	}
	if w, err := newWebhook(&serveOptions{provider: "file"}, nil, nil); w != nil || err != nil {
		t.Fatalf("no --webhook-address: %v, %v", w, err)
	}
}
