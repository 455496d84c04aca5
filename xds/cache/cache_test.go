package cache

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

var (
	key  = Key{Group: "gateway/default/eg", Flavor: FlavorEnvoy}
	node = xdstest.Node("n1", "gateway/default/eg", "")
)

func mustSet(t *testing.T, c *Cache, k Key, res map[string][]types.Resource) {
	t.Helper()
	if err := c.SetSnapshot(k, res, SetOptions{}); err != nil {
		t.Fatalf("SetSnapshot: %v", err)
	}
}

// sotw drives one state-of-the-world stream for one type the way the server
// does: the stream's state is the version last sent.
type sotw struct {
	t        *testing.T
	c        *Cache
	typ      string
	names    []string
	wildcard bool
	sent     string
	ch       chan *Response
	last     *discoveryv3.DiscoveryResponse
}

func newSotw(t *testing.T, c *Cache, typ string, names ...string) *sotw {
	return &sotw{t: t, c: c, typ: typ, names: names, wildcard: len(names) == 0, ch: make(chan *Response, 16)}
}

// request opens a watch; version is what the client claims to hold. A NACK
// changes nothing in the cache: the server keeps the version it sent.
func (s *sotw) request(version string, _ bool) {
	s.t.Helper()
	sub := Subscription{Wildcard: s.wildcard, Names: s.c.NameSet(key, s.typ, s.names)}
	s.c.Watch(&Watch{Key: key, TypeURL: s.typ, Sub: sub, Sent: s.sent, Claimed: version, Deliver: func(r *Response) {
		select {
		case s.ch <- r:
		default:
			s.t.Error("response channel full")
		}
	}})
}

// recv returns the response if one arrives within d, else nil.
func (s *sotw) recv(d time.Duration) *discoveryv3.DiscoveryResponse {
	s.t.Helper()
	select {
	case r := <-s.ch:
		out := sotwMessage(r)
		s.sent = r.Version
		s.last = out
		return out
	case <-time.After(d):
		return nil
	}
}

// sotwMessage is the message the server sends for r.
func sotwMessage(r *Response) *discoveryv3.DiscoveryResponse {
	out := &discoveryv3.DiscoveryResponse{VersionInfo: r.Version, TypeUrl: r.TypeURL}
	for _, res := range r.Resources {
		out.Resources = append(out.Resources, res.Any())
	}
	return out
}

func respNames(t *testing.T, r *discoveryv3.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cachev3.GetResourceName(m))
	}
	return out
}

