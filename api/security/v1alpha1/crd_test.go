package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/test/envtest"
)

var shared envtest.Shared

func TestMain(m *testing.M) { os.Exit(envtest.Main(m, &shared)) }

// TestCRDValidation creates policies on a real API server with the chart's
// CRD installed: valid ones are stored, each invalid one is refused with the
// message of the rule (schema or CEL) it breaks.
func TestCRDValidation(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := shared.Client(t, scheme)
	ns := envtest.NewNamespace(t, c, "authz")
	cases := []struct {
		name, spec, wantErr string
	}{
		{name: "namespace default deny", spec: `{action: ALLOW}`},
		{name: "every source and request shape", spec: `
action: ALLOW
targetRefs:
- {group: "", kind: Service, name: reviews}
- {group: gateway.networking.k8s.io, kind: Gateway, name: eg, sectionName: https}
rules:
- sources:
  - {type: ServiceAccount, serviceAccount: {name: productpage}}
  - {type: ServiceAccount, serviceAccount: {namespace: other, name: client}}
  - {type: Namespace, namespace: ops}
  - {type: Mesh}
  - {type: CIDR, cidr: 10.0.0.0/8}
  - {type: CIDR, cidr: "2001:db8::/32"}
  - {type: ClientCertificate, clientCertificate: {type: DNS, value: partner.example.com}}
  to:
  - paths: [{value: /api}, {type: Exact, value: /reviews.Reviews/Get}]
    methods: [GET, POST]
    headers: [{name: x-tenant, value: blue}, {name: x-debug, type: Present}]
    ports: [9080]`},
		{name: "deny with a rule", spec: `{action: DENY, rules: [{to: [{methods: [DELETE]}]}]}`},
		{name: "deny without rules", spec: `{action: DENY}`, wantErr: "a DENY policy needs at least one rule"},
		{name: "unknown action", spec: `{action: AUDIT}`, wantErr: `spec.action: Unsupported value: "AUDIT"`},
		{name: "target kind", spec: `{action: ALLOW, targetRefs: [{group: apps, kind: Deployment, name: x}]}`, wantErr: "kind must be Service"},
		{name: "service with the gateway group", spec: `{action: ALLOW, targetRefs: [{group: gateway.networking.k8s.io, kind: Service, name: x}]}`, wantErr: "kind must be Service"},
		{name: "sectionName on a Service", spec: `{action: ALLOW, targetRefs: [{group: "", kind: Service, name: x, sectionName: grpc}]}`, wantErr: "sectionName names a Gateway listener"},
		{name: "duplicate targets", spec: `{action: ALLOW, targetRefs: [{group: "", kind: Service, name: x}, {group: "", kind: Service, name: x}]}`, wantErr: "targetRefs must be unique"},
		{name: "same gateway, two listeners", spec: `{action: ALLOW, targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg, sectionName: a}, {group: gateway.networking.k8s.io, kind: Gateway, name: eg, sectionName: b}]}`},
		{name: "type without its field", spec: `{action: ALLOW, rules: [{sources: [{type: ServiceAccount}]}]}`, wantErr: "serviceAccount is set exactly when type is ServiceAccount"},
		{name: "field of another type", spec: `{action: ALLOW, rules: [{sources: [{type: Mesh, namespace: x}]}]}`, wantErr: "namespace is set exactly when type is Namespace"},
		{name: "bad cidr", spec: `{action: ALLOW, rules: [{sources: [{type: CIDR, cidr: 10.0.0.0/33}]}]}`, wantErr: "cidr must be an IP range"},
		{name: "bad namespace name", spec: `{action: ALLOW, rules: [{sources: [{type: Namespace, namespace: Not_A_Name}]}]}`, wantErr: "spec.rules[0].sources[0].namespace: Invalid value"},
		{name: "relative path", spec: `{action: ALLOW, rules: [{to: [{paths: [{value: api}]}]}]}`, wantErr: "spec.rules[0].to[0].paths[0].value: Invalid value"},
		{name: "path with a query", spec: `{action: ALLOW, rules: [{to: [{paths: [{value: "/a?b"}]}]}]}`, wantErr: "spec.rules[0].to[0].paths[0].value: Invalid value"},
		{name: "empty to entry", spec: `{action: ALLOW, rules: [{to: [{}]}]}`, wantErr: "a to entry needs paths, methods, headers or ports"},
		{name: "present header with a value", spec: `{action: ALLOW, rules: [{to: [{headers: [{name: x, type: Present, value: "on"}]}]}]}`, wantErr: "value is set unless type is Present"},
		{name: "exact header without a value", spec: `{action: ALLOW, rules: [{to: [{headers: [{name: x}]}]}]}`, wantErr: "value is set unless type is Present"},
		{name: "bad method", spec: `{action: ALLOW, rules: [{to: [{methods: [FETCH]}]}]}`, wantErr: `Unsupported value: "FETCH"`},
		{name: "port zero", spec: `{action: ALLOW, rules: [{to: [{ports: [0]}]}]}`, wantErr: "spec.rules[0].to[0].ports[0]: Invalid value"},
		{name: "unknown SAN type", spec: `{action: ALLOW, rules: [{sources: [{type: ClientCertificate, clientCertificate: {type: Email, value: a@b}}]}]}`, wantErr: `Unsupported value: "Email"`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var spec map[string]any
			if err := yaml.Unmarshal([]byte(tc.spec), &spec); err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "security.gantry.io/v1alpha1", "kind": "AuthorizationPolicy",
				"metadata": map[string]any{"namespace": ns, "name": "p" + strings.Repeat("x", i)},
				"spec":     spec,
			}}
			err := c.Create(context.Background(), u)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted; want an error with %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}
