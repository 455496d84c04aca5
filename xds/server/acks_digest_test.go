package server

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The tests below hold for every seed of a stream's digests but with a
// chance of 2^-64 a comparison; none depends on the seed's value.

// checks is how many requests of EDS last has checked name by name.
func checks(last *lastNames) int { return last.types[resource.EndpointType].checks }

// A request that names the subscription in a new order every time is
// checked name by name once; after that, its digest is enough. (One name is
// longer than the walk reads inline.)
func TestReorderedACKMatchedByDigest(t *testing.T) {
	names := append(clusterNames(199), strings.Repeat("x", 300))
	last, set := subscribed("", names)
	rng := rand.New(rand.NewPCG(1, 2)) // the orders, not the digests
	for i := range 10 {
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		got := recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: names})
		if !shares(got.GetResourceNames(), set.Names()) {
			t.Fatalf("order %d: the subscription's names were decoded", i)
		}
		if checks(last) != 1 {
			t.Fatalf("order %d: %d requests checked name by name, want the first alone", i, checks(last))
		}
	}
}

// A request that names anything else than the subscription, with as many
// names, has another digest: it is checked name by name (and decoded),
// however little it differs.
func TestDigestTellsNamesApart(t *testing.T) {
	set := []string{"ab", "c", "c13", "c2", "d0", "d1", "d2", "e9"}
	for name, names := range map[string][]string{
		"name replaced":        {"ab", "c", "d13", "c2", "d0", "d1", "d2", "e9"},
		"characters swapped":   {"ab", "c", "c31", "c2", "d0", "d1", "d2", "e9"},
		"characters moved":     {"ab", "c", "c12", "c3", "d0", "d1", "d2", "e9"},
		"split elsewhere":      {"a", "bc", "c13", "c2", "d0", "d1", "d2", "e9"},
		"duplicated":           {"ab", "c", "c13", "c2", "d0", "d1", "d1", "e9"},
		"two duplicated":       {"ab", "ab", "c13", "c13", "d0", "d1", "d2", "e9"},
		"one name for all":     slices.Repeat([]string{"d0"}, 8),
		"empty name":           {"ab", "c", "c13", "c2", "d0", "d1", "d2", ""},
		"the wildcard instead": {"ab", "c", "c13", "c2", "d0", "d1", "d2", "*"},
	} {
		t.Run(name, func(t *testing.T) {
			last, subSet := subscribed("", set)
			reversed := slices.Clone(set)
			slices.Reverse(reversed)
			for range 2 {
				if got := recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: reversed}); !shares(got.GetResourceNames(), subSet.Names()) {
					t.Fatal("the subscription's names were decoded")
				}
			}
			req := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: "1", ResourceNames: names}
			got := recvInto(t, last, req)
			if shares(got.GetResourceNames(), subSet.Names()) || !proto.Equal(got, req) {
				t.Fatalf("decoded as %v", got.GetResourceNames())
			}
			if checks(last) != 2 {
				t.Errorf("%d requests checked name by name, want 2: the digest matched", checks(last))
			}
		})
	}
}

// A request with a name missing, or one more, is told apart by its count:
// decoded without a check name by name.
func TestDigestCountsNames(t *testing.T) {
	last, set := subscribed("", clusterNames(10))
	recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: clusterNames(10)})
	for _, names := range [][]string{clusterNames(9), clusterNames(11), append(clusterNames(10), "c0")} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: names}
		if got := recvInto(t, last, req); shares(got.GetResourceNames(), set.Names()) || !proto.Equal(got, req) {
			t.Errorf("%d names decoded as %v", len(names), got.GetResourceNames())
		}
	}
	if checks(last) != 1 {
		t.Errorf("%d requests checked name by name, want the first alone", checks(last))
	}
}

// A request of another type, or of no type on an ADS stream, is decoded
// whatever its names.
func TestDigestOfAnotherType(t *testing.T) {
	last, set := subscribed("", clusterNames(10))
	recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: clusterNames(10)})
	for _, typeURL := range []string{resource.ClusterType, ""} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: clusterNames(10)}
		if got := recvInto(t, last, req); shares(got.GetResourceNames(), set.Names()) || !proto.Equal(got, req) {
			t.Errorf("a request of type %q decoded as %v", typeURL, got)
		}
	}
}

// A request whose names are split by another field is decoded: no client
// sends one, and the fields around the names are decoded in two parts.
func TestSplitNamesAreDecoded(t *testing.T) {
	last, set := subscribed("", clusterNames(4))
	recvInto(t, last, &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: clusterNames(4)})
	b := encodeNames(clusterNames(2))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // version_info
	b = protowire.AppendString(b, "v1")
	b = append(b, encodeNames(clusterNames(4)[2:])...)
	b = protowire.AppendTag(b, typeURLField, protowire.BytesType)
	b = protowire.AppendString(b, resource.EndpointType)
	r := &sotwRecv{req: &discoveryv3.DiscoveryRequest{}, last: last}
	if err := newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, r); err != nil {
		t.Fatal(err)
	}
	want := &discoveryv3.DiscoveryRequest{VersionInfo: "v1", TypeUrl: resource.EndpointType, ResourceNames: clusterNames(4)}
	if shares(r.req.GetResourceNames(), set.Names()) || !proto.Equal(r.req, want) {
		t.Errorf("decoded as %v", r.req)
	}
}
