package server

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// manyHosts is a route configuration "rc" of n virtual hosts, each its own
// proto, with fields before and after them.
func manyHosts(n int) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "rc", ValidateClusters: wrapperspb.Bool(true)}
	for i := range n {
		vh := xdstest.Route(fmt.Sprintf("h%d", i), []string{fmt.Sprintf("h%d.example.com", i)}, "c").VirtualHosts[0]
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

// A route configuration held in parts (runs of virtual hosts shared with
// the previous version) reaches a client as exactly its deterministic
// marshal: state of the world, delta and fetch.
func TestClientsReceiveMarshalledRouteBytes(t *testing.T) {
	f := start(t)
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	rc := manyHosts(3000)
	res[resource.RouteType] = []types.Resource{rc}
	f.set(t, res)
	next := &routev3.RouteConfiguration{Name: rc.Name, ValidateClusters: rc.ValidateClusters, VirtualHosts: slices.Clone(rc.VirtualHosts)}
	next.VirtualHosts[1500] = xdstest.Route("changed", []string{"changed.example.com"}, "c").VirtualHosts[0]
	res[resource.RouteType] = []types.Resource{next}
	f.set(t, res)
	held, _ := f.cache.Resources(group, resource.RouteType)
	if n := len(held[0].Parts()); n < 3 {
		t.Fatalf("the route configuration is %d part(s): the test needs it in parts", n)
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	node := xdstest.Node("n", group.Group, "")
	check := func(how string, typeURL string, got []byte) {
		t.Helper()
		if typeURL != resource.RouteType || !bytes.Equal(got, want) {
			t.Fatalf("%s: received %s of %d bytes, want the %d bytes of the deterministic marshal", how, typeURL, len(got), len(want))
		}
	}

	send, resps, _ := f.sotwStream(t)
	send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.RouteType, ResourceNames: []string{"rc"}})
	r := recvOne(t, resps)
	if len(r.Resources) != 1 {
		t.Fatalf("state of the world: %d resources, want 1", len(r.Resources))
	}
	check("state of the world", r.Resources[0].GetTypeUrl(), r.Resources[0].GetValue())

	dsend, dresps, _ := f.deltaStream(t)
	dsend(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.RouteType, ResourceNamesSubscribe: []string{"rc"}})
	d := recvOne(t, dresps)
	if len(d.Resources) != 1 || d.Resources[0].Version != held[0].Hash {
		t.Fatalf("delta: %d resources (want 1, version %s)", len(d.Resources), held[0].Hash)
	}
	check("delta", d.Resources[0].GetResource().GetTypeUrl(), d.Resources[0].GetResource().GetValue())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fr, err := routeservice.NewRouteDiscoveryServiceClient(f.conn).FetchRoutes(ctx, &discoveryv3.DiscoveryRequest{Node: node, ResourceNames: []string{"rc"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.Resources) != 1 || fr.VersionInfo == "" {
		t.Fatalf("fetch: %d resources, version %q", len(fr.Resources), fr.VersionInfo)
	}
	check("fetch", fr.Resources[0].GetTypeUrl(), fr.Resources[0].GetValue())

	// The config dump gets a contiguous copy; the list of proxies none.
	waitFor(t, func() bool { return len(f.srv.Proxy("n")) == 2 })
	for _, p := range f.srv.Proxy("n") {
		a := p.Types[0].Resources["rc"]
		if a == nil {
			t.Fatalf("stream %d: the config dump holds no route configuration rc", p.Stream)
		}
		check("config dump", a.GetTypeUrl(), a.GetValue())
	}
	for _, p := range f.srv.Proxies() {
		if p.Types[0].Resources != nil {
			t.Fatalf("stream %d: the list of proxies carries packed resources", p.Stream)
		}
	}

	// A small response is encoded as usual.
	lr, err := listenerservice.NewListenerDiscoveryServiceClient(f.conn).FetchListeners(ctx, &discoveryv3.DiscoveryRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Resources) != 2 || lr.Resources[0].GetTypeUrl() != resource.ListenerType {
		t.Fatalf("fetch of listeners: %d resources, want 2", len(lr.Resources))
	}
}

// recvOne returns the next response of ch, failing t after 5 seconds.
func recvOne[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		var zero T
		t.Fatal("no response within 5 seconds")
		return zero
	}
}
