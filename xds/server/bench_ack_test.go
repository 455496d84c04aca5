package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// BenchmarkEndpointChangeACK is what one endpoint change costs the server
// and the cache, allocations included, with one state-of-the-world ADS
// client over gRPC subscribed to the n endpoint sets of n EDS clusters: one
// endpoint set changes (UpdateEndpoints), the client receives it and
// acknowledges, re-sending its n names as the protocol has it, in the same
// order every time (as Envoy does) or in a new order every time (as
// grpc-go's xDS client does: it lists them from a map). The client encodes
// its names once, so what B/op and allocs/op count beyond a constant is the
// server's and the cache's.
func BenchmarkEndpointChangeACK(b *testing.B) {
	for _, n := range []int{3000, 10000} {
		for _, shuffled := range []bool{false, true} {
			order := "same"
			if shuffled {
				order = "shuffled"
			}
			b.Run(fmt.Sprintf("clusters=%d/names=%s", n, order), func(b *testing.B) {
				benchEndpointChangeACK(b, n, shuffled)
			})
		}
	}
}

func benchEndpointChangeACK(b *testing.B, n int, shuffled bool) {
	c := cache.New(cache.Options{})
	names := make([]string, n)
	res := map[string][]types.Resource{}
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(names[i]))
		res[resource.EndpointType] = append(res[resource.EndpointType], benchEndpoints(i, 0))
	}
	if err := c.SetSnapshot(group, res, cache.SetOptions{}); err != nil {
		b.Fatal(err)
	}
	st := benchClient(b, c)
	orders := [][]byte{encodeNames(names)}
	for shuffled && len(orders) < 8 {
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		orders = append(orders, encodeNames(names))
	}
	req := &discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.EndpointType}
	if err := st.SendMsg(&encodedRequest{head: req, names: orders[0]}); err != nil {
		b.Fatal(err)
	}
	ack := func(i int) {
		resp, err := st.Recv()
		if err != nil {
			b.Fatal(err)
		}
		head := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if err := st.SendMsg(&encodedRequest{head: head, names: orders[i%len(orders)]}); err != nil {
			b.Fatal(err)
		}
	}
	ack(1)
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.Report(b)()
	for i := 0; i < b.N; i++ {
		if err := c.UpdateEndpoints(group, []types.Resource{benchEndpoints(i%n, i+1)}, nil, cache.SetOptions{}); err != nil {
			b.Fatal(err)
		}
		ack(i)
	}
}

func benchEndpoints(i, gen int) types.Resource {
	return xdstest.Endpoints(fmt.Sprintf("c%d", i), fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1), fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250+1, 8080+gen%50000))
}

// benchClient serves c on loopback and opens an ADS stream to it whose
// requests may be encodedRequests; both end with b.
func benchClient(b *testing.B, c *cache.Cache) grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse] {
	s, err := New(Options{Cache: c, Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(clientCodec{encoding.GetCodecV2(grpcproto.Name)})))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		_ = conn.Close()
		stop, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		s.Stop(stop)
	})
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// encodedRequest is a request whose resource names are encoded already.
type encodedRequest struct {
	head  *discoveryv3.DiscoveryRequest
	names []byte
}

func encodeNames(names []string) []byte {
	var out []byte
	for _, n := range names {
		out = protowire.AppendTag(out, namesField, protowire.BytesType)
		out = protowire.AppendString(out, n)
	}
	return out
}

// clientCodec is gRPC's proto codec that sends an encodedRequest's head
// followed by its names.
type clientCodec struct{ encoding.CodecV2 }

func (c clientCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*encodedRequest)
	if !ok {
		return c.CodecV2.Marshal(v)
	}
	head, err := proto.Marshal(r.head)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(r.names)}, nil
}

// BenchmarkACKDecode is what the server's codec spends on one
// state-of-the-world ACK that names the stream's n subscribed endpoint sets
// (names of a Service port's length): in the order it matched last (as
// Envoy sends them) or in a new order every time (grpc-go's xDS client), as
// one buffer or as gRPC hands over a large message, one buffer per HTTP/2
// frame of 16 KiB.
func BenchmarkACKDecode(b *testing.B) {
	for _, n := range []int{3000, 10000} {
		for _, shuffled := range []bool{false, true} {
			for _, frames := range []bool{false, true} {
				b.Run(fmt.Sprintf("names=%d/shuffled=%v/frames=%v", n, shuffled, frames), func(b *testing.B) {
					benchACKDecode(b, n, shuffled, frames)
				})
			}
		}
	}
}

func benchACKDecode(b *testing.B, n int, shuffled, frames bool) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ns-%d/svc-%d/8080", i%100, i)
	}
	last := newLastNames("")
	last.publish(resource.EndpointType, cache.Subscription{Names: cache.New(cache.Options{}).NameSet(group, resource.EndpointType, names)})
	var reqs []mem.BufferSlice
	for len(reqs) < 8 {
		head, err := proto.Marshal(&discoveryv3.DiscoveryRequest{VersionInfo: "v1", Node: xdstest.Node("n", group.Group, ""), ResponseNonce: "1"})
		if err != nil {
			b.Fatal(err)
		}
		tail, err := proto.Marshal(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType})
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, splitFrames(append(append(head, encodeNames(names)...), tail...), frames))
		if !shuffled {
			break
		}
		rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	}
	c := newCodec()
	r := &sotwRecv{last: last}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.req = &discoveryv3.DiscoveryRequest{}
		if err := c.Unmarshal(reqs[i%len(reqs)], r); err != nil || len(r.req.GetResourceNames()) != n {
			b.Fatalf("%d names, %v", len(r.req.GetResourceNames()), err)
		}
	}
}

// splitFrames returns b as one buffer, or as buffers of 16 KiB.
func splitFrames(b []byte, frames bool) mem.BufferSlice {
	if !frames {
		return mem.BufferSlice{mem.SliceBuffer(b)}
	}
	var out mem.BufferSlice
	for len(b) > 0 {
		n := min(len(b), 16<<10)
		out = append(out, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return out
}
