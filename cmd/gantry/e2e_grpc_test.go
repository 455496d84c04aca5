package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
)

const routesYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: api, port: 8080}]
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: exact, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /}, headers: [{name: x-version, value: v2}]}]
    backendRefs: [{name: v2, port: 8080}]
  - backendRefs: [{name: fallback, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [b.example.com]
  rules:
  - backendRefs: [{name: bee, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: w, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [w.example.com]
  rules:
  - backendRefs: [{name: w80, port: 8080, weight: 80}, {name: w20, port: 8080, weight: 20}]
`

// movedRoutesYAML is routesYAML with one more rule: Exact /moved -> bee.
func movedRoutesYAML() string {
	return strings.Replace(routesYAML, "  - matches: [{path: {type: Exact, value: /exact}}]",
		"  - matches: [{path: {type: Exact, value: /moved}}]\n    backendRefs: [{name: bee, port: 8080}]\n  - matches: [{path: {type: Exact, value: /exact}}]", 1)
}

var e2eBackends = []string{"api", "exact", "v2", "fallback", "bee", "w80", "w20"}

func e2eFiles() map[string]string {
	files := map[string]string{"gateway.yaml": gatewayYAML, "routes.yaml": routesYAML}
	for _, b := range e2eBackends {
		files["backend-"+b+".yaml"] = backendYAML(b, false)
	}
	return files
}

func TestE2EGRPCClient(t *testing.T) {
	e := startE2E(t, e2eBackends, e2eFiles())
	a := e.grpcClient("grpc-a", "a.example.com")
	b := e.grpcClient("grpc-b", "b.example.com")
	w := e.grpcClient("grpc-w", "w.example.com")
	t.Run("host selects the virtual host", func(t *testing.T) { testHosts(t, a, b) })
	t.Run("path and header matching with precedence", func(t *testing.T) { testMatching(t, a) })
	t.Run("weighted split", func(t *testing.T) { testWeights(t, w) })
	t.Run("live update from an edited file", func(t *testing.T) { testLiveEdit(t, e, a) })
	t.Run("NACK is recorded, last good config kept, no resend loop", func(t *testing.T) { testNACK(t, e, a) })
	t.Run("backend endpoints going away", func(t *testing.T) { testEndpointsGone(t, e, a) })
}

func testHosts(t *testing.T, a, b *grpc.ClientConn) {
	if got, err := call(a, "/anything"); err != nil || got != "fallback" {
		t.Errorf("a.example.com /anything -> %q, %v; want fallback", got, err)
	}
	if got, err := call(b, "/anything"); err != nil || got != "bee" {
		t.Errorf("b.example.com /anything -> %q, %v; want bee", got, err)
	}
}

func testMatching(t *testing.T, a *grpc.ClientConn) {
	cases := []struct {
		path string
		kv   []string
		want string
	}{
		{path: "/exact", want: "exact"},
		{path: "/exact/more", want: "fallback"},
		{path: "/api", want: "api"},
		{path: "/api/users", want: "api"},
		{path: "/apix", want: "fallback"}, // prefixes match whole segments
		{path: "/other", kv: []string{"x-version", "v2"}, want: "v2"},
		{path: "/other", kv: []string{"x-version", "v3"}, want: "fallback"},
		{path: "/api/users", kv: []string{"x-version", "v2"}, want: "api"}, // a longer path prefix beats headers
		{path: "/exact", kv: []string{"x-version", "v2"}, want: "exact"},   // an exact path beats everything
	}
	for _, tc := range cases {
		got, err := call(a, tc.path, tc.kv...)
		if err != nil || got != tc.want {
			t.Errorf("%s %v -> %q, %v; want %s", tc.path, tc.kv, got, err, tc.want)
		}
	}
}

func testWeights(t *testing.T, w *grpc.ClientConn) {
	// 80/20 over 1000 calls: the count of w80 has a standard deviation
	// of about 12.6; accepting 700..900 is ±7.9 sigma, which cannot
	// flake while still catching a missing or inverted split.
	counts := map[string]int{}
	for i := 0; i < 1000; i++ {
		got, err := call(w, "/x")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		counts[got]++
	}
	if counts["w80"] < 700 || counts["w80"] > 900 || counts["w80"]+counts["w20"] != 1000 {
		t.Errorf("split = %v, want about 800/200", counts)
	}
}

func testLiveEdit(t *testing.T, e *e2eEnv, a *grpc.ClientConn) {
	edited := movedRoutesYAML()
	e.write(t, "routes.yaml", edited)
	e.eventually(t, "/moved routed to bee", func() error {
		if got, err := call(a, "/moved"); err != nil || got != "bee" {
			return fmt.Errorf("/moved -> %q, %v", got, err)
		}
		return nil
	})
	if got, err := call(a, "/exact"); err != nil || got != "exact" {
		t.Errorf("/exact after the edit -> %q, %v", got, err)
	}
}

func testEndpointsGone(t *testing.T, e *e2eEnv, a *grpc.ClientConn) {
	before := typeState(t, e, "grpc-a", resourcev3.RouteType)
	e.write(t, "backend-exact.yaml", backendYAML("exact", true))
	e.eventually(t, "/exact fails without endpoints", func() error {
		_, err := callNoWait(a, "/exact")
		if status.Code(err) != codes.Unavailable {
			return fmt.Errorf("/exact: %v, want Unavailable", err)
		}
		return nil
	})
	if got, err := call(a, "/api"); err != nil || got != "api" {
		t.Errorf("/api after exact lost its endpoints -> %q, %v", got, err)
	}
	after := typeState(t, e, "grpc-a", resourcev3.RouteType)
	if after.SentNonce != before.SentNonce {
		t.Errorf("an EndpointSlice change re-sent routes (nonce %s -> %s): the EDS fast path was not taken", before.SentNonce, after.SentNonce)
	}
	e.write(t, "backend-exact.yaml", backendYAML("exact", false))
	e.eventually(t, "/exact served again", func() error {
		if got, err := call(a, "/exact"); err != nil || got != "exact" {
			return fmt.Errorf("/exact -> %q, %v", got, err)
		}
		return nil
	})
}

// testNACK serves the gRPC node a route configuration it must reject (a
// weighted action whose weights sum to 0, which passes proto validation),
// then checks the NACK is recorded (state, metric, proxy-config), the node
// keeps serving its last good routes, and nothing is re-sent until the
// configuration changes.
func testNACK(t *testing.T, e *e2eEnv, a *grpc.ClientConn) {
	testRejected(t, e, nackCase{
		node: "grpc-a", flavor: cache.FlavorGRPC,
		// Weights that sum to 0 pass proto validation; grpc-go rejects them.
		breakAction: func(act *routev3.RouteAction) {
			cluster := act.GetCluster()
			if wc := act.GetWeightedClusters(); wc != nil {
				cluster = wc.Clusters[0].Name
			}
			act.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
				Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: cluster, Weight: wrapperspb.UInt32(0)}},
			}}
		},
		stillServes: func() error {
			if got, err := call(a, "/api/users"); err != nil || got != "api" {
				return fmt.Errorf("/api/users -> %q, %v; want api", got, err)
			}
			return nil
		},
	})
}

// nackCase is a route configuration a node must reject.
type nackCase struct {
	node, flavor string
	// breakAction edits every route action so that the node rejects it.
	breakAction func(*routev3.RouteAction)
	// stillServes checks the node still uses its last good configuration.
	stillServes func() error
}

// testRejected serves the node a configuration it rejects and checks the
// NACK is recorded (state, metric, proxy-config), the node keeps serving its
// last good routes, nothing is re-sent until the configuration changes, and
// a fixed configuration is accepted again.
func testRejected(t *testing.T, e *e2eEnv, nc nackCase) {
	key := cache.Key{Group: e2eGroup, Flavor: nc.flavor}
	good := map[string][]types.Resource{}
	for _, typ := range cache.TypeOrder {
		rs, _ := e.cp.cache.Resources(key, typ)
		for _, r := range rs {
			good[typ] = append(good[typ], r.Message)
		}
	}
	bad := map[string][]types.Resource{}
	for typ, rs := range good {
		bad[typ] = rs
	}
	bad[resourcev3.RouteType] = nil
	for _, r := range good[resourcev3.RouteType] {
		rc := proto.Clone(r).(*routev3.RouteConfiguration) // a flat copy, also of a Builder's listed configuration
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				if act := rt.GetRoute(); act != nil {
					nc.breakAction(act)
				}
			}
		}
		bad[resourcev3.RouteType] = append(bad[resourcev3.RouteType], rc)
	}
	if err := e.cp.cache.SetSnapshot(key, bad, cache.SetOptions{}); err != nil {
		t.Fatalf("setting the configuration the client rejects: %v", err)
	}
	e.eventually(t, "the NACK to be recorded", func() error {
		if ts := typeState(t, e, nc.node, resourcev3.RouteType); ts.State != "NACK" || ts.NACK == nil || ts.NACK.Error == "" {
			return fmt.Errorf("route state %s nack %+v", ts.State, ts.NACK)
		}
		return nil
	})
	// The last good configuration still routes.
	if err := nc.stillServes(); err != nil {
		t.Errorf("after the NACK (last good config): %v", err)
	}
	// Nothing is re-sent: the nonce and the push count stay put.
	nacked := typeState(t, e, nc.node, resourcev3.RouteType)
	pushes := metric(t, e, "gantry_xds_pushes_total", `type="RouteConfiguration"`)
	time.Sleep(700 * time.Millisecond)
	if later := typeState(t, e, nc.node, resourcev3.RouteType); later.SentNonce != nacked.SentNonce || later.NACK.Count != 1 {
		t.Errorf("rejected routes re-sent: nonce %s -> %s, NACK count %d", nacked.SentNonce, later.SentNonce, later.NACK.Count)
	}
	if p := metric(t, e, "gantry_xds_pushes_total", `type="RouteConfiguration"`); p != pushes {
		t.Errorf("route pushes went from %v to %v while the configuration did not change", pushes, p)
	}
	if n := metric(t, e, "gantry_xds_nacks_total", `type="RouteConfiguration"`); n < 1 {
		t.Errorf("nacks metric = %v", n)
	}
	// proxy-config shows it, through the admin endpoint.
	var out bytes.Buffer
	body, err := fetchAdmin("http://" + e.cp.adminLn.Addr().String() + "/proxies")
	if err != nil {
		t.Fatal(err)
	}
	if err := printProxyConfig(&out, body, "table"); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(nc.node) + `\s.*RouteConfiguration\s+NACK\s`).MatchString(out.String()) {
		t.Errorf("proxy-config does not show the NACK:\n%s", out.String())
	}
	// The node's detail lists what it was sent, as JSON.
	body, err = fetchAdmin("http://" + e.cp.adminLn.Addr().String() + "/proxies/" + nc.node)
	if err != nil {
		t.Fatal(err)
	}
	var docs []proxyDoc
	if err := json.Unmarshal(body, &docs); err != nil || len(docs) != 1 || len(docs[0].Types) < 4 {
		t.Fatalf("/proxies/%s: %v, %s", nc.node, err, body)
	}
	// A fixed configuration is accepted again.
	if err := e.cp.cache.SetSnapshot(key, good, cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "the good routes to be ACKed", func() error {
		if ts := typeState(t, e, nc.node, resourcev3.RouteType); ts.State != "ACK" {
			return fmt.Errorf("route state %s", ts.State)
		}
		return nil
	})
}

// metric reads one series from /metrics over HTTP.
func metric(t *testing.T, e *e2eEnv, name, labels string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + e.cp.metricLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, labels) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err == nil {
				return v
			}
		}
	}
	return 0
}

// callNoWait is call without waiting for a ready connection, so a cluster
// with no endpoints fails fast.
func callNoWait(conn *grpc.ClientConn, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []byte
	err := conn.Invoke(ctx, path, []byte("{}"), &out, grpc.ForceCodec(rawCodec{}))
	return "", err
}

func typeState(t *testing.T, e *e2eEnv, node, typeURL string) server.TypeState {
	t.Helper()
	for _, p := range e.cp.xds.Proxy(node) {
		for _, ts := range p.Types {
			if ts.TypeURL == typeURL {
				return ts
			}
		}
	}
	t.Fatalf("node %s has no %s state", node, typeURL)
	return server.TypeState{}
}

// A restarted control plane computes the same versions, so the clients that
// reconnect to it holding the current configuration are sent nothing; a
// real change afterwards still reaches them.
func TestE2ERestartSendsNothing(t *testing.T) {
	e := startE2E(t, e2eBackends, e2eFiles())
	a := e.grpcClient("grpc-a", "a.example.com")
	if got, err := call(a, "/exact"); err != nil || got != "exact" {
		t.Fatalf("/exact -> %q, %v", got, err)
	}
	addr := e.cp.xdsLn.Addr().String()
	e.stop(t)
	e.start(t, addr)
	e.eventually(t, "grpc-a to reconnect and subscribe", func() error {
		for _, p := range e.cp.xds.Proxy("grpc-a") {
			if p.Group == e2eGroup {
				return nil
			}
		}
		return fmt.Errorf("grpc-a not connected to the new server")
	})
	time.Sleep(time.Second)
	for _, p := range e.cp.xds.Proxy("grpc-a") {
		for _, ts := range p.Types {
			if ts.Sent != "" {
				t.Errorf("after the restart %s was re-sent (version %s) although nothing changed", ts.TypeURL, ts.Sent)
			}
		}
	}
	for _, typ := range []string{"Listener", "RouteConfiguration", "Cluster", "ClusterLoadAssignment"} {
		if n := metric(t, e, "gantry_xds_pushes_total", `type="`+typ+`"`); n != 0 {
			t.Errorf("restarted server pushed %v %s responses", n, typ)
		}
	}
	if got, err := call(a, "/exact"); err != nil || got != "exact" {
		t.Errorf("/exact after the restart -> %q, %v", got, err)
	}
	edited := movedRoutesYAML()
	e.write(t, "routes.yaml", edited)
	e.eventually(t, "/moved routed to bee after the restart", func() error {
		if got, err := call(a, "/moved"); err != nil || got != "bee" {
			return fmt.Errorf("/moved -> %q, %v", got, err)
		}
		return nil
	})
}
