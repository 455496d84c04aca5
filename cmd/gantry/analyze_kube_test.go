package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/test/envtest"
)

// writeAnalyzeKubeconfig writes a kubeconfig for cfg whose context namespace is ns.
func writeAnalyzeKubeconfig(t *testing.T, cfg *rest.Config, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test", Namespace: ns}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAnalyzeLive(t *testing.T) {
	cfg := envtest.StartT(t).Config
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	objs := liveFixture()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	kubeconfig := writeAnalyzeKubeconfig(t, cfg, "shop")

	// The cluster alone: the context's namespace, no file positions.
	r := runAnalyzeCLI(t, "", "analyze", "--kubeconfig", kubeconfig, "-o", "json")
	if r.code != exitFindings {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, exitFindings, r.stdout, r.stderr)
	}
	got := analyzeCodes(t, r.stdout)
	want := map[string]bool{
		"GTY0102 HTTPRoute shop/web": true, // route hostname matches no listener (translator status)
		"GTY0405 Service shop/web":   true, // no Pods in the cluster
		"GTY0503 GatewayClass other": true, // nobody accepted it
	}
	for k := range want {
		if !got[k] {
			t.Errorf("live: missing %s; got %v", k, got)
		}
	}
	if strings.Contains(r.stdout, `"file"`) {
		t.Errorf("live objects carry a file:\n%s", r.stdout)
	}

	// The cluster with a file applied: the file's route replaces the cluster's.
	fixed := filepath.Join(t.TempDir(), "route.yaml")
	if err := os.WriteFile(fixed, []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: shop
spec:
  parentRefs: [{name: eg}]
  hostnames: [www.example.com]
  rules:
  - backendRefs: [{name: web, port: 80}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runAnalyzeCLI(t, "", "analyze", "--kubeconfig", kubeconfig, "--use-kube", "-f", fixed, "-o", "json", "-S", "GTY0405=Service shop/web")
	got = analyzeCodes(t, r.stdout)
	if got["GTY0102 HTTPRoute shop/web"] {
		t.Errorf("overlay: the file's route should replace the cluster's:\n%s", r.stdout)
	}
	if r.code != 0 {
		t.Errorf("overlay: exit %d, want 0 (only the class warning left)\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// -n selects another namespace: nothing namespaced from shop.
	r = runAnalyzeCLI(t, "", "analyze", "--kubeconfig", kubeconfig, "-n", "default", "-o", "json")
	for k := range analyzeCodes(t, r.stdout) {
		if strings.Contains(k, "shop/") {
			t.Errorf("-n default reported %s", k)
		}
	}

	// An unreachable cluster is unreadable input.
	bad := writeAnalyzeKubeconfig(t, &rest.Config{Host: "https://127.0.0.1:1"}, "default")
	r = runAnalyzeCLI(t, "", "analyze", "--kubeconfig", bad)
	if r.code != exitBadInput {
		t.Errorf("unreachable cluster: exit %d, want %d\n%s", r.code, exitBadInput, r.stderr)
	}
}

// liveFixture is a namespace with a Gateway of Gantry's class, a route whose
// hostname matches no listener, a Service without Pods, and a class of a
// controller nobody runs.
func liveFixture() []client.Object {
	host := gwapiv1.Hostname("*.example.com")
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: "gantryproxy.io/gateway-controller"}},
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: "example.com/nobody"}},
		&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eg"}, Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "gantry",
			Listeners:        []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType, Hostname: &host}},
		}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}},
		}},
		&gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "eg"}}},
			Hostnames:       []gwapiv1.Hostname{"www.example.org"},
			Rules: []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
				BackendObjectReference: gwapiv1.BackendObjectReference{Name: "web", Port: analyzePtr(gwapiv1.PortNumber(80))},
			}}}}},
		}},
	}
}

func analyzeCodes(t *testing.T, out string) map[string]bool {
	t.Helper()
	var msgs []analyze.Message
	if err := json.Unmarshal([]byte(out), &msgs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, m := range msgs {
		got[string(m.Code)+" "+m.Kind+" "+m.ObjectName()] = true
	}
	return got
}

func analyzePtr[T any](v T) *T { return &v }
