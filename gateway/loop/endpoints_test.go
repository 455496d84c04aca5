package loop

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
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

// TestEndpointsManyServicesEqualFull: an EndpointSlice-only batch that
// changes the slices of many Services (more than the few compared one by
// one), reorders the list and drops a Service's slice, then makes every
// object anew, serves the same as a full translation of the final Set.
func TestEndpointsManyServicesEqualFull(t *testing.T) {
	set := benchWorld(700, 2) // 70 Services
	inc := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
	inc.process(context.Background(), Event{Set: set, Initial: true, ChangedAt: time.Now()})
	for s := range 12 {
		set = withSlice(set, s, benchSlice(s, 7))
	}
	next := *set
	all := set.EndpointSlices.Slice()
	rest := all[13:] // drops svc-12's slice
	slices.Reverse(rest)
	next.EndpointSlices = plist.Of(append(rest, all[:12]...)...)
	if got, _ := changedServices(set, &next); len(got) != 1 || got[0].Name != "svc-12" {
		t.Fatalf("changedServices after dropping svc-12's slice = %v", got)
	}
	inc.process(context.Background(), Event{Set: &next, EndpointsOnly: true, ChangedAt: time.Now()})
	full := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
	full.process(context.Background(), Event{Set: &next, Initial: true, ChangedAt: time.Now()})
	if diff := compareLoops(inc, full); diff != "" {
		t.Fatalf("scoped and full translation differ: %s", diff)
	}
	// Every object made anew (a re-read), one address changed: more than
	// maxCompared new objects, so every Service is recomputed.
	reread := benchWorld(700, 2)
	reread.EndpointSlices = reread.EndpointSlices.Splice(5, 6, benchSlice(5, 9))
	if n := freshObjects(next.EndpointSlices, reread.EndpointSlices) + freshObjects(next.Services, reread.Services); n <= maxCompared {
		t.Fatalf("%d new objects, want more than %d", n, maxCompared)
	}
	inc.process(context.Background(), Event{Set: reread, EndpointsOnly: true, ChangedAt: time.Now()})
	full = New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
	full.process(context.Background(), Event{Set: reread, Initial: true, ChangedAt: time.Now()})
	if diff := compareLoops(inc, full); diff != "" {
		t.Fatalf("after a re-read, scoped and full translation differ: %s", diff)
	}
}
