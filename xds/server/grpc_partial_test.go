package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// namedBackend is a gRPC server on loopback that answers any method with an
// empty message and its name in the "backend" header.
func namedBackend(t *testing.T, name string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		if err := st.RecvMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		if err := st.SetHeader(metadata.Pairs("backend", name)); err != nil {
			return err
		}
		return st.SendMsg(&emptypb.Empty{})
	}))
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

// grpcEndpoints is a load assignment grpc-go accepts: one weighted locality.
func grpcEndpoints(cluster, addr string) *endpointv3.ClusterLoadAssignment {
	cla := xdstest.Endpoints(cluster, addr)
	cla.Endpoints[0].Locality = &corev3.Locality{}
	cla.Endpoints[0].LoadBalancingWeight = wrapperspb.UInt32(1)
	return cla
}

// partialConfig: API listeners "one" and "two" with route configurations
// rc-one and rc-two sending to clusters named by route, plus clusters
// c-one, c-two and c-spare with the given endpoint addresses.
func partialConfig(route map[string]string, addr map[string]string) map[string][]types.Resource {
	res := map[string][]types.Resource{}
	for _, l := range []string{"one", "two"} {
		res[resource.ListenerType] = append(res[resource.ListenerType], xdstest.APIListener(l, "rc-"+l))
		res[resource.RouteType] = append(res[resource.RouteType], xdstest.Route("rc-"+l, []string{"*"}, route[l]))
	}
	for _, c := range []string{"c-one", "c-two", "c-spare"} {
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType], grpcEndpoints(c, addr[c]))
	}
	return res
}

// grpc-go's xDS client converges after state-of-the-world EDS and RDS
// responses that carry only the changed resources: the resources a response
// leaves out are kept, not removed.
func TestGRPCClientConvergesAfterPartialResponses(t *testing.T) {
	f := start(t)
	key := cache.Key{Group: "grpc/test/partial", Flavor: cache.FlavorGRPC}
	b := map[string]string{}
	for _, n := range []string{"b0", "b1", "b2"} {
		b[n] = namedBackend(t, n)
	}
	route := map[string]string{"one": "c-one", "two": "c-two"}
	addr := map[string]string{"c-one": b["b0"], "c-two": b["b1"], "c-spare": b["b2"]}
	if err := f.cache.SetSnapshot(key, partialConfig(route, addr), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	boot, err := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{"server_uri": f.addr, "channel_creds": []any{map[string]any{"type": "insecure"}}, "server_features": []any{"xds_v3"}}},
		"node":        map[string]any{"id": "partial", "cluster": key.Group, "metadata": map[string]any{cache.FlavorMetadataKey: cache.FlavorGRPC}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := xds.NewXDSResolverWithConfigForTesting(boot)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*grpc.ClientConn{}
	for _, l := range []string{"one", "two"} {
		cc, err := grpc.NewClient("xds:///"+l, grpc.WithResolvers(r), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		clients[l] = cc
	}
	expect := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := map[string]string{}
			for l, cc := range clients {
				got[l] = backendOf(cc)
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("calls reach %v, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	expect(map[string]string{"one": "b0", "two": "b1"})

	// EDS: one cluster's endpoints move; the response carries c-one alone.
	waitFor(t, func() bool { return allAcked(f.srv.Proxy("partial")) })
	eds, rds := metricValue(t, f.reg, "gantry_xds_resources_sent_total", "ClusterLoadAssignment"), metricValue(t, f.reg, "gantry_xds_resources_sent_total", "RouteConfiguration")
	if err := f.cache.UpdateEndpoints(key, []types.Resource{grpcEndpoints("c-one", b["b2"])}, nil, cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[string]string{"one": "b2", "two": "b1"})
	if got := metricValue(t, f.reg, "gantry_xds_resources_sent_total", "ClusterLoadAssignment") - eds; got != 1 {
		t.Fatalf("the endpoint change sent %v endpoint sets, want 1", got)
	}

	// RDS: one route configuration changes; the response carries rc-two alone.
	route["two"] = "c-spare"
	addr["c-one"] = b["b2"]
	if err := f.cache.SetSnapshot(key, partialConfig(route, addr), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[string]string{"one": "b2", "two": "b2"})
	if got := metricValue(t, f.reg, "gantry_xds_resources_sent_total", "RouteConfiguration") - rds; got != 1 {
		t.Fatalf("the route change sent %v route configurations, want 1", got)
	}
	route["two"], addr["c-two"] = "c-two", b["b0"]
	if err := f.cache.SetSnapshot(key, partialConfig(route, addr), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(map[string]string{"one": "b2", "two": "b0"})

	waitFor(t, func() bool { return allAcked(f.srv.Proxy("partial")) })
}

// backendOf calls cc once and returns the backend that answered, or the error.
func backendOf(cc *grpc.ClientConn) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var md metadata.MD
	if err := cc.Invoke(ctx, "/test.Echo/Call", &emptypb.Empty{}, &emptypb.Empty{}, grpc.Header(&md)); err != nil {
		return err.Error()
	}
	if v := md.Get("backend"); len(v) == 1 {
		return v[0]
	}
	return "no backend header"
}

// allAcked reports whether every type of every stream acknowledged what it
// was sent last.
func allAcked(ps []Proxy) bool {
	if len(ps) == 0 {
		return false
	}
	for _, p := range ps {
		for _, ts := range p.Types {
			if ts.State != "ACK" || ts.Acked != ts.Sent {
				return false
			}
		}
	}
	return true
}
