package resource

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompiledSchemaMatchesOpenAPI checks the compiled validator against the
// generic OpenAPI validator on valid and broken objects: both must flag the
// same fields.
func TestCompiledSchemaMatchesOpenAPI(t *testing.T) {
	gateway := `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: gantry
  addresses:
  - {type: IPAddress, value: 10.0.0.1}
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    hostname: "*.example.com"
    allowedRoutes:
      namespaces: {from: Selector, selector: {matchLabels: {a: b}}}
  - name: https
    protocol: HTTPS
    port: 443
    tls:
      mode: Terminate
      certificateRefs: [{name: cert}]
`
	httpRoute := `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http, port: 80}]
  hostnames: [app.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /a}
      headers: [{name: x-a, value: b}]
      queryParams: [{type: RegularExpression, name: q, value: "^x"}]
      method: GET
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-b, value: c}]}
    - type: RequestRedirect
      requestRedirect: {scheme: https, statusCode: 301}
    backendRefs:
    - {name: svc, port: 8080, weight: 3}
    timeouts: {request: 10s}
`
	tests := []struct {
		name, base, from, to string
	}{
		{"valid gateway", gateway, "", ""},
		{"valid route", httpRoute, "", ""},
		{"port too big", httpRoute, "port: 8080", "port: 80800"},
		{"negative weight", httpRoute, "weight: 3", "weight: -1"},
		{"bad enum", httpRoute, "method: GET", "method: FETCH"},
		{"bad pattern", httpRoute, "hostnames: [app.example.com]", "hostnames: [App_Example]"},
		{"wrong type", httpRoute, "hostnames: [app.example.com]", "hostnames: app.example.com"},
		{"string for int", httpRoute, "statusCode: 301", "statusCode: x"},
		{"missing required", httpRoute, "{name: svc, port: 8080, weight: 3}", "{port: 8080, weight: 3}"},
		{"too long", httpRoute, "{name: x-a, value: b}", "{name: x-a, value: " + strings.Repeat("v", 5000) + "}"},
		{"empty string", gateway, "gatewayClassName: gantry", `gatewayClassName: ""`},
		{"bad address (oneOf)", gateway, "{type: IPAddress, value: 10.0.0.1}", "{type: IPAddress, value: not-an-ip}"},
		{"boolean for string", gateway, "mode: Terminate", "mode: true"},
		{"object for list", gateway, "certificateRefs: [{name: cert}]", "certificateRefs: {name: cert}"},
	}
	many := make([]string, 17)
	for i := range many {
		many[i] = fmt.Sprintf("h%d.example.com", i)
	}
	tests = append(tests, struct{ name, base, from, to string }{"too many hostnames", httpRoute,
		"hostnames: [app.example.com]", "hostnames: [" + strings.Join(many, ", ") + "]"})

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.base
			if tc.from != "" {
				if !strings.Contains(data, tc.from) {
					t.Fatalf("test input lacks %q", tc.from)
				}
				data = strings.Replace(data, tc.from, tc.to, 1)
			}
			docs := splitDocuments([]byte(data))
			node, _, err := parseDocument(docs[0])
			if err != nil {
				t.Fatal(err)
			}
			val, err := toValue(node)
			if err != nil {
				t.Fatal(err)
			}
			u := val.(map[string]any)
			kind := u["kind"].(string)
			v, err := schemas.validatorFor(kindByName[kind].CRDFile(), "v1")
			if err != nil {
				t.Fatal(err)
			}
			v.Default(u)
			var got []fieldError
			v.compiled.validate(u, nil, &got)
			generic := openAPIErrors(v.validator.Validate(u))
			if diff := cmp.Diff(fields(generic), fields(got)); diff != "" {
				t.Errorf("flagged fields differ (-openapi +compiled):\n%s\ncompiled: %v\nopenapi: %v", diff, got, generic)
			}
			if tc.from != "" && len(got) == 0 {
				t.Errorf("the broken input passed")
			}
		})
	}
}

func fields(fes []fieldError) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, fe := range fes {
		if !seen[fe.Field] {
			seen[fe.Field] = true
			out = append(out, fe.Field)
		}
	}
	sort.Strings(out)
	return out
}
