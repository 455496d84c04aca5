package translate

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func shuffle[T any](r *rand.Rand, s []T) []T {
	out := append([]T(nil), s...)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestShuffledInputSameOutput: input order never shows in the output, and
// translating does not modify the input.
func TestShuffledInputSameOutput(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			set, opts := loadSet(t, c.Path)
			inputs := func() any {
				return []any{set.Services.Slice(), set.EndpointSlices.Slice(), set.HTTPRoutes.Slice(), set.GRPCRoutes.Slice(), set.Namespaces.Slice(), set.ReferenceGrants.Slice(), set.Pods.Slice()}
			}
			before := mustYAML(t, inputs())
			want := mustYAML(t, Translate(set, opts))
			if after := mustYAML(t, inputs()); after != before {
				t.Fatalf("Translate modified its input:\n%s", cmp.Diff(before, after))
			}
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 5; i++ {
				s := *set
				s.Services = plist.Of(shuffle(r, set.Services.Slice())...)
				s.EndpointSlices = plist.Of(shuffle(r, set.EndpointSlices.Slice())...)
				s.HTTPRoutes = plist.Of(shuffle(r, set.HTTPRoutes.Slice())...)
				s.GRPCRoutes = plist.Of(shuffle(r, set.GRPCRoutes.Slice())...)
				s.Namespaces = plist.Of(shuffle(r, set.Namespaces.Slice())...)
				s.Pods = plist.Of(shuffle(r, set.Pods.Slice())...)
				if got := mustYAML(t, Translate(&s, opts)); got != want {
					t.Fatalf("shuffle %d changed the output:\n%s", i, cmp.Diff(want, got))
				}
			}
		})
	}
}

func proxyNamed(t *testing.T, res *Result, name string) *ir.Proxy {
	t.Helper()
	for _, p := range res.Proxies {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no proxy %s", name)
	return nil
}

func routeConfig(t *testing.T, p *ir.Proxy, name string) *ir.RouteConfig {
	t.Helper()
	for _, rc := range p.RouteConfigs {
		if rc.Name == name {
			return rc
		}
	}
	t.Fatalf("%s: no route config %s", p.Name, name)
	return nil
}

// TestConsumerRoutesStayInTheirNamespace checks the producer/consumer rule
// directly, independently of the golden files.
func TestConsumerRoutesStayInTheirNamespace(t *testing.T) {
	set, opts := loadSet(t, filepath.Join("testdata", "consumer-route.in.yaml"))
	res := Translate(set, opts)
	name := RouteConfigName("default", "reviews", 9080)
	want := map[string]string{
		"mesh/shop":    "shop/consumer/rule/0/match/0",
		"mesh/default": "default/producer/rule/0/match/0",
		"mesh/other":   "default/producer/rule/0/match/0",
	}
	for group, first := range want {
		rc := routeConfig(t, proxyNamed(t, res, group), name)
		if got := rc.VirtualHosts.At(0).Routes[0].Name; got != first {
			t.Errorf("%s: first route %s, want %s", group, got, first)
		}
	}
	// Producer tables are shared between groups without a consumer route.
	a := routeConfig(t, proxyNamed(t, res, "mesh/other"), name)
	b := routeConfig(t, proxyNamed(t, res, "mesh/shop"), name)
	if a == b {
		t.Error("mesh/shop shares the producer table despite its consumer route")
	}
}

// TestShortNameOnlyInOwnNamespace: "reviews" means reviews.default only to
// clients in default.
func TestShortNameOnlyInOwnNamespace(t *testing.T) {
	set, opts := loadSet(t, filepath.Join("testdata", "default-routes.in.yaml"))
	res := Translate(set, opts)
	name := RouteConfigName("default", "reviews", 9080)
	has := func(group string) bool {
		for _, d := range routeConfig(t, proxyNamed(t, res, group), name).VirtualHosts.At(0).Domains {
			if d == "reviews" {
				return true
			}
		}
		return false
	}
	if !has("mesh/default") {
		t.Error("mesh/default lacks the short name")
	}
	if has("mesh/shop") {
		t.Error("mesh/shop has the short name of a Service in default")
	}
}

func TestTranslateEmpty(t *testing.T) {
	res := Translate(nil, Options{})
	if len(res.Proxies) != 0 || res.Status == nil || len(res.Status.Routes) != 0 {
		t.Fatalf("empty input: %+v", res)
	}
	res = Translate(&resource.Set{}, Options{Namespaces: []string{"a"}})
	if len(res.Proxies) != 1 || res.Proxies[0].Name != "mesh/a" || len(res.Proxies[0].Listeners) != 0 {
		t.Fatalf("want one empty proxy mesh/a, got %s", mustYAML(t, res.Proxies))
	}
}

// TestTranslateOnlyNamespaces: with OnlyNamespaces, groups are built for
// the listed namespaces alone (the connected ones), not for every
// namespace with a Service, and the route statuses do not change.
func TestTranslateOnlyNamespaces(t *testing.T) {
	set := &resource.Set{
		Namespaces: plist.Of(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "idle"}}),
		Services: plist.Of(
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}},
		),
	}
	all := Translate(set, Options{Namespaces: []string{"shop"}})
	only := Translate(set, Options{Namespaces: []string{"shop", "shop", ""}, OnlyNamespaces: true})
	var names []string
	for _, px := range only.Proxies {
		names = append(names, px.Name)
	}
	if len(names) != 1 || names[0] != "mesh/shop" {
		t.Fatalf("groups %v, want only mesh/shop", names)
	}
	if len(all.Proxies) != 3 {
		t.Errorf("without OnlyNamespaces: %d groups, want default, idle and shop", len(all.Proxies))
	}
	for _, px := range all.Proxies {
		if px.Name == "mesh/shop" && mustYAML(t, px) != mustYAML(t, only.Proxies[0]) {
			t.Error("mesh/shop differs with OnlyNamespaces")
		}
	}
	if mustYAML(t, all.Status) != mustYAML(t, only.Status) {
		t.Error("route statuses differ with OnlyNamespaces")
	}
	if none := Translate(set, Options{OnlyNamespaces: true}); len(none.Proxies) != 0 {
		t.Errorf("no connected namespace: %d groups", len(none.Proxies))
	}
}

