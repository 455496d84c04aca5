package cache

import (
	"fmt"
	"strings"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// wide is a snapshot of n EDS clusters c0..c(n-1), each with one endpoint.
func wide(n int) map[string][]types.Resource {
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	for i := 1; i < n; i++ {
		c := fmt.Sprintf("c%d", i)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints(c, fmt.Sprintf("127.0.0.1:%d", 100+i)))
	}
	return res
}

func clusterNames(n int) []string {
	out := []string{"c"}
	for i := 1; i < n; i++ {
		out = append(out, fmt.Sprintf("c%d", i))
	}
	return out
}

// ack opens the watch that follows a response: the client accepts it.
func (s *sotw) ack(r *discoveryv3.DiscoveryResponse) { s.request(r.VersionInfo, false) }

func endpointPort(t *testing.T, r *discoveryv3.DiscoveryResponse, i int) uint32 {
	t.Helper()
	m, err := r.Resources[i].UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	return m.(*endpointv3.ClusterLoadAssignment).Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
}

// After one endpoint change, a state-of-the-world EDS response carries that
// ClusterLoadAssignment alone, with the version of the whole set.
func TestSotwEDSCarriesOnlyTheChangedEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		update func(c *Cache) error
	}{
		{name: "UpdateEndpoints", update: func(c *Cache) error {
			return c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("c7", "127.0.0.1:7777")}, nil, SetOptions{})
		}},
		{name: "SetSnapshot", update: func(c *Cache) error {
			res := wide(20)
			res[resource.EndpointType][7] = xdstest.Endpoints("c7", "127.0.0.1:7777")
			return c.SetSnapshot(key, res, SetOptions{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			mustSet(t, c, key, wide(20))
			eds := newSotw(t, c, resource.EndpointType, clusterNames(20)...)
			eds.request("", false)
			first := eds.recv(time.Second)
			if first == nil || len(first.Resources) != 20 {
				t.Fatalf("initial EDS response: %v", first)
			}
			eds.ack(first)
			if err := tc.update(c); err != nil {
				t.Fatal(err)
			}
			r := eds.recv(time.Second)
			if r == nil {
				t.Fatal("endpoint change not pushed")
			}
			if got := strings.Join(respNames(t, r), ","); got != "c7" {
				t.Fatalf("EDS response carries %q, want only c7", got)
			}
			if got := endpointPort(t, r, 0); got != 7777 {
				t.Fatalf("pushed port %d, want 7777", got)
			}
			if _, v := c.Resources(key, resource.EndpointType); r.VersionInfo != v {
				t.Fatalf("response version %q is not the version of the whole set %q", r.VersionInfo, v)
			}
			eds.ack(r)
			if again := eds.recv(50 * time.Millisecond); again != nil {
				t.Fatalf("acknowledged change sent again: %v", respNames(t, again))
			}
		})
	}
}

// Listeners and clusters stay complete: a change of one cluster sends them all.
func TestSotwCDSStaysComplete(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(5))
	cds := newSotw(t, c, resource.ClusterType)
	cds.request("", false)
	cds.ack(cds.recv(time.Second))
	res := wide(5)
	res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster("new"))
	res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints("new"))
	mustSet(t, c, key, res)
	if r := cds.recv(time.Second); r == nil || len(r.Resources) != 6 {
		t.Fatalf("CDS response after adding one cluster: %v, want all 6 clusters", r)
	}
}

// A node that rejected a partial response holds its older endpoints: the next
// change is sent against what it accepted (the version it claims), so what
// it rejected comes again with the newest difference.
func TestSotwPartialAfterNACK(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(10))
	eds := newSotw(t, c, resource.EndpointType, clusterNames(10)...)
	eds.request("", false)
	good := eds.recv(time.Second)
	eds.ack(good)
	if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("c3", "127.0.0.1:3333")}, nil, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := eds.recv(time.Second); r == nil || len(r.Resources) != 1 {
		t.Fatalf("partial response: %v", r)
	}
	eds.request(good.VersionInfo, true) // NACK: the node keeps good
	if r := eds.recv(50 * time.Millisecond); r != nil {
		t.Fatal("rejected response re-sent")
	}
	if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("c5", "127.0.0.1:5555")}, nil, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	r := eds.recv(time.Second)
	if r == nil {
		t.Fatal("change after a NACK not pushed")
	}
	if got := strings.Join(respNames(t, r), ","); got != "c3,c5" {
		t.Fatalf("after a NACK the response carries %q, want c3 (rejected before) and c5", got)
	}
	if endpointPort(t, r, 0) != 3333 || endpointPort(t, r, 1) != 5555 {
		t.Fatal("after a NACK the response misses the rejected or the new change")
	}
}

