// Package bookinfo holds the tests of the bookinfo example: every document
// decodes strictly into its Go type, the example loads with Gantry's loader,
// its objects reference each other correctly, and Gantry's translation accepts
// the Gateway and the HTTPRoute.
package bookinfo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// decoded is every object of the example, typed.
type decoded struct {
	namespaces   []*corev1.Namespace
	services     []*corev1.Service
	accounts     []*corev1.ServiceAccount
	deployments  []*appsv1.Deployment
	gateways     []*gwapiv1.Gateway
	httpRoutes   []*gwapiv1.HTTPRoute
	documentKeys []string
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := gwapiv1.Install(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// decodeExample decodes every document of every *.yaml file here strictly
// (unknown or duplicate fields fail), naming file and document on error.
func decodeExample(t *testing.T) *decoded {
	t.Helper()
	return decodeFiles(t, "*.yaml")
}

// decodeFiles is decodeExample for the files matching pattern.
func decodeFiles(t *testing.T, pattern string) *decoded {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no YAML files (%v)", err)
	}
	sort.Strings(files)
	decoder := serializer.NewCodecFactory(newScheme(t), serializer.EnableStrict).UniversalDeserializer()
	out := &decoded{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 1; ; i++ {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if isEmptyDoc(doc) {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s document %d: %v", f, i, err)
				continue
			}
			out.add(t, f, obj)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func isEmptyDoc(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
			return false
		}
	}
	return true
}

func (d *decoded) add(t *testing.T, file string, obj runtime.Object) {
	t.Helper()
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	d.documentKeys = append(d.documentKeys, kind+" "+m.GetNamespace()+"/"+m.GetName())
	switch o := obj.(type) {
	case *corev1.Namespace:
		d.namespaces = append(d.namespaces, o)
	case *corev1.Service:
		d.services = append(d.services, o)
	case *corev1.ServiceAccount:
		d.accounts = append(d.accounts, o)
	case *appsv1.Deployment:
		d.deployments = append(d.deployments, o)
	case *gwapiv1.Gateway:
		d.gateways = append(d.gateways, o)
	case *gwapiv1.HTTPRoute:
		d.httpRoutes = append(d.httpRoutes, o)
	default:
		t.Errorf("%s: unexpected %T", file, obj)
	}
	if _, ok := obj.(*corev1.Namespace); !ok && m.GetNamespace() != "bookinfo" {
		t.Errorf("%s: %T %s is in namespace %q, want bookinfo", file, obj, m.GetName(), m.GetNamespace())
	}
}

func TestDecodesStrictly(t *testing.T) {
	d := decodeExample(t)
	if len(d.namespaces) != 1 || len(d.services) != 4 || len(d.accounts) != 4 || len(d.deployments) != 6 ||
		len(d.gateways) != 1 || len(d.httpRoutes) != 1 {
		t.Fatalf("objects: %v", d.documentKeys)
	}
	gw := d.gateways[0]
	if gw.Spec.GatewayClassName != "gantry" || len(gw.Spec.Listeners) != 1 ||
		gw.Spec.Listeners[0].Protocol != gwapiv1.HTTPProtocolType || gw.Spec.Listeners[0].Port != 80 {
		t.Errorf("gateway spec %+v", gw.Spec)
	}
}

// TestHTTPRoutePaths checks that the route exposes exactly the bookinfo paths.
func TestHTTPRoutePaths(t *testing.T) {
	d := decodeExample(t)
	if len(d.httpRoutes) != 1 {
		t.Fatalf("%d HTTPRoutes", len(d.httpRoutes))
	}
	route := d.httpRoutes[0]
	var got []string
	var backends []string
	for _, rule := range route.Spec.Rules {
		for _, m := range rule.Matches {
			if m.Path == nil || m.Path.Type == nil || m.Path.Value == nil {
				t.Errorf("match without a full path: %+v", m)
				continue
			}
			got = append(got, string(*m.Path.Type)+" "+*m.Path.Value)
			if len(m.Headers) > 0 || len(m.QueryParams) > 0 || m.Method != nil {
				t.Errorf("match %s has extra conditions", *m.Path.Value)
			}
		}
		for _, b := range rule.BackendRefs {
			backends = append(backends, string(b.Name)+":"+portString(b.Port))
		}
	}
	want := []string{
		"Exact /productpage",
		"PathPrefix /static",
		"Exact /login",
		"Exact /logout",
		"PathPrefix /api/v1/products",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("route paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"productpage:9080"}, backends); diff != "" {
		t.Errorf("backends (-want +got):\n%s", diff)
	}
	if len(route.Spec.ParentRefs) != 1 || route.Spec.ParentRefs[0].Name != gwapiv1.ObjectName(d.gateways[0].Name) {
		t.Errorf("parentRefs %+v", route.Spec.ParentRefs)
	}
}

func portString(p *gwapiv1.PortNumber) string {
	if p == nil {
		return "<nil>"
	}
	b, _ := json.Marshal(*p)
	return string(b)
}

// TestServicesSelectPods checks that each Service selects Deployment pods that
// expose its target port, and each pod's ServiceAccount exists.
func TestServicesSelectPods(t *testing.T) {
	d := decodeExample(t)
	accounts := map[string]bool{}
	for _, a := range d.accounts {
		accounts[a.Name] = true
	}
	for _, dep := range d.deployments {
		if sa := dep.Spec.Template.Spec.ServiceAccountName; !accounts[sa] {
			t.Errorf("deployment %s uses missing ServiceAccount %q", dep.Name, sa)
		}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
			t.Errorf("deployment %s selector does not match its pods (%v)", dep.Name, err)
		}
	}
	for _, svc := range d.services {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		matched := 0
		for _, dep := range d.deployments {
			if !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
				continue
			}
			matched++
			for _, p := range svc.Spec.Ports {
				if !exposes(dep, p.TargetPort.StrVal, p.TargetPort.IntVal) {
					t.Errorf("service %s port %s: deployment %s has no container port %s", svc.Name, p.Name, dep.Name, p.TargetPort.String())
				}
			}
		}
		if matched == 0 {
			t.Errorf("service %s selects no pods", svc.Name)
		}
	}
}

func exposes(dep *appsv1.Deployment, name string, number int32) bool {
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
				return true
			}
		}
	}
	return false
}

