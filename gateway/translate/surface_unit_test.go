package translate

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

func sptr[T any](v T) *T { return &v }

// TestCompileGRPCMatch: gRPC method matches become path matches that accept
// exactly the calls the API says they do.
func TestCompileGRPCMatch(t *testing.T) {
	regex := sptr(gwapiv1.GRPCMethodMatchRegularExpression)
	cases := []struct {
		name   string
		m      gwapiv1.GRPCRouteMatch
		typ    ir.PathMatchType
		match  []string
		reject []string
		bad    bool
	}{
		{name: "any", m: gwapiv1.GRPCRouteMatch{}, typ: ir.PathPrefix},
		{name: "exact", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Service: sptr("a.B"), Method: sptr("C")}}, typ: ir.PathExact},
		{name: "service", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Service: sptr("a.B")}}, typ: ir.PathPrefix},
		{name: "method", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Method: sptr("C")}}, typ: ir.PathRegex,
			match: []string{"/a.B/C", "/x/C"}, reject: []string{"/a.B/CD", "/C", "/a/b/C"}},
		{name: "regex", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: regex, Service: sptr(`a\.v[0-9]`), Method: sptr("Get.*")}}, typ: ir.PathRegex,
			match: []string{"/a.v1/Get", "/a.v2/GetX"}, reject: []string{"/a.vx/Get", "/a.v1/Put"}},
		{name: "regex service only", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: regex, Service: sptr("s.*")}}, typ: ir.PathRegex,
			match: []string{"/svc/Any"}, reject: []string{"/x/Any"}},
		{name: "regex alternation", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: regex, Service: sptr("a|b"), Method: sptr("M")}}, typ: ir.PathRegex,
			match: []string{"/a/M", "/b/M"}, reject: []string{"/a/X", "/b/X"}},
		{name: "bad regex", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: regex, Service: sptr("(")}}, bad: true},
		{name: "bad name", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Service: sptr("a b")}}, bad: true},
		{name: "empty method match", m: gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{}}, bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, prob := compileGRPCMatch(&c.m)
			if (prob != nil) != c.bad {
				t.Fatalf("problem %v, want bad=%v", prob, c.bad)
			}
			if c.bad {
				return
			}
			if !got.GRPC || got.PathType != c.typ {
				t.Errorf("got %+v, want a gRPC %s match", got, c.typ)
			}
			if got.PathType != ir.PathRegex {
				return
			}
			re := regexp.MustCompile("^(?:" + got.Path + ")$") // the data plane matches the whole path
			for _, p := range c.match {
				if !re.MatchString(p) {
					t.Errorf("%s does not match %s", got.Path, p)
				}
			}
			for _, p := range c.reject {
				if re.MatchString(p) {
					t.Errorf("%s matches %s", got.Path, p)
				}
			}
		})
	}
}

