package loop

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/cache"
)

// TestEndpointsChangeServerListeners: an EndpointSlice-only change that
// adds an address is translated in full, so the gRPC server at the new
// address gets its inbound Listener; a readiness change keeps the fast
// path (the listeners stay).
func TestEndpointsChangeServerListeners(t *testing.T) {
	p, set := newKeysLoop(t)
	k := cache.Key{Group: "mesh/default", Flavor: cache.FlavorGRPC}
	p.addKey(k)
	ctx := context.Background()
	p.process(ctx, Event{Set: set, Initial: true})
	const newServer = "grpc/server?xds.resource.listening_address=10.0.0.9:8080"
	listeners := func() []string {
		_, names := hasSnapshot(p.opts.Cache, k)
		return names
	}
	if slices.Contains(listeners(), newServer) || !slices.Contains(listeners(), "grpc/server?xds.resource.listening_address=127.0.0.1:8080") {
		t.Fatalf("listeners before: %v", listeners())
	}
	lr, err := resource.Parse("keys.yaml", []byte(strings.Replace(keysInputYAML, "endpoints: [{addresses: [127.0.0.1]}]",
		"endpoints: [{addresses: [127.0.0.1]}, {addresses: [10.0.0.9]}]", 1)))
	if err != nil || len(lr.Errors) > 0 {
		t.Fatalf("parse: %v %v", err, lr.Errors)
	}
	p.process(ctx, Event{Set: lr.Set, EndpointsOnly: true, ChangedAt: time.Now()})
	if !slices.Contains(listeners(), newServer) {
		t.Fatalf("after a new address: listeners %v lack %s", listeners(), newServer)
	}
	if meshEndpointsChanged(lr.Set, lr.Set) || !meshEndpointsChanged(set, lr.Set) {
		t.Error("meshEndpointsChanged does not compare the mesh's endpoint facts")
	}
}
