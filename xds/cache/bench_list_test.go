package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// BenchmarkLookup finds one resource by name in a type of n resources: by
// the binary search of the persistent list the cache uses (list), and,
// for comparison, in a map of the names to positions (index: what a state
// kept before, at the price of a new map whenever a name is added or
// removed).
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{3000, 30000} {
		rs := make([]*Resource, n)
		for i := range rs {
			rs[i] = &Resource{Name: fmt.Sprintf("c%d", i)}
		}
		ts, err := newTypeState("t.T", rs, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		index := make(map[string]int, n)
		for i, r := range ts.list.All() {
			index[r.Name] = i
		}
		b.Run(fmt.Sprintf("resources=%d/list", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, ok := ts.lookup(rs[(i*7919)%n].Name); !ok {
					b.Fatal("not found")
				}
			}
		})
		b.Run(fmt.Sprintf("resources=%d/index", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, ok := index[rs[(i*7919)%n].Name]; !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}

// BenchmarkConsistent is the reference check of a whole snapshot of n EDS
// clusters (a lookup of each cluster's endpoint set), as SetSnapshot runs
// it when clusters or endpoints changed.
func BenchmarkConsistent(b *testing.B) {
	for _, n := range []int{3000, 30000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			c := New(Options{})
			res := map[string][]types.Resource{}
			for i := range n {
				res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(fmt.Sprintf("c%d", i)))
				res[resource.EndpointType] = append(res[resource.EndpointType], changeEndpoints(i, 0))
			}
			if err := c.SetSnapshot(key, res, SetOptions{}); err != nil {
				b.Fatal(err)
			}
			s := c.snapshotOf(key)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := consistent(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
