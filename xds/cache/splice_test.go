package cache

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/envoy"
)

// goldenRouteConfigs reads the route configurations of xds/envoy's golden
// outputs.
func goldenRouteConfigs(t *testing.T) []*routev3.RouteConfiguration {
	files, err := filepath.Glob("../envoy/testdata/*.routes.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden route files: %v", err)
	}
	var out []*routev3.RouteConfiguration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var list []json.RawMessage
		js, err := yaml.YAMLToJSON(data)
		if err == nil {
			err = json.Unmarshal(js, &list)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, raw := range list {
			rc := &routev3.RouteConfiguration{}
			if err := protojson.Unmarshal(raw, rc); err != nil {
				t.Fatalf("%s[%d]: %v", f, i, err)
			}
			out = append(out, rc)
		}
	}
	return out
}

// checkSpliced fails unless ps marshals rc exactly as a deterministic
// marshal of the whole message does, and returns the hash.
func checkSpliced(t *testing.T, ps *pieces, rc *routev3.RouteConfiguration) string {
	t.Helper()
	want, err := deterministic.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	parts, hash, err := ps.marshalRouteConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(parts, nil); string(got) != string(want) {
		t.Fatalf("route config %s: spliced bytes differ from proto.Marshal's (%d and %d bytes)", rc.Name, len(got), len(want))
	}
	whole, err := hashWhole(want)
	if err != nil {
		t.Fatal(err)
	}
	if w := hex.EncodeToString(whole[:8]); w != hash {
		t.Fatalf("route config %s: hash %s from pieces, %s from the whole marshal", rc.Name, hash, w)
	}
	return hash
}

// TestSplicedEqualsMarshal checks that route configurations marshalled
// from memoized pieces are byte for byte the deterministic marshal, for
// xds/envoy's golden outputs and random configurations sharing pieces,
// that equal bytes give equal hashes and different bytes different ones,
// and that released pieces are forgotten.
func TestSplicedEqualsMarshal(t *testing.T) {
	ps := newPieces()
	golden := goldenRouteConfigs(t)
	for _, rc := range golden {
		checkSpliced(t, ps, rc)
	}
	rng := rand.New(rand.NewPCG(14, 2))
	prev := randomRouteConfig(rng, 20)
	hashes := map[string]string{checkSpliced(t, ps, prev): string(mustMarshal(t, prev))}
	held := append(slices.Clone(golden), prev)
	for i := range 200 {
		next := editRouteConfig(rng, prev)
		h := checkSpliced(t, ps, next)
		b := string(mustMarshal(t, next))
		if other, ok := hashes[h]; ok && other != b {
			t.Fatalf("step %d: two different route configurations hash to %s", i, h)
		}
		hashes[h] = b
		clone := proto.Clone(next).(*routev3.RouteConfiguration)
		if h2 := checkSpliced(t, ps, clone); h2 != h {
			t.Fatalf("step %d: a copy hashes to %s, the original to %s", i, h2, h)
		}
		held = append(held, next, clone)
		prev = next
	}
	// A large configuration sharing nothing with a recent one is
	// marshalled whole; the next one that shares its parts makes pieces.
	big := randomRouteConfig(rng, 2*minHostsToSkip)
	h := checkSpliced(t, ps, big)
	next := editRouteConfig(rng, big)
	checkSpliced(t, ps, next)
	big2 := proto.Clone(big).(*routev3.RouteConfiguration)
	if checkSpliced(t, ps, big2) != h {
		t.Errorf("a copy of a configuration marshalled whole hashes differently")
	}
	if ps.held[big].runs != nil || ps.held[next].runs == nil {
		t.Errorf("runs: %d for a new large configuration (want none), %d for its edit (want some)", len(ps.held[big].runs), len(ps.held[next].runs))
	}
	held = append(held, big, next, big2)
	for _, rc := range held {
		ps.releaseRouteConfig(rc)
	}
	if len(ps.hosts) != 0 || len(ps.routes) != 0 {
		t.Errorf("after every release, %d virtual hosts and %d routes remain", len(ps.hosts), len(ps.routes))
	}
}

