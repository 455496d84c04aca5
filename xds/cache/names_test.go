package cache

import (
	"strings"
	"testing"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// A request's names become the cache's own strings: equal, sharing the
// stored resource's bytes; names the snapshot does not hold stay as sent.
func TestInternNamesSharesTheCachesStrings(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	held, _ := c.Resources(key, resource.EndpointType)
	names := []string{strings.Clone("c"), strings.Clone("missing")}
	missing := unsafe.StringData(names[1])
	c.InternNames(node, resource.EndpointType, names)
	if names[0] != "c" || unsafe.StringData(names[0]) != unsafe.StringData(held[0].Name) {
		t.Errorf("name %q does not share the stored resource's string", names[0])
	}
	if names[1] != "missing" || unsafe.StringData(names[1]) != missing {
		t.Errorf("a name the snapshot does not hold was replaced: %q", names[1])
	}
	other := []string{strings.Clone("c")}
	c.InternNames(xdstest.Node("n2", "gateway/default/other", ""), resource.EndpointType, other)
	if unsafe.StringData(other[0]) == unsafe.StringData(held[0].Name) {
		t.Error("a node of another group was interned against a snapshot it does not get")
	}
}

// A waiting watch, and the response answering it, keep the request without
// its names (the subscription holds them), and the response is unchanged.
func TestWatchKeepsRequestWithoutNames(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	s := newSotw(t, c, resource.EndpointType, "c")
	s.request("", false)
	resp := <-s.ch
	if n := len(resp.GetRequest().GetResourceNames()); n != 0 {
		t.Errorf("response keeps the request's %d names", n)
	}
	if resp.GetRequest().GetTypeUrl() != resource.EndpointType || resp.GetRequest().GetNode() != node {
		t.Errorf("response's request lost its type or node: %v", resp.GetRequest())
	}
	out, err := resp.GetDiscoveryResponse()
	if err != nil || len(out.GetResources()) != 1 {
		t.Fatalf("response = %v, %v; want the one endpoint set", out, err)
	}
	dreq := &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"c"}, InitialResourceVersions: map[string]string{"c": "x"}}
	if got := withoutDeltaNames(dreq); len(got.GetResourceNamesSubscribe()) != 0 || len(got.GetInitialResourceVersions()) != 0 || got.GetNode() != node || got.GetTypeUrl() != resource.EndpointType {
		t.Errorf("withoutDeltaNames = %v", got)
	}
}
