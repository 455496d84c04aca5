package translate

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

const envoySuffix = ".envoy.yaml"

// TestSidecarGolden writes, for every testdata/sidecar-*.in.yaml case, the
// Envoy flavor of each group (the capture listeners, clusters, route tables
// and secrets; Build has validated them, ValidateAll included) into
// testdata/<case>.envoy.yaml.
func TestSidecarGolden(t *testing.T) {
	n := 0
	for _, c := range goldenCases(t) {
		if !strings.HasPrefix(c.Name, "sidecar-") {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			set, opts := loadSet(t, c.Path)
			res := Translate(set, opts)
			var out []map[string]any
			for _, p := range res.Proxies {
				r, err := envoy.Build(p, envoy.Options{Flavor: envoy.FlavorEnvoy})
				if err != nil {
					t.Fatalf("build %s: %v", p.Name, err)
				}
				var capture []types.Resource
				for _, l := range r.Listeners {
					if name := l.(types.ResourceWithName).GetName(); name == ir.OutboundListenerName || name == ir.InboundListenerName {
						capture = append(capture, l)
					}
				}
				if len(capture) != 2 {
					t.Fatalf("%s: %d capture listeners, want 2", p.Name, len(capture))
				}
				out = append(out, map[string]any{
					"proxy": p.Name, "listeners": protoList(t, capture), "routes": protoList(t, r.Routes),
					"clusters": protoList(t, r.Clusters), "secrets": protoList(t, r.Secrets),
				})
			}
			got, err := yaml.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", c.Name+envoySuffix), got, *update)
		})
	}
	if n < 2 {
		t.Errorf("%d sidecar-* golden cases, want at least 2", n)
	}
	golden.CheckOrphans(t, "testdata", inSuffix, envoySuffix)
}

// protoList renders resources as JSON values (proto field names).
func protoList(t *testing.T, list []types.Resource) []any {
	t.Helper()
	out := make([]any, 0, len(list))
	for _, r := range list {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestDeclaredProtocol(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name  string
		app   *string
		want  ir.AppProtocol
		known bool
	}{
		{name: "http", want: ir.AppHTTP1, known: true},
		{name: "http-web", want: ir.AppHTTP1, known: true},
		{name: "HTTP2-api", want: ir.AppHTTP2, known: true},
		{name: "grpc", want: ir.AppHTTP2, known: true},
		{name: "grpc-web", want: ir.AppHTTP1, known: true},
		{name: "grpc-web-ui", want: ir.AppHTTP1, known: true},
		{name: "grpc-api", want: ir.AppHTTP2, known: true},
		{name: "tcp-db", want: ir.AppTCP, known: true},
		{name: "https", want: ir.AppTCP, known: true},
		{name: "mysql", want: ir.AppTCP, known: true},
		{name: "web", known: false},
		{name: "", known: false},
		{name: "httpfoo", known: false},
		{name: "tcp", app: s("kubernetes.io/h2c"), want: ir.AppHTTP2, known: true},
		{name: "http", app: s("grpc"), want: ir.AppHTTP2, known: true},
		{name: "grpc", app: s("HTTP"), want: ir.AppHTTP1, known: true},
		{name: "http", app: s("example.com/custom"), want: ir.AppTCP, known: true},
		{name: "http", app: s("kubernetes.io/wss"), want: ir.AppTCP, known: true},
		{name: "web", app: s(""), known: false},
	} {
		got, ok := declaredProtocol(tc.name, tc.app)
		if ok != tc.known || (ok && got != tc.want) {
			t.Errorf("declaredProtocol(%q, %v) = %q, %v; want %q, %v", tc.name, tc.app, got, ok, tc.want, tc.known)
		}
	}
}

// TestMTLSModePrecedence checks the order pod annotation, pod label,
// namespace annotation, namespace label, strict; a value not understood is
// strict; without mesh mTLS the mode is off whatever is set.
func TestMTLSModePrecedence(t *testing.T) {
	meta := func(ann, lab string) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: "x", Namespace: "ns"}
		if ann != "" {
			m.Annotations = map[string]string{MTLSModeKey: ann}
		}
		if lab != "" {
			m.Labels = map[string]string{MTLSModeKey: lab}
		}
		return m
	}
	for _, tc := range []struct {
		name                         string
		podAnn, podLab, nsAnn, nsLab string
		want                         ir.MTLSMode
	}{
		{name: "nothing set", want: ir.MTLSStrict},
		{name: "namespace label", nsLab: "permissive", want: ir.MTLSPermissive},
		{name: "namespace annotation over label", nsAnn: "strict", nsLab: "permissive", want: ir.MTLSStrict},
		{name: "pod label over namespace", podLab: "permissive", nsAnn: "strict", want: ir.MTLSPermissive},
		{name: "pod annotation over pod label", podAnn: "strict", podLab: "permissive", nsLab: "permissive", want: ir.MTLSStrict},
		{name: "case and spaces", podAnn: " Permissive ", want: ir.MTLSPermissive},
		{name: "typo is strict", podAnn: "permisive", nsLab: "permissive", want: ir.MTLSStrict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nsMeta := meta(tc.nsAnn, tc.nsLab)
			nsMeta.Name, nsMeta.Namespace = "ns", ""
			set := &resource.Set{Namespaces: plist.Of(&corev1.Namespace{ObjectMeta: nsMeta})}
			pod := &corev1.Pod{ObjectMeta: meta(tc.podAnn, tc.podLab)}
			tr := newTranslator(set, Options{MTLS: &MTLS{}})
			if got := tr.mode(pod, "ns"); got != tc.want {
				t.Errorf("mode = %q, want %q", got, tc.want)
			}
			off := newTranslator(set, Options{})
			if got := off.mode(pod, "ns"); got != ir.MTLSOff {
				t.Errorf("without mTLS: mode = %q, want off", got)
			}
		})
	}
}

