package conformance

// The upstream MESH tests whose behaviour a proxyless gRPC client can
// show (routing by path and headers, weights, per-client-namespace
// routes), run with the upstream manifests through grpc-go's xDS client
// against gantry serve. The request a test sends becomes a gRPC call whose
// method is the request's path; the echo backend reports its name and the
// path and headers it received.

import (
	"fmt"
	"testing"

	"google.golang.org/grpc"
)

// TestMeshBasic: with no route, a mesh client reaches the Service's own
// backends (MeshBasic).
func TestMeshBasic(t *testing.T) {
	e := startMesh(t)
	conn := e.client(meshNS, "echo", 80)
	eventually(t, "a call through the mesh", func() error {
		_, err := call(conn, "/")
		return err
	})
	c := backendCounts(conn, 40, "/")
	if c[backendName("echo-v1")]+c[backendName("echo-v2")] != 40 {
		t.Fatalf("answers %v, want echo-v1 and echo-v2 only", c)
	}
}

// TestMeshHTTPRouteSimpleSameNamespace: a route in the Service's namespace
// sends every call to echo-v1 (MeshHTTPRouteSimpleSameNamespace).
func TestMeshHTTPRouteSimpleSameNamespace(t *testing.T) {
	e := startMesh(t, "tests/mesh/httproute-simple-same-namespace.yaml")
	conn := e.client(meshNS, "echo", 80)
	expectBackend(t, conn, "/", nil, "echo-v1")
}

// TestMeshHTTPRouteMatching: path prefix (segment-wise) and header matches
// pick the backend (MeshHTTPRouteMatching, its nine cases).
func TestMeshHTTPRouteMatching(t *testing.T) {
	e := startMesh(t, "tests/mesh/httproute-matching.yaml")
	conn := e.client(meshNS, "echo", 80)
	for _, tc := range []struct {
		path    string
		headers []string
		backend string
	}{
		{path: "/", backend: "echo-v1"},
		{path: "/example", backend: "echo-v1"},
		{path: "/", headers: []string{"version", "one"}, backend: "echo-v1"},
		{path: "/v2", backend: "echo-v2"},
		{path: "/v2/example", backend: "echo-v2"},
		{path: "/", headers: []string{"version", "two"}, backend: "echo-v2"},
		{path: "/v2/", backend: "echo-v2"},
		{path: "/v2example", backend: "echo-v1"},
		{path: "/foo/v2/example", backend: "echo-v1"},
	} {
		t.Run(fmt.Sprintf("%s %v", tc.path, tc.headers), func(t *testing.T) {
			expectBackend(t, conn, tc.path, tc.headers, tc.backend)
		})
	}
}

// TestMeshTrafficSplit: exact paths split the Service between its versions
// (MeshTrafficSplit).
func TestMeshTrafficSplit(t *testing.T) {
	e := startMesh(t, "tests/mesh/mesh-split.yaml")
	conn := e.client(meshNS, "echo", 80)
	expectBackend(t, conn, "/v1", nil, "echo-v1")
	expectBackend(t, conn, "/v2", nil, "echo-v2")
}

// TestMeshHTTPRouteNamedRule: a named and an unnamed rule both route
// (MeshHTTPRouteNamedRule).
func TestMeshHTTPRouteNamedRule(t *testing.T) {
	e := startMesh(t, "tests/mesh/httproute-named-rule.yaml")
	conn := e.client(meshNS, "echo", 80)
	expectBackend(t, conn, "/named", nil, "echo-v1")
	expectBackend(t, conn, "/unnamed", nil, "echo-v2")
}

// TestMeshHTTPRouteWeight: 70/30 between echo-v1 and echo-v2
// (MeshHTTPRouteWeight).
func TestMeshHTTPRouteWeight(t *testing.T) {
	e := startMesh(t, "tests/mesh/httproute-weight.yaml")
	expectWeights(t, e.client(meshNS, "echo", 80), "/")
}

// TestMeshGRPCRouteWeight: a GRPCRoute on the Service's gRPC port splits
// 70/30; the third backend (weight 0, no such Service) gets nothing
// (MeshGRPCRouteWeight).
func TestMeshGRPCRouteWeight(t *testing.T) {
	e := startMesh(t, "tests/mesh/grpcroute-weight.yaml")
	expectWeights(t, e.client(meshNS, "echo", 7070), "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo")
}

// consumerGrant lets the consumer route of the upstream manifest reach its
// parent Service in the producer namespace. The upstream test has none and
// expects the route to work; Gantry asks for a ReferenceGrant for every
// cross-namespace backendRef, mesh routes included, so without it the
// consumer route's backend is RefNotPermitted (500) and MeshConsumerRoute is
// not claimed (docs/conformance.md).
const consumerGrant = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: consumer-routes, namespace: gateway-conformance-mesh}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: gateway-conformance-mesh-consumer}]
  to: [{group: "", kind: Service, name: echo-v1}]
`

// TestMeshConsumerRoute: the consumer route (namespace
// gateway-conformance-mesh-consumer) applies to that namespace's clients
// only: both reach echo-v1 (MeshConsumerRoute, with consumerGrant; the
// response header the route sets is checked on the Envoy flavor's route
// tables, TestMeshRouteTables).
func TestMeshConsumerRoute(t *testing.T) {
	e := startMeshWith(t, consumerGrant, "tests/mesh/mesh-consumer-route.yaml")
	expectBackend(t, e.client(consumerNS, "echo-v1", 80), "/", nil, "echo-v1")
	expectBackend(t, e.client(meshNS, "echo-v1", 80), "/", nil, "echo-v1")
}

// expectBackend waits until path (with headers) is answered by backend,
// once 10 calls in a row are,
// then checks 10 more are too and the backend saw the path.
func expectBackend(t *testing.T, conn *grpc.ClientConn, path string, headers []string, backend string) {
	t.Helper()
	want := backendName(backend)
	check := func() error {
		got, err := call(conn, path, headers...)
		if err != nil {
			return err
		}
		if got.Name != want || got.Path != path {
			return fmt.Errorf("%s %v answered by %s (path %s), want %s", path, headers, got.Name, got.Path, want)
		}
		return nil
	}
	// In effect once 10 calls in a row agree (a step replacing a split
	// may answer right by chance), then 10 more must.
	eventually(t, "route in effect", func() error {
		for range 10 {
			if err := check(); err != nil {
				return err
			}
		}
		return nil
	})
	for range 10 {
		if err := check(); err != nil {
			t.Fatal(err)
		}
	}
}

// expectWeights checks 500 calls split about 70/30 between echo-v1 and
// echo-v2 and nowhere else: at p=0.7 the count of echo-v1 has a standard
// deviation of about 10, so 300..400 (±5 sigma) cannot flake, while an
// even split (250) or one side only fails.
func expectWeights(t *testing.T, conn *grpc.ClientConn, path string) {
	t.Helper()
	eventually(t, "the split in effect", func() error {
		c := backendCounts(conn, 20, path)
		if c[backendName("echo-v1")]+c[backendName("echo-v2")] != 20 {
			return fmt.Errorf("answers %v (%v), want echo-v1 and echo-v2 only", c, sortedKeys(c))
		}
		return nil
	})
	c := backendCounts(conn, 500, path)
	v1, v2 := c[backendName("echo-v1")], c[backendName("echo-v2")]
	if v1+v2 != 500 || v1 < 300 || v1 > 400 {
		t.Fatalf("split %v, want about 350/150 between echo-v1 and echo-v2 only", c)
	}
}
