package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// recvInto decodes m as a stream of last receives it, failing t on error.
func recvInto(t *testing.T, last *lastNames, m *discoveryv3.DiscoveryRequest) *discoveryv3.DiscoveryRequest {
	t.Helper()
	r := &sotwRecv{req: &discoveryv3.DiscoveryRequest{}, last: last}
	if err := newCodec().Unmarshal(encoded(t, m), r); err != nil {
		t.Fatal(err)
	}
	return r.req
}

func shares(a, b []string) bool { return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0] }

func clusterNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%d", i)
	}
	return out
}

// A request that names what the stream's last request of its type named,
// in the same order or in another (each once), is given the names decoded
// before; every other field is decoded as sent.
func TestACKReusesNames(t *testing.T) {
	last := &lastNames{}
	node := &corev3.Node{Id: "n", Cluster: "gateway/ns/gw"}
	first := recvInto(t, last, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: clusterNames(100)})
	ack := &discoveryv3.DiscoveryRequest{VersionInfo: "v1", TypeUrl: resource.EndpointType, ResponseNonce: "1", ResourceNames: clusterNames(100)}
	got := recvInto(t, last, ack)
	if !shares(got.GetResourceNames(), first.GetResourceNames()) || !proto.Equal(got, ack) {
		t.Errorf("ACK with the same names: shares %v, decoded as sent %v", shares(got.GetResourceNames(), first.GetResourceNames()), proto.Equal(got, ack))
	}
	reordered := clusterNames(100)
	slices.Reverse(reordered)
	nack := &discoveryv3.DiscoveryRequest{VersionInfo: "v1", TypeUrl: resource.EndpointType, ResponseNonce: "2", ResourceNames: reordered,
		ErrorDetail: &status.Status{Code: 3, Message: "bad"}}
	got = recvInto(t, last, nack)
	if !shares(got.GetResourceNames(), first.GetResourceNames()) {
		t.Errorf("reordered names were decoded again")
	}
	got.ResourceNames = reordered
	if !proto.Equal(got, nack) {
		t.Errorf("reordered request decoded as %v", got)
	}
	// Another type has names of its own.
	cds := &discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, ResourceNames: clusterNames(100)}
	if got := recvInto(t, last, cds); shares(got.GetResourceNames(), first.GetResourceNames()) || !proto.Equal(got, cds) {
		t.Errorf("another type's request decoded as %v", got)
	}
}

// A request whose names differ from the last ones in any way is decoded,
// and its names are those later requests are compared with.
func TestChangedNamesAreDecoded(t *testing.T) {
	base := clusterNames(5)
	for name, names := range map[string][]string{
		"changed":    {"c0", "c1", "x", "c3", "c4"},
		"added":      append(clusterNames(5), "c5"),
		"removed":    clusterNames(4),
		"duplicated": {"c0", "c1", "c2", "c3", "c3"},
		"empty":      nil,
		"repeated":   append(clusterNames(5), "c4"),
	} {
		t.Run(name, func(t *testing.T) {
			last := &lastNames{}
			first := recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: base})
			reversed := slices.Clone(base)
			slices.Reverse(reversed)
			recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: reversed})
			req := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: "1", ResourceNames: names}
			got := recvInto(t, last, req)
			if shares(got.GetResourceNames(), first.GetResourceNames()) || !proto.Equal(got, req) {
				t.Fatalf("decoded as %v, sharing the last names: %v", got.GetResourceNames(), shares(got.GetResourceNames(), first.GetResourceNames()))
			}
			again := recvInto(t, last, req)
			if len(names) > 0 && !shares(again.GetResourceNames(), got.GetResourceNames()) {
				t.Errorf("the same names again were decoded again")
			}
		})
	}
}

// Malformed input is refused when the names match the last ones too: the
// names field cut short, a broken field after the names, invalid UTF-8 in
// another string.
func TestACKMalformedRefused(t *testing.T) {
	names := clusterNames(3)
	head, err := proto.Marshal(&discoveryv3.DiscoveryRequest{VersionInfo: "v", TypeUrl: resource.EndpointType})
	if err != nil {
		t.Fatal(err)
	}
	ack := append(head, encodeNames(names)...)             // the names last
	badUTF8 := append(slices.Clone(ack), 0x0a, 0x01, 0xff) // version_info "\xff"
	for name, b := range map[string][]byte{
		"names cut short":   ack[:len(ack)-1],
		"name length wrong": append(slices.Clone(ack), 0x1a, 0x05, 'c'),
		"broken field":      append(slices.Clone(ack), 0x2a),
		"invalid UTF-8":     badUTF8,
	} {
		t.Run(name, func(t *testing.T) {
			last := &lastNames{}
			recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: names})
			r := &sotwRecv{req: &discoveryv3.DiscoveryRequest{}, last: last}
			if err := newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, r); err == nil {
				t.Errorf("decoded without an error: %v", r.req)
			}
		})
	}
}

// The names of at most maxRemembered types are remembered per stream.
func TestRememberedTypesBounded(t *testing.T) {
	last := &lastNames{}
	for i := range 2 * maxRemembered {
		recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: fmt.Sprintf("t%d", i), ResourceNames: []string{"a"}})
	}
	if len(last.byType) != maxRemembered {
		t.Errorf("%d types remembered, want %d", len(last.byType), maxRemembered)
	}
}

// Over a stream, an ACK that names the subscription in another order
// changes nothing (no response), and the next endpoint change sends the
// changed endpoint set alone; an ACK that drops a name is a new
// subscription.
func TestReorderedACKKeepsSubscription(t *testing.T) {
	f := start(t)
	res := map[string][]types.Resource{}
	for _, c := range []string{"a", "b", "c"} {
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints(c, "10.0.0.1:80"))
	}
	f.set(t, res)
	send, resps, _ := f.sotwStream(t)
	send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.EndpointType, ResourceNames: []string{"a", "b", "c"}})
	first := <-resps
	if len(first.GetResources()) != 3 {
		t.Fatalf("first response carries %d endpoint sets", len(first.GetResources()))
	}
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: first.GetVersionInfo(), ResponseNonce: first.GetNonce(), ResourceNames: []string{"c", "a", "b"}})
	if got := recvAll(resps, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("a reordered ACK was answered with %d responses", len(got))
	}
	if err := f.cache.UpdateEndpoints(group, []types.Resource{xdstest.Endpoints("b", "10.0.0.2:80")}, nil, cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	second := <-resps
	if len(second.GetResources()) != 1 || second.GetVersionInfo() == first.GetVersionInfo() {
		t.Fatalf("endpoint change sent %d endpoint sets, version %q", len(second.GetResources()), second.GetVersionInfo())
	}
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: second.GetVersionInfo(), ResponseNonce: second.GetNonce(), ResourceNames: []string{"b", "a"}})
	third := <-resps
	if third.GetVersionInfo() == second.GetVersionInfo() {
		t.Fatalf("dropping a name kept version %q", third.GetVersionInfo())
	}
}
