package cache

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// TestUpdateBytesFollowTheChange holds an Update of one endpoint set (its
// name kept, or a new name put in and then taken out) to allocating about
// the same at 3,000 and 30,000 endpoint sets, with and without a state of
// the world and a delta watch answered after each change: the type's list
// is spliced, and no copy of the list (8 B a resource) or map of its names
// (tens of bytes a resource) is made per change. What does grow with the
// type is the list's chunk index (32 B per 128 resources) and a state of
// the world view's list of runs (24 B per run of about 64 resources).
// Bytes are counted with runtime.MemStats over a series of changes, not
// timed.
func TestUpdateBytesFollowTheChange(t *testing.T) {
	const small, large = 3000, 30000
	for _, watched := range []bool{false, true} {
		for _, op := range []string{"upsert", "add-remove"} {
			a, b := updateBytes(t, small, op, watched), updateBytes(t, large, op, watched)
			t.Logf("%s (watched %v): %.0f B per update at %d endpoint sets, %.0f at %d", op, watched, a, small, b, large)
			// A copy of the list per change would grow by 8 B x 27,000 =
			// 216 kB between the sizes; the chunk index and the view's
			// runs by under 1 B a resource (about 18 kB).
			if grown := b - a; grown > 2*(large-small) {
				t.Errorf("%s (watched %v): an update allocates %.0f B more at %d endpoint sets than at %d: something per change grows with the type", op, watched, grown, large, small)
			}
		}
	}
}

// updateBytes is the bytes allocated per Update of op on a snapshot of n
// EDS clusters, watched (when watched) by a state-of-the-world stream
// subscribed to the names of every endpoint set and those put in, and by a
// wildcard delta stream.
func updateBytes(t *testing.T, n int, op string, watched bool) float64 {
	t.Helper()
	c := New(Options{})
	res := map[string][]types.Resource{}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("c%d", i)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(names[i]))
		res[resource.EndpointType] = append(res[resource.EndpointType], changeEndpoints(i, 0))
	}
	mustSet(t, c, key, res)
	const changes = 40
	var ws []*watchers
	if watched {
		for k := range changes { // names put in and taken out are subscribed too
			names = append(names, fmt.Sprintf("c%d-extra", (k*7919)%n))
		}
		ws = []*watchers{newWatchers(c, resource.EndpointType, names, 1, false), newWatchers(c, resource.EndpointType, nil, 1, true)}
		ws[1].sub = Subscription{Wildcard: true}
	}
	type change struct {
		upsert []types.Resource
		remove []string
	}
	var next []change // made before counting
	for k := range changes {
		if op == "upsert" {
			next = append(next, change{upsert: []types.Resource{changeEndpoints((k*7919)%n, k+1)}})
			continue
		}
		extra := xdstest.Endpoints(fmt.Sprintf("c%d-extra", (k*7919)%n), "10.2.0.1:8080")
		next = append(next, change{upsert: []types.Resource{extra}}, change{remove: []string{fmt.Sprintf("c%d-extra", (k*7919)%n)}})
	}
	for _, w := range ws {
		w.open(nil)
		w.drain()
		w.open(nil)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, ch := range next {
		if err := c.Update(key, resource.EndpointType, ch.upsert, ch.remove, SetOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.drain() != len(ch.upsert) {
				t.Fatalf("n=%d: a response carries more than the changed endpoint set", n)
			}
			w.open(nil)
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(len(next))
}
