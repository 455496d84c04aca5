package kubestandin

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/gantryproxy/gantry/test/envtest"
)

var testAPI envtest.Shared

func TestMain(m *testing.M) { os.Exit(envtest.Main(m, &testAPI)) }

// clientset starts nothing: it returns a clientset of the shared API server
// and a namespace of the test's own.
func clientset(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ns := envtest.NewNamespace(t, testAPI.Client(t, scheme), "standin")
	return kubernetes.NewForConfigOrDie(testAPI.Config), ns
}

func run(t *testing.T, f func(ctx context.Context) error) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stand-in: %v", err)
		}
	})
	return ctx
}

func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestLoadBalancer: dynamic addresses for Services that request none, the
// requested one when it is in the static range and free, nothing for
// requests it cannot meet, and Services of another class are left alone.
func TestLoadBalancer(t *testing.T) {
	cs, ns := clientset(t)
	ip := netip.MustParseAddr
	ctx := run(t, func(ctx context.Context) error {
		return RunLoadBalancer(ctx, cs, LoadBalancerOptions{
			Dynamic: [2]netip.Addr{ip("127.0.0.10"), ip("127.0.0.11")}, Static: [2]netip.Addr{ip("127.0.0.200"), ip("127.0.0.201")},
			Errorf: t.Logf,
		})
	})
	class := "example.com/other"
	for _, tc := range []struct {
		name, requested string
		class           *string
		want            string // "" pending
	}{
		{name: "dynamic", want: "127.0.0.10"},
		{name: "static", requested: "127.0.0.200", want: "127.0.0.200"},
		{name: "outside-the-ranges", requested: "127.0.0.254"},
		{name: "taken", requested: "127.0.0.200"},
		{name: "other-class", class: &class},
	} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tc.name}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: tc.requested, LoadBalancerClass: tc.class,
			Ports: []corev1.ServicePort{{Port: 80}},
		}}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if tc.want != "" {
			eventually(t, tc.name+" gets "+tc.want, func(ctx context.Context) (bool, error) {
				s, err := cs.CoreV1().Services(ns).Get(ctx, tc.name, metav1.GetOptions{})
				in := s.Status.LoadBalancer.Ingress
				return err == nil && len(in) == 1 && in[0].IP == tc.want, err
			})
		}
	}
	time.Sleep(500 * time.Millisecond) // give the pending ones a chance to be (wrongly) assigned
	for _, name := range []string{"outside-the-ranges", "taken", "other-class"} {
		s, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if in := s.Status.LoadBalancer.Ingress; len(in) != 0 {
			t.Errorf("Service %s got %v, want none", name, in)
		}
	}
}

// TestNode: a pod is bound to the Node, marked Running and Ready with an IP
// of the pod CIDR, and its deletion completed.
func TestNode(t *testing.T) {
	cs, ns := clientset(t)
	ctx := run(t, func(ctx context.Context) error {
		return RunNode(ctx, cs, NodeOptions{Name: "standin-" + ns, Errorf: t.Logf})
	})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod Ready", func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == "standin-"+ns && podReady(p), err
	})
	p, _ := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
	if addr, err := netip.ParseAddr(p.Status.PodIP); err != nil || !netip.MustParsePrefix("10.244.0.0/16").Contains(addr) {
		t.Errorf("pod IP %q, want one of 10.244.0.0/16", p.Status.PodIP)
	}
	if len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready {
		t.Errorf("container statuses %+v, want app ready", p.Status.ContainerStatuses)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod deleted", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
