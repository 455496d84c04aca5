package main

import (
	"fmt"
	"testing"
)

// grpcRoutesYAML exercises GRPCRoute matching as grpc-go's xDS client
// evaluates it: exact service/method, service only, method only (a regular
// expression on the path), regular expressions, header matches and a
// weighted split, next to an HTTPRoute on another hostname.
const grpcRoutesYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [grpc.example.com]
  rules:
  - name: exact
    matches: [{method: {service: echo.Echo, method: Say}}]
    backendRefs: [{name: say, port: 8080}]
  - name: service
    matches: [{method: {service: echo.Echo}}]
    backendRefs: [{name: svc, port: 8080}]
  - name: method
    matches: [{method: {method: Health}}]
    backendRefs: [{name: health, port: 8080}]
  - name: regex
    matches: [{method: {type: RegularExpression, service: "echo\\.v[0-9]+\\.Echo", method: "Get.*"}}]
    backendRefs: [{name: rx, port: 8080}]
  - name: header
    matches: [{headers: [{name: x-tenant, value: blue}]}]
    backendRefs: [{name: blue, port: 8080}]
  - name: split
    matches: [{method: {service: split.Split}}]
    backendRefs: [{name: s75, port: 8080, weight: 75}, {name: s25, port: 8080, weight: 25}]
  - name: fallback
    backendRefs: [{name: fallback, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [web.example.com]
  rules:
  - backendRefs: [{name: web, port: 8080}]
`

var grpcRouteBackends = []string{"say", "svc", "health", "rx", "blue", "s75", "s25", "fallback", "web"}

// TestE2EGRPCRoute runs GRPCRoutes through the real control plane and
// grpc-go's xDS client: every call must reach the backend the Gateway API
// precedence picks.
func TestE2EGRPCRoute(t *testing.T) {
	files := map[string]string{"gateway.yaml": gatewayYAML, "grpcroutes.yaml": grpcRoutesYAML}
	for _, b := range grpcRouteBackends {
		files["backend-"+b+".yaml"] = backendYAML(b, false)
	}
	e := startE2E(t, grpcRouteBackends, files)
	conn := e.grpcClient("grpc-route", "grpc.example.com")
	web := e.grpcClient("grpc-web", "web.example.com")

	cases := []struct {
		name, path string
		kv         []string
		want       string
	}{
		{name: "exact service and method", path: "/echo.Echo/Say", want: "say"},
		{name: "service only", path: "/echo.Echo/Other", want: "svc"},
		{name: "method only", path: "/any.Service/Health", want: "health"},
		{name: "service beats method", path: "/echo.Echo/Health", want: "svc"},
		{name: "regular expression", path: "/echo.v2.Echo/GetThing", want: "rx"},
		{name: "regular expression miss", path: "/echo.vX.Echo/GetThing", want: "fallback"},
		{name: "header", path: "/other.Svc/Call", kv: []string{"x-tenant", "blue"}, want: "blue"},
		{name: "exact beats header", path: "/echo.Echo/Say", kv: []string{"x-tenant", "blue"}, want: "say"},
		{name: "fallback", path: "/other.Svc/Call", want: "fallback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.eventually(t, c.path, func() error {
				got, err := call(conn, c.path, c.kv...)
				if err != nil {
					return err
				}
				if got != c.want {
					return fmt.Errorf("%s -> %q, want %q", c.path, got, c.want)
				}
				return nil
			})
		})
	}
	t.Run("HTTPRoute next to GRPCRoute", func(t *testing.T) {
		if got, err := call(web, "/any.Service/Method"); err != nil || got != "web" {
			t.Errorf("web.example.com -> %q, %v; want web", got, err)
		}
	})
	t.Run("weighted split", func(t *testing.T) {
		// 75/25 over 800 calls: s75 has a standard deviation of about 12;
		// the bounds are more than 8 deviations away.
		counts := map[string]int{}
		for i := 0; i < 800; i++ {
			got, err := call(conn, "/split.Split/Go")
			if err != nil {
				t.Fatal(err)
			}
			counts[got]++
		}
		if counts["s75"] < 500 || counts["s75"] > 700 || counts["s75"]+counts["s25"] != 800 {
			t.Errorf("split counts %v; want about 600/200 of 800", counts)
		}
	})
}