// TestHostsIntersect: the HTTPRoute/GRPCRoute conflict rule.
func TestHostsIntersect(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"*", "a.example.com", true},
		{"a.example.com", "a.example.com", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "*.a.example.com", true},
		{"a.example.com", "b.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.example.org", "*.example.com", false},
	}
	for _, c := range cases {
		if got := hostsIntersect(c.a, c.b); got != c.want {
			t.Errorf("hostsIntersect(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := hostsIntersect(c.b, c.a); got != c.want {
			t.Errorf("hostsIntersect(%q, %q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

// TestCheckCABundle: only PEM certificates make a CA bundle.
func TestCheckCABundle(t *testing.T) {
	good := []byte("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ0vJ\n-----END CERTIFICATE-----\n")
	for _, c := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{name: "empty", data: nil},
		{name: "not PEM", data: []byte("hello")},
		{name: "a key", data: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
		{name: "garbage certificate", data: good},
	} {
		if err := checkCABundle(c.data); (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestFrontendValidationPerPort: a perPort entry overrides the default for
// its port only.
func TestFrontendValidationPerPort(t *testing.T) {
	def := &gwapiv1.FrontendTLSValidation{CACertificateRefs: []gwapiv1.ObjectReference{{Kind: "ConfigMap", Name: "default-ca"}}}
	port := &gwapiv1.FrontendTLSValidation{CACertificateRefs: []gwapiv1.ObjectReference{{Kind: "ConfigMap", Name: "port-ca"}}}
	gw := &gwapiv1.Gateway{Spec: gwapiv1.GatewaySpec{TLS: &gwapiv1.GatewayTLSConfig{Frontend: &gwapiv1.FrontendTLSConfig{
		Default: gwapiv1.TLSConfig{Validation: def},
		PerPort: []gwapiv1.TLSPortConfig{{Port: 8443, TLS: gwapiv1.TLSConfig{Validation: port}}},
	}}}}
	if got := frontendValidation(gw, 443); got != def {
		t.Errorf("port 443: %v, want the default", got)
	}
	if got := frontendValidation(gw, 8443); got != port {
		t.Errorf("port 8443: %v, want the per-port validation", got)
	}
	if got := frontendValidation(&gwapiv1.Gateway{}, 443); got != nil {
		t.Errorf("no tls: %v, want nil", got)
	}
}

// TestRefreshEndpointsUDP: the EDS fast path recomputes the endpoints of a
// UDP cluster from the Service's UDP port, not its TCP namesake, and those
// of a stream route's TCP cluster ("/tcp") from the TCP port.
func TestRefreshEndpointsUDP(t *testing.T) {
	res, err := resource.Parse("udp.yaml", []byte(`apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  ports:
  - {name: dns-udp, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, namespace: default, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports:
- {name: dns-udp, port: 5353, protocol: UDP}
- {name: dns-tcp, port: 5354, protocol: TCP}
endpoints:
- addresses: ["10.0.0.9"]
  conditions: {ready: true}
`))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("parse: %v %v", err, res.Errors)
	}
	p := &ir.Proxy{Name: "gateway/default/gw", Clusters: plist.Of([]*ir.Cluster{
		{Name: "default/dns/53/udp", Protocol: ir.AppUDP},
		{Name: "default/dns/53", Protocol: ir.AppHTTP1},
		{Name: "default/dns/53/tcp", Protocol: ir.AppTCP},
	}...)}
	got := RefreshEndpoints(res.Set, p)
	want := map[string]uint32{"default/dns/53/udp": 5353, "default/dns/53": 5354, "default/dns/53/tcp": 5354}
	for c := range got.Clusters.Values() {
		if len(c.Endpoints) != 1 || c.Endpoints[0].Port != want[c.Name] || c.Endpoints[0].Address != "10.0.0.9" {
			t.Errorf("%s endpoints %+v, want 10.0.0.9:%d", c.Name, c.Endpoints, want[c.Name])
		}
	}
}

// TestRefreshEndpointsStreamAndHTTP: for a Service port used by an HTTP
// route and by TCP/TLS routes, the fast path gives both of its clusters
// (HTTP and "/tcp") the endpoints a full translation gives them.
func TestRefreshEndpointsStreamAndHTTP(t *testing.T) {
	res, opts := loadCase(t, "testdata/stream-http-same-service.in.yaml")
	set := res.Set
	full := Translate(set, opts)
	if len(full.Proxies) != 1 {
		t.Fatalf("%d proxies, want 1", len(full.Proxies))
	}
	stripped := *full.Proxies[0]
	stripped.Clusters = plist.List[*ir.Cluster]{}
	names := map[string]ir.AppProtocol{}
	for c := range full.Proxies[0].Clusters.Values() {
		nc := *c
		nc.Endpoints = nil
		stripped.Clusters = stripped.Clusters.Append(&nc)
		names[c.Name] = c.Protocol
	}
	want := map[string]ir.AppProtocol{"default/app/8080": ir.AppHTTP2, "default/app/8080/tcp": ir.AppTCP}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("clusters (-want +got):\n%s", diff)
	}
	got := RefreshEndpoints(set, &stripped)
	if diff := cmp.Diff(full.Proxies[0].Clusters, got.Clusters); diff != "" {
		t.Errorf("refreshed clusters differ from a full translation (-want +got):\n%s", diff)
	}
}