func TestVersionsAreContentHashes(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	mustSet(t, a, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	mustSet(t, b, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	for _, typ := range TypeOrder {
		_, va := a.Resources(key, typ)
		_, vb := b.Resources(key, typ)
		if va != vb || va == "" {
			t.Errorf("%s: versions differ across caches (restart): %q vs %q", shortType(typ), va, vb)
		}
	}
	_, before := a.Resources(key, resource.EndpointType)
	mustSet(t, a, key, xdstest.Simple("svc", 8080, "127.0.0.1:2"))
	_, after := a.Resources(key, resource.EndpointType)
	if before == after {
		t.Error("endpoint version did not change with the content")
	}
}

func TestUnchangedSnapshotSendsNothing(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	s := newSotw(t, c, resource.ClusterType)
	s.request("", false)
	r := s.recv(time.Second)
	if r == nil {
		t.Fatal("no initial response")
	}
	s.request(r.VersionInfo, false) // ACK
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	if got := s.recv(50 * time.Millisecond); got != nil {
		t.Fatalf("identical snapshot re-sent clusters: %v", got)
	}
	// A change to another type (endpoints) does not touch the CDS watch either.
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:9"))
	if got := s.recv(50 * time.Millisecond); got != nil {
		t.Fatalf("endpoint change re-sent clusters: %v", got)
	}
	// Another group's change does not either.
	mustSet(t, c, Key{Group: "gateway/default/other", Flavor: FlavorEnvoy}, xdstest.Simple("x", 1, "127.0.0.1:3"))
	if got := s.recv(50 * time.Millisecond); got != nil {
		t.Fatalf("unrelated group re-sent clusters: %v", got)
	}
}

func TestReconnectWithCurrentVersionSendsNothing(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	s := newSotw(t, c, resource.RouteType, "rc")
	s.request("", false)
	r := s.recv(time.Second)
	if r == nil {
		t.Fatal("no initial response")
	}
	// A new stream (fresh subscription) from a node holding r's version.
	fresh := newSotw(t, c, resource.RouteType, "rc")
	fresh.request(r.VersionInfo, false)
	if got := fresh.recv(50 * time.Millisecond); got != nil {
		t.Fatalf("reconnect re-sent unchanged routes: %v", got)
	}
	// The same after a control plane restart: a new cache with the same input.
	c2 := New(Options{})
	mustSet(t, c2, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	again := newSotw(t, c2, resource.RouteType, "rc")
	again.request(r.VersionInfo, false)
	if got := again.recv(50 * time.Millisecond); got != nil {
		t.Fatalf("restarted control plane re-sent unchanged routes: %v", got)
	}
	// But a real change reaches the reconnected watch.
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.RouteType] = []types.Resource{xdstest.Route("rc", []string{"example.com"}, "c")}
	mustSet(t, c2, key, res)
	if got := again.recv(time.Second); got == nil {
		t.Fatal("change not pushed after reconnect")
	}
}

// Trap (a): a NACK must not cause the rejected version to be re-sent.
func TestNACKIsNotResent(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	s := newSotw(t, c, resource.ClusterType)
	s.request("", false)
	good := s.recv(time.Second)
	s.request(good.VersionInfo, false)
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster("bad"))
	res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints("bad"))
	mustSet(t, c, key, res)
	bad := s.recv(time.Second)
	if bad == nil || bad.VersionInfo == good.VersionInfo {
		t.Fatalf("changed clusters not pushed: %v", bad)
	}
	for i := 0; i < 5; i++ {
		s.request(good.VersionInfo, true) // NACK: the client keeps the good version
		if got := s.recv(30 * time.Millisecond); got != nil {
			t.Fatalf("NACKed version re-sent (loop) on attempt %d", i)
		}
	}
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	fixed := s.recv(time.Second)
	if fixed == nil || fixed.VersionInfo != good.VersionInfo {
		t.Fatalf("fixed snapshot not pushed after a NACK: %v", fixed)
	}
}

// Trap (a) for clients that subscribe by name (grpc-go): the server prunes
// the returned resources to the subscribed names on every request.
func TestNACKIsNotResentByName(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	s := newSotw(t, c, resource.RouteType, "rc")
	s.request("", false)
	good := s.recv(time.Second)
	s.names = []string{"rc"}
	s.request(good.VersionInfo, false)
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.RouteType] = []types.Resource{xdstest.Route("rc", []string{"bad.example.com"}, "c")}
	mustSet(t, c, key, res)
	if bad := s.recv(time.Second); bad == nil {
		t.Fatal("changed route not pushed")
	}
	for i := 0; i < 5; i++ {
		s.names = []string{"rc"} // what the server does with every request
		s.request(good.VersionInfo, true)
		if got := s.recv(30 * time.Millisecond); got != nil {
			t.Fatalf("NACKed routes re-sent (loop) on attempt %d", i)
		}
	}
	// Subscribing to a new name that exists is answered.
	s.names = []string{"rc", "other"}
	res[resource.RouteType] = append(res[resource.RouteType], xdstest.Route("other", []string{"o"}, "c"))
	mustSet(t, c, key, res)
	s.request(good.VersionInfo, false)
	if r := s.recv(time.Second); r == nil || len(r.Resources) != 2 {
		t.Fatalf("new subscription not answered: %v", r)
	}
}