// A client that reconnects holding an older version gets what changed since
// that version if it is remembered, else everything.
func TestSotwPartialNewStream(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(4))
	eds := newSotw(t, c, resource.EndpointType, clusterNames(4)...)
	eds.request("", false)
	old := eds.recv(time.Second)
	if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("c2", "127.0.0.1:2222")}, nil, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh := newSotw(t, c, resource.EndpointType, clusterNames(4)...)
	fresh.request(old.VersionInfo, false)
	if r := fresh.recv(time.Second); r == nil || strings.Join(respNames(t, r), ",") != "c2" {
		t.Fatalf("reconnected stream with an older remembered version got %v, want c2 only", r)
	}
	unknown := newSotw(t, c, resource.EndpointType, clusterNames(4)...)
	unknown.request("some-version-never-sent", false)
	if r := unknown.recv(time.Second); r == nil || len(r.Resources) != 4 {
		t.Fatalf("reconnected stream with an unknown version got %v, want all 4", r)
	}
}

func TestUpdateEndpoints(t *testing.T) {
	c := New(Options{})
	if err := c.UpdateEndpoints(key, nil, nil, SetOptions{}); err == nil {
		t.Fatal("update without a snapshot accepted")
	}
	mustSet(t, c, key, wide(3))
	cds := newSotw(t, c, resource.ClusterType)
	cds.request("", false)
	cds.ack(cds.recv(time.Second))
	// Removing endpoints an EDS cluster uses is refused, naming both.
	err := c.UpdateEndpoints(key, nil, []string{"c1"}, SetOptions{})
	if err == nil || !strings.Contains(err.Error(), `cluster "c1"`) || !strings.Contains(err.Error(), `endpoints "c1"`) {
		t.Fatalf("removing used endpoints: %v", err)
	}
	if rs, _ := c.Resources(key, resource.EndpointType); len(rs) != 3 {
		t.Fatalf("refused update changed the snapshot: %d endpoint sets", len(rs))
	}
	// Adding one (not yet used) and updating another works; CDS is untouched.
	if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("spare"), xdstest.Endpoints("c2", "127.0.0.1:9")}, nil, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, v := c.Resources(key, resource.EndpointType)
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "c,c1,c2,spare" {
		t.Fatalf("endpoints after update: %s", got)
	}
	if v != versionOf(rs) {
		t.Fatalf("incremental version %s differs from the version of the set %s", v, versionOf(rs))
	}
	if err := c.UpdateEndpoints(key, nil, []string{"spare"}, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := cds.recv(50 * time.Millisecond); got != nil {
		t.Fatal("endpoint update pushed clusters")
	}
	// The same state reached by a whole snapshot has the same version.
	res := wide(3)
	res[resource.EndpointType][2] = xdstest.Endpoints("c2", "127.0.0.1:9")
	other := New(Options{})
	mustSet(t, other, key, res)
	_, want := other.Resources(key, resource.EndpointType)
	if _, got := c.Resources(key, resource.EndpointType); got != want {
		t.Fatalf("version after updates %s, after a whole snapshot of the same content %s", got, want)
	}
	if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("x"), xdstest.Endpoints("x")}, nil, SetOptions{}); err == nil {
		t.Fatal("duplicate names accepted")
	}
}

// A delta stream gets only the changed endpoint set, and then holds the
// type's shared list.
func TestDeltaUpdateEndpoints(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(6))
	ch := make(chan *Response, 1)
	var holds Holdings
	open := func() {
		sub := Subscription{Names: c.NameSet(key, resource.EndpointType, clusterNames(6))}
		c.Watch(&Watch{Key: key, TypeURL: resource.EndpointType, Delta: true, Sub: sub, Holds: holds, Deliver: func(r *Response) { ch <- r }})
	}
	open()
	first := <-ch
	holds = Holdings{Held: first.Held, Answered: true}
	open()
	if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("c4", "127.0.0.1:4444")}, nil, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if len(r.Resources) != 1 || r.Resources[0].Name != "c4" || len(r.Removed) != 0 {
			t.Fatalf("delta response carries %v (removes %v), want c4 only", r.Resources, r.Removed)
		}
		all := c.snapshotOf(key).get(resource.EndpointType).list
		if r.Held.Len() != 6 || !plist.Same(r.Held, all) {
			t.Fatalf("the node holds %d resources, not the type's shared list", r.Held.Len())
		}
	case <-time.After(time.Second):
		t.Fatal("endpoint change not pushed on delta")
	}
}