// TestCacheForgetsPieces sets route configurations that share virtual
// hosts: the pieces no longer used are swept, and none is left once the
// key is deleted.
func TestCacheForgetsPieces(t *testing.T) {
	c := New(Options{})
	k := Key{Group: "g", Flavor: FlavorEnvoy}
	rng := rand.New(rand.NewPCG(3, 4))
	rc := randomRouteConfig(rng, 10)
	for i := range 3000 {
		if err := c.SetSnapshot(k, map[string][]types.Resource{resource.RouteType: {rc}}, SetOptions{}); err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(c.pool.pieces.hosts) != 10 {
			t.Fatalf("%d virtual host pieces for 10 virtual hosts", len(c.pool.pieces.hosts))
		}
		rc = editRouteConfig(rng, rc)
	}
	// Each change makes a virtual host piece; sweeps keep them bounded.
	if n := len(c.pool.pieces.hosts) + len(c.pool.pieces.routes); n > 2*1024 {
		t.Errorf("%d pieces held after 3,000 changes of one route configuration of %d virtual hosts", n, len(rc.VirtualHosts))
	}
	c.Delete(k)
	if len(c.pool.pieces.hosts) != 0 || len(c.pool.pieces.routes) != 0 {
		t.Errorf("after Delete, %d virtual hosts and %d routes remain", len(c.pool.pieces.hosts), len(c.pool.pieces.routes))
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	b, err := deterministic.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// editRouteConfig is a copy of rc (sharing every other virtual host and
// route) with one virtual host replaced, added or removed.
func editRouteConfig(rng *rand.Rand, rc *routev3.RouteConfiguration) *routev3.RouteConfiguration {
	out := &routev3.RouteConfiguration{Name: rc.Name, VirtualHosts: slices.Clone(rc.VirtualHosts),
		ValidateClusters: rc.ValidateClusters, IgnorePortInHostMatching: rng.IntN(2) == 0}
	i := rng.IntN(len(out.VirtualHosts))
	switch rng.IntN(4) {
	case 0:
		out.VirtualHosts = slices.Insert(out.VirtualHosts, i, randomHost(rng, 1+rng.IntN(5)))
	case 1:
		if len(out.VirtualHosts) > 1 {
			out.VirtualHosts = slices.Delete(out.VirtualHosts, i, i+1)
		}
	default:
		old := out.VirtualHosts[i]
		vh := &routev3.VirtualHost{Name: old.Name, Domains: old.Domains, Routes: slices.Clone(old.Routes),
			TypedPerFilterConfig: old.TypedPerFilterConfig}
		if len(vh.Routes) > 0 {
			vh.Routes[rng.IntN(len(vh.Routes))] = randomRoute(rng)
		}
		out.VirtualHosts[i] = vh
	}
	return out
}

func randomRouteConfig(rng *rand.Rand, hosts int) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "rc", ValidateClusters: wrapperspb.Bool(true)}
	for range hosts {
		rc.VirtualHosts = append(rc.VirtualHosts, randomHost(rng, rng.IntN(6)))
	}
	return rc
}

func randomHost(rng *rand.Rand, routes int) *routev3.VirtualHost {
	vh := &routev3.VirtualHost{Name: fmt.Sprintf("vh-%d", rng.IntN(1e6)), Domains: []string{fmt.Sprintf("h%d.example.com", rng.IntN(1e6))}}
	for range routes {
		vh.Routes = append(vh.Routes, randomRoute(rng))
	}
	if rng.IntN(3) == 0 {
		vh.TypedPerFilterConfig = map[string]*anypb.Any{}
		for k := range 3 {
			a, _ := anypb.New(structpb.NewStringValue(fmt.Sprint(rng.IntN(100))))
			vh.TypedPerFilterConfig[fmt.Sprintf("f%d", k)] = a
		}
	}
	if rng.IntN(2) == 0 {
		vh.RequireTls = routev3.VirtualHost_ALL
	}
	return vh
}

func randomRoute(rng *rand.Rand) *routev3.Route {
	r := &routev3.Route{
		Name:  fmt.Sprintf("r-%d", rng.IntN(1e6)),
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: fmt.Sprintf("/p%d", rng.IntN(1000))}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: fmt.Sprintf("c%d", rng.IntN(50))},
		}},
	}
	if rng.IntN(2) == 0 {
		fields := map[string]*structpb.Value{}
		for k := range 4 {
			fields[fmt.Sprintf("k%d", rng.IntN(10)+k)] = structpb.NewStringValue(fmt.Sprint(k))
		}
		r.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"gantry": {Fields: fields}}}
	}
	if rng.IntN(2) == 0 {
		r.RequestHeadersToRemove = []string{"x-a", "x-b"}
		r.StatPrefix = "s"
	}
	return r
}

// TestBuilderAndCacheEqualFullBuild sets, change after change, the
// snapshot built by xds/envoy's Builder from IR that shares every
// unchanged part, and checks every resource's bytes and hash against a
// new cache given envoy.Build's output of the same IR.
func TestBuilderAndCacheEqualFullBuild(t *testing.T) {
	p := buildWorld(300)
	c := New(Options{})
	k := Key{Group: p.Name, Flavor: FlavorEnvoy}
	s := envoy.NewBuilder(envoy.FlavorEnvoy)
	rng := rand.New(rand.NewPCG(7, 8))
	for step := range 40 {
		if step > 0 {
			p = withChangedRoute(p, rng.IntN(300), step)
		}
		out, err := s.Build(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetSnapshot(k, out.ByType(), SetOptions{}); err != nil {
			t.Fatal(err)
		}
		full, err := envoy.Build(p, envoy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fresh := New(Options{})
		if err := fresh.SetSnapshot(k, full.ByType(), SetOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, typ := range TypeOrder {
			got, gv := c.Resources(k, typ)
			want, wv := fresh.Resources(k, typ)
			if gv != wv || len(got) != len(want) {
				t.Fatalf("step %d: %s: version %s (%d resources), want %s (%d)", step, typ, gv, len(got), wv, len(want))
			}
			for i := range want {
				det, err := deterministic.Marshal(want[i].Message)
				if err != nil {
					t.Fatal(err)
				}
				if string(got[i].Any().Value) != string(det) || got[i].Hash != want[i].Hash {
					t.Fatalf("step %d: %s %s: bytes or hash differ from a full build's", step, typ, want[i].Name)
				}
			}
		}
	}
	if len(c.pool.pieces.hosts) == 0 {
		t.Errorf("no virtual host pieces: the route configurations were never spliced")
	}
}
