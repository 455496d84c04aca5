package envoy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// benchProxy generates one Gateway's worth of IR with n routes: 100 routes
// per hostname on one HTTP listener, each with a segment prefix and a header
// match, two weighted backends, a timeout and a request header edit; one
// cluster (three endpoints) per 10 routes.
func benchProxy(n int) *ir.Proxy { return benchProxyHosts(n, 100) }

// benchProxyHosts is benchProxy with perHost routes per hostname.
func benchProxyHosts(n, perHost int) *ir.Proxy {
	p := &ir.Proxy{Name: "gateway/bench/eg", Listeners: []*ir.Listener{httpListener("bench/eg/80")}}
	rc := &ir.RouteConfig{Name: "bench/eg/80"}
	clusters := (n + 9) / 10
	for i := 0; i < clusters; i++ {
		c := &ir.Cluster{Name: fmt.Sprintf("bench/svc-%05d/8080", i), Protocol: ir.AppHTTP1, ConnectTimeout: 5 * time.Second}
		for e := 0; e < 3; e++ {
			c.Endpoints = append(c.Endpoints, ir.Endpoint{
				Address: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, e+1), Port: 8080, Health: ir.Healthy,
			})
		}
		p.Clusters = p.Clusters.Append(c)
	}
	var vh *ir.VirtualHost
	var vhs []*ir.VirtualHost
	for i := 0; i < n; i++ {
		if i%perHost == 0 {
			host := fmt.Sprintf("host-%05d.example.com", i/perHost)
			vh = &ir.VirtualHost{Name: "bench/eg/80/" + host, Domains: []string{host}}
			vhs = append(vhs, vh)
		}
		vh.Routes = append(vh.Routes, &ir.Route{
			Name: fmt.Sprintf("bench/route-%05d/rule/0/match/0", i),
			Match: ir.RouteMatch{
				PathType: ir.PathPrefix,
				Path:     fmt.Sprintf("/api/v%d/items-%05d", i%3, i),
				Headers:  []ir.StringMatch{{Name: "x-tenant", Type: ir.MatchExact, Value: fmt.Sprintf("t%d", i%7)}},
			},
			Forward: &ir.ForwardAction{
				Timeout: 15 * time.Second,
				Backends: []ir.WeightedCluster{
					{Cluster: p.Clusters.At((i / 10) % clusters).Name, Weight: 90},
					{Cluster: p.Clusters.At((i/10 + 1) % clusters).Name, Weight: 10},
				},
			},
			RequestHeaders: &ir.HeaderMutation{Set: []ir.Header{{Name: "x-route", Value: fmt.Sprint(i)}}},
			Metadata:       map[string]string{"kind": "HTTPRoute", "name": fmt.Sprintf("route-%05d", i)},
		})
	}
	rc.VirtualHosts = plist.Of(vhs...)
	p.RouteConfigs = []*ir.RouteConfig{rc}
	return p
}

// BenchmarkBuild builds (and so validates) a proxy with 10,000 routes.
func BenchmarkBuild(b *testing.B) {
	for _, flavor := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		b.Run(fmt.Sprintf("routes=10000/flavor=%s", flavor), func(b *testing.B) {
			p := benchProxy(10000)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(p, Options{Flavor: flavor}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidate is the validation share of BenchmarkBuild.
func BenchmarkValidate(b *testing.B) {
	res, err := Build(benchProxy(10000), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(res); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuilderRouteChange is a Builder's build, validation and size
// check of a proxy of n routes of which one route is new and every other
// IR part the same pointer as in the previous build (the copy is made
// outside the timer). cpu-ms/op is the process's CPU time per op, the
// garbage collector included. 100 routes share a hostname, or with
// hosts=n each route has its own (n virtual hosts in one route
// configuration, as n HTTPRoutes of one hostname each give).
func BenchmarkBuilderRouteChange(b *testing.B) {
	for _, c := range []struct{ n, perHost int }{{1000, 100}, {10000, 100}, {30000, 100}, {10000, 1}, {30000, 1}} {
		name := fmt.Sprintf("routes=%d", c.n)
		if c.perHost == 1 {
			name += fmt.Sprintf("/hosts=%d", c.n)
		}
		b.Run(name, func(b *testing.B) {
			n := c.n
			benchBuilderEdits(b, benchProxyHosts(n, c.perHost), func(p *ir.Proxy, i int) *ir.Proxy { return withRoute(p, i%n, i) })
		})
	}
}

// BenchmarkBuilderClusterChange is BenchmarkBuilderRouteChange where the
// change also adds a cluster (unreferenced, at its place by name), as a
// route to a new Service does: the cluster and endpoint lists change.
func BenchmarkBuilderClusterChange(b *testing.B) {
	for _, n := range []int{10000, 30000} {
		b.Run(fmt.Sprintf("routes=%d/hosts=%d", n, n), func(b *testing.B) {
			benchBuilderEdits(b, benchProxyHosts(n, 1), func(p *ir.Proxy, i int) *ir.Proxy { return withCluster(withRoute(p, i%n, i), i) })
		})
	}
}

// benchBuilderEdits builds p once, then measures one Build and CheckSize
// per op of edit(previous proxy, op number), the edit itself not counted.
func benchBuilderEdits(b *testing.B, p *ir.Proxy, edit func(*ir.Proxy, int) *ir.Proxy) {
	s := NewBuilder(FlavorEnvoy)
	if _, err := s.Build(p); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var cpu time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		p = edit(p, i)
		b.StartTimer()
		start := benchcpu.Time()
		out, err := s.Build(p)
		if err == nil {
			err = s.CheckSize(out, MaxSendBytes)
		}
		cpu += benchcpu.Time() - start
		if err != nil {
			b.Fatal(err)
		}
	}
	benchcpu.PerOp(b, cpu)
}

// withCluster is p with a new cluster inserted at its place by name.
func withCluster(p *ir.Proxy, gen int) *ir.Proxy {
	out := *p
	c := &ir.Cluster{Name: fmt.Sprintf("bench/svc-%05d/8080/%d", gen%p.Clusters.Len(), gen), Protocol: ir.AppHTTP1, ConnectTimeout: 5 * time.Second}
	at, _ := plist.BinarySearchFunc(p.Clusters, c.Name, func(o *ir.Cluster, name string) int { return strings.Compare(o.Name, name) })
	out.Clusters = p.Clusters.Splice(at, at, c)
	return &out
}

// withRoute is p with its i-th route replaced by one of a new path; every
// other IR part is shared, the route configuration and virtual host holding
// it are new copies.
func withRoute(p *ir.Proxy, i, gen int) *ir.Proxy {
	out := *p
	rc := *p.RouteConfigs[0]
	h := i / len(rc.VirtualHosts.At(0).Routes)
	vh := *rc.VirtualHosts.At(h)
	vh.Routes = slices.Clone(vh.Routes)
	j := i % len(vh.Routes)
	r := *vh.Routes[j]
	r.Match.Path = fmt.Sprintf("/api/changed-%d", gen)
	vh.Routes[j] = &r
	rc.VirtualHosts = rc.VirtualHosts.Splice(h, h+1, &vh)
	out.RouteConfigs = []*ir.RouteConfig{&rc}
	return &out
}

func TestBenchProxyBuilds(t *testing.T) {
	res, err := Build(benchProxy(1000), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Clusters); got != 100 {
		t.Errorf("clusters = %d, want 100", got)
	}
}
