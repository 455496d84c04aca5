package bookinfo

// The mesh part of the walkthrough (mesh/): every step loads with the base
// example, `gantry analyze` finds nothing, and the reviews routes translate
// into the mesh route table clients of the bookinfo namespace receive for
// reviews:9080, with the expected matches and weights.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/mesh/inject"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// reviewsSteps are the route steps of the walkthrough, in README order,
// with the route table each must give: one line per route entry, "<header
// matches> -> <backend>=<weight> ...".
var reviewsSteps = []struct {
	file, route string
	want        []string
}{
	{file: "route-1-all-v1.yaml", route: "reviews-all-v1", want: []string{"-> bookinfo/reviews-v1/9080=1"}},
	{file: "route-2-jason-v2.yaml", route: "reviews-jason-v2", want: []string{"end-user=jason -> bookinfo/reviews-v2/9080=1", "-> bookinfo/reviews-v1/9080=1"}},
	{file: "route-3-half-v3.yaml", route: "reviews-half-v3", want: []string{"-> bookinfo/reviews-v1/9080=50 bookinfo/reviews-v3/9080=50"}},
	{file: "route-4-all-v3.yaml", route: "reviews-all-v3", want: []string{"-> bookinfo/reviews-v3/9080=1"}},
}

// TestMeshFilesDecodeStrictly: the mesh files are Services and HTTPRoutes of
// the bookinfo namespace whose parent is the reviews Service, and every
// route step has a case in reviewsSteps.
func TestMeshFilesDecodeStrictly(t *testing.T) {
	d := decodeFiles(t, filepath.Join("mesh", "*.yaml"))
	if len(d.services) != 3 || len(d.httpRoutes) != len(reviewsSteps) {
		t.Fatalf("mesh/: %d Services and %d HTTPRoutes, want 3 and %d: %v", len(d.services), len(d.httpRoutes), len(reviewsSteps), d.documentKeys)
	}
	for i, r := range d.httpRoutes {
		if r.Name != reviewsSteps[i].route || len(r.Spec.ParentRefs) != 1 || r.Spec.ParentRefs[0].Name != "reviews" ||
			r.Spec.ParentRefs[0].Kind == nil || *r.Spec.ParentRefs[0].Kind != "Service" {
			t.Errorf("HTTPRoute %s: want the route %s with the reviews Service as its only parent: %+v", r.Name, reviewsSteps[i].route, r.Spec.ParentRefs)
		}
	}
	steps, err := filepath.Glob(filepath.Join("mesh", "route-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range reviewsSteps {
		names = append(names, filepath.Join("mesh", s.file))
	}
	if diff := cmp.Diff(names, steps); diff != "" {
		t.Errorf("route steps (-tested +files):\n%s", diff)
	}
}

// TestMeshSteps: each step, applied over the base example and the version
// Services and the authorization policies of authorization/, loads without
// error, is clean for `gantry analyze`, accepts the
// route on the reviews Service, and gives the expected route table.
func TestMeshSteps(t *testing.T) {
	authz, err := filepath.Glob(filepath.Join("authorization", "*.yaml"))
	if err != nil || len(authz) == 0 {
		t.Fatalf("no authorization policies (%v)", err)
	}
	for _, step := range reviewsSteps {
		t.Run(step.file, func(t *testing.T) {
			files := append([]string{"00-namespace.yaml", "10-bookinfo.yaml", "20-gateway.yaml",
				filepath.Join("mesh", "10-reviews-versions.yaml"), filepath.Join("mesh", step.file)}, authz...)
			set := loadStep(t, files)
			msgs, err := analyze.Analyze(set, analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				t.Errorf("gantry analyze: %s %s %s/%s (%s:%d): %s", m.Code, m.Level, m.Namespace, m.Name, m.File, m.Line, m.Message)
			}
			res := meshtranslate.Translate(set, meshtranslate.Options{})
			checkRouteAccepted(t, res, step.route)
			proxy := meshProxy(t, res, "bookinfo")
			if diff := cmp.Diff(step.want, reviewsTable(t, proxy)); diff != "" {
				t.Errorf("reviews:9080 route table (-want +got):\n%s", diff)
			}
			for _, flavor := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
				if _, err := envoy.Build(proxy, envoy.Options{Flavor: flavor}); err != nil {
					t.Errorf("%s flavor: %v", flavor, err)
				}
			}
		})
	}
}

