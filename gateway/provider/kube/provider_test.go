package kube

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/test/envtest"
)

// startProvider runs a provider until the test ends and returns its events.
func startProvider(t *testing.T, opts Options) (*Provider, <-chan Event) {
	t.Helper()
	p := New(testAPI.Config, opts)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider: %v", err)
		}
	})
	return p, out
}

func nextEvent(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no provider event within 20s")
	}
	return Event{}
}

// waitEvent returns the first event for which ok holds.
func waitEvent(t *testing.T, events <-chan Event, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no matching provider event within 20s")
		}
	}
}

func keys[T client.Object](objs []T) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// seedProviderObjects creates Gantry's and another controller's classes,
// Gateways and routes, Secrets and ConfigMaps of every sort, and a backend.
func seedProviderObjects(t *testing.T, c client.Client, ns, ctrl string) {
	t.Helper()
	envtest.Create(t, c,
		gatewayClass("ours-"+ns, ctrl),
		gatewayClass("theirs-"+ns, "example.com/other"),
		gateway(ns, "gw", "ours-"+ns),
		gateway(ns, "other-gw", "theirs-"+ns),
		httpRoute(ns, "attached", parent(ns, "gw")),
		httpRoute(ns, "elsewhere", parent(ns, "other-gw")),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cert"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"ca.crt": []byte("ca")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "password"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"password": []byte("hunter2")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dashboards"},
			Data: map[string]string{"big.json": "{}"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca-bundle"},
			Data: map[string]string{"ca.crt": "ca"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "params"},
			Data: map[string]string{"serviceType": "NodePort"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "params-typo"},
			Data: map[string]string{"replicas": "2", "drainSecs": "20"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "backend"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}}},
	)
}

