package server

import (
	"fmt"
	"runtime"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// A response sent with shared, pre-encoded resources decodes to exactly
// the message encoded the ordinary way, state of the world and delta, with
// small resources (copied into the shared bytes) and large ones (referred
// to), and the same list is encoded once.
func TestPreEncodedResponsesDecodeAsUsual(t *testing.T) {
	c := cache.New(cache.Options{})
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	domains := make([]string, 3000)
	for i := range domains {
		domains[i] = fmt.Sprintf("host-%d.example.com", i)
	}
	res[resource.RouteType] = []types.Resource{xdstest.Route("rc", domains, "c")} // > largeValue
	for i := range 1000 {
		name := fmt.Sprintf("e%04d", i)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(name))
		res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints(name, "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5"))
	}
	key := cache.Key{Group: group.Group, Flavor: cache.FlavorEnvoy}
	if err := c.SetSnapshot(key, res, cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	var b bodies
	for _, typ := range []string{resource.EndpointType, resource.RouteType} {
		list, version := c.Resources(key, typ)
		if typ == resource.EndpointType && b.get(sotwKind, list[:1]) != nil {
			t.Fatalf("%s: a small list is shared", typ)
		}
		body := b.get(sotwKind, list)
		if body == nil {
			t.Fatalf("%s: a list of %d resources is not shared", typ, len(list))
		}
		sotw := &discoveryv3.DiscoveryResponse{VersionInfo: version, TypeUrl: typ, Nonce: "7"}
		want := proto.Clone(sotw).(*discoveryv3.DiscoveryResponse)
		for _, r := range list {
			want.Resources = append(want.Resources, r.Any())
		}
		decodeEqual(t, &preEncoded{head: sotw, body: body}, &discoveryv3.DiscoveryResponse{}, want)

		delta := &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: version, TypeUrl: typ, Nonce: "8", RemovedResources: []string{"gone"}}
		wantDelta := proto.Clone(delta).(*discoveryv3.DeltaDiscoveryResponse)
		for _, r := range list {
			wantDelta.Resources = append(wantDelta.Resources, &discoveryv3.Resource{Name: r.Name, Version: r.Hash, Resource: &anypb.Any{TypeUrl: r.Any().GetTypeUrl(), Value: r.Any().GetValue()}})
		}
		decodeEqual(t, &preEncoded{head: delta, body: b.get(deltaKind, list)}, &discoveryv3.DeltaDiscoveryResponse{}, wantDelta)
		if again := b.get(sotwKind, list); &again[0] != &body[0] {
			t.Errorf("%s: the same list encoded twice", typ)
		}
	}
}

func decodeEqual(t *testing.T, e *preEncoded, got, want proto.Message) {
	t.Helper()
	data, err := newCodec().Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := proto.Unmarshal(buf.ReadOnlyData(), got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("pre-encoded %T decodes differently", want)
	}
}

// The bodies hold no list: old versions' lists (and resources) are
// collected, and their bodies dropped when the next list is encoded.
func TestBodiesDoNotKeepLists(t *testing.T) {
	c := cache.New(cache.Options{})
	key := cache.Key{Group: group.Group, Flavor: cache.FlavorEnvoy}
	var b bodies
	for gen := range 3 {
		res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
		domains := make([]string, 3000)
		for i := range domains {
			domains[i] = fmt.Sprintf("host-%d-%d.example.com", gen, i)
		}
		res[resource.RouteType] = []types.Resource{xdstest.Route("rc", domains, "c")}
		if err := c.SetSnapshot(key, res, cache.SetOptions{}); err != nil {
			t.Fatal(err)
		}
		list, _ := c.Resources(key, resource.RouteType)
		if b.get(sotwKind, list) == nil {
			t.Fatal("a large route configuration is not shared")
		}
		list = nil
		runtime.GC()
		runtime.GC()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	alive := 0
	for k := range b.m {
		if k.list.Value() != nil {
			alive++
		}
	}
	if alive != 1 || len(b.m) > 2 {
		t.Fatalf("%d lists of %d bodies alive after three versions, want the current one", alive, len(b.m))
	}
}