// loadStep loads files with the chart's GatewayClass, as TestLoadAndTranslate.
func loadStep(t *testing.T, files []string) *resource.Set {
	t.Helper()
	res, err := resource.LoadWithDiagnostics(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Errorf("load error: %s", e)
	}
	gc, err := resource.Parse("gatewayclass.yaml", []byte(gatewayClass))
	if err != nil || len(gc.Errors) > 0 {
		t.Fatalf("gatewayclass: %v %v", err, gc.Errors)
	}
	set, _, dups := resource.BuildSet(append(res.Objects, gc.Objects...))
	if len(dups) > 0 {
		t.Fatalf("duplicates: %v", dups)
	}
	return set
}

func checkRouteAccepted(t *testing.T, res *meshtranslate.Result, name string) {
	t.Helper()
	for _, r := range res.Status.Routes {
		if r.Kind == "HTTPRoute" && r.Namespace == "bookinfo" && r.Name == name && len(r.Parents) == 1 {
			checkCondition(t, "HTTPRoute "+name, r.Parents[0].Conditions, "Accepted")
			checkCondition(t, "HTTPRoute "+name, r.Parents[0].Conditions, "ResolvedRefs")
			return
		}
	}
	t.Fatalf("no status for HTTPRoute bookinfo/%s with one parent: %+v", name, res.Status.Routes)
}

func meshProxy(t *testing.T, res *meshtranslate.Result, ns string) *ir.Proxy {
	t.Helper()
	for _, p := range res.Proxies {
		if p.Name == meshtranslate.ProxyName(ns) {
			return p
		}
	}
	t.Fatalf("no mesh proxy %s", meshtranslate.ProxyName(ns))
	return nil
}

// reviewsTable renders the routes of reviews:9080 one line per entry.
func reviewsTable(t *testing.T, p *ir.Proxy) []string {
	t.Helper()
	name := meshtranslate.RouteConfigName("bookinfo", "reviews", 9080)
	i := slices.IndexFunc(p.RouteConfigs, func(rc *ir.RouteConfig) bool { return rc.Name == name })
	if i < 0 || p.RouteConfigs[i].VirtualHosts.Len() != 1 {
		t.Fatalf("route configuration %s with one virtual host not found", name)
	}
	var out []string
	for _, r := range p.RouteConfigs[i].VirtualHosts.At(0).Routes {
		var match []string
		for _, h := range r.Match.Headers {
			match = append(match, h.Name+"="+h.Value)
		}
		if r.Forward == nil || r.Match.Path != "/" {
			t.Fatalf("route %s: want a forward of every path, got %+v", r.Name, r)
		}
		var to []string
		for _, b := range r.Forward.Backends {
			to = append(to, fmt.Sprintf("%s=%d", b.Cluster, b.Weight))
		}
		out = append(out, strings.TrimSpace(strings.Join(match, " ")+" -> "+strings.Join(to, " ")))
	}
	return out
}

