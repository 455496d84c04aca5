package envoy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// sameResources fails unless got equals want resource by resource, by
// proto.Equal and by their deterministic bytes.
func sameResources(t *testing.T, step string, want, got *Resources) {
	t.Helper()
	wl := [][]types.Resource{want.Listeners, want.Routes, want.Clusters, want.Endpoints, want.Secrets}
	gl := [][]types.Resource{got.Listeners, got.Routes, got.Clusters, got.Endpoints, got.Secrets}
	det := proto.MarshalOptions{Deterministic: true}
	for k := range wl {
		if len(wl[k]) != len(gl[k]) {
			t.Fatalf("%s: %s: %d resources, want %d", step, goldenKinds[k], len(gl[k]), len(wl[k]))
		}
		for i := range wl[k] {
			if !proto.Equal(wl[k][i], gl[k][i]) {
				t.Fatalf("%s: %s %s differs from Build's", step, goldenKinds[k], resourceName(wl[k][i]))
			}
			wb, err1 := det.Marshal(wl[k][i])
			gb, err2 := det.Marshal(gl[k][i])
			if err1 != nil || err2 != nil || string(wb) != string(gb) {
				t.Fatalf("%s: %s %s: bytes differ from Build's (%v, %v)", step, goldenKinds[k], resourceName(wl[k][i]), err1, err2)
			}
		}
	}
}

// compareBuilds builds p with Build and with s, and fails unless both
// give the same resources or the same error; it also checks CheckSize.
func compareBuilds(t *testing.T, step string, s *Builder, p *ir.Proxy, flavor Flavor) {
	t.Helper()
	want, werr := Build(p, Options{Flavor: flavor})
	skipped := !s.sharesHosts(s.prev, p)
	got, gerr := s.Build(p)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%s: Build error %v, Builder error %v", step, werr, gerr)
	}
	if werr != nil {
		return
	}
	if p.Sidecar == nil && len(want.Routes) > 0 && len(s.checked) == 0 && !skipped {
		t.Fatalf("%s: the Builder fell back to Build", step)
	}
	sameResources(t, step, want, got)
	for _, limit := range []int{1 << 30, 70 << 10, 200 << 10} {
		e1, e2 := fmt.Sprint(CheckSize(want, limit)), fmt.Sprint(s.CheckSize(got, limit))
		if e1 != e2 {
			t.Fatalf("%s: CheckSize(%d) = %s, Builder's %s", step, limit, e1, e2)
		}
	}
}

// TestBuilderEqualsBuild builds every golden input and generated proxies
// (100 routes per host, and one route per host) with a Builder through
// random edits that share every unchanged IR pointer (as translation
// does), and compares each result with Build's.
func TestBuilderEqualsBuild(t *testing.T) {
	var proxies []*ir.Proxy
	var flavors []Flavor
	for _, c := range irCases(t) {
		f := c.Case.Options.Flavor
		if f == "" {
			f = FlavorEnvoy
		}
		proxies, flavors = append(proxies, &c.Case.Proxy), append(flavors, f)
	}
	for _, f := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		proxies, flavors = append(proxies, benchProxy(300), benchProxyHosts(300, 1), authorizedProxy()), append(flavors, f, f, f)
	}
	for i, p := range proxies {
		t.Run(fmt.Sprintf("%d-%s-%s", i, flavors[i], p.Name), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 14))
			s := NewBuilder(flavors[i])
			compareBuilds(t, "first", s, p, flavors[i])
			compareBuilds(t, "again", s, p, flavors[i])
			for step := range 60 {
				p = editProxy(rng, p)
				compareBuilds(t, fmt.Sprintf("step %d", step), s, p, flavors[i])
			}
		})
	}
}

