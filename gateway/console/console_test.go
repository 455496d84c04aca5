package console

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// knownKey is key material the page must never show.
const knownKey = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKNOWNKEYMATERIALNEVERSHOWNxxxxxxxxxxxxxxxx\n-----END PRIVATE KEY-----\n"

func testInput() Input {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	gw := gwapiv1.Kind("Gateway")
	return Input{
		Ready:       true,
		Now:         now,
		Diagnostics: []string{"secret.yaml:3: tls.key: " + knownKey},
		Status: &status.Report{
			Gateways: []status.Gateway{{Namespace: "default", Name: "eg", Status: gwapiv1.GatewayStatus{
				Conditions: []metav1.Condition{{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed"}},
				Listeners: []gwapiv1.ListenerStatus{{Name: "http", AttachedRoutes: 1, Conditions: []metav1.Condition{
					{Type: "Conflicted", Status: metav1.ConditionTrue, Reason: "HostnameConflict", Message: "another listener"},
				}}},
			}}},
			Routes: []status.Route{{Kind: "HTTPRoute", Namespace: "default", Name: "web", Parents: []gwapiv1.RouteParentStatus{{
				ParentRef:  gwapiv1.ParentReference{Kind: &gw, Name: "eg"},
				Conditions: []metav1.Condition{{Type: "ResolvedRefs", Status: metav1.ConditionFalse, Reason: "BackendNotFound", Message: "Service default/nope not found"}},
			}}}},
		},
		Proxies: []*ir.Proxy{{
			Name: "gateway/default/eg",
			Listeners: []*ir.Listener{{Name: "default/eg/443", Port: 443, Protocol: ir.ProtocolHTTPS, FilterChains: []*ir.FilterChain{{
				Name: "c", TLS: &ir.DownstreamTLS{CertificateSecrets: []string{"default/cert"}},
				HTTP: &ir.HTTPConnectionManager{RouteConfigName: "default/eg/443"},
			}}}},
			RouteConfigs: []*ir.RouteConfig{{Name: "default/eg/443", VirtualHosts: plist.Of([]*ir.VirtualHost{{Name: "v", Domains: []string{"www.example.com"}, Routes: []*ir.Route{
				{Name: "r0", Metadata: map[string]string{"kind": "HTTPRoute", "namespace": "default", "name": "web"}, Forward: &ir.ForwardAction{Backends: []ir.WeightedCluster{
					{Cluster: "default/echo/8080", Weight: 1}, {Weight: 1, InvalidStatus: 500},
				}}},
			}}}...)}},
			Clusters: plist.Of(&ir.Cluster{Name: "default/echo/8080", Endpoints: []ir.Endpoint{{Address: "10.0.0.7", Port: 8080, Health: ir.Healthy}}}),
			Secrets:  []*ir.Secret{{Name: "default/cert", Certificate: []byte("CERT"), Key: []byte(knownKey)}},
		}, {
			Name: "mesh/default",
			RouteConfigs: []*ir.RouteConfig{{Name: "reviews.default.svc.cluster.local:9080", VirtualHosts: plist.Of([]*ir.VirtualHost{{Name: "v", Routes: []*ir.Route{
				{Name: "m", Metadata: map[string]string{"kind": "HTTPRoute", "namespace": "default", "name": "reviews-v2"}, Forward: &ir.ForwardAction{Backends: []ir.WeightedCluster{{Cluster: "default/reviews-v2/9080", Weight: 1}}}},
			}}}...)}},
		}},
		Connected: []ConnectedProxy{{ID: "envoy-1", Group: "gateway/default/eg", Flavor: "envoy", Protocol: "sotw", Since: now.Add(-time.Minute), Types: []ProxyType{
			{Type: "type.googleapis.com/envoy.config.listener.v3.Listener", Sent: "v2", Acked: "v1", State: "NACK", NACKError: "bad listener near " + knownKey, NACKAt: now.Add(-time.Second), NACKCount: 1},
		}}},
		HostEnvoys: []HostEnvoy{{Group: "gateway/default/eg", PID: 4242, Starts: 1, Running: true, AdminAddress: "127.0.0.1:40117", StatsAddress: "127.0.0.1:38533"}},
		Findings:   []Finding{{Level: "Error", Code: "GTY0101", Object: "HTTPRoute default/web", Location: "routes.yaml:4", Message: "backend not found"}},
	}
}

func TestRenderShowsStateAndNoKey(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, testInput()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Gateway <code>default/eg</code>", "Programmed=True", "Conflicted=True", "HostnameConflict", "another listener",
		"HTTPRoute", "default/web", "Gateway default/eg", "ResolvedRefs=False", "BackendNotFound", "Service default/nope not found",
		"default/eg/443", "HTTPS :443", "www.example.com", "default/echo/8080", "10.0.0.7:8080", "unresolved backend (answers 500)",
		"reviews.default.svc.cluster.local:9080", "HTTPRoute default/reviews-v2", "default/reviews-v2/9080",
		"envoy-1", "Listener", "v1", "NACK", "bad listener near", "GTY0101", "routes.yaml:4", "backend not found",
		"Envoy processes on this host", "pid 4242", "127.0.0.1:40117", `href="http://127.0.0.1:38533/stats/prometheus"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, secret := range []string{"KNOWNKEYMATERIAL", "BEGIN PRIVATE KEY"} {
		if strings.Contains(out, secret) {
			t.Errorf("page shows key material %q", secret)
		}
	}
	if !strings.Contains(out, "[private key redacted]") {
		t.Error("the key in the NACK and the diagnostic was not redacted")
	}
	// A condition whose True is a problem reads as bad.
	if !strings.Contains(out, `<span class="badge bad">Conflicted=True</span>`) {
		t.Error("Conflicted=True is not shown as a problem")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"a " + knownKey + "b":                                              "a [private key redacted]\nb",
		"-----BEGIN RSA PRIVATE KEY-----\nAAAA":                            "[private key redacted]",
		"-----BEGIN CERTIFICATE-----\nAAAA":                                "-----BEGIN CERTIFICATE-----\nAAAA",
		"-----BEGIN EC PRIVATE KEY-----x-----END EC PRIVATE KEY----- tail": "[private key redacted] tail",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