// Trap (b): a request naming a subset of a type is answered with that subset.
func TestSubsetRequestIsAnswered(t *testing.T) {
	c := New(Options{})
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster("d"))
	res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints("d", "127.0.0.1:2"))
	mustSet(t, c, key, res)
	s := newSotw(t, c, resource.ClusterType, "d", "missing")
	s.request("", false)
	r := s.recv(time.Second)
	if r == nil {
		t.Fatal("a request for a subset of clusters was not answered")
	}
	if got := strings.Join(respNames(t, r), ","); got != "d" {
		t.Fatalf("subset response carries %q, want only d", got)
	}
	l := newSotw(t, c, resource.ListenerType, "svc")
	l.request("", false)
	if r := l.recv(time.Second); r == nil || strings.Join(respNames(t, r), ",") != "svc" {
		t.Fatalf("listener by name: %v", r)
	}
}

// Trap (c): an api_listener's RDS reference is checked.
func TestAPIListenerReferenceChecked(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.ListenerType] = append(res[resource.ListenerType], xdstest.APIListener("other", "no-such-route"))
	err := c.SetSnapshot(key, res, SetOptions{})
	if err == nil || !strings.Contains(err.Error(), `route configuration "no-such-route"`) || !strings.Contains(err.Error(), `listener "other"`) {
		t.Fatalf("inconsistent api_listener accepted or unclear error: %v", err)
	}
	if ls, _ := c.Resources(key, resource.ListenerType); len(ls) != 2 {
		t.Fatalf("previous snapshot not kept: %d listeners", len(ls))
	}
	res = xdstest.Simple("svc", 8080, "127.0.0.1:1")
	delete(res, resource.EndpointType)
	if err := c.SetSnapshot(key, res, SetOptions{}); err == nil || !strings.Contains(err.Error(), `endpoints "c"`) {
		t.Fatalf("EDS cluster without endpoints accepted: %v", err)
	}
}

