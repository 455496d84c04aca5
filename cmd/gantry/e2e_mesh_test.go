package main

// End to end through the mesh: a proxyless gRPC client of namespace
// "default" (node.cluster "mesh/default") dials a Service by its xDS name;
// routes whose parent is that Service change where its calls go.

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/gateway/status"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
)

// meshServiceYAML is a Service "name" (port 9080) whose only endpoint is the
// echo backend of the same name.
func meshServiceYAML(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec:
  ports: [{name: http, port: 9080, targetPort: {{port:%[1]s}}, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-1, namespace: default, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: http, port: {{port:%[1]s}}}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}, zone: z1}]
`, name)
}

const meshSplitYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - backendRefs:
    - {name: reviews-v1, port: 9080, weight: 50}
    - {name: reviews-v2, port: 9080, weight: 50}
`

const meshHeaderYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - matches: [{headers: [{name: x-version, value: v2}]}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - backendRefs: [{name: reviews-v1, port: 9080}]
`

const meshConsumerYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews-from-shop, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, namespace: default, port: 9080}]
  rules:
  - backendRefs: [{name: reviews-v2, namespace: default, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: shop, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service}]
`

const meshBothYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: both, namespace: default}
spec:
  parentRefs:
  - {name: gw}
  - {group: "", kind: Service, name: reviews-v1, port: 9080}
  hostnames: [both.example.com]
  rules:
  - backendRefs: [{name: reviews-v2, port: 9080}]
`

const meshGRPCRouteYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: reviews-v2, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews-v2, port: 9080}]
  rules:
  - matches: [{method: {service: reviews.Reviews, method: Get}}]
    backendRefs: [{name: reviews-v1, port: 9080}]
  - matches: [{method: {service: reviews.Reviews}}]
    backendRefs: [{name: reviews, port: 9080}]
`