// TestBuilderReusesProtos checks that unchanged IR gives the same protos
// (the cache then neither marshals nor hashes them again) and that the
// memo does not grow with the number of builds.
func TestBuilderReusesProtos(t *testing.T) {
	p := benchProxy(1000)
	s := NewBuilder(FlavorEnvoy)
	first, err := s.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p = replaceRoute(rng, p)
	next, err := s.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range next.Clusters {
		if c != first.Clusters[i] {
			t.Errorf("cluster %s: a new proto for the same IR", resourceName(c))
		}
	}
	if !sameSlice(next.Clusters, first.Clusters) || !sameSlice(next.Endpoints, first.Endpoints) {
		t.Errorf("the same IR cluster list gave new cluster or endpoint lists")
	}
	hosts := func(r *Resources) []*routev3.VirtualHost {
		return r.Routes[0].(*RouteConfiguration).HostList().Slice()
	}
	kept, routes := 0, 0
	for i, vh := range hosts(next) {
		if vh == hosts(first)[i] {
			kept++
			continue
		}
		for j, r := range vh.Routes {
			if r == hosts(first)[i].Routes[j] {
				routes++
			}
		}
	}
	if kept != len(hosts(first))-1 || routes != 99 {
		t.Errorf("one route changed: %d of %d virtual hosts and %d of 100 routes of the other kept, want all but one", kept, len(hosts(first)), routes)
	}
	for range 200 {
		p = replaceRoute(rng, p)
		if _, err := s.Build(p); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.routes); n > 2*1000 {
		t.Errorf("the memo holds %d routes after 200 changes of a 1,000-route proxy", n)
	}
}

// TestBuilderEditsHostsInPlace checks that a changed virtual host among
// many edits the memo's host lists in place (no list of every host made
// per build) and that references a new host adds are checked: a route
// naming a missing cluster fails as Build fails, while no name changed.
func TestBuilderEditsHostsInPlace(t *testing.T) {
	p := benchProxyHosts(400, 1)
	s := NewBuilder(FlavorEnvoy)
	compareBuilds(t, "first", s, p, FlavorEnvoy)
	e := s.configs[p.RouteConfigs[0].Name]
	hosts, irHosts := &e.hosts[0], &e.irHosts[0]
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 20 {
		p = replaceRoute(rng, p)
		compareBuilds(t, fmt.Sprintf("step %d", step), s, p, FlavorEnvoy)
	}
	// Hosts far apart changed in one build, one removed between them.
	p = editRouteConfig(rng, p, func(rc *ir.RouteConfig) {
		vhs := rc.VirtualHosts
		for _, i := range []int{0, vhs.Len() - 1} {
			vh := *vhs.At(i)
			vh.Domains = append(slices.Clone(vh.Domains), fmt.Sprintf("far-%d.example.com", i))
			vhs = vhs.Splice(i, i+1, &vh)
		}
		rc.VirtualHosts = vhs.Splice(vhs.Len()/3, vhs.Len()/3+1)
	})
	compareBuilds(t, "hosts far apart", s, p, FlavorEnvoy)
	if e != s.configs[p.RouteConfigs[0].Name] || &e.hosts[0] != hosts || &e.irHosts[0] != irHosts {
		t.Errorf("a route change made the lists of every host anew")
	}
	broken := editRouteConfig(rng, p, func(rc *ir.RouteConfig) {
		mid := rc.VirtualHosts.Len() / 2
		src := rc.VirtualHosts.At(mid)
		vh := *src
		r := *vh.Routes[0]
		r.Forward = &ir.ForwardAction{Backends: []ir.WeightedCluster{{Cluster: "missing", Weight: 1}}}
		vh.Name, vh.Domains, vh.Routes = "bench/eg/80/new.example.com", []string{"new.example.com"}, []*ir.Route{&r}
		rc.VirtualHosts = rc.VirtualHosts.Splice(mid, mid, &vh)
	})
	if _, err := Build(broken, Options{}); err == nil {
		t.Fatal("Build accepted a route to a missing cluster")
	}
	compareBuilds(t, "again", s, p, FlavorEnvoy)
	compareBuilds(t, "missing cluster", s, broken, FlavorEnvoy)
	compareBuilds(t, "fixed", s, p, FlavorEnvoy)
	compareBuilds(t, "fixed again", s, replaceRoute(rng, p), FlavorEnvoy)
	dup := editClusters(rng, p, func(_ *rand.Rand, cs []*ir.Cluster) []*ir.Cluster {
		c := *cs[len(cs)/2]
		return slices.Insert(cs, len(cs)/2, &c)
	})
	compareBuilds(t, "duplicate cluster", s, dup, FlavorEnvoy)
	for step := range 4 {
		p = editClusters(rng, p, addCluster)
		compareBuilds(t, fmt.Sprintf("cluster added %d", step), s, p, FlavorEnvoy)
	}
	gone := editClusters(rng, p, func(_ *rand.Rand, cs []*ir.Cluster) []*ir.Cluster {
		return slices.DeleteFunc(cs, func(c *ir.Cluster) bool { return c.Name == "bench/svc-00000/8080" })
	})
	if _, err := Build(gone, Options{}); err == nil {
		t.Fatal("Build accepted a proxy without a referenced cluster")
	}
	compareBuilds(t, "referenced cluster removed", s, gone, FlavorEnvoy)
}

