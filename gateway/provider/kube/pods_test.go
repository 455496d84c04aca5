package kube

import (
	"context"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/gateway/resource"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/test/envtest"
)

func testPod(ns, name, sa string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{"app": "reviews"},
			Annotations: map[string]string{
				"security.gantry.io/mtls-mode": "permissive",
				"example.com/notes":            "not Gantry's",
				lastAppliedAnnotation:          "{}",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u1"}},
		},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1",
			Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}},
	}
}

// setPodStatus writes a running, ready status with ip to the Pod.
func setPodStatus(t *testing.T, c client.Client, ns, name, ip string, ready corev1.ConditionStatus) {
	t.Helper()
	var p corev1.Pod
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}}
	if err := c.Status().Update(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
}

// TestProviderPodsGiveMeshIdentities creates Pods and an EndpointSlice
// naming one of them through the API server: the Set holds the named Pod
// only, stripped to what the mesh reads, and mesh translation with mTLS
// accepts that Pod's SPIFFE ID for the Service. Status churn and foreign
// annotations make no event; a Gantry annotation does.
func TestProviderPodsGiveMeshIdentities(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "pods")
	port, portName := int32(8080), "http"
	envtest.Create(t, c,
		testPod(ns, "reviews-1", "reviews"),
		testPod(ns, "unlisted", "other"),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "reviews-1"}}}},
	)
	setPodStatus(t, c, ns, "reviews-1", "10.0.0.1", corev1.ConditionFalse)

	p, events := startProvider(t, Options{WatchNamespaces: []string{ns}, IncludeServiceParents: true})
	set := nextEvent(t, events).Set
	if got := keys(set.Pods.Slice()); !slices.Equal(got, []string{ns + "/reviews-1"}) {
		t.Fatalf("Pods = %v, want only the Pod the EndpointSlice names", got)
	}
	checkStripped(t, set.Pods.At(0), "reviews", "10.0.0.1")
	// The cache holds the unlisted Pod stripped too.
	var cached corev1.Pod
	if err := p.Reader().Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "unlisted"}, &cached); err != nil {
		t.Fatal(err)
	}
	checkStripped(t, &cached, "other", "")

	cluster := ns + "/reviews/8080"
	want := "spiffe://td.example/ns/" + ns + "/sa/reviews"
	if got := meshServerIDs(set, cluster); !slices.Equal(got, []string{want}) {
		t.Fatalf("cluster %s accepts %v, want [%s]", cluster, got, want)
	}

	// Readiness, phase and a foreign annotation change nothing the mesh
	// reads: the next event is the Service change made after them.
	setPodStatus(t, c, ns, "reviews-1", "10.0.0.1", corev1.ConditionTrue)
	patch(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews-1"}},
		`{"metadata":{"annotations":{"example.com/notes":"changed"}}}`)
	patch(t, c, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews"}},
		`{"metadata":{"labels":{"touched":"yes"}}}`)
	if ev := nextEvent(t, events); !slices.Equal(ev.Changed, []string{resource.KindService}) {
		t.Fatalf("Changed = %v, want [Service]: a Pod change the mesh does not read made an event", ev.Changed)
	}

	// A Gantry annotation is read by the mesh: it is an event.
	patch(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews-1"}},
		`{"metadata":{"annotations":{"security.gantry.io/mtls-mode":"strict"}}}`)
	ev := nextEvent(t, events)
	if !slices.Equal(ev.Changed, []string{resource.KindPod}) || ev.Set.Pods.At(0).Annotations["security.gantry.io/mtls-mode"] != "strict" {
		t.Fatalf("Changed = %v, want [Pod] with the new annotation", ev.Changed)
	}
}

func patch(t *testing.T, c client.Client, o client.Object, body string) {
	t.Helper()
	if err := c.Patch(context.Background(), o, client.RawPatch(types.MergePatchType, []byte(body))); err != nil {
		t.Fatal(err)
	}
}

// checkStripped checks that p holds what the mesh reads and nothing else.
func checkStripped(t *testing.T, p *corev1.Pod, sa, ip string) {
	t.Helper()
	if p.Spec.ServiceAccountName != sa || p.Status.PodIP != ip || p.UID == "" || p.Labels["app"] != "reviews" {
		t.Errorf("Pod %s: sa %q ip %q uid %q labels %v, want sa %q ip %q", p.Name, p.Spec.ServiceAccountName, p.Status.PodIP, p.UID, p.Labels, sa, ip)
	}
	if want := map[string]string{"security.gantry.io/mtls-mode": "permissive"}; !maps.Equal(p.Annotations, want) {
		t.Errorf("Pod %s: annotations %v, want only Gantry's %v", p.Name, p.Annotations, want)
	}
	if len(p.Spec.Containers) != 0 || len(p.Status.Conditions) != 0 || p.Status.Phase != "" || len(p.OwnerReferences) != 0 || len(p.ManagedFields) != 0 {
		t.Errorf("Pod %s keeps containers %d, conditions %d, phase %q, owners %d, managed fields %d: want none", p.Name,
			len(p.Spec.Containers), len(p.Status.Conditions), p.Status.Phase, len(p.OwnerReferences), len(p.ManagedFields))
	}
}

// meshServerIDs returns the SPIFFE IDs the mesh clusters named cluster
// accept, as mesh translation with mTLS builds them from set.
func meshServerIDs(set *resource.Set, cluster string) []string {
	res := meshtranslate.Translate(set, meshtranslate.Options{MTLS: &meshtranslate.MTLS{TrustDomain: "td.example"}})
	for _, px := range res.Proxies {
		for c := range px.Clusters.Values() {
			if c.Name != cluster || c.TLS == nil {
				continue
			}
			var ids []string
			for _, m := range c.TLS.SubjectAltNameMatchers {
				ids = append(ids, m.Value)
			}
			return ids
		}
	}
	return nil
}
