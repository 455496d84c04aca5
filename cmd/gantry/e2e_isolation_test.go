package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/programmed"
)

// careless is a tenant's route on the shared Gateway whose rules Envoy
// would refuse (a Host edit, a CR/LF header value, a regular expression past
// the RE2 limit) beside one good rule.
const carelessYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: careless, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [c.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /host}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: Host, value: a.example.com}]}
    backendRefs: [{name: api, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /crlf}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: x-a, value: "a\r\nx-b: c"}]}
    backendRefs: [{name: api, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: "/[\\p{L}]+"}}]
    backendRefs: [{name: api, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /ok}}]
    backendRefs: [{name: bee, port: 8080}]
`

// A bad route added to a running Gateway: every other route keeps being
// served (and the good rule of the bad route is served too), the route's
// status names the dropped rules, and the Gateway's configuration still
// builds and is served (no BuildFailed, ConfigurationTooLarge or NotServed).
func TestE2EBadRouteIsolated(t *testing.T) {
	e := startE2E(t, e2eBackends, e2eFiles())
	a := e.grpcClient("grpc-a", "a.example.com")
	c := e.grpcClient("grpc-c", "c.example.com")
	if got, err := call(a, "/exact"); err != nil || got != "exact" {
		t.Fatalf("/exact -> %q, %v", got, err)
	}
	e.write(t, "careless.yaml", carelessYAML)
	e.eventually(t, "the careless route's good rule served", func() error {
		if got, err := call(c, "/ok"); err != nil || got != "bee" {
			return fmt.Errorf("c.example.com /ok -> %q, %v", got, err)
		}
		return nil
	})
	for _, tc := range []struct{ path, want string }{{"/exact", "exact"}, {"/api/x", "api"}, {"/anything", "fallback"}} {
		if got, err := call(a, tc.path); err != nil || got != tc.want {
			t.Errorf("a.example.com %s -> %q, %v; want %s", tc.path, got, err, tc.want)
		}
	}
	if got, err := call(c, "/host"); err == nil {
		t.Errorf("c.example.com /host was routed (to %q); the rule editing Host must be dropped", got)
	}
	// Routing may change a moment before /status does: wait for the route's
	// status, then check the whole document.
	var doc statusDoc
	e.eventually(t, "the careless route's status", func() error {
		_, body := httpGet(t, "http://"+e.cp.adminLn.Addr().String()+"/status")
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			return err
		}
		for _, r := range doc.Status.Routes {
			if r.Name == "careless" {
				return nil
			}
		}
		return fmt.Errorf("no status for the careless route")
	})
	// Standalone without an Envoy on the host, Programmed is False
	// (NoResources); what matters here is that the bad route did not make
	// the configuration fail to build or be served.
	for _, g := range doc.Status.Gateways {
		c := meta.FindStatusCondition(g.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed))
		if c == nil || slices.Contains([]string{string(programmed.ReasonBuildFailed), string(programmed.ReasonTooLarge), string(programmed.ReasonNotServed)}, c.Reason) {
			t.Errorf("Gateway %s/%s: Programmed = %+v; the bad route must not fail the Gateway's configuration", g.Namespace, g.Name, c)
		}
		if !meta.IsStatusConditionTrue(g.Status.Conditions, string(gwapiv1.GatewayConditionAccepted)) {
			t.Errorf("Gateway %s/%s is not Accepted: %v", g.Namespace, g.Name, g.Status.Conditions)
		}
	}
	for _, r := range doc.Status.Routes {
		if r.Name != "careless" {
			continue
		}
		p := meta.FindStatusCondition(r.Parents[0].Conditions, string(gwapiv1.RouteConditionPartiallyInvalid))
		if p == nil || !strings.Contains(p.Message, `header "Host" cannot be edited`) || !strings.Contains(p.Message, "too complex") ||
			!strings.Contains(p.Message, "control character") {
			t.Errorf("careless route PartiallyInvalid = %+v", p)
		}
	}
}
