package cache

import (
	"math/rand/v2"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
)

// TestRunsFollowTheChange edits a route configuration of 1,000 virtual
// hosts one virtual host at a time (replaced, inserted, removed): every
// version's parts are the deterministic marshal and its hash that of the
// whole marshal (checkSpliced), its part list is short, and it makes at
// most two runs, taking every other one from the previous version.
func TestRunsFollowTheChange(t *testing.T) {
	ps := newPieces()
	rng := rand.New(rand.NewPCG(30, 0))
	prev := randomRouteConfig(rng, 1000)
	checkSpliced(t, ps, prev)
	if n := len(ps.held[prev].runs); n < 1000/runMean/4 || n > 1000/runMean*4 {
		t.Fatalf("%d runs for 1,000 virtual hosts, want about %d", n, 1000/runMean)
	}
	for step := range 150 {
		next := editRouteConfig(rng, prev)
		checkSpliced(t, ps, next)
		if made := runsMadeAnew(ps, prev, next); made > 2 {
			t.Fatalf("step %d: one virtual host changed and %d of %d runs were made anew", step, made, len(ps.held[next].runs))
		}
		if len(ps.held[next].parts) > len(ps.held[next].runs)+2 {
			t.Fatalf("step %d: %d parts for %d runs", step, len(ps.held[next].parts), len(ps.held[next].runs))
		}
		ps.releaseRouteConfig(prev)
		prev = next
	}
}

// TestRunsOfLargeHosts: virtual hosts of 40 KiB each end runs by size
// (maxRunBytes), in the parts as in the hash of the whole marshal, and
// an empty route configuration is one part.
func TestRunsOfLargeHosts(t *testing.T) {
	ps := newPieces()
	rng := rand.New(rand.NewPCG(31, 0))
	rc := randomRouteConfig(rng, 40)
	for _, vh := range rc.VirtualHosts {
		vh.Domains = append(vh.Domains, strings.Repeat("d", 40<<10))
	}
	checkSpliced(t, ps, rc)
	if n := len(ps.held[rc].runs); n < 40*(40<<10)/maxRunBytes {
		t.Fatalf("%d runs of 40 virtual hosts of 40 KiB, want at least %d", n, 40*(40<<10)/maxRunBytes)
	}
	for range 20 {
		rc = editRouteConfig(rng, rc)
		checkSpliced(t, ps, rc)
	}
	empty := &routev3.RouteConfiguration{Name: "empty"}
	checkSpliced(t, ps, empty)
	checkSpliced(t, ps, &routev3.RouteConfiguration{})
}

// runsMadeAnew counts the runs of next, held by ps, that prev's do not
// hold.
func runsMadeAnew(ps *pieces, prev, next types.Resource) int {
	old := map[*run]bool{}
	for _, r := range ps.held[prev].runs {
		old[r] = true
	}
	made := 0
	for _, r := range ps.held[next].runs {
		if !old[r] {
			made++
		}
	}
	return made
}
