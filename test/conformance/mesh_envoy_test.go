package conformance

// The upstream MESH tests whose behaviour only an Envoy sidecar can apply
// (redirects, header edits, path rewrites, query matches, response
// headers), checked on the Envoy flavor's route tables that the mesh
// translator and xds/envoy build from the upstream manifests: the request
// of each upstream case is looked up in the table of the Service port it is
// sent to (evalRoute) and the outcome compared with the upstream
// expectation. This proves the tables, not a sidecar: no Envoy ran, and
// whether a sidecar's listener hands the request to that table is the
// sidecar data path's to prove.

import (
	"maps"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gantryproxy/gantry/gateway/resource"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// envoyTables builds the Envoy flavor of every mesh group for the upstream
// mesh manifests plus manifests (and extra YAML) and returns the route
// tables of the group of client namespace ns, by name.
func envoyTables(t *testing.T, ns, extra string, manifests ...string) map[string]*routev3.RouteConfiguration {
	t.Helper()
	e := writeMesh(t, extra, manifests...)
	set, err := resource.Load(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	res := meshtranslate.Translate(set, meshtranslate.Options{})
	for _, p := range res.Proxies {
		if p.Name != meshtranslate.ProxyName(ns) {
			continue
		}
		out, err := envoy.Build(p, envoy.Options{Flavor: envoy.FlavorEnvoy})
		if err != nil {
			t.Fatal(err)
		}
		tables := map[string]*routev3.RouteConfiguration{}
		for _, r := range out.Routes {
			rc := r.(*routev3.RouteConfiguration)
			tables[rc.Name] = rc
		}
		return tables
	}
	t.Fatalf("no mesh group for namespace %s", ns)
	return nil
}

// table returns the route table of svc:port of the producer namespace.
func table(t *testing.T, tables map[string]*routev3.RouteConfiguration, svc string, port int32) *routev3.RouteConfiguration {
	t.Helper()
	rc := tables[meshtranslate.RouteConfigName(meshNS, svc, port)]
	if rc == nil {
		t.Fatalf("no route table for %s:%d among %v", svc, port, slices.Sorted(maps.Keys(tables)))
	}
	return rc
}

// svcCluster is the cluster name of a producer Service port.
func svcCluster(svc string, port int) string { return meshNS + "/" + svc + "/" + itoa(uint32(port)) }

// redirectCase is one upstream redirect expectation.
type redirectCase struct {
	path               string
	status             int
	scheme, host, port string
	redirectPath       string
}

func checkRedirects(t *testing.T, rc *routev3.RouteConfiguration, cases []redirectCase) {
	t.Helper()
	for _, c := range cases {
		got := evalRoute(t, rc, envoyRequest{host: "echo", path: c.path})
		want := envoyOutcome{status: c.status, scheme: c.scheme, host: c.host, port: c.port, redirectPath: c.path}
		if c.redirectPath != "" {
			want.redirectPath = c.redirectPath
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(envoyOutcome{})); diff != "" {
			t.Errorf("%s: redirect (-want +got):\n%s", c.path, diff)
		}
	}
}

// TestMeshEnvoyRedirects: MeshHTTPRouteRedirectHostAndStatus,
// MeshHTTPRoute303/307/308Redirect, MeshHTTPRouteRedirectPath,
// MeshHTTPRouteRedirectPort and MeshHTTPRouteSchemeRedirect.
func TestMeshEnvoyRedirects(t *testing.T) {
	for _, tc := range []struct {
		manifest string
		cases    []redirectCase
	}{
		{"tests/mesh/httproute-redirect-host-and-status.yaml", []redirectCase{
			{path: "/hostname-redirect", status: 302, host: "example.org"},
			{path: "/host-and-status", status: 301, host: "example.org"},
		}},
		{"tests/mesh/httproute-303-redirect.yaml", []redirectCase{{path: "/redirect", status: 303}}},
		{"tests/mesh/httproute-307-redirect.yaml", []redirectCase{{path: "/temporary", status: 307}}},
		{"tests/mesh/httproute-308-redirect.yaml", []redirectCase{{path: "/permanent", status: 308}}},
		{"tests/mesh/httproute-redirect-path.yaml", []redirectCase{
			{path: "/original-prefix/lemon", status: 302, redirectPath: "/replacement-prefix/lemon"},
			{path: "/full/path/original", status: 302, redirectPath: "/full-path-replacement"},
			{path: "/path-and-host", status: 302, host: "example.org", redirectPath: "/replacement-prefix"},
			{path: "/path-and-status", status: 301, redirectPath: "/replacement-prefix"},
			{path: "/full-path-and-host", status: 302, host: "example.org", redirectPath: "/replacement-full"},
			{path: "/full-path-and-status", status: 301, redirectPath: "/replacement-full"},
		}},
		{"tests/mesh/httproute-redirect-port.yaml", []redirectCase{
			{path: "/port", status: 302, port: "8083"},
			{path: "/port-and-host", status: 302, host: "example.org", port: "8083"},
			{path: "/port-and-status", status: 301, port: "8083"},
			{path: "/port-and-host-and-status", status: 302, host: "example.org", port: "8083"},
		}},
		{"tests/mesh/httproute-redirect-scheme.yaml", []redirectCase{
			{path: "/scheme", status: 302, scheme: "https"},
			{path: "/scheme-and-host", status: 302, scheme: "https", host: "example.org"},
			{path: "/scheme-and-status", status: 301, scheme: "https"},
			{path: "/scheme-and-host-and-status", status: 302, scheme: "https", host: "example.org"},
		}},
	} {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(tc.manifest, "tests/mesh/"), ".yaml"), func(t *testing.T) {
			checkRedirects(t, table(t, envoyTables(t, meshNS, "", tc.manifest), "echo", 80), tc.cases)
		})
	}
}

