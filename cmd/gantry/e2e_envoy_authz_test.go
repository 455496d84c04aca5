package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpStatus sends GET path with Host host through Envoy and returns the
// status code.
func httpStatus(port int, host, path string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// expectStatuses checks each path's status once.
func expectStatuses(port int, want map[string]int) error {
	for path, code := range want {
		got, err := httpStatus(port, "a.example.com", path)
		if err != nil || got != code {
			return fmt.Errorf("%s -> %d, %v; want %d", path, got, err, code)
		}
	}
	return nil
}

// TestE2EEnvoyAuthorization: a real Envoy at the edge enforces the
// AuthorizationPolicies of its Gateway (RBAC HTTP filters): the client's
// address range and paths decide, DENY before ALLOW, and a policy edit
// changes the outcome live. Runs when an Envoy binary is present.
func TestE2EEnvoyAuthorization(t *testing.T) {
	bin := envoyBinary(t)
	port := freePort(t)
	files := e2eFiles()
	files["gateway.yaml"] = strings.Replace(gatewayYAML, "port: 80,", fmt.Sprintf("port: %d,", port), 1)
	files["authz.yaml"] = edgePolicyYAML("127.0.0.0/8")
	e := startE2E(t, e2eBackends, files)
	startEnvoy(t, bin, e.cp.xdsLn.Addr().String(), "envoy-authz")
	e.eventually(t, "Envoy to serve /api from loopback, refuse the rest", func() error {
		return expectStatuses(port, map[string]int{"/api/users": http.StatusOK, "/exact": http.StatusForbidden, "/apix": http.StatusForbidden})
	})
	e.write(t, "authz.yaml", edgePolicyYAML("192.0.2.0/24"))
	e.eventually(t, "loopback refused once only 192.0.2.0/24 may call", func() error {
		return expectStatuses(port, map[string]int{"/api/users": http.StatusForbidden})
	})
	e.write(t, "authz.yaml", "")
	e.eventually(t, "everything served without policies", func() error {
		return expectStatuses(port, map[string]int{"/api/users": http.StatusOK, "/exact": http.StatusOK})
	})
}

// edgePolicyYAML allows /api from cidr on Gateway gw and denies /exact to
// everyone.
func edgePolicyYAML(cidr string) string {
	return fmt.Sprintf(`apiVersion: security.gantry.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: api-from-range, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  action: ALLOW
  rules:
  - sources: [{type: CIDR, cidr: %q}]
    to: [{paths: [{value: /api}, {value: /exact}]}]
---
apiVersion: security.gantry.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: no-exact, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  action: DENY
  rules:
  - to: [{paths: [{type: Exact, value: /exact}]}]
`, cidr)
}
