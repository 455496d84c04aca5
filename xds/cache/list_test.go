package cache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// A type state made by a random series of updates (splices, and rebuilds
// for large ones), or from the previous one and the whole new list, holds
// what one made from the final resources holds, in the same order with the
// same version; it shares its name set with the
// state before exactly when the names stayed the same; differ between two
// consecutive states yields what a comparison by name does; and a pick
// followed from change to change is the pick of the final state.
func TestUpdatesAgreeWithRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gen := 0
	fresh := func(i int) *Resource {
		gen++
		name := fmt.Sprintf("r%05d", i)
		return &Resource{Name: name, Hash: fmt.Sprint(gen), digest: digestOf(name, fmt.Sprint(gen))}
	}
	model := map[string]*Resource{}
	var start []*Resource
	for i := range 2000 {
		if i%3 != 0 {
			r := fresh(i)
			model[r.Name] = r
			start = append(start, r)
		}
	}
	ts, err := newTypeState("t.T", start, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	set := &NameSet{names: pickedNames(rng)}
	set.pickOf(ts)
	for step := range 300 {
		upsert, remove := randomChange(rng, model, fresh)
		next := ts.with(upsert, remove, time.Time{})
		want, err := newTypeState("t.T", sortedValues(model), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(next.list.Slice(), want.list.Slice()) || next.version != want.version {
			t.Fatalf("step %d (%d put, %d out): %d resources, version %s; rebuilt: %d, %s", step, len(upsert), len(remove), next.list.Len(), next.version, want.list.Len(), want.version)
		}
		if sameNames := slices.EqualFunc(ts.list.Slice(), next.list.Slice(), func(a, b *Resource) bool { return a.Name == b.Name }); sameNames != (ts.names == next.names) {
			t.Fatalf("step %d: names the same %v, name set shared %v", step, sameNames, ts.names == next.names)
		}
		from, err := newTypeStateFrom(ts, "t.T", sortedValues(model), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(from.list.Slice(), want.list.Slice()) || from.version != want.version {
			t.Fatalf("step %d: the state made from the previous one holds %d (%s), rebuilt %d (%s)", step, from.list.Len(), from.version, want.list.Len(), want.version)
		}
		checkDiffer(t, step, ts, next)
		if got, want := set.pickOf(next), pickSorted(next, set.names); !slices.Equal(got.list.Slice(), want.list.Slice()) || got.version != want.version {
			t.Fatalf("step %d: followed pick holds %d (%s), a fresh pick %d (%s)", step, got.list.Len(), got.version, want.list.Len(), want.version)
		}
		ts = next
	}
}

// randomChange puts in and takes out random resources of model (updated):
// mostly a few, sometimes more than maxSplices.
func randomChange(rng *rand.Rand, model map[string]*Resource, fresh func(int) *Resource) ([]*Resource, []string) {
	k := 1 + rng.IntN(4)
	if rng.IntN(10) == 0 {
		k = maxSplices + rng.IntN(100)
	}
	seen := map[string]bool{}
	var upsert []*Resource
	var remove []string
	for range k {
		i := rng.IntN(2100)
		name := fmt.Sprintf("r%05d", i)
		if seen[name] {
			continue
		}
		seen[name] = true
		if rng.IntN(3) == 0 {
			remove = append(remove, name)
			delete(model, name)
			continue
		}
		r := fresh(i)
		upsert = append(upsert, r)
		model[name] = r
	}
	return upsert, remove
}

func sortedValues(model map[string]*Resource) []*Resource {
	out := make([]*Resource, 0, len(model))
	for _, r := range model {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pickedNames is a sorted random subset of the names randomChange uses.
func pickedNames(rng *rand.Rand) []string {
	var out []string
	for i := range 2100 {
		if rng.IntN(4) == 0 {
			out = append(out, fmt.Sprintf("r%05d", i))
		}
	}
	return out
}

// checkDiffer compares differ's pairs with a comparison by name.
func checkDiffer(t *testing.T, step int, a, b *typeState) {
	t.Helper()
	var want []string
	byName := map[string]*Resource{}
	for r := range a.list.Values() {
		byName[r.Name] = r
	}
	for r := range b.list.Values() {
		if old := byName[r.Name]; old != r {
			want = append(want, r.Name)
		}
		delete(byName, r.Name)
	}
	for n := range byName {
		want = append(want, n)
	}
	slices.Sort(want)
	var got []string
	differ(a.list, b.list, func(old, cur *Resource) {
		if cur != nil {
			got = append(got, cur.Name)
		} else {
			got = append(got, old.Name)
		}
	})
	if !slices.Equal(got, want) {
		t.Fatalf("step %d: differ yields %v, a comparison by name %v", step, got, want)
	}
}

// A seeker finds every name a binary search finds, whatever the order the
// names come in: ascending (mostly walked), at random, or repeated.
func TestSeekerAgreesWithLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var rs []*Resource
	for i := range 3000 {
		if i%4 != 0 {
			rs = append(rs, &Resource{Name: fmt.Sprintf("r%05d", i)})
		}
	}
	ts, err := newTypeState("t.T", rs, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var ascending, random []string
	for i := range 3100 {
		if rng.IntN(3) == 0 {
			ascending = append(ascending, fmt.Sprintf("r%05d", i))
		}
		random = append(random, fmt.Sprintf("r%05d", rng.IntN(3100)))
	}
	for _, names := range [][]string{ascending, random, {"r00001", "r00001", "a", "z", "r02999"}} {
		in := newSeeker(ts.list)
		for _, n := range names {
			got, ok := in.find(n)
			want, wok := ts.lookup(n)
			_, _, fok := find(ts.list, n)
			if got != want || ok != wok || ok != fok {
				t.Fatalf("%s: seeker %v, lookup %v, plist search %v", n, ok, wok, fok)
			}
		}
	}
}

// SetEndpoints with one endpoint set changed among 3,000 makes a list that
// shares every chunk but the changed one with the previous list, and so
// does SetSnapshot when a cluster and its endpoint set are added.
func TestSetSharesUnchangedChunks(t *testing.T) {
	c := New(Options{})
	res := wide(3000)
	mustSet(t, c, key, res)
	shared := func(typeURL string, before plist.List[*Resource]) (int, int) {
		after := c.snapshotOf(key).get(typeURL).list
		n := 0
		for _, a := range after.Chunks() {
			if slices.ContainsFunc(before.Chunks(), func(b []*Resource) bool { return &a[0] == &b[0] }) {
				n++
			}
		}
		return n, len(after.Chunks())
	}
	eds := c.snapshotOf(key).get(resource.EndpointType).list
	eps := slices.Clone(res[resource.EndpointType])
	eps[1234] = xdstest.Endpoints(cachev3.GetResourceName(eps[1234]), "127.0.0.1:9999")
	if err := c.SetEndpoints(key, eps, SetOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, all := shared(resource.EndpointType, eds); n < all-1 {
		t.Errorf("SetEndpoints with one set changed: %d of %d chunks shared", n, all)
	}
	cds, eds := c.snapshotOf(key).get(resource.ClusterType).list, c.snapshotOf(key).get(resource.EndpointType).list
	res[resource.EndpointType] = append(eps, xdstest.Endpoints("added", "127.0.0.1:9998"))
	res[resource.ClusterType] = append(slices.Clone(res[resource.ClusterType]), xdstest.Cluster("added"))
	mustSet(t, c, key, res)
	for typeURL, before := range map[string]plist.List[*Resource]{resource.ClusterType: cds, resource.EndpointType: eds} {
		if n, all := shared(typeURL, before); n < all-1 {
			t.Errorf("SetSnapshot with a cluster added: %d of %d chunks of %s shared", n, all, shortType(typeURL))
		}
	}
}
