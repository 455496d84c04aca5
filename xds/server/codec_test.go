package server

import (
	"fmt"
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