// authorizedProxy is a generated proxy whose first virtual host and
// filter chain carry an Authorization, so RBAC stages reach the virtual
// host's build.
func authorizedProxy() *ir.Proxy {
	p := benchProxy(200)
	l := *p.Listeners[0]
	fc := *l.FilterChains[0]
	fc.Authorization = &ir.Authorization{}
	l.FilterChains = []*ir.FilterChain{&fc}
	p.Listeners = []*ir.Listener{&l}
	vh := *p.RouteConfigs[0].VirtualHosts.At(0)
	vh.Authorization = &ir.Authorization{Deny: []ir.AuthzRule{{Name: "deny", Sources: []ir.AuthzSource{{CIDR: "10.0.0.0/8"}}}}}
	p.RouteConfigs[0].VirtualHosts = p.RouteConfigs[0].VirtualHosts.Splice(0, 1, &vh)
	return p
}

// TestBuilderSkipsMemoWithoutSharing checks that a proxy made anew (no
// virtual host of the previous one) is built without the memo, and that
// the memo is used again once proxies share their parts.
func TestBuilderSkipsMemoWithoutSharing(t *testing.T) {
	s := NewBuilder(FlavorEnvoy)
	for i, step := range []struct {
		p    *ir.Proxy
		memo bool
	}{
		{p: benchProxy(3200), memo: true},
		{p: benchProxy(3200), memo: false}, // every pointer new
		{p: nil, memo: true},               // one route changed
	} {
		p := step.p
		if p == nil {
			p = replaceRoute(rand.New(rand.NewPCG(5, 6)), s.prev)
		}
		compareBuilds(t, fmt.Sprintf("step %d", i), s, p, FlavorEnvoy)
		if got := len(s.checked) > 0; got != step.memo {
			t.Errorf("step %d: memo used %v, want %v", i, got, step.memo)
		}
	}
}

// editProxy returns a copy of p with one random edit; every part it does
// not change is the same pointer.
func editProxy(rng *rand.Rand, p *ir.Proxy) *ir.Proxy {
	switch rng.IntN(13) {
	case 11:
		return editClusters(rng, p, addCluster)
	case 12:
		return editClusters(rng, p, func(rng *rand.Rand, cs []*ir.Cluster) []*ir.Cluster {
			return slices.DeleteFunc(cs, func(c *ir.Cluster) bool { return c != nil && strings.HasPrefix(c.Name, "added-") && rng.IntN(2) == 0 })
		})
	case 8:
		return editRouteConfig(rng, p, func(rc *ir.RouteConfig) { insertHost(rng, rc) })
	case 9:
		return editRouteConfig(rng, p, func(rc *ir.RouteConfig) {
			if n := rc.VirtualHosts.Len(); n > 1 { // a host moves: the hosts between shift
				i, j := rng.IntN(n), rng.IntN(n)
				vh := rc.VirtualHosts.At(i)
				rc.VirtualHosts = rc.VirtualHosts.Splice(i, i+1).Splice(j, j, vh)
			}
		})
	case 10: // several edits in one build
		for range 1 + rng.IntN(3) {
			p = editProxy(rng, p)
		}
		return p
	case 6:
		return editChain(rng, p, func(fc *ir.FilterChain) {
			h := *fc.HTTP
			h.DetectMisdirected = !h.DetectMisdirected
			fc.HTTP = &h
		})
	case 7:
		return editChain(rng, p, func(fc *ir.FilterChain) {
			fc.Authorization = &ir.Authorization{Allow: []ir.AuthzRuleSet{{Name: fmt.Sprintf("set-%d", rng.IntN(3)), Rules: []ir.AuthzRule{{Name: "r"}}}}}
		})
	case 0:
		out := *p
		if out.Clusters.Len() > 0 {
			i := rng.IntN(out.Clusters.Len())
			if c := out.Clusters.At(i); c != nil {
				nc := *c
				nc.Endpoints = append(slices.Clone(c.Endpoints), ir.Endpoint{Address: fmt.Sprintf("10.9.9.%d", rng.IntN(250)+1), Port: 9000, Health: ir.Healthy})
				out.Clusters = out.Clusters.Splice(i, i+1, &nc)
			}
		}
		return &out
	case 1:
		return editHost(rng, p, func(vh *ir.VirtualHost) {
			if len(vh.Routes) > 1 {
				i := rng.IntN(len(vh.Routes))
				vh.Routes = slices.Delete(slices.Clone(vh.Routes), i, i+1)
			}
		})
	case 2:
		return editHost(rng, p, func(vh *ir.VirtualHost) {
			vh.Routes = slices.Clone(vh.Routes)
			slices.Reverse(vh.Routes)
		})
	case 3:
		return editRouteConfig(rng, p, func(rc *ir.RouteConfig) {
			if n := rc.VirtualHosts.Len(); n > 1 {
				i := rng.IntN(n)
				rc.VirtualHosts = rc.VirtualHosts.Splice(i, i+1)
			}
		})
	case 4:
		return editHost(rng, p, func(vh *ir.VirtualHost) {
			vh.Domains = append(slices.Clone(vh.Domains), fmt.Sprintf("extra-%d.example.com", rng.IntN(4)))
		})
	}
	return replaceRoute(rng, p)
}