// gatewayClass is what the chart installs by default.
const gatewayClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: gantry
spec:
  controllerName: gantryproxy.io/gateway-controller
`

// TestLoadAndTranslate loads the example with Gantry's loader and translates
// it with the chart's default GatewayClass: the Gateway and the HTTPRoute must
// be accepted, the backend resolved, and every path must reach the proxy.
func TestLoadAndTranslate(t *testing.T) {
	files, err := filepath.Glob("*.yaml") // the edge part; mesh/ holds alternative route steps
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.LoadWithDiagnostics(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Errorf("load error: %s", e)
	}
	for _, w := range res.Warnings {
		if w.Key.Kind != "Deployment" && w.Key.Kind != "ServiceAccount" {
			t.Errorf("unexpected load warning: %s", w)
		}
	}
	gc, err := resource.Parse("gatewayclass.yaml", []byte(gatewayClass))
	if err != nil || len(gc.Errors) > 0 {
		t.Fatalf("gatewayclass: %v %v", err, gc.Errors)
	}
	set, _, dups := resource.BuildSet(append(res.Objects, gc.Objects...))
	if len(dups) > 0 {
		t.Fatalf("duplicates: %v", dups)
	}
	if set.HTTPRoutes.Len() != 1 || set.Gateways.Len() != 1 || set.Services.Len() != 4 {
		t.Fatalf("set has %d routes, %d gateways, %d services", set.HTTPRoutes.Len(), set.Gateways.Len(), set.Services.Len())
	}
	out := translate.Translate(set, translate.Options{})
	if len(out.Status.Gateways) != 1 {
		t.Fatalf("gateway statuses: %+v", out.Status.Gateways)
	}
	checkCondition(t, "Gateway", out.Status.Gateways[0].Status.Conditions, "Accepted")
	for _, l := range out.Status.Gateways[0].Status.Listeners {
		if l.AttachedRoutes != 1 {
			t.Errorf("listener %s has %d attached routes, want 1", l.Name, l.AttachedRoutes)
		}
	}
	if len(out.Status.Routes) != 1 || len(out.Status.Routes[0].Parents) != 1 {
		t.Fatalf("route statuses: %+v", out.Status.Routes)
	}
	parent := out.Status.Routes[0].Parents[0]
	checkCondition(t, "HTTPRoute", parent.Conditions, "Accepted")
	checkCondition(t, "HTTPRoute", parent.Conditions, "ResolvedRefs")
	if len(out.Proxies) != 1 || out.Proxies[0].Name != translate.ProxyName("bookinfo", "bookinfo-gateway") {
		t.Fatalf("proxies: %d", len(out.Proxies))
	}
	proxy, err := json.Marshal(out.Proxies[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`"/productpage"`, `"/static"`, `"/login"`, `"/logout"`, `"/api/v1/products"`, `bookinfo/productpage/9080`} {
		if !bytes.Contains(proxy, []byte(p)) {
			t.Errorf("proxy configuration lacks %s", p)
		}
	}
}

func checkCondition(t *testing.T, what string, conds []metav1.Condition, typ string) {
	t.Helper()
	for _, c := range conds {
		if c.Type == typ {
			if c.Status != "True" {
				t.Errorf("%s %s = %s (%s: %s)", what, typ, c.Status, c.Reason, c.Message)
			}
			return
		}
	}
	t.Errorf("%s has no %s condition: %+v", what, typ, conds)
}
