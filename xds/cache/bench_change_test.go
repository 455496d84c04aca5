package cache

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// changeConfig is one listener, one route configuration with a virtual host
// per cluster, and n EDS clusters with two endpoints each.
func changeConfig(n int) map[string][]types.Resource {
	res := map[string][]types.Resource{
		resource.ListenerType: {xdstest.Listener("l", 10000, "rc")},
		resource.RouteType:    {changeRoutes(n, 0)},
	}
	for i := 0; i < n; i++ {
		c := fmt.Sprintf("c%d", i)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType], changeEndpoints(i, 0))
	}
	return res
}

func changeRoutes(n, gen int) types.Resource {
	rc := &routev3.RouteConfiguration{Name: "rc"}
	for i := 0; i < n; i++ {
		v := xdstest.Route("x", []string{fmt.Sprintf("svc%d.example.com", i)}, fmt.Sprintf("c%d", i)).VirtualHosts[0]
		v.Name = fmt.Sprintf("vh%d-%d", i, gen)
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	return rc
}

func changeEndpoints(i, gen int) types.Resource {
	return xdstest.Endpoints(fmt.Sprintf("c%d", i), fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1), fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250+1, 8080+gen%50000))
}

// watchers are nodes of one group with an open watch on one type, state of
// the world (subscribing to every name) or delta.
type watchers struct {
	c     *Cache
	typ   string
	sub   Subscription
	delta bool
	sent  []string
	holds []Holdings
	chans []chan *Response
}

func newWatchers(c *Cache, typ string, names []string, n int, delta bool) *watchers {
	w := &watchers{c: c, typ: typ, sub: Subscription{Names: c.NameSet(key, typ, names)}, delta: delta, sent: make([]string, n), holds: make([]Holdings, n)}
	for range n {
		w.chans = append(w.chans, make(chan *Response, 1))
	}
	return w
}

func (w *watchers) open(_ *testing.B) {
	for i, ch := range w.chans {
		w.c.Watch(&Watch{Key: key, TypeURL: w.typ, Sub: w.sub, Delta: w.delta, Sent: w.sent[i], Claimed: w.sent[i], Holds: w.holds[i],
			Deliver: func(r *Response) { ch <- r }})
	}
}

// drain takes every node's response and returns how many resources they
// carried in all.
func (w *watchers) drain() int {
	carried := 0
	for i, ch := range w.chans {
		r := <-ch
		w.sent[i] = r.Version
		w.holds[i] = Holdings{Held: r.Held, Answered: true}
		carried += len(r.Resources)
	}
	return carried
}

// BenchmarkEndpointChange: one endpoint set of n clusters changes and reaches
// every node's open EDS watch (each node subscribes to all n), which then
// acknowledges. SetEndpoints hands in the whole list (the unchanged
// messages as they were); UpdateEndpoints only the changed one.
func BenchmarkEndpointChange(b *testing.B) {
	for _, n := range []int{10000, 30000} {
		for _, nodes := range []int{1, 100} {
			for _, mode := range []string{"SetEndpoints", "UpdateEndpoints", "UpdateEndpoints/delta"} {
				b.Run(fmt.Sprintf("clusters=%d/nodes=%d/%s", n, nodes, mode), func(b *testing.B) {
					benchEndpointChange(b, n, nodes, mode)
				})
			}
		}
	}
}

func benchEndpointChange(b *testing.B, n, nodes int, mode string) {
	c := New(Options{})
	res := changeConfig(n)
	if err := c.SetSnapshot(key, res, SetOptions{}); err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	w := newWatchers(c, resource.EndpointType, names, nodes, mode == "UpdateEndpoints/delta")
	w.open(b)
	w.drain()
	w.open(b)
	eps := res[resource.EndpointType]
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchcpu.Time()
	carried := 0
	for i := 0; i < b.N; i++ {
		cla := changeEndpoints(i%n, i+1)
		var err error
		if mode == "SetEndpoints" {
			eps[i%n] = cla
			err = c.SetEndpoints(key, eps, SetOptions{})
		} else {
			err = c.UpdateEndpoints(key, []types.Resource{cla}, nil, SetOptions{})
		}
		if err != nil {
			b.Fatal(err)
		}
		carried += w.drain()
		w.open(b)
	}
	b.ReportMetric((benchcpu.Time()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(carried)/float64(b.N*nodes), "resources/response")
}

// BenchmarkRouteChange: the snapshot of a group with n clusters is set again
// with one new route configuration (n virtual hosts; built outside the
// timer), every other message as it was (not marshalled again), or every
// message new (marshalled and hashed again, then found equal).
func BenchmarkRouteChange(b *testing.B) {
	for _, n := range []int{10000, 30000} {
		for _, fresh := range []bool{false, true} {
			b.Run(fmt.Sprintf("clusters=%d/fresh=%v", n, fresh), func(b *testing.B) {
				c := New(Options{})
				res := changeConfig(n)
				if err := c.SetSnapshot(key, res, SetOptions{}); err != nil {
					b.Fatal(err)
				}
				configs := []map[string][]types.Resource{res}
				if fresh {
					configs = []map[string][]types.Resource{changeConfig(n), changeConfig(n)}
				}
				b.ReportAllocs()
				b.ResetTimer()
				var cpu time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer() // building the new route configuration is not the cache's cost
					next := configs[i%len(configs)]
					next[resource.RouteType] = []types.Resource{changeRoutes(n, i+1)}
					b.StartTimer()
					cpu0 := benchcpu.Time()
					if err := c.SetSnapshot(key, next, SetOptions{}); err != nil {
						b.Fatal(err)
					}
					cpu += benchcpu.Time() - cpu0
				}
				b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// BenchmarkRouteHostChange: the snapshot of a group with n clusters is set
// again with a route configuration of n virtual hosts of which one is new
// (the others the same protos, as xds/envoy's Builder keeps them; the new
// list is made outside the timer): what the cache costs per route change.
func BenchmarkRouteHostChange(b *testing.B) {
	for _, n := range []int{10000, 30000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			c := New(Options{})
			res := changeConfig(n)
			for _, list := range res { // in the order the cache keeps, as xds/envoy hands them
				slices.SortFunc(list, func(a, b types.Resource) int {
					return strings.Compare(cachev3.GetResourceName(a), cachev3.GetResourceName(b))
				})
			}
			if err := c.SetSnapshot(key, res, SetOptions{}); err != nil {
				b.Fatal(err)
			}
			rc := res[resource.RouteType][0].(*routev3.RouteConfiguration)
			fresh := changeRoutes(n, 1).(*routev3.RouteConfiguration).VirtualHosts
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				at := (i * 7919) % n
				rc = &routev3.RouteConfiguration{Name: rc.Name, VirtualHosts: slices.Clone(rc.VirtualHosts)}
				rc.VirtualHosts[at], fresh[at] = fresh[at], rc.VirtualHosts[at]
				res[resource.RouteType] = []types.Resource{rc}
				b.StartTimer()
				cpu0 := benchcpu.Time()
				if err := c.SetSnapshot(key, res, SetOptions{}); err != nil {
					b.Fatal(err)
				}
				cpu += benchcpu.Time() - cpu0
			}
			b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
		})
	}
}
