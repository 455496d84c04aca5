package envoy

import (
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gantryproxy/gantry/xds/ir"
)

// TestRouteChangeBytesFollowTheChange holds a Builder's build of a route
// change, in a route configuration of n virtual hosts (one route each), to
// allocating about the same at two sizes: the new route configuration
// shares every chunk of its virtual host list the change did not reach,
// and no flat list of the n virtual hosts is made (8 B per host, which
// would show as the difference between the sizes). The flat message a
// reader asks for is the same as Build's. Bytes are counted with
// runtime.MemStats over a series of changes, not timed.
func TestRouteChangeBytesFollowTheChange(t *testing.T) {
	const small, large = 2000, 8000
	perChange := func(n int) float64 {
		p := benchProxyHosts(n, 1)
		s := NewBuilder(FlavorEnvoy)
		if _, err := s.Build(p); err != nil {
			t.Fatal(err)
		}
		const changes = 40
		next := make([]*ir.Proxy, changes) // made before counting
		for k := range next {
			p = withRoute(p, (k*7919)%n, k)
			next[k] = p
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var last *Resources
		for _, p := range next {
			r, err := s.Build(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CheckSize(r, 1<<30); err != nil {
				t.Fatal(err)
			}
			last = r
		}
		runtime.ReadMemStats(&after)
		if _, ok := last.Routes[0].(*RouteConfiguration); !ok {
			t.Fatalf("n=%d: the Builder handed out a %T, not its listed route configuration", n, last.Routes[0])
		}
		want, err := Build(next[changes-1], Options{Flavor: FlavorEnvoy})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(want.Routes[0], last.Routes[0]) {
			t.Fatalf("n=%d: the listed route configuration is not Build's", n)
		}
		return float64(after.TotalAlloc-before.TotalAlloc) / changes
	}
	a, b := perChange(small), perChange(large)
	t.Logf("bytes per route change: %.0f at %d virtual hosts, %.0f at %d", a, small, b, large)
	// A list of the virtual hosts made per change grows by 8 B x 6,000 =
	// 48 kB between the sizes; the chunk indexes by well under 1 B a host.
	if grown := b - a; grown > 2*(large-small) {
		t.Errorf("a route change allocates %.0f B more at %d virtual hosts than at %d: something per change grows with the virtual hosts", grown, large, small)
	}
}
