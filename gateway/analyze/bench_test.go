package analyze

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// benchInput is one GatewayClass, one Gateway (HTTP and HTTPS with a
// certificate), 100 Services with Pods and n HTTPRoutes of three rules each.
// With sameHost every route shares one hostname, the worst case for the
// shadowing check (every match compared with every earlier one).
func benchInput(n int, sameHost bool) []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gantry}
spec: {controllerName: gantryproxy.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: gantry
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    hostname: "*.example.com"
    tls: {certificateRefs: [{name: wildcard}]}
`)
	for _, doc := range strings.Split(benchCert, "---\n") {
		if strings.Contains(doc, "kind: Secret") && strings.Contains(doc, "name: wildcard") {
			b.WriteString("---\n" + doc)
		}
	}
	for i := range 100 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: default}\nspec:\n  selector: {app: app-%d}\n  ports: [{name: http, port: 80}]\n", i, i)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pod-%d, namespace: default, labels: {app: app-%d}}\nspec:\n  containers: [{name: app, image: example/app}]\n", i, i)
	}
	for i := range n {
		host := fmt.Sprintf("r%d.example.com", i)
		if sameHost {
			host = "www.example.com"
		}
		fmt.Fprintf(&b, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route-%d, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: [%s]
  rules:
  - matches: [{path: {type: PathPrefix, value: /r%d/api}}]
    backendRefs: [{name: svc-%d, port: 80, weight: 90}, {name: svc-%d, port: 80, weight: 10}]
  - matches: [{path: {type: Exact, value: /r%d/login}, method: POST}]
    backendRefs: [{name: svc-%d, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /r%d}, headers: [{name: x-canary, value: "true"}]}]
    backendRefs: [{name: svc-%d, port: 80}]
`, i, host, i, i%100, (i+1)%100, i, i%100, i, (i+2)%100)
	}
	return []byte(b.String())
}

// benchCert is a wildcard certificate Secret from testdata.
var benchCert = func() string {
	b, err := readTestdata("cert-coalescing.pos.in.yaml")
	if err != nil {
		panic(err)
	}
	return b
}()

func benchAnalyze(b *testing.B, n int, sameHost bool) {
	data := benchInput(n, sameHost)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		res, err := resource.Parse("bench.yaml", data)
		if err != nil || len(res.Errors) > 0 || res.Set.HTTPRoutes.Len() != n {
			b.Fatalf("load: %v %v (%d routes)", err, res.Errors, res.Set.HTTPRoutes.Len())
		}
		msgs, err := Analyze(res.Set, Options{Now: goldenNow})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if m.Level == Error {
				b.Fatalf("unexpected %s", m)
			}
		}
	}
}

// BenchmarkAnalyze1000 is offline analysis of 1,000 HTTPRoutes from YAML:
// load, translate, every analyzer. The target is under 2 s per run.
func BenchmarkAnalyze1000(b *testing.B) { benchAnalyze(b, 1000, false) }

// BenchmarkAnalyze1000SameHost puts all 3,000 matches on one hostname.
func BenchmarkAnalyze1000SameHost(b *testing.B) { benchAnalyze(b, 1000, true) }

// TestBenchInputIsClean keeps the benchmark honest: its input loads and
// draws no Error (run on 20 routes to stay fast).
func TestBenchInputIsClean(t *testing.T) {
	for _, same := range []bool{false, true} {
		res, err := resource.Parse("bench.yaml", benchInput(20, same))
		if err != nil || len(res.Errors) > 0 {
			t.Fatalf("load: %v %v", err, res.Errors)
		}
		msgs, err := Analyze(res.Set, Options{Now: goldenNow})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			t.Errorf("sameHost=%v: %s", same, m)
		}
	}
}

// BenchmarkAnalyzeOnly1000 leaves loading out: translate and every analyzer
// over an already loaded Set of 1,000 HTTPRoutes.
func BenchmarkAnalyzeOnly1000(b *testing.B) {
	res, err := resource.Parse("bench.yaml", benchInput(1000, false))
	if err != nil || len(res.Errors) > 0 {
		b.Fatalf("load: %v %v", err, res.Errors)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Analyze(res.Set, Options{Now: goldenNow}); err != nil {
			b.Fatal(err)
		}
	}
}
