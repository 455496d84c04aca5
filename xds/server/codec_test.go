package server

import (
	"fmt"
	"math/bits"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func encoded(t *testing.T, m proto.Message) mem.BufferSlice {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}
}

// Discovery requests decode exactly as with gRPC's codec, their names list
// allocated at its final size; other messages go to gRPC's codec.
func TestCodecSizesNameLists(t *testing.T) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	node := &corev3.Node{Id: "n", Cluster: "gateway/ns/gw"}
	sotw := &discoveryv3.DiscoveryRequest{VersionInfo: "v", Node: node, ResourceNames: names, TypeUrl: resource.EndpointType, ResponseNonce: "1"}
	delta := &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: names,
		ResourceNamesUnsubscribe: []string{"gone"}, InitialResourceVersions: map[string]string{"c1": "x", "c2": "y"}}
	c := newCodec()

	gotSotw := &discoveryv3.DiscoveryRequest{ResourceNames: []string{"stale"}, TypeUrl: "stale"}
	if err := c.Unmarshal(encoded(t, sotw), gotSotw); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(gotSotw, sotw) || cap(gotSotw.ResourceNames) != len(names) {
		t.Errorf("DiscoveryRequest decoded as %d names (capacity %d), equal %v", len(gotSotw.ResourceNames), cap(gotSotw.ResourceNames), proto.Equal(gotSotw, sotw))
	}
	gotDelta := &discoveryv3.DeltaDiscoveryRequest{}
	if err := c.Unmarshal(encoded(t, delta), gotDelta); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(gotDelta, delta) || cap(gotDelta.ResourceNamesSubscribe) != len(names) {
		t.Errorf("DeltaDiscoveryRequest decoded as %d names (capacity %d), equal %v", len(gotDelta.ResourceNamesSubscribe), cap(gotDelta.ResourceNamesSubscribe), proto.Equal(gotDelta, delta))
	}
	d := &durationpb.Duration{}
	if err := c.Unmarshal(encoded(t, durationpb.New(3e9)), d); err != nil || d.GetSeconds() != 3 {
		t.Errorf("other message decoded as %v, %v", d, err)
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x1a, 0x05, 'a'})}, &discoveryv3.DiscoveryRequest{}); err == nil {
		t.Error("a truncated request decoded without an error")
	}
}

// A request in several buffers, cut anywhere (inside a name too), decodes
// as in one, the subscription's names matched; the buffer it was copied
// into, handed out again without being cleared, holds nothing of it for
// the next, shorter request of the same size.
func TestCodecJoinsBuffers(t *testing.T) {
	last, set := subscribed("", clusterNames(300))
	node := &corev3.Node{Id: "n", Cluster: "gateway/ns/gw"}
	req := &discoveryv3.DiscoveryRequest{VersionInfo: "v1", Node: node, TypeUrl: resource.EndpointType, ResponseNonce: "1", ResourceNames: clusterNames(300)}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec()
	for _, cut := range []int{1, 7, 64, 1000} {
		var data mem.BufferSlice
		for rest := b; len(rest) > 0; rest = rest[min(cut, len(rest)):] {
			data = append(data, mem.SliceBuffer(rest[:min(cut, len(rest))]))
		}
		r := &sotwRecv{req: &discoveryv3.DiscoveryRequest{}, last: last}
		if err := c.Unmarshal(data, r); err != nil {
			t.Fatal(err)
		}
		if !shares(r.req.GetResourceNames(), set.Names()) {
			t.Errorf("cut every %d bytes: names decoded", cut)
		}
		r.req.ResourceNames = req.ResourceNames
		if !proto.Equal(r.req, req) {
			t.Errorf("cut every %d bytes: decoded as %v", cut, r.req)
		}
	}
	short := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: clusterNames(290)}
	sb, err := proto.Marshal(short)
	if err != nil {
		t.Fatal(err)
	}
	if bits.Len(uint(len(sb)-1)) != bits.Len(uint(len(b)-1)) {
		t.Fatalf("requests of %d and %d bytes are not of the same size", len(b), len(sb))
	}
	got := &discoveryv3.DiscoveryRequest{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(sb[:10]), mem.SliceBuffer(sb[10:])}, got); err != nil || !proto.Equal(got, short) {
		t.Errorf("a shorter request decoded as %d names, %v", len(got.GetResourceNames()), err)
	}
}