// requestHeaders applies an outcome's request header edits to sent, as
// Envoy does (remove, then set, then append with a comma), by lower-case
// name.
func requestHeaders(o envoyOutcome, sent map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range sent {
		out[strings.ToLower(k)] = v
	}
	for _, k := range o.requestRemove {
		delete(out, k)
	}
	maps.Copy(out, o.requestSet)
	for k, v := range o.requestAppend {
		if old, ok := out[k]; ok {
			v = old + "," + v
		}
		out[k] = v
	}
	return out
}

// headerCase is one upstream request header expectation.
type headerCase struct {
	path       string
	sent, want map[string]string
	absent     []string
	wantPath   string
}

func checkRequestHeaders(t *testing.T, rc *routev3.RouteConfiguration, cases []headerCase) {
	t.Helper()
	for _, c := range cases {
		o := evalRoute(t, rc, envoyRequest{host: "echo", path: c.path, headers: c.sent})
		if o.notFound || len(o.clusters) != 1 || o.clusters[0] != svcCluster("echo-v1", 8080) && o.clusters[0] != svcCluster("echo-v1", 80) {
			t.Errorf("%s: forwarded to %v (not found %v), want echo-v1", c.path, o.clusters, o.notFound)
			continue
		}
		got := requestHeaders(o, c.sent)
		for k, v := range c.want {
			if got[strings.ToLower(k)] != v {
				t.Errorf("%s: header %s = %q, want %q (all: %v)", c.path, k, got[strings.ToLower(k)], v, got)
			}
		}
		for _, k := range c.absent {
			if _, ok := got[strings.ToLower(k)]; ok {
				t.Errorf("%s: header %s present, want it removed", c.path, k)
			}
		}
		if c.wantPath != "" && o.path != c.wantPath {
			t.Errorf("%s: forwarded path %q, want %q", c.path, o.path, c.wantPath)
		}
	}
}