// editClusters edits a copy of p's cluster list.
func editClusters(rng *rand.Rand, p *ir.Proxy, edit func(*rand.Rand, []*ir.Cluster) []*ir.Cluster) *ir.Proxy {
	out := *p
	out.Clusters = plist.Of(edit(rng, p.Clusters.Slice())...)
	return &out
}

// addCluster inserts an unreferenced cluster of a new name into cs, mostly
// at its place by name, now and then at a random place.
func addCluster(rng *rand.Rand, cs []*ir.Cluster) []*ir.Cluster {
	c := &ir.Cluster{Name: fmt.Sprintf("added-%d", rng.Uint64()), Protocol: ir.AppHTTP1, ConnectTimeout: time.Second,
		Endpoints: []ir.Endpoint{{Address: "10.8.0.1", Port: 80, Health: ir.Healthy}}}
	at := rng.IntN(len(cs) + 1)
	if rng.IntN(4) > 0 {
		at = len(cs)
		for i, o := range cs {
			if o != nil && o.Name > c.Name {
				at = i
				break
			}
		}
	}
	return slices.Insert(cs, at, c)
}

// insertHost inserts, at a random position of rc (first and last
// included), a new virtual host copied from one of rc with a domain of its
// own, or now and then a nil host (which builds to nothing).
func insertHost(rng *rand.Rand, rc *ir.RouteConfig) {
	var vh *ir.VirtualHost
	n := rc.VirtualHosts.Len()
	if n > 0 && rng.IntN(8) > 0 {
		if src := rc.VirtualHosts.At(rng.IntN(n)); src != nil {
			c := *src
			id := rng.Uint64()
			c.Name = fmt.Sprintf("%s/inserted-%d", src.Name, id)
			c.Domains = []string{fmt.Sprintf("inserted-%d.example.com", id)}
			vh = &c
		}
	}
	at := []int{0, n, rng.IntN(n + 1)}[rng.IntN(3)]
	rc.VirtualHosts = rc.VirtualHosts.Splice(at, at, vh)
}

// editChain edits a copy of a random HTTP filter chain of p.
func editChain(rng *rand.Rand, p *ir.Proxy, edit func(*ir.FilterChain)) *ir.Proxy {
	if len(p.Listeners) == 0 {
		return p
	}
	out := *p
	out.Listeners = slices.Clone(p.Listeners)
	i := rng.IntN(len(out.Listeners))
	if out.Listeners[i] == nil || len(out.Listeners[i].FilterChains) == 0 {
		return p
	}
	l := *out.Listeners[i]
	l.FilterChains = slices.Clone(l.FilterChains)
	j := rng.IntN(len(l.FilterChains))
	if l.FilterChains[j] == nil || l.FilterChains[j].HTTP == nil {
		return p
	}
	fc := *l.FilterChains[j]
	edit(&fc)
	l.FilterChains[j] = &fc
	out.Listeners[i] = &l
	return &out
}