// The same content set for many groups is marshalled once and shared; the
// bytes are dropped when the last group holding them goes.
func TestResourcesSharedAcrossGroups(t *testing.T) {
	c := New(Options{})
	keys := []Key{{Group: "mesh/a", Flavor: FlavorEnvoy}, {Group: "mesh/b", Flavor: FlavorEnvoy}}
	for _, k := range keys {
		mustSet(t, c, k, wide(3)) // fresh messages for every group
	}
	a, _ := c.Resources(keys[0], resource.ClusterType)
	b, _ := c.Resources(keys[1], resource.ClusterType)
	for i := range a {
		if a[i] != b[i] || a[i].Any() != b[i].Any() {
			t.Fatalf("cluster %s held twice", a[i].Name)
		}
	}
	distinct := c.pool.size()
	c.Delete(keys[0])
	if c.pool.size() != distinct {
		t.Fatalf("resources still held by %s were dropped: %d -> %d", keys[1], distinct, c.pool.size())
	}
	c.Delete(keys[1])
	if n := c.pool.size(); n != 0 {
		t.Fatalf("%d resources kept after every group was deleted", n)
	}
}

// A message handed in again is neither marshalled nor hashed.
func TestSameMessageNotMarshalledAgain(t *testing.T) {
	c := New(Options{})
	res := wide(3)
	mustSet(t, c, key, res)
	before, _ := c.Resources(key, resource.RouteType)
	res[resource.EndpointType][1] = xdstest.Endpoints("c1", "127.0.0.1:9")
	mustSet(t, c, key, res)
	after, _ := c.Resources(key, resource.RouteType)
	if before[0] != after[0] {
		t.Fatal("unchanged route configuration re-made")
	}
	if n := c.pool.size(); n != 3+3+2+1+0 {
		t.Fatalf("pool holds %d resources, want the 9 of the current snapshot", n)
	}
}

// Update checks only what the change could break, and refuses what breaks.
func TestUpdateChecksReferences(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	cases := []struct {
		name    string
		typeURL string
		upsert  []types.Resource
		remove  []string
		want    string // substring of the error; empty: accepted
	}{
		{name: "route in use removed", typeURL: resource.RouteType, remove: []string{"rc"}, want: `route configuration "rc" (RDS) is not in the snapshot`},
		{name: "listener to a missing route", typeURL: resource.ListenerType, upsert: []types.Resource{xdstest.Listener("l2", 9, "nope")}, want: `listener "l2"`},
		{name: "cluster without endpoints", typeURL: resource.ClusterType, upsert: []types.Resource{xdstest.Cluster("d")}, want: `endpoints "d" (EDS)`},
		{name: "unknown type", typeURL: "type.googleapis.com/x.Y", want: "unsupported type"},
		{name: "route changed", typeURL: resource.RouteType, upsert: []types.Resource{xdstest.Route("rc", []string{"new.example.com"}, "c")}},
		{name: "route added", typeURL: resource.RouteType, upsert: []types.Resource{xdstest.Route("rc2", []string{"two.example.com"}, "c")}},
		{name: "listener to the new route", typeURL: resource.ListenerType, upsert: []types.Resource{xdstest.Listener("l2", 9, "rc2")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, before := c.Resources(key, tc.typeURL)
			err := c.Update(key, tc.typeURL, tc.upsert, tc.remove, SetOptions{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			case tc.want != "":
				if _, after := c.Resources(key, tc.typeURL); after != before {
					t.Fatal("a refused update changed the snapshot")
				}
			}
		})
	}
	rs, _ := c.Resources(key, resource.ListenerType)
	if len(rs) != 3 {
		t.Fatalf("%d listeners after the updates, want 3", len(rs))
	}
}

// Streams subscribed to the same names share one interned set, and streams
// sent the same version share what it holds.
func TestSotwStreamsShareState(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(50))
	names := clusterNames(50)
	names = append(names[1:], names[0]) // order does not matter
	a := newSotw(t, c, resource.EndpointType, clusterNames(50)...)
	b := newSotw(t, c, resource.EndpointType, names...)
	if c.NameSet(key, resource.EndpointType, a.names) != c.NameSet(key, resource.EndpointType, b.names) {
		t.Fatal("the same names in another order make another set")
	}
	var held []plist.List[*Resource]
	for _, s := range []*sotw{a, b} {
		s.request("", false)
		select {
		case r := <-s.ch:
			if r.Held.Len() != 50 {
				t.Fatalf("response holds %d", r.Held.Len())
			}
			held = append(held, r.Held)
		case <-time.After(time.Second):
			t.Fatal("no response")
		}
	}
	if !plist.Same(held[0], held[1]) {
		t.Fatal("two streams sent the same version hold separate lists")
	}
}