// reviewsPods are what a cluster adds for the reviews versions: a pod per
// version under the bookinfo-reviews account, named by the EndpointSlices
// of reviews-vN (the control plane reads identities from them).
func reviewsPods() string {
	var docs []string
	for i, v := range []string{"v1", "v2", "v3"} {
		docs = append(docs, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: reviews-%[1]s-0, namespace: bookinfo, labels: {app: reviews, version: %[1]s}}
spec:
  serviceAccountName: bookinfo-reviews
  containers: [{name: reviews, image: reviews}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-%[1]s-0, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews-%[1]s}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints: [{addresses: ["10.0.0.%[2]d"], conditions: {ready: true}, targetRef: {kind: Pod, name: reviews-%[1]s-0, namespace: bookinfo}}]`, v, i+1))
	}
	return strings.Join(docs, "\n---\n")
}

// TestMeshStrictMTLS: with mesh mTLS on (step 2 of the README), every
// reviews version is reached over mTLS that accepts only the reviews
// workloads' SPIFFE ID, in both xDS flavors.
func TestMeshStrictMTLS(t *testing.T) {
	set := loadStep(t, []string{"00-namespace.yaml", "10-bookinfo.yaml", "20-gateway.yaml",
		filepath.Join("mesh", "10-reviews-versions.yaml"), filepath.Join("mesh", "route-3-half-v3.yaml")})
	pods, err := resource.Parse("pods.yaml", []byte(reviewsPods()))
	if err != nil || len(pods.Errors) > 0 {
		t.Fatalf("pods: %v %v", err, pods.Errors)
	}
	set, _, dups := resource.BuildSet(append(set.Objects(), pods.Objects...))
	if len(dups) > 0 {
		t.Fatalf("duplicates: %v", dups)
	}
	res := meshtranslate.Translate(set, meshtranslate.Options{MTLS: &meshtranslate.MTLS{}})
	proxy := meshProxy(t, res, "bookinfo")
	const want = "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"
	for _, v := range []string{"v1", "v2", "v3"} {
		name := "bookinfo/reviews-" + v + "/9080"
		i := slices.IndexFunc(proxy.Clusters.Slice(), func(c *ir.Cluster) bool { return c.Name == name })
		if i < 0 {
			t.Fatalf("no cluster %s", name)
		}
		tls := proxy.Clusters.At(i).TLS
		if tls == nil || tls.ClientCertificateSecret == "" || len(tls.SubjectAltNameMatchers) != 1 || tls.SubjectAltNameMatchers[0].Value != want {
			t.Errorf("cluster %s: TLS %+v, want mTLS with a client certificate accepting only %s", name, tls, want)
		}
	}
	for _, flavor := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
		if _, err := envoy.Build(proxy, envoy.Options{Flavor: flavor}); err != nil {
			t.Errorf("%s flavor: %v", flavor, err)
		}
	}
}

// TestMeshInjection: with the namespace label of step 1, every bookinfo
// Deployment's pod gets the sidecar from the injector (the webhook's own
// patch), its own containers unchanged; without the label, none does.
func TestMeshInjection(t *testing.T) {
	d := decodeExample(t)
	if len(d.deployments) == 0 {
		t.Fatal("no Deployments in the example")
	}
	labelled := map[string]string{inject.NamespaceLabel: inject.NamespaceEnabled}
	for _, dep := range d.deployments {
		pod := &corev1.Pod{ObjectMeta: dep.Spec.Template.ObjectMeta, Spec: dep.Spec.Template.Spec}
		pod.Namespace = dep.Namespace
		pod.GenerateName = dep.Name + "-"
		got, dec, err := inject.Inject(pod, dep.Namespace, labelled, inject.Config{})
		if err != nil || !dec.Inject {
			t.Errorf("%s: not injected in a labelled namespace (%v, %s)", dep.Name, err, dec.Reason)
			continue
		}
		var names []string
		for _, c := range append(slices.Clone(got.Spec.InitContainers), got.Spec.Containers...) {
			names = append(names, c.Name)
		}
		if !slices.Contains(names, inject.ContainerName) {
			t.Errorf("%s: injected pod has no %s container: %v", dep.Name, inject.ContainerName, names)
		}
		for _, c := range pod.Spec.Containers {
			i := slices.IndexFunc(got.Spec.Containers, func(g corev1.Container) bool { return g.Name == c.Name })
			if i < 0 || got.Spec.Containers[i].Image != c.Image {
				t.Errorf("%s: container %s changed or lost by injection", dep.Name, c.Name)
			}
		}
		if _, dec, err := inject.Inject(pod, dep.Namespace, nil, inject.Config{}); err != nil || dec.Inject {
			t.Errorf("%s: injected without the namespace label (%v)", dep.Name, err)
		}
	}
}
