package translate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// httpGatewayYAML is Gantry's GatewayClass and Gateway default/gw with one
// HTTP listener on port 80, ending with a document separator: the start of
// the inputs built by the tests of this package.
const httpGatewayYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gantry}
spec: {controllerName: gantryproxy.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: gantry
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
`

// edgeTemplate is a Gateway with an HTTPRoute and a GRPCRoute whose
// user-controlled strings come from the fuzzer: header names and values of
// every header modifier, rewrite and redirect paths and hostnames, and the
// regular expressions of every match. A neighbour rule stays fixed.
const edgeTemplate = httpGatewayYAML + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [HOSTNAME]
  rules:
  - matches:
    - path: {type: PathPrefix, value: PREFIX}
      headers: [{type: RegularExpression, name: HNAME, value: REGEX}]
      queryParams: [{type: RegularExpression, name: q, value: REGEX}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: HNAME, value: HVALUE}]
        remove: [HNAME]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add: [{name: HNAME, value: HVALUE}]
    - type: URLRewrite
      urlRewrite: {hostname: HOSTNAME, path: {type: ReplacePrefixMatch, replacePrefixMatch: PATH}}
    backendRefs:
    - name: web
      port: 8080
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {add: [{name: HNAME, value: HVALUE}]}
  - matches: [{path: {type: RegularExpression, value: REGEX}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: HOSTNAME, path: {type: ReplaceFullPath, replaceFullPath: PATH}}
  - matches: [{path: {type: Exact, value: PREFIX}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: PATH}}
    backendRefs: [{name: web, port: 8080}]
  - name: neighbour
    matches: [{path: {type: PathPrefix, value: /neighbour}}]
    backendRefs: [{name: web, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: rpc, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {type: RegularExpression, service: REGEX, method: REGEX}
      headers: [{type: RegularExpression, name: HNAME, value: REGEX}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: HNAME, value: HVALUE}]}
    backendRefs: [{name: web, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 8080}]
`

// FuzzEdgeFields asserts Gantry's isolation promise where tenants control
// strings: whatever the loader accepts and translation keeps builds, in
// both flavors, into xDS that passes validation; what Envoy would refuse
// must have been dropped per rule. Run it with:
// go test ./gateway/translate/ -run '^$' -fuzz FuzzEdgeFields -fuzztime 3m
// Inputs it found are kept in testdata/fuzz/FuzzEdgeFields.
func FuzzEdgeFields(f *testing.F) {
	f.Add("x-a", "v", "/p", "/r", "a+", "example.com")
	f.Add("Host", "v", "/p", "/r", "a+", "example.com")
	f.Add("x-a", "a\r\nb", "/p", "/r\n", "[\\p{L}]+", "a.example.com")
	f.Add("x-a", "v", "/p", "/r?x#y", "(ab|cd){70}", "example.com")
	f.Add("x-a", "\x00", "/a b", "/ r", "((((a))))", "*.example.com")
	f.Fuzz(func(t *testing.T, hname, hvalue, prefix, path, regex, hostname string) {
		doc := strings.NewReplacer(
			"HNAME", quote(hname), "HVALUE", quote(hvalue), "PREFIX", quote(prefix),
			"PATH", quote(path), "REGEX", quote(regex), "HOSTNAME", quote(hostname),
		).Replace(edgeTemplate)
		res, err := resource.Parse("fuzz.yaml", []byte(doc))
		if err != nil || res == nil || res.Set == nil {
			return
		}
		out := Translate(res.Set, Options{})
		checkResult(t, out)
		for _, p := range out.Proxies {
			for _, flavor := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
				if _, err := envoy.Build(p, envoy.Options{Flavor: flavor}); err != nil {
					t.Fatalf("translation kept what the xDS build (%s) of %s refuses: %v", flavor, p.Name, err)
				}
			}
		}
	})
}

// quote makes s one YAML scalar (a JSON string is a YAML double-quoted one).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestEdgeTemplateLoads keeps FuzzEdgeFields meaningful: with ordinary
// values the template loads cleanly and every rule is served.
func TestEdgeTemplateLoads(t *testing.T) {
	doc := strings.NewReplacer("HNAME", "x-a", "HVALUE", "v", "PREFIX", "/p", "PATH", "/r",
		"REGEX", "a+", "HOSTNAME", "example.com").Replace(edgeTemplate)
	res, err := resource.Parse("edge.yaml", []byte(doc))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("template does not load: %v %v", err, res.Errors)
	}
	out := Translate(res.Set, Options{})
	if len(out.Proxies) != 1 {
		t.Fatalf("%d proxies", len(out.Proxies))
	}
	routes := 0
	for _, rc := range out.Proxies[0].RouteConfigs {
		for vh := range rc.VirtualHosts.Values() {
			routes += len(vh.Routes)
		}
	}
	if routes != 5 {
		t.Errorf("%d routes served, want 5 (4 HTTP rules, 1 gRPC)", routes)
	}
}
