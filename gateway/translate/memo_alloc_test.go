package translate

import (
	"runtime"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// TestRouteChangeBytesFollowTheChange holds a route change on a Gateway
// of n routes, each its own hostname (one route table of n virtual
// hosts), to allocating about the same at two sizes: the route
// configuration's new virtual host list shares every chunk the change did
// not reach, so a list of n pointers made per change (8 B per host) would
// show as the difference between the sizes. Bytes are counted with
// runtime.MemStats over a series of changes, not timed.
func TestRouteChangeBytesFollowTheChange(t *testing.T) {
	const small, large = 2000, 8000
	perChange := func(n int) float64 {
		set := hostsWorld(n)
		_, memo := TranslateMemo(set, Options{})
		gws := []types.NamespacedName{{Namespace: "default", Name: "gw"}}
		const changes = 40
		sets := make([]*resource.Set, changes) // made before counting: the input is not the memo's
		for k := range sets {
			next := *set
			i := (k * 7919) % n
			next.HTTPRoutes = set.HTTPRoutes.Splice(i, i+1, memoRoute(i, "r"+strconv.Itoa(i)+".example.com", "/changed-"+strconv.Itoa(k), "svc-0"))
			sets[k] = &next
			set = &next
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		last := memo.set
		for _, next := range sets {
			var ch []RouteChange
			for old, r := range plist.Differ(last.HTTPRoutes, next.HTTPRoutes) {
				ch = append(ch, RouteChange{Old: old, New: r})
			}
			if _, ok := memo.Routes(next, gws, ch); !ok {
				t.Fatalf("n=%d: the memo did not take a route change", n)
			}
			last = next
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / changes
	}
	a, b := perChange(small), perChange(large)
	t.Logf("bytes per route change: %.0f at %d routes, %.0f at %d routes", a, small, b, large)
	// A list of the route table's hosts made per change grows by
	// 8 B x 6,000 = 48 kB between the sizes; the chunk index grows by
	// well under 1 B per host.
	if grown := b - a; grown > 2*(large-small) {
		t.Errorf("a route change allocates %.0f B more at %d routes than at %d: something per change grows with the virtual hosts", grown, large, small)
	}
}

// hostsWorld is memoWorld with n routes, each its own hostname.
func hostsWorld(n int) *resource.Set {
	set := memoWorld()
	routes := make([]*gwapiv1.HTTPRoute, n)
	for i := range routes {
		routes[i] = memoRoute(i, "r"+strconv.Itoa(i)+".example.com", "/", "svc-"+strconv.Itoa(i%2))
	}
	set.HTTPRoutes = plist.Of(routes...)
	return set
}