// headerModifierCases are the upstream MeshHTTPRouteRequestHeaderModifier
// cases (the backend variant runs the same ones).
var headerModifierCases = []headerCase{
	{path: "/set", sent: map[string]string{"Some-Other-Header": "val"}, want: map[string]string{"Some-Other-Header": "val", "X-Header-Set": "set-overwrites-values"}},
	{path: "/set", sent: map[string]string{"Some-Other-Header": "val", "X-Header-Set": "some-other-value"}, want: map[string]string{"X-Header-Set": "set-overwrites-values"}},
	{path: "/add", sent: map[string]string{"Some-Other-Header": "val"}, want: map[string]string{"X-Header-Add": "add-appends-values"}},
	{path: "/add", sent: map[string]string{"X-Header-Add": "some-other-value"}, want: map[string]string{"X-Header-Add": "some-other-value,add-appends-values"}},
	{path: "/remove", sent: map[string]string{"X-Header-Remove": "val"}, absent: []string{"X-Header-Remove"}},
	{path: "/multiple", sent: map[string]string{"X-Header-Set-2": "set-val-2", "X-Header-Add-2": "add-val-2", "X-Header-Remove-2": "remove-val-2", "Another-Header": "another-header-val"},
		want:   map[string]string{"X-Header-Set-1": "header-set-1", "X-Header-Set-2": "header-set-2", "X-Header-Add-1": "header-add-1", "X-Header-Add-2": "add-val-2,header-add-2", "X-Header-Add-3": "header-add-3", "Another-Header": "another-header-val"},
		absent: []string{"X-Header-Remove-1", "X-Header-Remove-2"}},
	{path: "/case-insensitivity", sent: map[string]string{"x-header-set": "original-val-set", "x-header-add": "original-val-add", "x-header-remove": "original-val-remove", "Another-Header": "another-header-val"},
		want: map[string]string{"X-Header-Set": "header-set", "X-Header-Add": "original-val-add,header-add", "Another-Header": "another-header-val"}, absent: []string{"X-Header-Remove"}},
}

// TestMeshEnvoyRequestHeaders: MeshHTTPRouteRequestHeaderModifier and
// MeshHTTPRouteBackendRequestHeaderModifier.
func TestMeshEnvoyRequestHeaders(t *testing.T) {
	for _, m := range []string{"tests/mesh/httproute-request-header-modifier.yaml", "tests/mesh/httproute-request-header-modifier-backend.yaml"} {
		t.Run(strings.TrimPrefix(m, "tests/mesh/"), func(t *testing.T) {
			checkRequestHeaders(t, table(t, envoyTables(t, meshNS, "", m), "echo", 80), headerModifierCases)
		})
	}
}

// TestMeshEnvoyRewritePath: MeshHTTPRouteRewritePath.
func TestMeshEnvoyRewritePath(t *testing.T) {
	modified := map[string]string{"X-Header-Add": "header-val-1", "X-Header-Add-Append": "append-val-1,header-val-2", "X-Header-Set": "set-overwrites-values"}
	sent := map[string]string{"X-Header-Remove": "remove-val", "X-Header-Add-Append": "append-val-1", "X-Header-Set": "set-val"}
	checkRequestHeaders(t, table(t, envoyTables(t, meshNS, "", "tests/mesh/httproute-rewrite-path.yaml"), "echo", 80), []headerCase{
		{path: "/prefix/one/two", wantPath: "/one/two"},
		{path: "/strip-prefix/three", wantPath: "/three"},
		{path: "/strip-prefix", wantPath: "/"},
		{path: "/full/one/two", wantPath: "/one"},
		{path: "/full/rewrite-path-and-modify-headers/test", sent: sent, want: modified, absent: []string{"X-Header-Remove"}, wantPath: "/test"},
		{path: "/prefix/rewrite-path-and-modify-headers/one", sent: sent, want: modified, absent: []string{"X-Header-Remove"}, wantPath: "/prefix/one"},
	})
}

