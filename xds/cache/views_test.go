package cache

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
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
	c.rememberView(Key{Group: "g"}, resourcev3.RouteType, "v1", plist.Of(r))
	msg, r = nil, nil
	runtime.GC()
	runtime.GC()
	if gone.Value() != nil {
		t.Fatal("a remembered view keeps the route configuration's message alive")
	}
	held, ok := c.viewOf(Key{Group: "g"}, resourcev3.RouteType, "v1")
	if !ok || len(held) != 1 || len(held[0]) != 1 || held[0][0].name != "r" || held[0][0].hash == "" {
		t.Fatalf("view of v1 = %v, %v; want the name and hash of r", held, ok)
	}
}

// endpointList is n endpoint sets c<i>, sorted by name, generation gen of
// the ones in changed (0 for the rest).
func endpointList(t *testing.T, n int, changed map[int]int) []*Resource {
	t.Helper()
	var rs []*Resource
	for i := range n {
		rs = append(rs, mustResource(t, changeEndpoints(i, changed[i])))
	}
	slices.SortFunc(rs, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
	return rs
}

func flat(held []chunk) []stamp {
	var out []stamp
	for _, c := range held {
		if len(c) == 0 {
			panic("empty run")
		}
		out = append(out, c...)
	}
	return out
}

func stampsOf(rs []*Resource) []stamp {
	out := make([]stamp, len(rs))
	for i, r := range rs {
		out[i] = stamp{name: r.Name, hash: r.Hash}
	}
	return out
}

// A version's view shares with the view before it every run of stamps in
// which nothing changed, and holds exactly the version's names and hashes;
// what changed since a view is what differs from it.
func TestViewsShareUnchangedRuns(t *testing.T) {
	c := New(Options{})
	const n = 3000
	v1 := endpointList(t, n, nil)
	c.rememberView(key, resourcev3.EndpointType, "v1", plist.Of(v1...))
	changed := endpointList(t, n, map[int]int{7: 1})
	v2 := slices.Clone(v1) // c7 replaced, the rest the same resources
	for i, r := range changed {
		if r.Name == "c7" {
			v2[i] = r
		}
	}
	grown := append(slices.Clone(v2), mustResource(t, changeEndpoints(n+1, 0)))
	slices.SortFunc(grown, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
	last := "v1"
	for _, step := range []struct {
		version string
		rs      []*Resource
		want    []string
	}{
		{"v2", v2, []string{"c7"}},
		{"v3", grown, []string{"c3001"}},
		{"v4", v1, []string{"c7"}},
	} {
		prev, _ := c.viewOf(key, resourcev3.EndpointType, last)
		last = step.version
		c.rememberView(key, resourcev3.EndpointType, step.version, plist.Of(step.rs...))
		held, ok := c.viewOf(key, resourcev3.EndpointType, step.version)
		if !ok || !slices.Equal(flat(held), stampsOf(step.rs)) {
			t.Fatalf("%s: view holds %d stamps, not those of its %d resources", step.version, len(flat(held)), len(step.rs))
		}
		shared := 0
		for _, run := range held {
			for _, p := range prev {
				if &run[0] == &p[0] {
					shared++
				}
			}
		}
		if len(held) < n/maxChunk || shared < len(held)-2 {
			t.Errorf("%s: %d of %d runs shared with the view before", step.version, shared, len(held))
		}
		var got []string
		for _, r := range changedSince(prev, plist.Of(step.rs...)) {
			got = append(got, r.Name)
		}
		if !slices.Equal(got, step.want) {
			t.Errorf("%s: changed since the view before: %v, want %v", step.version, got, step.want)
		}
	}
}

func mustResource(t *testing.T, m types.Resource) *Resource {
	t.Helper()
	r, err := newResource(resourcev3.EndpointType, m)
	if err != nil {
		t.Fatal(err)
	}
	r.cut = fixedCut(r.Name)
	return r
}

// fixedCut replaces cutAt in these tests. cutAt's seed changes with every
// process, so which runs an edit touches would too: a run that reaches
// maxChunk without a cut point moves every forced end after an inserted or
// removed name until the next cut point. A fixed hash keeps the runs, and so
// the tests' counts of shared runs, the same in every process.
func fixedCut(name string) bool {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()%chunkCut == 0
}

// changedSince agrees with a comparison by name, whatever the runs.
func TestChangedSinceAgreesWithNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		n := rng.IntN(600)
		gen := map[int]int{}
		for range rng.IntN(5) {
			gen[rng.IntN(n+1)] = rng.IntN(3)
		}
		old := endpointList(t, n, nil)
		cur := endpointList(t, n, gen)
		// Drop some of each so names come and go.
		old = slices.DeleteFunc(old, func(*Resource) bool { return rng.IntN(20) == 0 })
		cur = slices.DeleteFunc(cur, func(*Resource) bool { return rng.IntN(20) == 0 })
		held := chunksOf(plist.Of(old...), nil)
		want := map[string]string{}
		for _, s := range stampsOf(old) {
			want[s.name] = s.hash
		}
		var exp []*Resource
		for _, r := range cur {
			if want[r.Name] != r.Hash {
				exp = append(exp, r)
			}
		}
		if got := changedSince(held, plist.Of(cur...)); !slices.Equal(got, exp) {
			t.Fatalf("changedSince: %d resources, want %d", len(got), len(exp))
		}
	}
}

// State-of-the-world streams that claim the same version of the same
// subscription share one comparison with that version's view: their
// responses carry the same slice. A stream claiming an older version gets
// what changed since that one.
func TestSotwStreamsShareChangedSince(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(50))
	set := c.NameSet(key, resourcev3.EndpointType, clusterNames(50))
	open := func(claimed string) chan *Response {
		ch := make(chan *Response, 1)
		c.Watch(&Watch{Key: key, TypeURL: resourcev3.EndpointType, Sub: Subscription{Names: set}, Sent: claimed, Claimed: claimed,
			Deliver: func(r *Response) { ch <- r }})
		return ch
	}
	update := func(name string, port int) {
		t.Helper()
		if err := c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints(name, fmt.Sprintf("127.0.0.1:%d", port))}, nil, SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(r *Response) []string {
		var out []string
		for _, res := range r.Resources {
			out = append(out, res.Name)
		}
		return out
	}
	v0 := (<-open("")).Version
	update("c3", 9003)
	v1 := (<-open(v0)).Version
	a, b := open(v1), open(v1)
	update("c7", 9007)
	ra, rb := <-a, <-b
	ro := <-open(v0)
	if !slices.Equal(names(ra), []string{"c7"}) || !slices.Equal(names(rb), []string{"c7"}) || &ra.Resources[0] != &rb.Resources[0] {
		t.Fatalf("streams at the same version were sent %v and %v (shared %v), want c7 in one shared slice", names(ra), names(rb), &ra.Resources[0] == &rb.Resources[0])
	}
	if !slices.Equal(names(ro), []string{"c3", "c7"}) {
		t.Fatalf("a stream two versions behind was sent %v, want c3 and c7", names(ro))
	}
}
