package kubeca

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/test/envtest"
)

var testAPI envtest.Shared

func TestMain(m *testing.M) { os.Exit(envtest.Main(m, &testAPI)) }

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	testAPI.Skip(t)
	cs, err := kubernetes.NewForConfig(testAPI.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func namespace(t *testing.T, cs kubernetes.Interface, prefix string, labels map[string]string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// TestSecretStoreSharedByReplicas: two replicas open the CA from one Secret
// and share its root; when the rotation is due both rotate, one wins the
// update, the other adopts its root; a restart reads the rotated root.
func TestSecretStoreSharedByReplicas(t *testing.T) {
	cs := clientset(t)
	ns := namespace(t, cs, "ca", nil)
	store := SecretStore{Secrets: cs.CoreV1().Secrets(ns), Name: "gantry-ca"}
	clk := &clock{now: time.Now()}
	opts := ca.Options{Store: store, Clock: clk, CALifetime: 10 * 24 * time.Hour}
	ctx := context.Background()
	a, err := ca.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Bundle()) != string(b.Bundle()) {
		t.Fatal("two replicas made two roots")
	}
	sec, err := cs.CoreV1().Secrets(ns).Get(ctx, "gantry-ca", metav1.GetOptions{})
	if err != nil || sec.Type != corev1.SecretTypeTLS || sec.Annotations[AnnotationManaged] != "true" || len(sec.Data[corev1.TLSPrivateKeyKey]) == 0 {
		t.Fatalf("CA Secret: %v %+v", err, sec)
	}
	clk.now = clk.now.Add(5 * 24 * time.Hour)
	rotated := a.Bundle()
	if strings.Count(string(rotated), "BEGIN CERTIFICATE") != 2 {
		t.Fatal("no rotation with an overlap")
	}
	if string(b.Bundle()) != string(rotated) {
		t.Fatal("the second replica did not adopt the first one's rotation")
	}
	c, err := ca.Open(ctx, opts)
	if err != nil || string(c.Bundle()) != string(rotated) {
		t.Fatalf("restart: %v", err)
	}
}

func TestPublisherWritesLabelledNamespaces(t *testing.T) {
	cs := clientset(t)
	mesh := namespace(t, cs, "mesh", map[string]string{"gantry.io/inject": "enabled"})
	other := namespace(t, cs, "plain", nil)
	p := &Publisher{Client: cs, Selector: "gantry.io/inject=enabled"}
	ctx := context.Background()
	n, err := p.Publish(ctx, []byte("BUNDLE-1"))
	if err != nil || n < 1 {
		t.Fatalf("publish: %d %v", n, err)
	}
	cm, err := cs.CoreV1().ConfigMaps(mesh).Get(ctx, BundleConfigMap, metav1.GetOptions{})
	if err != nil || cm.Data[BundleKey] != "BUNDLE-1" {
		t.Fatalf("mesh namespace: %v %v", err, cm)
	}
	if _, err := cs.CoreV1().ConfigMaps(other).Get(ctx, BundleConfigMap, metav1.GetOptions{}); err == nil {
		t.Error("a namespace without the injection label got the bundle")
	}
	if n, err := p.Publish(ctx, []byte("BUNDLE-1")); err != nil || n != 0 {
		t.Errorf("an unchanged bundle was written again: %d %v", n, err)
	}
	if _, err := p.Publish(ctx, []byte("BUNDLE-2")); err != nil {
		t.Fatal(err)
	}
	cm, err = cs.CoreV1().ConfigMaps(mesh).Get(ctx, BundleConfigMap, metav1.GetOptions{})
	if err != nil || cm.Data[BundleKey] != "BUNDLE-2" {
		t.Fatalf("rotated bundle not published: %v %v", err, cm)
	}
}
