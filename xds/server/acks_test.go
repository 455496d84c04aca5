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

// subscribed returns the names of a stream of typeURL (the stream's type)
// subscribed to names of EDS, and that subscription's set.
func subscribed(typeURL string, names []string) (*lastNames, *cache.NameSet) {
	last := newLastNames(typeURL)
	set := cache.New(cache.Options{}).NameSet(group, resource.EndpointType, names)
	last.publish(resource.EndpointType, cache.Subscription{Names: set})
	return last, set
}

// A request that names what the stream subscribes to of its type, in any
// order, each once, is given the subscription's list; every other field is
// decoded as sent.
func TestACKReusesNames(t *testing.T) {
	last, set := subscribed("", clusterNames(100))
	node := &corev3.Node{Id: "n", Cluster: "gateway/ns/gw"}
	reordered := clusterNames(100)
	slices.Reverse(reordered)
	for _, names := range [][]string{set.Names(), clusterNames(100), reordered} {
		req := &discoveryv3.DiscoveryRequest{VersionInfo: "v1", Node: node, TypeUrl: resource.EndpointType, ResponseNonce: "1", ResourceNames: names,
			ErrorDetail: &status.Status{Code: 3, Message: "bad"}}
		got := recvInto(t, last, req)
		if !shares(got.GetResourceNames(), set.Names()) {
			t.Fatalf("names %v... were decoded", names[:3])
		}
		got.ResourceNames = names
		if !proto.Equal(got, req) {
			t.Errorf("request decoded as %v", got)
		}
	}
	// Another type, and a wildcard subscription, have no names to share.
	cds := &discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, ResourceNames: set.Names()}
	last.publish(resource.ClusterType, cache.Subscription{Names: set, Wildcard: true})
	if got := recvInto(t, last, cds); shares(got.GetResourceNames(), set.Names()) || !proto.Equal(got, cds) {
		t.Errorf("another type's request decoded as %v", got)
	}
	last.publish(resource.EndpointType, cache.Subscription{Names: set, Wildcard: true})
	if got := recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: set.Names()}); shares(got.GetResourceNames(), set.Names()) {
		t.Errorf("names of a wildcard subscription were shared")
	}
}

// Names repeated as they were last matched are matched by their hash, as
// long as the subscription is the one they matched: once the stream
// subscribes to other names, the same request is decoded.
func TestACKAfterSubscriptionChange(t *testing.T) {
	last, set := subscribed("", clusterNames(10))
	req := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: clusterNames(10)}
	for range 2 {
		if got := recvInto(t, last, req); !shares(got.GetResourceNames(), set.Names()) {
			t.Fatal("the subscription's names were decoded")
		}
	}
	if tn := last.types[resource.EndpointType]; tn.matched != set {
		t.Errorf("the matched set is not remembered")
	}
	other := cache.New(cache.Options{}).NameSet(group, resource.EndpointType, clusterNames(11))
	last.publish(resource.EndpointType, cache.Subscription{Names: other})
	if got := recvInto(t, last, req); shares(got.GetResourceNames(), set.Names()) || shares(got.GetResourceNames(), other.Names()) || !proto.Equal(got, req) {
		t.Errorf("names of the last subscription were matched against the new one: %v", got.GetResourceNames())
	}
}

// Receiving a request that names the subscription allocates as much for
// 1,000 names as for 10, in the same order every time or in a new one.
func TestACKAllocationsIndependentOfNames(t *testing.T) {
	allocs := func(n int, reorder bool) float64 {
		last, _ := subscribed("", clusterNames(n))
		names := clusterNames(n)
		orders := []mem.BufferSlice{encoded(t, &discoveryv3.DiscoveryRequest{VersionInfo: "v", TypeUrl: resource.EndpointType, ResourceNames: names})}
		if reorder {
			slices.Reverse(names)
			orders = append(orders, encoded(t, &discoveryv3.DiscoveryRequest{VersionInfo: "v", TypeUrl: resource.EndpointType, ResourceNames: names}))
		}
		r := &sotwRecv{last: last}
		c := newCodec()
		i := 0
		return testing.AllocsPerRun(20, func() {
			r.req = &discoveryv3.DiscoveryRequest{}
			i++
			if err := c.Unmarshal(orders[i%len(orders)], r); err != nil || len(r.req.GetResourceNames()) != n {
				t.Fatalf("%d names, %v", len(r.req.GetResourceNames()), err)
			}
		})
	}
	for _, reorder := range []bool{false, true} {
		if few, many := allocs(10, reorder), allocs(1000, reorder); many > few {
			t.Errorf("reordered %v: %v allocations for 10 names, %v for 1,000", reorder, few, many)
		}
	}
}

// A per-type stream's request may leave its type out: it is the stream's.
func TestACKOfPerTypeStream(t *testing.T) {
	last, set := subscribed(resource.EndpointType, clusterNames(10))
	req := &discoveryv3.DiscoveryRequest{ResourceNames: clusterNames(10)}
	if got := recvInto(t, last, req); !shares(got.GetResourceNames(), set.Names()) || got.GetTypeUrl() != "" {
		t.Errorf("request of the stream's type decoded as %v", got)
	}
}

// A request whose names differ from the subscription's in any way is
// decoded.
func TestChangedNamesAreDecoded(t *testing.T) {
	for name, names := range map[string][]string{
		"changed":    {"c0", "c1", "x", "c3", "c4"},
		"added":      append(clusterNames(5), "c5"),
		"removed":    clusterNames(4),
		"duplicated": {"c0", "c1", "c2", "c3", "c3"},
		"empty":      nil,
		"repeated":   append(clusterNames(5), "c4"),
		"wildcard":   append(clusterNames(4), "*"),
	} {
		t.Run(name, func(t *testing.T) {
			last, set := subscribed("", clusterNames(5))
			req := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: "1", ResourceNames: names}
			got := recvInto(t, last, req)
			if shares(got.GetResourceNames(), set.Names()) || !proto.Equal(got, req) {
				t.Fatalf("decoded as %v, sharing the subscription's names: %v", got.GetResourceNames(), shares(got.GetResourceNames(), set.Names()))
			}
		})
	}
}

// Malformed input is refused when the names match the subscription's too:
// the names field cut short, a broken field after the names, invalid UTF-8
// in another string.
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
			last, set := subscribed("", names)
			if got := recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: names}); !shares(got.GetResourceNames(), set.Names()) {
				t.Fatal("the well-formed request was decoded")
			}
			r := &sotwRecv{req: &discoveryv3.DiscoveryRequest{}, last: last}
			if err := newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, r); err == nil {
				t.Errorf("decoded without an error: %v", r.req)
			}
		})
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
