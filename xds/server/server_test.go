package server

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

var group = cache.Key{Group: "gateway/default/eg", Flavor: cache.FlavorEnvoy}

type fixture struct {
	cache *cache.Cache
	srv   *Server
	reg   *prometheus.Registry
	conn  *grpc.ClientConn
	addr  string
}

func start(t *testing.T) *fixture { return startWith(t, Options{}) }

// startWith starts a server with opts (a new cache and f.reg unless set)
// on 127.0.0.1:0 and a client connection to it, both closed at test end.
func startWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Cache == nil {
		opts.Cache = cache.New(cache.Options{})
	}
	if opts.Authenticator == nil {
		opts.Insecure = true
	}
	reg := prometheus.NewRegistry()
	if opts.Registry == nil {
		opts.Registry = reg
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return &fixture{cache: opts.Cache, srv: s, reg: reg, conn: conn, addr: l.Addr().String()}
}

// sotwStream opens an aggregated state-of-the-world stream; send fails t
// on error, cancel ends the stream (it also ends when the test does).
func (f *fixture) sotwStream(t *testing.T) (send func(*discoveryv3.DiscoveryRequest), resps <-chan *discoveryv3.DiscoveryResponse, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sender(t, st.Send), pump(st.Recv), cancel
}

// deltaStream is sotwStream for the aggregated delta protocol.
func (f *fixture) deltaStream(t *testing.T) (send func(*discoveryv3.DeltaDiscoveryRequest), resps <-chan *discoveryv3.DeltaDiscoveryResponse, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sender(t, st.Send), pump(st.Recv), cancel
}