// meshClient is a proxyless gRPC client of the mesh group of namespace ns,
// started from the bootstrap `gantry bootstrap --grpc --group mesh/<ns>`
// prints.
func (e *e2eEnv) meshClient(nodeID, ns, target string) *grpc.ClientConn {
	e.t.Helper()
	cfg, err := bootstrap.GRPC(bootstrap.Options{
		Group: meshtranslate.ProxyName(ns), NodeID: nodeID, XDSAddress: e.cp.xdsLn.Addr().String(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return xdsClientConn(e.t, cfg, target)
}

// countBackends makes n calls and counts who answered; a failed call counts
// under "error: <message>", so a check that wants n answers from one backend
// fails on it, and one inside eventually retries. (While a client switches
// to a route table naming a cluster it has not watched before, grpc-go may
// fail a call with "unknown cluster selected".)
func countBackends(t *testing.T, conn *grpc.ClientConn, n int, kv ...string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		got, err := call(conn, "/reviews.Reviews/Get", kv...)
		if err != nil {
			got = "error: " + err.Error()
		}
		counts[got]++
	}
	return counts
}

// meshRouteAccepted reports whether the last translation accepted route
// default/reviews on its Service parent.
func meshRouteAccepted(e *e2eEnv) error {
	res := e.cp.loop.State().Result
	if res == nil || res.Status == nil {
		return fmt.Errorf("no translation yet")
	}
	for _, r := range res.Status.Routes {
		if r.Kind != "HTTPRoute" || r.Namespace != "default" || r.Name != "reviews" {
			continue
		}
		for _, p := range r.Parents {
			if p.ParentRef.Kind != nil && *p.ParentRef.Kind == "Service" && status.IsTrue(p.Conditions, "Accepted") {
				return nil
			}
		}
		return fmt.Errorf("route default/reviews: Service parent not accepted: %+v", r.Parents)
	}
	return fmt.Errorf("route default/reviews has no status")
}

func TestE2EMesh(t *testing.T) {
	backends := []string{"reviews", "reviews-v1", "reviews-v2"}
	files := map[string]string{}
	for _, b := range backends {
		files["svc-"+b+".yaml"] = meshServiceYAML(b)
	}
	e := startE2E(t, backends, files)
	conn := e.meshClient("mesh-a", "default", meshtranslate.RouteConfigName("default", "reviews", 9080))

	t.Run("default: the Service's own endpoints", func(t *testing.T) {
		if c := countBackends(t, conn, 20); c["reviews"] != 20 {
			t.Fatalf("answers %v, want reviews 20 times", c)
		}
	})

	t.Run("producer route splits 50/50", func(t *testing.T) {
		e.write(t, "route.yaml", meshSplitYAML)
		e.eventually(t, "the split in effect", func() error {
			if got, err := call(conn, "/x"); err != nil || got == "reviews" {
				return fmt.Errorf("still answered by %q (%v)", got, err)
			}
			return meshRouteAccepted(e)
		})
		// 400 calls at p=0.5: the count of v1 has a standard deviation of
		// 10; accepting 120..280 is ±8 sigma, which cannot flake, while a
		// missing split (0 or 400) or an unweighted pick of one side fails.
		c := countBackends(t, conn, 400)
		if c["reviews-v1"] < 120 || c["reviews-v1"] > 280 || c["reviews-v1"]+c["reviews-v2"] != 400 {
			t.Fatalf("split %v, want about 200/200 between reviews-v1 and reviews-v2 only", c)
		}
	})

	t.Run("header match sends to v2", func(t *testing.T) {
		e.write(t, "route.yaml", meshHeaderYAML)
		e.eventually(t, "the header route in effect", func() error {
			c := countBackends(t, conn, 10)
			if c["reviews-v1"] != 10 {
				return fmt.Errorf("without the header: %v, want reviews-v1 only", c)
			}
			return nil
		})
		if c := countBackends(t, conn, 20, "x-version", "v2"); c["reviews-v2"] != 20 {
			t.Errorf("x-version: v2 -> %v, want reviews-v2 20 times", c)
		}
		if c := countBackends(t, conn, 20, "x-version", "v3"); c["reviews-v1"] != 20 {
			t.Errorf("x-version: v3 -> %v, want reviews-v1 20 times", c)
		}
	})

	t.Run("consumer route applies to its namespace only", func(t *testing.T) {
		e.write(t, "consumer.yaml", meshConsumerYAML)
		shop := e.meshClient("mesh-shop", "shop", meshtranslate.RouteConfigName("default", "reviews", 9080))
		e.eventually(t, "the consumer route in effect for shop", func() error {
			if c := countBackends(t, shop, 10); c["reviews-v2"] != 10 {
				return fmt.Errorf("shop client: %v, want reviews-v2 only", c)
			}
			return nil
		})
		if c := countBackends(t, conn, 20); c["reviews-v1"] != 20 {
			t.Errorf("default client after the consumer route: %v, want reviews-v1 (the producer route) only", c)
		}
	})

	t.Run("one route, Gateway and Service parents", func(t *testing.T) {
		e.write(t, "gateway.yaml", gatewayYAML)
		e.write(t, "both.yaml", meshBothYAML)
		edge := e.grpcClient("edge-both", "both.example.com")
		v1 := e.meshClient("mesh-v1", "default", meshtranslate.RouteConfigName("default", "reviews-v1", 9080))
		e.eventually(t, "the route on both sides", func() error {
			if got, err := call(edge, "/x"); err != nil || got != "reviews-v2" {
				return fmt.Errorf("edge: %q, %v", got, err)
			}
			if got, err := call(v1, "/x"); err != nil || got != "reviews-v2" {
				return fmt.Errorf("mesh: %q, %v", got, err)
			}
			return nil
		})
		// Snapshots are served before the loop records the result, so
		// status is read until it catches up with the traffic.
		e.eventually(t, "status of route both", func() error {
			res := e.cp.loop.State().Result
			var kinds []string
			for _, r := range res.Status.Routes {
				if r.Name != "both" {
					continue
				}
				for _, p := range r.Parents {
					k := "Gateway"
					if p.ParentRef.Kind != nil {
						k = string(*p.ParentRef.Kind)
					}
					if !status.IsTrue(p.Conditions, "Accepted") {
						return fmt.Errorf("parent %s not accepted: %+v", k, p.Conditions)
					}
					kinds = append(kinds, k)
				}
			}
			if strings.Join(kinds, ",") != "Gateway,Service" {
				return fmt.Errorf("status parents of route both: %v, want Gateway,Service", kinds)
			}
			return nil
		})
	})

	t.Run("GRPCRoute with a Service parent", func(t *testing.T) {
		e.write(t, "grpcroute.yaml", meshGRPCRouteYAML)
		v2 := e.meshClient("mesh-v2", "default", meshtranslate.RouteConfigName("default", "reviews-v2", 9080))
		e.eventually(t, "the GRPCRoute in effect", func() error {
			if got, err := call(v2, "/reviews.Reviews/Get"); err != nil || got != "reviews-v1" {
				return fmt.Errorf("/reviews.Reviews/Get: %q, %v", got, err)
			}
			return nil
		})
		if got, err := call(v2, "/reviews.Reviews/List"); err != nil || got != "reviews" {
			t.Errorf("/reviews.Reviews/List: %q, %v; want reviews", got, err)
		}
	})

	t.Run("route removed: back to the Service", func(t *testing.T) {
		e.write(t, "route.yaml", strings.Replace(meshHeaderYAML, "name: reviews, port: 9080}]", "name: nothing, port: 9080}]", 1))
		e.eventually(t, "default routing again", func() error {
			if c := countBackends(t, conn, 10); c["reviews"] != 10 {
				return fmt.Errorf("answers %v, want reviews only", c)
			}
			return nil
		})
	})
}