func TestProviderBuildsRelevantSet(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "prov")
	ctrl := "gantryproxy.io/test-" + ns
	seedProviderObjects(t, c, ns, ctrl)

	p, events := startProvider(t, Options{ControllerName: ctrl, WatchNamespaces: []string{ns}})
	ev := nextEvent(t, events)
	if !ev.Initial || ev.EndpointsOnly() {
		t.Fatalf("first event: Initial=%v EndpointsOnly=%v, want initial", ev.Initial, ev.EndpointsOnly())
	}
	set := ev.Set
	if got := keys(set.GatewayClasses.Slice()); !slices.Equal(got, []string{"/ours-" + ns}) {
		t.Errorf("GatewayClasses = %v, want only ours", got)
	}
	if got := keys(set.Gateways.Slice()); !slices.Equal(got, []string{ns + "/gw"}) {
		t.Errorf("Gateways = %v, want %s/gw", got, ns)
	}
	if got := keys(set.HTTPRoutes.Slice()); !slices.Equal(got, []string{ns + "/attached"}) {
		t.Errorf("HTTPRoutes = %v, want only the route attached to Gantry's Gateway", got)
	}
	if got := keys(set.Secrets.Slice()); !slices.Equal(got, []string{ns + "/ca", ns + "/cert"}) {
		t.Errorf("Secrets = %v, want the TLS Secret and the CA bundle only", got)
	}
	if got := keys(set.Namespaces.Slice()); !slices.Equal(got, []string{"/" + ns}) {
		t.Errorf("Namespaces = %v, want only the watched one", got)
	}
	for gw := range set.Gateways.Values() {
		if len(gw.ManagedFields) != 0 {
			t.Errorf("Gateway %s kept %d managed fields in the cache", gw.Name, len(gw.ManagedFields))
		}
	}
	// The unrelated Secret is cached as metadata only.
	var cached corev1.Secret
	if err := p.Reader().Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "password"}, &cached); err != nil {
		t.Fatal(err)
	}
	if len(cached.Data) != 0 {
		t.Errorf("cache holds the data of an unrelated Secret: %v keys", len(cached.Data))
	}

	// ConfigMaps keep their data only when translation or the fleet may
	// read it.
	// Every parameter key keeps a ConfigMap's data (unknown keys next to
	// them included, so they can be reported); any other ConfigMap keeps its
	// key names only.
	wantData := map[string]map[string]string{
		"dashboards":  {"big.json": ""},
		"ca-bundle":   {"ca.crt": "ca"},
		"params":      {"serviceType": "NodePort"},
		"params-typo": {"replicas": "2", "drainSecs": "20"},
	}
	for cm := range set.ConfigMaps.Values() {
		if want, ok := wantData[cm.Name]; !ok || !maps.Equal(cm.Data, want) {
			t.Errorf("ConfigMap %s: data = %v, want %v", cm.Name, cm.Data, want)
		}
	}
	if set.ConfigMaps.Len() != len(wantData) {
		t.Errorf("%d ConfigMaps in the Set, want %d", set.ConfigMaps.Len(), len(wantData))
	}

	// An EndpointSlice change is flagged for the fast path.
	var es discoveryv1.EndpointSlice
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "backend-1"}, &es); err != nil {
		t.Fatal(err)
	}
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}})
	if err := c.Update(context.Background(), &es); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events)
	if !ev.EndpointsOnly() || ev.Set.EndpointSlices.Len() != 1 || len(ev.Set.EndpointSlices.At(0).Endpoints) != 2 {
		t.Fatalf("after an EndpointSlice update: Changed=%v, want [EndpointSlice] with 2 endpoints", ev.Changed)
	}

	// A change to another controller's Gateway is not an event: the next
	// event carries only the route change made after it.
	if err := c.Patch(context.Background(), gateway(ns, "other-gw", "theirs-"+ns), client.RawPatch(types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"touched":"yes"}}}`))); err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(context.Background(), httpRoute(ns, "attached"), client.RawPatch(types.MergePatchType,
		[]byte(`{"spec":{"hostnames":["changed.example.com"]}}`))); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events)
	if !slices.Equal(ev.Changed, []string{resource.KindHTTPRoute}) {
		t.Fatalf("Changed = %v, want [HTTPRoute] (the other class's Gateway is not Gantry's)", ev.Changed)
	}
	if h := ev.Set.HTTPRoutes.At(0).Spec.Hostnames; len(h) != 1 || h[0] != "changed.example.com" {
		t.Errorf("route hostnames = %v, want the update", h)
	}

	// Deleting the route is an event without it.
	if err := c.Delete(context.Background(), httpRoute(ns, "attached")); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, events, func(e Event) bool { return slices.Contains(e.Changed, resource.KindHTTPRoute) })
	if ev.Set.HTTPRoutes.Len() != 0 {
		t.Errorf("after delete: %d routes, want 0", ev.Set.HTTPRoutes.Len())
	}
}

func TestSnapshotMatchesScope(t *testing.T) {
	c := apiClient(t)
	nsA := envtest.NewNamespace(t, c, "snap-a")
	nsB := envtest.NewNamespace(t, c, "snap-b")
	ctrl := "gantryproxy.io/test-" + nsA
	envtest.Create(t, c,
		gatewayClass("snap-"+nsA, ctrl),
		gateway(nsA, "gw", "snap-"+nsA),
		gateway(nsB, "gw", "snap-"+nsA),
		httpRoute(nsA, "a", parent(nsA, "gw")),
		httpRoute(nsB, "b", parent(nsB, "gw")),
		httpRoute(nsB, "cross", parent(nsA, "gw")),
	)
	ctx := testContext(t, 30*time.Second)
	all, err := Snapshot(ctx, testAPI.Config, Options{ControllerName: ctrl})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(all.HTTPRoutes.Slice()); !slices.Equal(got, []string{nsA + "/a", nsB + "/b", nsB + "/cross"}) {
		t.Errorf("all namespaces: HTTPRoutes = %v", got)
	}
	scoped, err := Snapshot(ctx, testAPI.Config, Options{ControllerName: ctrl, WatchNamespaces: []string{nsA}})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(scoped.Gateways.Slice()); !slices.Equal(got, []string{nsA + "/gw"}) {
		t.Errorf("--watch-namespaces %s: Gateways = %v", nsA, got)
	}
	if got := keys(scoped.HTTPRoutes.Slice()); !slices.Equal(got, []string{nsA + "/a"}) {
		t.Errorf("--watch-namespaces %s: HTTPRoutes = %v", nsA, got)
	}
}

// TestProviderFailsClearlyWithoutPermissions: a user who may not list the
// watched kinds gets an error naming them, not a silent hang.
func TestProviderFailsClearlyWithoutPermissions(t *testing.T) {
	apiClient(t)
	cfg, err := testAPI.Env.UserConfig("nobody")
	if err != nil {
		t.Fatal(err)
	}
	p := New(cfg, Options{SyncTimeout: 2 * time.Second})
	ctx := testContext(t, 30*time.Second)
	err = p.Run(ctx, make(chan Event))
	if err == nil || !strings.Contains(err.Error(), "did not sync within 2s") || !strings.Contains(err.Error(), "HTTPRoute") {
		t.Fatalf("Run without permissions = %v, want a sync error naming the kinds", err)
	}
}