// sender wraps a stream's Send to fail t on error.
func sender[T any](t *testing.T, send func(T) error) func(T) {
	return func(r T) {
		t.Helper()
		if err := send(r); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) set(t *testing.T, res map[string][]types.Resource) {
	t.Helper()
	if err := f.cache.SetSnapshot(group, res, cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
}

// recvAll collects responses until quiet for d.
func recvAll[T any](ch <-chan T, d time.Duration) []T {
	var out []T
	for {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-time.After(d):
			return out
		}
	}
}

func pump[T any](recv func() (T, error)) <-chan T {
	ch := make(chan T, 100)
	go func() {
		for {
			r, err := recv()
			if err != nil {
				close(ch)
				return
			}
			ch <- r
		}
	}()
	return ch
}

func TestSotwNACKNoResendLoop(t *testing.T) {
	f := start(t)
	f.set(t, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	send, resps, _ := f.sotwStream(t)
	node := xdstest.Node("envoy-1", group.Group, "")
	send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType})
	first := <-resps
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: first.VersionInfo, ResponseNonce: first.Nonce})

	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster("rejected"))
	res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints("rejected"))
	f.set(t, res)
	bad := <-resps
	// NACK it, keeping the first version.
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: first.VersionInfo, ResponseNonce: bad.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "cluster rejected: bad"}})
	if extra := recvAll(resps, 300*time.Millisecond); len(extra) != 0 {
		t.Fatalf("NACKed configuration re-sent %d times", len(extra))
	}
	if got := metricValue(t, f.reg, "gantry_xds_nacks_total", "Cluster"); got != 1 {
		t.Errorf("nacks metric = %v, want 1", got)
	}
	ps := f.srv.Proxy("envoy-1")
	if len(ps) != 1 {
		t.Fatalf("proxy state: %+v", ps)
	}
	var cds TypeState
	for _, ts := range ps[0].Types {
		if ts.TypeURL == resource.ClusterType {
			cds = ts
		}
	}
	if cds.State != "NACK" || cds.Acked != first.VersionInfo || cds.NACK == nil || !strings.Contains(cds.NACK.Error, "cluster rejected") || cds.NACK.Version != bad.VersionInfo {
		t.Fatalf("NACK not recorded in proxy state: %+v nack=%+v", cds, cds.NACK)
	}
	if ps[0].Group != group.Group || ps[0].Flavor != "envoy" || ps[0].Protocol != "sotw" {
		t.Errorf("proxy identity: %+v", ps[0])
	}
	// A fixed configuration is pushed and ACKed.
	f.set(t, xdstest.Simple("svc", 8080, "127.0.0.1:2"))
	fixed := <-resps
	if fixed.TypeUrl != resource.ClusterType || fixed.VersionInfo != first.VersionInfo {
		t.Fatalf("after the fix got %s %s, want clusters at the first version", fixed.TypeUrl, fixed.VersionInfo)
	}
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: fixed.VersionInfo, ResponseNonce: fixed.Nonce})
	waitFor(t, func() bool {
		for _, ts := range f.srv.Proxy("envoy-1")[0].Types {
			if ts.TypeURL == resource.ClusterType {
				return ts.State == "ACK"
			}
		}
		return false
	})
	if n := metricValue(t, f.reg, "gantry_xds_convergence_seconds", "Cluster"); n == 0 {
		t.Error("no convergence observation")
	}
	if got := metricValue(t, f.reg, "gantry_xds_connections", "sotw"); got != 1 {
		t.Errorf("connections gauge = %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deltaNames(r *discoveryv3.DeltaDiscoveryResponse) string {
	var n []string
	for _, x := range r.Resources {
		n = append(n, x.Name+"@"+x.Version)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func TestDeltaProtocol(t *testing.T) {
	f := start(t)
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster("d"), xdstest.Cluster("e"))
	res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints("d", "127.0.0.1:2"), xdstest.Endpoints("e", "127.0.0.1:5"))
	f.set(t, res)
	send, resps, _ := f.deltaStream(t)
	node := xdstest.Node("delta-1", group.Group, "")
	// Subscribe to one endpoint by name.
	send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"c"}})
	r := <-resps
	versions := map[string]string{}
	for _, x := range r.Resources {
		versions[x.Name] = x.Version
	}
	if len(r.Resources) != 1 || r.Resources[0].Name != "c" || versions["c"] == "" {
		t.Fatalf("subscribe c: got %s", deltaNames(r))
	}
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: r.Nonce})
	// Subscribe to d as well: only d is sent.
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"d"}})
	r = <-resps
	if len(r.Resources) != 1 || r.Resources[0].Name != "d" {
		t.Fatalf("subscribe d: got %s", deltaNames(r))
	}
	versions["d"] = r.Resources[0].Version
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: r.Nonce})
	// Unsubscribe c (and subscribe e, whose answer shows the request was
	// processed): a change to c is then not pushed.
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesUnsubscribe: []string{"c"}, ResourceNamesSubscribe: []string{"e"}})
	r = <-resps
	if deltaNames(r) != "e@"+mustHash(t, f, resource.EndpointType, "e") {
		t.Fatalf("subscribe e: got %s", deltaNames(r))
	}
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: r.Nonce})
	res[resource.EndpointType] = []types.Resource{xdstest.Endpoints("c", "127.0.0.1:9"), xdstest.Endpoints("d", "127.0.0.1:2"), xdstest.Endpoints("e", "127.0.0.1:5")}
	f.set(t, res)
	if extra := recvAll(resps, 200*time.Millisecond); len(extra) != 0 {
		t.Fatalf("unsubscribed resource pushed: %s", deltaNames(extra[0]))
	}
	// Change d: only d, with a new version.
	res[resource.EndpointType] = []types.Resource{xdstest.Endpoints("c", "127.0.0.1:9"), xdstest.Endpoints("d", "127.0.0.1:3"), xdstest.Endpoints("e", "127.0.0.1:5")}
	f.set(t, res)
	r = <-resps
	if len(r.Resources) != 1 || r.Resources[0].Name != "d" || r.Resources[0].Version == versions["d"] || len(r.RemovedResources) != 0 {
		t.Fatalf("update d: got %s removed %v", deltaNames(r), r.RemovedResources)
	}
	versions["d"] = r.Resources[0].Version
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: r.Nonce})
	// Remove d (and its cluster): d is listed as removed.
	res = xdstest.Simple("svc", 8080, "127.0.0.1:1")
	f.set(t, res)
	r = <-resps
	if len(r.Resources) != 0 || strings.Join(r.RemovedResources, ",") != "d,e" {
		t.Fatalf("removal: got %s removed %v", deltaNames(r), r.RemovedResources)
	}
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: r.Nonce})
	// Subscribe to c, unsubscribe it (nothing is sent), subscribe again:
	// the node dropped c, so it is sent again although it did not change.
	for i, want := range []string{"c", "", "c"} {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"c"}}
		if want == "" {
			req = &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesUnsubscribe: []string{"c"}}
		}
		send(req)
		got := recvAll(resps, 200*time.Millisecond)
		if want == "" {
			if len(got) != 0 {
				t.Fatalf("step %d: unsubscribing sent %s", i, deltaNames(got[0]))
			}
			continue
		}
		if len(got) != 1 || len(got[0].Resources) != 1 || got[0].Resources[0].Name != want {
			t.Fatalf("step %d: %d responses, want %s sent", i, len(got), want)
		}
		send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: got[0].Nonce})
	}
}

