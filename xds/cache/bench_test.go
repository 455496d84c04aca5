package cache

import (
	"fmt"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// benchConfig has 50 clusters and one route configuration with 50 virtual
// hosts; gen changes one route, so only RDS changes between generations.
func benchConfig(gen int) map[string][]types.Resource {
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	rc := &routev3.RouteConfiguration{Name: "rc"}
	for i := 0; i < 50; i++ {
		c := fmt.Sprintf("c%d", i)
		vh := xdstest.Route("x", []string{fmt.Sprintf("svc%d.example.com", i)}, c).VirtualHosts[0]
		vh.Name = c
		if i == 0 {
			vh.Routes[0].Match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: fmt.Sprintf("/gen%d", gen)}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType], xdstest.Endpoints(c, "10.0.0.1:80", "10.0.0.2:80"))
	}
	res[resource.RouteType] = []types.Resource{rc}
	return res
}

// BenchmarkFanOut measures one route change reaching n connected nodes of
// one group: the snapshot is set (marshalled once) and every node's open
// RDS watch is answered; each node then acknowledges (a new watch).
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c := New(Options{})
			configs := []map[string][]types.Resource{benchConfig(1), benchConfig(2)}
			if err := c.SetSnapshot(key, configs[0], SetOptions{}); err != nil {
				b.Fatal(err)
			}
			sub := Subscription{Names: c.NameSet(key, resource.RouteType, []string{"rc"})}
			chans := make([]chan *Response, n)
			version := ""
			for i := range chans {
				chans[i] = make(chan *Response, 1)
			}
			open := func() {
				for i := range chans {
					ch := chans[i]
					c.Watch(&Watch{Key: key, TypeURL: resource.RouteType, Sub: sub, Sent: version, Claimed: version, Deliver: func(r *Response) { ch <- r }})
				}
			}
			drain := func() {
				for i := range chans {
					r := <-chans[i]
					version = r.Version
				}
			}
			open()
			drain()
			open()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.SetSnapshot(key, configs[(i+1)%2], SetOptions{}); err != nil {
					b.Fatal(err)
				}
				drain()
				open()
			}
		})
	}
}