// TestMeshEnvoyQueryParams: MeshHTTPRouteQueryParamMatching.
func TestMeshEnvoyQueryParams(t *testing.T) {
	rc := table(t, envoyTables(t, meshNS, "", "tests/mesh/httproute-query-param-matching.yaml"), "echo", 80)
	for _, c := range []struct {
		path    string
		headers map[string]string
		backend string // "" means 404
	}{
		{path: "/?animal=whale", backend: "echo-v1"},
		{path: "/?animal=dolphin", backend: "echo-v2"},
		{path: "/?animal=whale&otherparam=irrelevant", backend: "echo-v1"},
		{path: "/?animal=dolphin&color=yellow", backend: "echo-v2"},
		{path: "/?color=blue"},
		{path: "/?animal=dog"},
		{path: "/?animal=whaledolphin"},
		{path: "/"},
		{path: "/path1?animal=whale", backend: "echo-v1"},
		{path: "/?animal=whale", headers: map[string]string{"version": "one"}, backend: "echo-v2"},
		{path: "/path3?animal=shark", backend: "echo-v1"},
		{path: "/path4?animal=kraken", headers: map[string]string{"version": "three"}, backend: "echo-v1"},
		{path: "/?animal=shark"},
		{path: "/path4?animal=kraken"},
		{path: "/path5?animal=hydra", backend: "echo-v1"},
	} {
		o := evalRoute(t, rc, envoyRequest{host: "echo", path: c.path, headers: c.headers})
		switch {
		case c.backend == "" && !o.notFound:
			t.Errorf("%s %v: forwarded to %v, want 404", c.path, c.headers, o.clusters)
		case c.backend != "" && !slices.Equal(o.clusters, []string{svcCluster(c.backend, 8080)}):
			t.Errorf("%s %v: forwarded to %v (404 %v), want %s", c.path, c.headers, o.clusters, o.notFound, c.backend)
		}
	}
}

// TestMeshEnvoyResponseHeaders: the response headers MeshPorts, MeshFrontend
// and MeshConsumerRoute look for, per Service port and client namespace.
func TestMeshEnvoyResponseHeaders(t *testing.T) {
	setOn := func(rc *routev3.RouteConfiguration, host string) string {
		o := evalRoute(t, rc, envoyRequest{host: host, path: "/"})
		if o.notFound || len(o.clusters) != 1 {
			t.Fatalf("%s on %s: not forwarded to one backend: %+v", host, rc.Name, o)
		}
		return o.responseSet["x-header-set"]
	}
	t.Run("MeshPorts", func(t *testing.T) {
		tables := envoyTables(t, meshNS, "", "tests/mesh/mesh-ports.yaml")
		for _, c := range []struct {
			svc  string
			port int32
			want string
		}{{"echo-v1", 80, "v1"}, {"echo-v1", 8080, ""}, {"echo-v2", 80, "v2"}, {"echo-v2", 8080, "v2"}} {
			if got := setOn(table(t, tables, c.svc, c.port), c.svc); got != c.want {
				t.Errorf("%s:%d: X-Header-Set %q, want %q", c.svc, c.port, got, c.want)
			}
		}
	})
	t.Run("MeshFrontend", func(t *testing.T) {
		tables := envoyTables(t, meshNS, "", "tests/mesh/mesh-frontend.yaml")
		if got := setOn(table(t, tables, "echo-v2", 80), "echo-v2"); got != "set" {
			t.Errorf("echo-v2: X-Header-Set %q, want set", got)
		}
		if got := setOn(table(t, tables, "echo-v1", 80), "echo-v1"); got != "" {
			t.Errorf("echo-v1: X-Header-Set %q, want none", got)
		}
	})
	t.Run("MeshConsumerRoute", func(t *testing.T) {
		host := "echo-v1.gateway-conformance-mesh"
		consumer := envoyTables(t, consumerNS, consumerGrant, "tests/mesh/mesh-consumer-route.yaml")
		if got := setOn(table(t, consumer, "echo-v1", 80), host); got != "set" {
			t.Errorf("consumer client: X-Header-Set %q, want set", got)
		}
		producer := envoyTables(t, meshNS, consumerGrant, "tests/mesh/mesh-consumer-route.yaml")
		if got := setOn(table(t, producer, "echo-v1", 80), host); got != "" {
			t.Errorf("producer client: X-Header-Set %q, want none", got)
		}
	})
}
