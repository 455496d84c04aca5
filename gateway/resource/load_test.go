package resource

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/google/go-cmp/cmp"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const gatewayClassYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: gantry
spec:
  controllerName: gantryproxy.io/gateway-controller
`

func route(name string) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %s
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        value: /%s
    backendRefs:
    - name: svc
      port: 80
`, name, name)
}

func diagStrings(ds []Diagnostic) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func keysAndLines(objs []Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = fmt.Sprintf("%s@%d", o.Key, o.Source.Line)
	}
	return out
}

// parseCases are the table of TestParse.
var parseCases = []struct {
	name     string
	data     string
	objects  []string
	errors   []string
	warnings []string
}{{
	name:    "multi-document with lines and default namespace",
	data:    "# leading comment\n" + gatewayClassYAML + "---\n" + route("a") + "---\n\n" + route("b"),
	objects: []string{"GatewayClass gantry@2", "HTTPRoute default/a@9", "HTTPRoute default/b@25"},
}, {
	name: "json",
	data: `{"apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "svc", "namespace": "apps"},
  "spec": {"ports": [{"port": 80}]}}`,
	objects: []string{"Service apps/svc@1"},
}, {
	name: "list kind",
	data: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: apps, namespace: ignored}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
`,
	objects: []string{"Namespace apps@4", "ConfigMap default/cm@7"},
}, {
	name:     "unknown kind is a warning",
	data:     "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n" + gatewayClassYAML,
	objects:  []string{"GatewayClass gantry@5"},
	warnings: []string{"f.yaml:1: Widget w: unknown kind example.com/v1 Widget: ignored"},
}, {
	name:    "unknown field names its line and path",
	data:    route("a") + "---\n" + strings.Replace(route("b"), "        value: /b\n", "        value: /b\n      bogus: 1\n", 1),
	objects: []string{"HTTPRoute default/a@1"},
	errors:  []string{"f.yaml:27: HTTPRoute default/b: spec.rules[0].matches[0].bogus: unknown field"},
}, {
	name:    "schema violation names its line and path",
	data:    strings.Replace(route("a"), "      port: 80\n", "      port: 70000\n", 1),
	errors:  []string{"f.yaml:14: HTTPRoute default/a: spec.rules[0].backendRefs[0].port: invalid value 70000: should be less than or equal to 65535"},
	objects: []string{},
}, {
	name:    "malformed document does not hide the next",
	data:    "apiVersion: v1\nkind: [\n---\n" + gatewayClassYAML,
	objects: []string{"GatewayClass gantry@4"},
	errors:  []string{"f.yaml:2: malformed YAML: did not find expected node content"},
}, {
	name:    "duplicate in one file keeps the first",
	data:    route("a") + "---\n" + route("a"),
	objects: []string{"HTTPRoute default/a@1"},
	errors:  []string{"f.yaml:16: HTTPRoute default/a: duplicate object: already defined at f.yaml:1 (the first definition is kept)"},
}, {
	name:    "missing name",
	data:    "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\n",
	objects: []string{},
	errors:  []string{"f.yaml:3: Service: metadata.name: required value"},
}, {
	name:    "unsupported version",
	data:    strings.Replace(route("a"), "gateway.networking.k8s.io/v1\n", "gateway.networking.k8s.io/v9\n", 1),
	objects: []string{},
	errors:  []string{"f.yaml:1: HTTPRoute a: apiVersion: unsupported version \"v9\" of HTTPRoute (supported: v1, v1beta1)"},
}, {
	name:    "older versions decode into v1 types",
	data:    strings.Replace(route("a"), "/v1\n", "/v1beta1\n", 1) + "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: rg}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: x}]\n  to: [{group: \"\", kind: Service}]\n",
	objects: []string{"HTTPRoute default/a@1", "ReferenceGrant default/rg@16"},
}, {
	name: "CEL rules of the CRD apply",
	data: strings.Replace(route("a"), "        value: /a\n", "        value: a\n", 1) + `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: gantry
  listeners:
  - {name: tcp, protocol: TCP, port: 80, hostname: foo.com}
`,
	objects: []string{},
	errors: []string{
		"f.yaml:10: HTTPRoute default/a: spec.rules[0].matches[0].path: value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
		"f.yaml:21: Gateway default/gw: spec.listeners: hostname must not be specified for protocols ['TCP', 'UDP']",
	},
}, {
	name: "type mismatches name their field",
	data: `apiVersion: v1
kind: Service
metadata: {name: s1}
spec:
  ports:
  - port: abc
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data:
  tls.crt: "not base64!"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: e1}
