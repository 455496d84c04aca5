package cache

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// buildWorld is the IR of one Gateway of n routes as translation makes it
// for the control loop's benchmark world: one HTTP listener, one virtual
// host (hostname) per route with one segment-prefix route to one of n/10
// clusters of two endpoints.
func buildWorld(n int) *ir.Proxy {
	p := &ir.Proxy{Name: "gateway/default/gw-0", Listeners: []*ir.Listener{{
		Name: "default/gw-0/80", Port: 80, Protocol: ir.ProtocolHTTP,
		FilterChains: []*ir.FilterChain{{Name: "default/gw-0/80", HTTP: &ir.HTTPConnectionManager{RouteConfigName: "default/gw-0/80"}}},
	}}}
	services := max(n/10, 1)
	for s := range services {
		p.Clusters = p.Clusters.Append(&ir.Cluster{Name: fmt.Sprintf("default/svc-%05d/8080", s), Protocol: ir.AppHTTP1, ConnectTimeout: 5 * time.Second,
			Endpoints: []ir.Endpoint{{Address: fmt.Sprintf("10.%d.%d.1", s/250, s%250), Port: 8080}, {Address: fmt.Sprintf("10.%d.%d.2", s/250, s%250), Port: 8080}}})
	}
	var vhs []*ir.VirtualHost
	for i := range n {
		host := fmt.Sprintf("r-%05d.example.com", i)
		vhs = append(vhs, &ir.VirtualHost{Name: "default/gw-0/80/" + host, Domains: []string{host},
			Routes: []*ir.Route{buildRoute(i, services, "/p")}})
	}
	rc := &ir.RouteConfig{Name: "default/gw-0/80", VirtualHosts: plist.Of(vhs...)}
	p.RouteConfigs = []*ir.RouteConfig{rc}
	return p
}

func buildRoute(i, services int, path string) *ir.Route {
	return &ir.Route{
		Name:     fmt.Sprintf("default/r-%05d/rule/0/match/0", i),
		Match:    ir.RouteMatch{PathType: ir.PathPrefix, Path: path},
		Forward:  &ir.ForwardAction{Backends: []ir.WeightedCluster{{Cluster: fmt.Sprintf("default/svc-%05d/8080", i%services), Weight: 1}}},
		Metadata: map[string]string{"kind": "HTTPRoute", "name": fmt.Sprintf("r-%05d", i)},
	}
}

// withChangedRoute is p with route i's path changed: a new route, virtual
// host, route configuration and proxy; every other IR part is shared.
func withChangedRoute(p *ir.Proxy, i, gen int) *ir.Proxy {
	out := *p
	rc := *p.RouteConfigs[0]
	vh := *rc.VirtualHosts.At(i)
	vh.Routes = []*ir.Route{buildRoute(i, p.Clusters.Len(), fmt.Sprintf("/p%d", gen))}
	rc.VirtualHosts = rc.VirtualHosts.Splice(i, i+1, &vh)
	out.RouteConfigs = []*ir.RouteConfig{&rc}
	return &out
}

// BenchmarkBuildAndSet is what a changed route costs from IR to bytes: the
// xDS build (validation and the size check included) of a proxy of n
// routes of which one is new, then setting the snapshot (marshalling and
// hashing what changed). builder=memo is xds/envoy's Builder (the other IR
// parts are the same pointers, as translation keeps them); builder=none is
// envoy.Build of the whole proxy. The copy of the IR is made outside the
// timer; cpu-ms/op counts the garbage collector. Measured after one
// change, once the cache holds the pieces. MB-live is the live heap at the
// end (the IR, the cache, the builder's memo).
func BenchmarkBuildAndSet(b *testing.B) {
	for _, n := range []int{1000, 10000, 30000} {
		for _, memo := range []bool{true, false} {
			b.Run(fmt.Sprintf("routes=%d/builder=%s", n, map[bool]string{true: "memo", false: "none"}[memo]), func(b *testing.B) {
				benchBuildAndSet(b, n, memo)
			})
		}
	}
}

func benchBuildAndSet(b *testing.B, n int, memo bool) {
	p := buildWorld(n)
	c := New(Options{})
	k := Key{Group: p.Name, Flavor: FlavorEnvoy}
	s := envoy.NewBuilder(envoy.FlavorEnvoy)
	build := func(p *ir.Proxy) error {
		var out *envoy.Resources
		var err error
		if memo {
			if out, err = s.Build(p); err == nil {
				err = s.CheckSize(out, envoy.MaxSendBytes)
			}
		} else if out, err = envoy.Build(p, envoy.Options{}); err == nil {
			err = envoy.CheckSize(out, envoy.MaxSendBytes)
		}
		if err != nil {
			return err
		}
		return c.SetSnapshot(k, out.ByType(), SetOptions{})
	}
	// The first build, then one change: a route configuration that shares
	// nothing with an earlier one is marshalled whole, and the next one
	// makes the pieces that the following ones reuse.
	if err := build(p); err != nil {
		b.Fatal(err)
	}
	p = withChangedRoute(p, 0, 0)
	if err := build(p); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var cpu time.Duration
	gen := 0
	for b.Loop() {
		b.StopTimer()
		gen++
		p = withChangedRoute(p, gen%n, gen)
		b.StartTimer()
		start := benchcpu.Time()
		err := build(p)
		cpu += benchcpu.Time() - start
		if err != nil {
			b.Fatal(err)
		}
	}
	benchcpu.PerOp(b, cpu)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapAlloc)/1e6, "MB-live")
	runtime.KeepAlive(s)
	runtime.KeepAlive(c)
	runtime.KeepAlive(p)
}