// replaceRoute replaces a random route of p with an edited copy.
func replaceRoute(rng *rand.Rand, p *ir.Proxy) *ir.Proxy {
	return editHost(rng, p, func(vh *ir.VirtualHost) {
		if len(vh.Routes) == 0 || vh.Routes[0] == nil {
			return
		}
		vh.Routes = slices.Clone(vh.Routes)
		i := rng.IntN(len(vh.Routes))
		if vh.Routes[i] == nil {
			return
		}
		r := *vh.Routes[i]
		switch rng.IntN(4) {
		case 0:
			if r.Match.PathType != ir.PathRegex {
				r.Match.PathType, r.Match.Path = ir.PathPrefix, fmt.Sprintf("/edit-%d", rng.IntN(1000))
			}
		case 1:
			if r.Forward != nil && len(r.Forward.Backends) > 0 {
				f := *r.Forward
				f.Backends = slices.Clone(f.Backends)
				f.Backends[0].Cluster, f.Backends[0].InvalidStatus = "", uint32(500+rng.IntN(4))
				if f.Backends[0].Weight == 0 {
					f.Backends[0].Weight = 1
				}
				r.Forward = &f
			}
		case 2:
			r.CORS = &ir.CORSPolicy{AllowOrigins: []ir.StringMatch{{Type: ir.MatchExact, Value: "https://a.example"}}, AllowMethods: []string{"GET"}}
		default:
			r.Metadata = map[string]string{"edit": fmt.Sprint(rng.IntN(1000))}
		}
		vh.Routes[i] = &r
	})
}

// editRouteConfig edits a copy of a random route configuration of p.
func editRouteConfig(rng *rand.Rand, p *ir.Proxy, edit func(*ir.RouteConfig)) *ir.Proxy {
	if len(p.RouteConfigs) == 0 {
		return p
	}
	out := *p
	out.RouteConfigs = slices.Clone(p.RouteConfigs)
	i := rng.IntN(len(out.RouteConfigs))
	if out.RouteConfigs[i] == nil {
		return p
	}
	rc := *out.RouteConfigs[i]
	edit(&rc)
	out.RouteConfigs[i] = &rc
	return &out
}

// editHost edits a copy of a random virtual host of p.
func editHost(rng *rand.Rand, p *ir.Proxy, edit func(*ir.VirtualHost)) *ir.Proxy {
	return editRouteConfig(rng, p, func(rc *ir.RouteConfig) {
		if rc.VirtualHosts.Len() == 0 {
			return
		}
		i := rng.IntN(rc.VirtualHosts.Len())
		if rc.VirtualHosts.At(i) == nil {
			return
		}
		vh := *rc.VirtualHosts.At(i)
		edit(&vh)
		rc.VirtualHosts = rc.VirtualHosts.Splice(i, i+1, &vh)
	})
}

// TestBuilderKeepsNothingWhenStateless checks that a build the memo
// declines (nothing to reuse: here a proxy whose every part is new) keeps
// nothing of its result, its lists included: with mesh groups, whose
// builders take that path, anything kept would hold a copy of every
// group's protos beside the cache's shared ones.
func TestBuilderKeepsNothingWhenStateless(t *testing.T) {
	s := NewBuilder(FlavorEnvoy)
	for i := range 3 {
		p := benchProxyHosts(200, 1) // 200 hosts, every one a new pointer: the memo declines
		out, err := s.Build(p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue // the first build of a builder fills the memo
		}
		if err := s.CheckSize(out, 4<<20); err != nil {
			t.Fatal(err)
		}
		if !s.stateless {
			t.Fatalf("build %d: a proxy sharing nothing with the previous one went through the memo", i)
		}
		for k := range s.measured {
			if s.measured[k].list != nil || s.valid[k] != nil {
				t.Errorf("build %d: list %d of a stateless build kept (measured %d, valid %d)", i, k, len(s.measured[k].list), len(s.valid[k]))
			}
		}
		if s.clusterList.protos != nil || s.loadList.protos != nil || len(s.clusters) != 0 || len(s.configs) != 0 {
			t.Errorf("build %d: the memo kept protos of a stateless build", i)
		}
	}
}
