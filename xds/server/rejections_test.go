package server

import (
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// TestRejections: a NACK makes the node's group rejected and calls
// OnNACKChange; a repeat of the same NACK does not call it again; an ACK of
// a later version clears the rejection; a node that disconnects while
// rejecting clears it too.
func TestRejections(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	f := startWith(t, Options{OnNACKChange: func(g string) {
		mu.Lock()
		changes = append(changes, g)
		mu.Unlock()
	}})
	calls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(changes)
	}
	waitCalls := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); calls() < want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // no extra call either
		if got := calls(); got != want {
			t.Fatalf("OnNACKChange called %d times, want %d", got, want)
		}
	}
	if err := f.cache.SetSnapshot(group, xdstest.Simple("svc", 8080, "127.0.0.1:1"), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	recv := func(resps <-chan *discoveryv3.DiscoveryResponse) *discoveryv3.DiscoveryResponse {
		t.Helper()
		select {
		case r := <-resps:
			return r
		case <-time.After(3 * time.Second):
			t.Fatal("no EDS response")
			return nil
		}
	}
	send, resps, cancel := f.sotwStream(t)
	send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("envoy-1", group.Group, ""), TypeUrl: resource.EndpointType})
	first := recv(resps)
	nack := &discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: first.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "locality without an ID"}}
	send(nack)
	waitCalls(1)
	rs := f.srv.Rejections()
	if len(rs) != 1 || rs[0].Group != group.Group || rs[0].Node != "envoy-1" || rs[0].TypeURL != resource.EndpointType ||
		rs[0].Version != first.VersionInfo || rs[0].Error != "locality without an ID" {
		t.Fatalf("rejections after a NACK: %+v", rs)
	}
	send(nack)
	waitCalls(1)

	if err := f.cache.SetSnapshot(group, xdstest.Simple("svc", 8080, "127.0.0.1:2"), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	second := recv(resps)
	if rs := f.srv.Rejections(); len(rs) != 1 {
		t.Fatalf("a later version sent but not yet accepted: rejections %+v, want the NACK kept", rs)
	}
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: second.Nonce, VersionInfo: second.VersionInfo})
	waitCalls(2)
	if rs := f.srv.Rejections(); len(rs) != 0 {
		t.Fatalf("rejections after an ACK of a later version: %+v", rs)
	}

	if err := f.cache.SetSnapshot(group, xdstest.Simple("svc", 8080, "127.0.0.1:3"), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	third := recv(resps)
	send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: third.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "again"}})
	waitCalls(3)
	cancel()
	waitCalls(4)
	if rs := f.srv.Rejections(); len(rs) != 0 {
		t.Fatalf("rejections after the node disconnected: %+v", rs)
	}
}