// A delta stream that reconnects with initial_resource_versions matching
// the server's receives nothing; a stale version gets just that resource.
func TestDeltaReconnect(t *testing.T) {
	f := start(t)
	f.set(t, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	send, resps, cancel := f.deltaStream(t)
	node := xdstest.Node("delta-1", group.Group, "")
	send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"c"}})
	r := <-resps
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: r.Nonce})
	// Wildcard clusters on the same stream.
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType})
	r = <-resps
	if deltaNames(r) == "" || r.Resources[0].Name != "c" || len(r.Resources) != 1 {
		t.Fatalf("wildcard clusters: %s", deltaNames(r))
	}
	clusterVersion := r.Resources[0].Version
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: r.Nonce})
	cancel()

	// Reconnect with initial_resource_versions: nothing is sent.
	send2, resps2, _ := f.deltaStream(t)
	cla, _ := f.cache.Resources(group, resource.EndpointType)
	send2(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType,
		InitialResourceVersions: map[string]string{"c": clusterVersion}})
	send2(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"c"},
		InitialResourceVersions: map[string]string{"c": cla[0].Hash}})
	if extra := recvAll(resps2, 300*time.Millisecond); len(extra) != 0 {
		t.Fatalf("reconnect with current versions received %d responses, first: %s", len(extra), deltaNames(extra[0]))
	}
	// With a stale version, only that resource is sent.
	send2(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType,
		InitialResourceVersions: map[string]string{"svc": "stale", "l": mustHash(t, f, resource.ListenerType, "l")}})
	r = <-resps2
	if len(r.Resources) != 1 || r.Resources[0].Name != "svc" {
		t.Fatalf("stale initial version: got %s", deltaNames(r))
	}
}

func mustHash(t *testing.T, f *fixture, typ, name string) string {
	rs, _ := f.cache.Resources(group, typ)
	for _, r := range rs {
		if r.Name == name {
			return r.Hash
		}
	}
	t.Fatalf("%s %s not in cache", typ, name)
	return ""
}

func TestStopEndsStreams(t *testing.T) {
	f := start(t)
	f.set(t, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	f.srv.Stop(ctx)
	if time.Since(start) > time.Second {
		t.Errorf("graceful stop took %v", time.Since(start))
	}
	if _, err := st.Recv(); err == nil {
		t.Fatal("stream still open after Stop")
	}
}

func TestNewKeyCallback(t *testing.T) {
	c := cache.New(cache.Options{})
	keys := make(chan cache.Key, 4)
	s, err := New(Options{Cache: c, Insecure: true, OnNewKey: func(k cache.Key) { keys <- k }})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = s.Serve(l) }()
	defer s.Stop(context.Background())
	conn, _ := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("g", "gateway/a/b", "grpc"), TypeUrl: resource.ListenerType, ResourceNames: []string{"x"}})
	select {
	case k := <-keys:
		if k != (cache.Key{Group: "gateway/a/b", Flavor: cache.FlavorGRPC}) {
			t.Fatalf("key %v", k)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("OnNewKey not called")
	}
	waitFor(t, func() bool { return len(s.ConnectedKeys()) == 1 })
}

// metricValue returns a counter or gauge value, or a histogram's sample
// count, of the series of name whose single label has value label.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func TestPerTypeServiceAndDeltaNACK(t *testing.T) {
	f := start(t)
	f.set(t, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A non-aggregated cluster stream (CDS service).
	cds, err := clusterservice.NewClusterDiscoveryServiceClient(f.conn).StreamClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cds.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("cds-1", group.Group, "")}); err != nil {
		t.Fatal(err)
	}
	r, err := cds.Recv()
	if err != nil || r.TypeUrl != resource.ClusterType || len(r.Resources) != 1 {
		t.Fatalf("CDS service: %v, %v", r, err)
	}

	// A delta NACK is not answered with the same resources again.
	send, resps, _ := f.deltaStream(t)
	send(&discoveryv3.DeltaDiscoveryRequest{Node: xdstest.Node("delta-nack", group.Group, ""), TypeUrl: resource.RouteType,
		ResourceNamesSubscribe: []string{"rc"}})
	first := <-resps
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: first.Nonce})
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.RouteType] = []types.Resource{xdstest.Route("rc", []string{"rejected.example.com"}, "c")}
	f.set(t, res)
	bad := <-resps
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.RouteType, ResponseNonce: bad.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "route rejected"}})
	if extra := recvAll(resps, 300*time.Millisecond); len(extra) != 0 {
		t.Fatalf("delta NACK answered with %d responses", len(extra))
	}
	waitFor(t, func() bool {
		for _, p := range f.srv.Proxy("delta-nack") {
			for _, ts := range p.Types {
				if ts.TypeURL == resource.RouteType && ts.State == "NACK" && ts.NACK != nil && ts.NACK.Error == "route rejected" &&
					ts.Acked == first.SystemVersionInfo && ts.NACK.Version == bad.SystemVersionInfo {
					return true
				}
			}
		}
		return false
	})
}