// TestOutboundClaimsOnce: two Services claiming one cluster IP and port
// (bad input) do not make the group's outbound listener invalid: the first
// by name keeps the address, the other is left to its proxyless clients.
func TestOutboundClaimsOnce(t *testing.T) {
	svc := func(name string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
		}
	}
	set := &resource.Set{Services: plist.Of(svc("b"), svc("a"))}
	res := Translate(set, Options{})
	if len(res.Proxies) != 1 {
		t.Fatalf("%d proxies", len(res.Proxies))
	}
	p := res.Proxies[0]
	claims := map[string]int{}
	for _, l := range p.Listeners {
		if l.Outbound != nil {
			claims[l.Name] = len(l.Outbound.Addresses)
		}
	}
	if claims[RouteConfigName("ns", "a", 80)] != 1 || claims[RouteConfigName("ns", "b", 80)] != 0 {
		t.Errorf("claims = %v, want a to keep 10.96.0.1:80 and b none", claims)
	}
	if _, err := envoy.Build(p, envoy.Options{Flavor: envoy.FlavorEnvoy}); err != nil {
		t.Errorf("Envoy flavor: %v", err)
	}
}

// TestPortProtocolFromRoutes: an undeclared port is opaque TCP until a route
// attaches (HTTPRoute: HTTP/1.1, GRPCRoute: HTTP/2); a GRPCRoute upgrades a
// port declared HTTP/1.1, never one declared opaque.
func TestPortProtocolFromRoutes(t *testing.T) {
	s := func(v string) *string { return &v }
	k := portKey{ns: "ns", name: "svc", port: 80}
	for _, tc := range []struct {
		name   string
		port   string
		app    *string
		routes []attachedRoute
		want   ir.AppProtocol
	}{
		{name: "undeclared", port: "web", want: ir.AppTCP},
		{name: "undeclared with an HTTPRoute", port: "web", routes: []attachedRoute{{kind: kindHTTPRoute}}, want: ir.AppHTTP1},
		{name: "undeclared with a GRPCRoute", port: "web", routes: []attachedRoute{{kind: kindHTTPRoute}, {kind: kindGRPCRoute}}, want: ir.AppHTTP2},
		{name: "http with a GRPCRoute", port: "http", routes: []attachedRoute{{kind: kindGRPCRoute}}, want: ir.AppHTTP2},
		{name: "tcp with an HTTPRoute", port: "tcp-x", routes: []attachedRoute{{kind: kindHTTPRoute}}, want: ir.AppTCP},
		{name: "appProtocol tls with a GRPCRoute", port: "http", app: s("tls"), routes: []attachedRoute{{kind: kindGRPCRoute}}, want: ir.AppTCP},
	} {
		tr := newTranslator(&resource.Set{}, Options{})
		tr.attached[k] = tc.routes
		if got := tr.portProtocol(k, tc.port, tc.app); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