func TestValidateHookRefuses(t *testing.T) {
	c := New(Options{Validate: func(map[string][]types.Resource) error { return errBoom }})
	if err := c.SetSnapshot(key, xdstest.Simple("svc", 1, "127.0.0.1:1"), SetOptions{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("validator not applied: %v", err)
	}
	if len(c.Keys()) != 0 {
		t.Fatal("invalid snapshot stored")
	}
}

func TestUnchangedSnapshotIsNotRevalidated(t *testing.T) {
	calls := 0
	c := New(Options{Validate: func(map[string][]types.Resource) error { calls++; return nil }})
	mustSet(t, c, key, xdstest.Simple("svc", 1, "127.0.0.1:1"))
	mustSet(t, c, key, xdstest.Simple("svc", 1, "127.0.0.1:1"))
	if calls != 1 {
		t.Fatalf("validator ran %d times for one distinct snapshot", calls)
	}
	mustSet(t, c, key, xdstest.Simple("svc", 1, "127.0.0.1:2"))
	if calls != 2 {
		t.Fatalf("validator ran %d times for two distinct snapshots", calls)
	}
}

type boom struct{}

func (boom) Error() string { return "boom" }

var errBoom = boom{}

func TestSetEndpointsPushesOnlyEDS(t *testing.T) {
	c := New(Options{})
	if err := c.SetEndpoints(key, nil, SetOptions{}); err == nil {
		t.Fatal("SetEndpoints without a snapshot accepted")
	}
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	cds := newSotw(t, c, resource.ClusterType)
	cds.request("", false)
	cds.request(cds.recv(time.Second).VersionInfo, false)
	eds := newSotw(t, c, resource.EndpointType, "c")
	eds.request("", false)
	eds.request(eds.recv(time.Second).VersionInfo, false)
	if err := c.SetEndpoints(key, []types.Resource{xdstest.Endpoints("c", "127.0.0.1:7")}, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	r := eds.recv(time.Second)
	if r == nil {
		t.Fatal("endpoints not pushed")
	}
	m, _ := r.Resources[0].UnmarshalNew()
	if got := m.(*endpointv3.ClusterLoadAssignment).Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue(); got != 7 {
		t.Fatalf("pushed endpoint port %d, want 7", got)
	}
	if got := cds.recv(50 * time.Millisecond); got != nil {
		t.Fatal("endpoint fast path pushed clusters")
	}
	if err := c.SetEndpoints(key, []types.Resource{}, SetOptions{}); err == nil {
		t.Fatal("removing endpoints of an EDS cluster accepted")
	}
}

func TestMarshalledOnceAndShared(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	a := newSotw(t, c, resource.ClusterType)
	b := newSotw(t, c, resource.ClusterType)
	a.request("", false)
	b.request("", false)
	ra, rb := a.recv(time.Second), b.recv(time.Second)
	if ra.Resources[0] != rb.Resources[0] {
		t.Fatal("two nodes got separately marshalled copies of the same cluster")
	}
	if ra == rb {
		t.Fatal("responses themselves must be distinct (the server stamps a nonce)")
	}
}

func TestNodeKey(t *testing.T) {
	cases := []struct {
		node *corev3.Node
		want Key
	}{
		{xdstest.Node("a", "gateway/ns/gw", ""), Key{Group: "gateway/ns/gw", Flavor: FlavorEnvoy}},
		{xdstest.Node("a", "gateway/ns/gw", "grpc"), Key{Group: "gateway/ns/gw", Flavor: FlavorGRPC}},
		{xdstest.Node("a", "grpc/ns/client", "other"), Key{Group: "grpc/ns/client", Flavor: FlavorEnvoy}},
		{nil, Key{Flavor: FlavorEnvoy}},
	}
	for _, tc := range cases {
		if got := NodeKey(tc.node); got != tc.want {
			t.Errorf("NodeKey(%v) = %v, want %v", tc.node, got, tc.want)
		}
	}
}

func TestWatchBeforeSnapshot(t *testing.T) {
	c := New(Options{})
	s := newSotw(t, c, resource.ListenerType)
	s.request("", false)
	if s.recv(20*time.Millisecond) != nil {
		t.Fatal("response without a snapshot")
	}
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	if r := s.recv(time.Second); r == nil || len(r.Resources) != 2 {
		t.Fatalf("pending watch not answered: %v", r)
	}
}

// A one-off fetch gets the named resources (all without names), and a
// SkipFetchError when it already holds their version.
func TestFetch(t *testing.T) {
	c := New(Options{})
	if _, err := c.Fetch(node, resource.EndpointType, nil, ""); err == nil {
		t.Fatal("fetch without a snapshot succeeded")
	}
	mustSet(t, c, key, wide(3))
	all, err := c.Fetch(node, resource.EndpointType, nil, "")
	if err != nil || len(all.Resources) != 3 {
		t.Fatalf("fetch all: %v, %v", all, err)
	}
	some, err := c.Fetch(node, resource.EndpointType, []string{"c2", "c", "missing"}, "")
	if err != nil || len(some.Resources) != 2 || some.Resources[0].Name != "c" {
		t.Fatalf("fetch some: %v, %v", some, err)
	}
	if _, err := c.Fetch(node, resource.EndpointType, nil, all.Version); !errors.As(err, &types.SkipFetchError{}) {
		t.Fatalf("fetch of the held version: %v, want SkipFetchError", err)
	}
}

// A snapshot set again with some types' messages as they were still has
// the references into the changed types checked: a listener kept as it
// was whose route configuration is gone, a cluster kept whose endpoints
// are gone.
func TestUnchangedTypesReferencesChecked(t *testing.T) {
	c := New(Options{})
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	mustSet(t, c, key, res)
	routes := res[resource.RouteType]
	res[resource.RouteType] = []types.Resource{xdstest.Route("other", []string{"*"}, "c")}
	if err := c.SetSnapshot(key, res, SetOptions{}); err == nil || !strings.Contains(err.Error(), `route configuration "rc"`) {
		t.Fatalf("a kept listener's route configuration removed: %v", err)
	}
	res[resource.RouteType] = routes
	res[resource.EndpointType] = []types.Resource{xdstest.Endpoints("other", "127.0.0.1:1")}
	if err := c.SetSnapshot(key, res, SetOptions{}); err == nil || !strings.Contains(err.Error(), `endpoints "c"`) {
		t.Fatalf("a kept cluster's endpoints removed: %v", err)
	}
}