func TestEndpointFacts(t *testing.T) {
	port := int32(8080)
	slice := func(addrs ...string) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
			Ports:      []discoveryv1.EndpointPort{{Port: &port}},
		}
		for _, a := range addrs {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "p-" + a}})
		}
		return es
	}
	base := EndpointFacts(&resource.Set{EndpointSlices: plist.Of(slice("10.0.0.1", "10.0.0.2"))})
	notReady := slice("10.0.0.2", "10.0.0.1")
	ready := false
	notReady.Endpoints[0].Conditions.Ready = &ready
	if got := EndpointFacts(&resource.Set{EndpointSlices: plist.Of(notReady)}); got != base {
		t.Errorf("readiness or order changed the facts:\n%s\nvs\n%s", got, base)
	}
	if EndpointFacts(&resource.Set{EndpointSlices: plist.Of(slice("10.0.0.1", "10.0.0.3"))}) == base {
		t.Error("a new address did not change the facts")
	}
	other := slice("10.0.0.1", "10.0.0.2")
	other.Endpoints[0].TargetRef.Name = "another-pod"
	if EndpointFacts(&resource.Set{EndpointSlices: plist.Of(other)}) == base {
		t.Error("another pod reference did not change the facts")
	}
}

func TestSecuredClusterIdentities(t *testing.T) {
	port := int32(8080)
	set := &resource.Set{
		Services: plist.Of(
			&corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
			},
		),
		EndpointSlices: plist.Of(
			&discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
				Ports:      []discoveryv1.EndpointPort{{Port: &port}},
				Endpoints: []discoveryv1.Endpoint{
					{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "a", Namespace: "other"}},
					{Addresses: []string{"10.0.0.2"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "missing"}},
					{Addresses: []string{"10.0.0.3"}, TargetRef: &corev1.ObjectReference{Kind: "Node", Name: "a"}},
				},
			},
		),
		Pods: plist.Of(
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "other"}, Spec: corev1.PodSpec{ServiceAccountName: "ext"}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop"}, Spec: corev1.PodSpec{ServiceAccountName: "wrong"}},
		),
	}
	res := Translate(set, Options{MTLS: &MTLS{TrustDomain: "td.example"}})
	c := res.Proxies[0].Clusters.At(0)
	if c.TLS == nil || len(c.TLS.SubjectAltNameMatchers) != 1 || c.TLS.SubjectAltNameMatchers[0].Value != "spiffe://td.example/ns/other/sa/ext" {
		t.Fatalf("cluster TLS %+v: want only the pod the targetRef names (its own namespace)", c.TLS)
	}
	if c.TLS.ClientCertificateSecret != "mesh/workload" || c.TLS.ValidationSecret != "mesh/ca-bundle" || c.TLS.SNI != "reviews.shop.svc.cluster.local" {
		t.Errorf("cluster TLS %+v", c.TLS)
	}
	if plain := Translate(set, Options{}); plain.Proxies[0].Clusters.At(0).TLS != nil || len(plain.Proxies[0].Secrets) != 0 {
		t.Error("mTLS off still secures clusters or adds secrets")
	}
	for name, ok := range map[string]bool{"a/b/80": true, "a/b/80/tcp": false, "a/b/x": false, "/b/80": false, "a/b/70000": false} {
		if _, _, got := serviceOfCluster(name); got != ok {
			t.Errorf("serviceOfCluster(%q) ok=%v", name, got)
		}
	}
}
