package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func runTranslateArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"translate"}, args...))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestTranslateQuickstart(t *testing.T) {
	out, _, err := runTranslateArgs(t, "-f", "../../examples/quickstart", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XDS    []map[string]any `json:"xds"`
		IR     []map[string]any `json:"ir"`
		Status struct {
			GatewayClasses []any `json:"gatewayClasses"`
			Gateways       []any `json:"gateways"`
			Routes         []any `json:"routes"`
		} `json:"status"`
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not YAML: %v", err)
	}
	if len(doc.XDS) == 0 || len(doc.IR) != len(doc.XDS) {
		t.Fatalf("want xds and ir for each proxy, got %d and %d", len(doc.XDS), len(doc.IR))
	}
	for _, kind := range []string{"listeners", "routes", "clusters", "endpoints"} {
		if list, _ := doc.XDS[0][kind].([]any); len(list) == 0 {
			t.Errorf("xds has no %s", kind)
		}
	}
	if len(doc.Status.GatewayClasses) == 0 || len(doc.Status.Gateways) == 0 || len(doc.Status.Routes) == 0 {
		t.Errorf("status is missing classes, gateways or routes: %+v", doc.Status)
	}
}

func TestTranslateOutputTypesAndJSON(t *testing.T) {
	for _, typ := range []string{"xds", "ir", "status"} {
		t.Run(typ, func(t *testing.T) {
			out, _, err := runTranslateArgs(t, "-f", "../../examples/quickstart", "-o", "json", "--output-type", typ)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			if len(doc) != 1 || doc[typ] == nil {
				t.Errorf("want only %q, got keys %v", typ, keys(doc))
			}
		})
	}
	if _, _, err := runTranslateArgs(t, "-f", "../../examples/quickstart", "--output-type", "bogus"); err == nil {
		t.Error("an unknown --output-type was accepted")
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTranslateMalformedInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n spec: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runTranslateArgs(t, "-f", bad)
	if err == nil || !strings.Contains(err.Error(), bad+":") {
		t.Fatalf("want an error naming %s:line, got %v", bad, err)
	}
	if exitCode(err) == 0 {
		t.Error("exit code 0 for malformed input")
	}
	if _, _, err := runTranslateArgs(t, "-f", filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestTranslateRedactsKeys(t *testing.T) {
	in := "../../gateway/translate/testdata/https-basic.in.yaml"
	out, _, err := runTranslateArgs(t, "-f", in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS") {
		t.Error("a private key was printed without --show-secrets")
	}
	if strings.Count(out, "[redacted]") < 4 {
		t.Errorf("want keys redacted in ir and xds, found %d markers", strings.Count(out, "[redacted]"))
	}
	shown, _, err := runTranslateArgs(t, "-f", in, "--show-secrets")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(shown, "[redacted]") {
		t.Error("--show-secrets still redacts")
	}
}

// TestTranslateAndAnalyzeAgreeOnClasses: a Gateway whose class is missing
// (a near name exists), another controller's, or absent from the input is
// reported by translate with the very line analyze prints, and an empty
// result is explained.
func TestTranslateAndAnalyzeAgreeOnClasses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	data := `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gantry}
spec: {controllerName: gantryproxy.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: other}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: typo, namespace: default}
spec:
  gatewayClassName: gantri
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: theirs, namespace: default}
spec:
  gatewayClassName: other
  listeners: [{name: http, port: 80, protocol: HTTP}]
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, tErr, code := runGantry(t, "translate", "-f", path, "--output-type", "xds")
	if code != 0 || strings.TrimSpace(stdout) != "{}" {
		t.Fatalf("translate: exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(tErr, "nothing to translate") {
		t.Errorf("translate printed an empty result without saying why:\n%s", tErr)
	}
	aOut, _, _ := runGantry(t, "analyze", "-f", path)
	for _, want := range []string{
		`GatewayClass "gantri" does not exist (did you mean "gantry"?)`,
		`GatewayClass "other" belongs to controller "example.com/other", not Gantry`,
	} {
		var inAnalyze, inTranslate string
		for _, l := range strings.Split(aOut, "\n") {
			if strings.Contains(l, want) {
				inAnalyze = l
			}
		}
		for _, l := range strings.Split(tErr, "\n") {
			if strings.Contains(l, want) {
				inTranslate = l
			}
		}
		if inAnalyze == "" || inAnalyze != inTranslate {
			t.Errorf("%s:\nanalyze:   %q\ntranslate: %q", want, inAnalyze, inTranslate)
		}
	}

	// A class absent from the input (no near name) is assumed by both.
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(data, "gantri", "edge-from-cluster")), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, tErr, code = runGantry(t, "translate", "-f", path, "--output-type", "xds")
	if code != 0 || !strings.Contains(stdout, "default/typo/80") || !strings.Contains(tErr, `GatewayClass "edge-from-cluster" is not in the input`) {
		t.Errorf("assumed class: exit %d\n%s\n%s", code, stdout, tErr)
	}
}

// TestTranslateAuthorizationStatus: the status output holds the
// AuthorizationPolicies' status beside the edge's, as gantry serve computes
// it: with --mesh-mtls a ServiceAccount source is enforced, without it the
// policy says it fails closed.
func TestTranslateAuthorizationStatus(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		reason string
	}{
		{args: nil, reason: "FailsClosed"},
		{args: []string{"--mesh-mtls"}, reason: "Enforced"},
	} {
		out, _, err := runTranslateArgs(t, append([]string{"-f", "../../examples/bookinfo", "--output-type", "status", "-o", "json"}, tc.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Status struct {
				Gateways              []any `json:"gateways"`
				AuthorizationPolicies []struct {
					Name   string `json:"name"`
					Status struct {
						Ancestors []struct {
							Conditions []struct{ Type, Status, Reason string } `json:"conditions"`
						} `json:"ancestors"`
					} `json:"status"`
				} `json:"authorizationPolicies"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Status.Gateways) == 0 {
			t.Errorf("%v: the edge's status is missing", tc.args)
		}
		found := false
		for _, p := range doc.Status.AuthorizationPolicies {
			if p.Name != "reviews-from-productpage" {
				continue
			}
			found = true
			conds := p.Status.Ancestors[0].Conditions
			if len(conds) != 2 || conds[0].Type != "Accepted" || conds[0].Status != "True" || conds[1].Type != "FullyEnforced" || conds[1].Reason != tc.reason {
				t.Errorf("%v: reviews-from-productpage: %+v, want Accepted and FullyEnforced %s", tc.args, conds, tc.reason)
			}
		}
		if !found {
			t.Errorf("%v: no status of reviews-from-productpage in %s", tc.args, out)
		}
	}
}