addressType: IPv4
endpoints:
- addresses: 10.0.0.1
  conditions: {ready: 1}
---
apiVersion: v1
kind: Service
metadata: {name: 12}
`,
	objects: []string{},
	errors: []string{
		"f.yaml:6: Service default/s1: spec.ports[0].port: must be an integer, got string \"abc\"",
		"f.yaml:12: Secret default/sec: data[tls.crt]: invalid base64: illegal base64 data at input byte 3",
		"f.yaml:19: EndpointSlice default/e1: endpoints[0].addresses: must be a list, got string \"10.0.0.1\"",
		"f.yaml:20: EndpointSlice default/e1: endpoints[0].conditions.ready: must be a boolean, got number 1",
		"f.yaml:24: Service: metadata.name: must be a string, got number 12",
	},
}, {
	name:    "content on the separator line",
	data:    "--- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n--- # comment\n" + gatewayClassYAML + "--- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n",
	objects: []string{"Namespace a@1", "GatewayClass gantry@3", "Namespace b@9"},
}, {
	name: "set and map lists hold unique entries",
	data: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: gantry
  listeners:
  - {name: a, protocol: HTTP, port: 80}
  - {name: a, protocol: HTTP, port: 81}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        remove: [x-a, x-b, x-a]
`,
	objects: []string{},
	errors: []string{
		"f.yaml:6: Gateway default/gw: spec.listeners: Listener name must be unique within the Gateway",
		"f.yaml:8: Gateway default/gw: spec.listeners[1]: duplicate entry with name=a",
		"f.yaml:18: HTTPRoute default/r: spec.rules[0].filters[0].requestHeaderModifier.remove[2]: duplicate value \"x-a\"",
	},
}, {
	name: "empty fields are dropped, then defaulted, as in the API server",
	data: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  hostnames:
  rules:
  - matches:
    backendRefs:
    - name: svc
      port: 80
`,
	objects: []string{"HTTPRoute default/r@1"},
}, {
	name:    "not an object",
	data:    "- a\n- b\n",
	objects: []string{},
	errors:  []string{"f.yaml:1: document is not an object"},
}}

func TestParse(t *testing.T) {
	tests := parseCases
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Parse("f.yaml", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if tc.objects == nil {
				tc.objects = []string{}
			}
			if diff := cmp.Diff(tc.objects, keysAndLines(res.Objects)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.errors, diagStrings(res.Errors), cmpEmpty); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warnings, diagStrings(res.Warnings), cmpEmpty); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if len(res.Set.Sources) != len(res.Objects) {
				t.Errorf("Set.Sources has %d entries, want %d", len(res.Set.Sources), len(res.Objects))
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal([]string(a), []string(b))
})

func TestDefaultsAndConversions(t *testing.T) {
	data := route("a") + `---
apiVersion: v1
kind: Secret
metadata: {name: tls}
type: kubernetes.io/tls
stringData:
  tls.crt: CERT
data:
  tls.key: S0VZ
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 80}]
`
	res, _ := Parse("f.yaml", []byte(data))
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", diagStrings(res.Errors))
	}
	r := res.Set.HTTPRoutes.At(0)
	path := r.Spec.Rules[0].Matches[0].Path
	if path.Type == nil || *path.Type != gwapiv1.PathMatchPathPrefix {
		t.Errorf("path type default not applied: %+v", path)
	}
	if w := r.Spec.Rules[0].BackendRefs[0].Weight; w == nil || *w != 1 {
		t.Errorf("weight default not applied: %v", w)
	}
	if k := r.Spec.ParentRefs[0].Kind; k == nil || *k != "Gateway" {
		t.Errorf("parentRef kind default not applied: %v", k)
	}
	res2, _ := Parse("g.yaml", []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  rules:\n  - matches:\n    backendRefs: [{name: s, port: 80}]\n"))
	if len(res2.Errors) > 0 || res2.Set.HTTPRoutes.Len() != 1 {
		t.Fatalf("null matches: %v", diagStrings(res2.Errors))
	}
	if m := res2.Set.HTTPRoutes.At(0).Spec.Rules[0].Matches; len(m) != 1 || *m[0].Path.Value != "/" {
		t.Errorf("null matches not defaulted to PathPrefix /: %+v", m)
	}
	sec := res.Set.Secrets.At(0)
	if string(sec.Data["tls.crt"]) != "CERT" || string(sec.Data["tls.key"]) != "KEY" || sec.StringData != nil {
		t.Errorf("secret data = %v stringData = %v", sec.Data, sec.StringData)
	}
	svc := res.Set.Services.At(0)
	if p := svc.Spec.Ports[0]; p.Protocol != "TCP" || p.TargetPort.IntValue() != 80 {
		t.Errorf("service port defaults: %+v", p)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDirectory(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"b/routes.yml":     route("b"),
		"a.yaml":           gatewayClassYAML,
		"c/d/e.json":       `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}}`,
		"notes.txt":        "not yaml",
		".hidden/x.yaml":   route("hidden"),
		"z.yaml":           route("b"), // duplicate of b/routes.yml
		"c/.swap.yaml":     "garbage: [",
		"c/README.md":      "# docs",
		"y/empty.yaml":     "",
		"y/comments.yaml":  "# nothing\n---\n",
		"y/trailing.yaml":  route("c") + "---\n",
		"y/separator.yaml": "---\n" + route("d"),
	})
	res, err := LoadWithDiagnostics(dir)
	if err != nil {
		t.Fatal(err)
	}
	rel := func(objs []Object) []string {
		var out []string
		for _, o := range objs {
			r, _ := filepath.Rel(dir, o.Source.File)
			out = append(out, fmt.Sprintf("%s %s:%d", o.Key, r, o.Source.Line))
		}
		return out
	}
	want := []string{
		"GatewayClass gantry a.yaml:1",
		"HTTPRoute default/b b/routes.yml:1",
		"Namespace apps c/d/e.json:1",
		"HTTPRoute default/d y/separator.yaml:2",
		"HTTPRoute default/c y/trailing.yaml:1",
	}
	if diff := cmp.Diff(want, rel(res.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].String(), "z.yaml:1: HTTPRoute default/b: duplicate object: already defined at "+filepath.Join(dir, "b/routes.yml")+":1") {
		t.Errorf("errors = %v", diagStrings(res.Errors))
	}

	again, err := LoadWithDiagnostics(dir, filepath.Join(dir, "a.yaml"), dir+"/")
	if err != nil || len(again.Objects) != len(res.Objects) || len(again.Errors) != 1 {
		t.Errorf("a folder and a file in it given again: %d objects, errors %v (%v)", len(again.Objects), diagStrings(again.Errors), err)
	}

	set, err := Load(dir)
	var de *DiagnosticsError
	if !errors.As(err, &de) || len(de.Diagnostics) != 1 {
		t.Fatalf("Load error = %v, want one diagnostic", err)
	}
	if set == nil || set.HTTPRoutes.Len() != 3 {
		t.Errorf("Load kept %v", set)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing path succeeded")
	}
	// A file named explicitly is read whatever its extension.
	if _, err := Load(filepath.Join(dir, "notes.txt")); err == nil || !strings.Contains(err.Error(), "notes.txt:1: document is not an object") {
		t.Errorf("explicit file: err = %v", err)
	}
}

func TestLoadStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	go func() {
		_, _ = w.WriteString(gatewayClassYAML)
		_ = w.Close()
	}()
	set, err := Load("-")
	if err != nil {
		t.Fatal(err)
	}
	if set.GatewayClasses.Len() != 1 || set.Sources[Key{Kind: "GatewayClass", Name: "gantry"}].String() != "-:1" {
		t.Errorf("stdin load: %+v", set.Sources)
	}
}

func TestValidatorBuiltOncePerKind(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		b.WriteString(route(fmt.Sprintf("r%d", i)))
		b.WriteString("---\n")
	}
	res, _ := Parse("f.yaml", []byte(b.String()))
	if len(res.Objects) != 50 {
		t.Fatalf("loaded %d routes", len(res.Objects))
	}
	v1, _ := schemas.validatorFor("gateway.networking.k8s.io_httproutes.yaml", "v1")
	v2, _ := schemas.validatorFor("gateway.networking.k8s.io_httproutes.yaml", "v1")
	if v1 == nil || v1 != v2 {
		t.Error("validator is not cached")
	}
}

func TestDiagnosticString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Source: Source{File: "a.yaml", Line: 3}, Key: Key{Kind: "HTTPRoute", Namespace: "ns", Name: "r"}, Field: "spec", Message: "bad"}, "a.yaml:3: HTTPRoute ns/r: spec: bad"},
		{Diagnostic{Source: Source{File: "a.yaml", Line: 3}, Message: "malformed"}, "a.yaml:3: malformed"},
		{Diagnostic{Key: Key{Kind: "GatewayClass", Name: "c"}, Message: "m"}, "GatewayClass c: m"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestSplitPath(t *testing.T) {
	got := splitPath(".spec.rules[0].matches[12].path.data[tls.crt]")
	want := []string{"spec", "rules", "0", "matches", "12", "path", "data", "tls.crt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func BenchmarkLoad10kHTTPRoutes(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		sb.WriteString(route(fmt.Sprintf("route-%05d", i)))
		sb.WriteString("---\n")
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	cpu0 := benchcpu.Time()
	n := 0
	for b.Loop() {
		res, _ := Parse("routes.yaml", data)
		if res.Set.HTTPRoutes.Len() != 10000 || len(res.Errors) != 0 {
			b.Fatalf("loaded %d routes, %d errors", res.Set.HTTPRoutes.Len(), len(res.Errors))
		}
		n++
	}
	// CPU time per load (all threads), which other load on the machine
	// does not inflate the way it inflates wall time.
	b.ReportMetric((benchcpu.Time()-cpu0).Seconds()/float64(n), "cpu-s/op")
}

// TestLargeFileOrder loads a file big enough to be decoded in parallel and
// checks that objects and errors come out in document order.
func TestLargeFileOrder(t *testing.T) {
	var b strings.Builder
	var want []string
	for i := range 400 {
		if i%7 == 3 {
			b.WriteString("kind: [\n---\n")
			continue
		}
		name := fmt.Sprintf("r%03d", i)
		want = append(want, "HTTPRoute default/"+name)
		b.WriteString(route(name))
		b.WriteString("---\n")
	}
	res, _ := Parse("big.yaml", []byte(b.String()))
	var got []string
	for _, o := range res.Objects {
		got = append(got, o.Key.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects out of order (-want +got):\n%s", diff)
	}
	if len(res.Errors) != 57 {
		t.Errorf("%d errors, want 57", len(res.Errors))
	}
	for i := 1; i < len(res.Errors); i++ {
		if res.Errors[i].Source.Line <= res.Errors[i-1].Source.Line {
			t.Fatalf("errors out of order: %v then %v", res.Errors[i-1], res.Errors[i])
		}
	}
}
