package cache

import (
	"runtime"
	"testing"
	"weak"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// A remembered view keeps names and hashes only: once no snapshot holds a
// version's resources, their messages are garbage even though streams may
// still be answered relative to that version.
func TestViewsDoNotRetainMessages(t *testing.T) {
	c := New(Options{})
	msg := &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"}}}}
	r, err := newResource(resourcev3.RouteType, msg)
	if err != nil {
		t.Fatal(err)
	}
	gone := weak.Make(msg)
	c.rememberView(Key{Group: "g"}, resourcev3.RouteType, "v1", []*Resource{r})
	msg, r = nil, nil
	runtime.GC()
	runtime.GC()
	if gone.Value() != nil {
		t.Fatal("a remembered view keeps the route configuration's message alive")
	}
	held, ok := c.viewOf(Key{Group: "g"}, resourcev3.RouteType, "v1")
	if !ok || len(held) != 1 || held[0].name != "r" || held[0].hash == "" {
		t.Fatalf("view of v1 = %v, %v; want the name and hash of r", held, ok)
	}
}
