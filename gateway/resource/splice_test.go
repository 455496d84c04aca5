package resource

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func testRoutes(names ...string) []Object {
	info, _ := KindOf(KindHTTPRoute)
	out := make([]Object, len(names))
	for i, n := range names {
		o := info.Named("default", n)
		out[i] = Object{Key: Key{Kind: KindHTTPRoute, Namespace: "default", Name: n}, Value: o}
	}
	return out
}

func routeNames(rs []*gwapiv1.HTTPRoute) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// TestSplicedTakesRunsAndObjects: a spliced list is the previous list's
// runs (the same pointers) and the given objects of its kind, in order;
// other lists and Sources are shared; an empty list has no chunks.
func TestSplicedTakesRunsAndObjects(t *testing.T) {
	info, _ := KindOf(KindService)
	svc := Object{Key: Key{Kind: KindService, Namespace: "default", Name: "s"}, Value: info.Named("default", "s")}
	prev, _, _ := BuildSet(append(testRoutes("a", "b", "c", "d"), svc))
	fresh := testRoutes("x", "y")
	next, err := prev.Spliced([]List{{Kind: KindHTTPRoute, Parts: []Part{
		{From: 0, Len: 1},
		{Len: 2, Objects: []Object{fresh[0], svc, fresh[1]}},
		{From: 2, Len: 2},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := routeNames(next.HTTPRoutes.Slice()); !slices.Equal(got, []string{"a", "x", "y", "c", "d"}) {
		t.Fatalf("routes %v", got)
	}
	if next.HTTPRoutes.At(0) != prev.HTTPRoutes.At(0) || next.HTTPRoutes.At(4) != prev.HTTPRoutes.At(3) {
		t.Fatal("runs are not the previous pointers")
	}
	if &next.Services.Chunks()[0][0] != &prev.Services.Chunks()[0][0] || reflect.ValueOf(next.Sources).Pointer() != reflect.ValueOf(prev.Sources).Pointer() || next.Count(KindHTTPRoute) != 5 || prev.Count(KindHTTPRoute) != 4 {
		t.Fatal("an untouched list is not shared, or the previous Set changed")
	}
	empty, err := prev.Spliced([]List{{Kind: KindHTTPRoute, Parts: []Part{{From: 0, Len: 0}}}})
	if err != nil || empty.HTTPRoutes.Len() != 0 || empty.HTTPRoutes.Chunks() != nil {
		t.Fatalf("empty list: %v, %v", empty.HTTPRoutes.Slice(), err)
	}
	for _, bad := range []struct {
		list List
		want string
	}{
		{List{Kind: KindHTTPRoute, Parts: []Part{{From: 3, Len: 2}}}, "run [3, 5) outside the list of 4"},
		{List{Kind: KindHTTPRoute, Parts: []Part{{Len: 3, Objects: fresh}}}, "2 objects of the kind, want 3"},
		{List{Kind: "Widget", Parts: []Part{{From: 0, Len: 1}}}, `unknown kind "Widget"`},
	} {
		if s, err := prev.Spliced([]List{bad.list}); s != nil || err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%v: %v, want an error with %q", bad.list, err, bad.want)
		}
	}
}

// TestMovedKeepsPlacesApart: Moved changes places without copying Sources
// (a zero Source removes one), SourceOf and Compact read them the same way,
// and the places kept apart are merged into a new Sources map once they
// pass an eighth of it.
func TestMovedKeepsPlacesApart(t *testing.T) {
	var names []string
	for i := range 200 {
		names = append(names, "r"+strconv.Itoa(i))
	}
	objs := testRoutes(names...)
	for i := range objs {
		objs[i].Source = Source{File: "a.yaml", Line: 1 + 10*i}
	}
	prev, _, _ := BuildSet(objs)
	key := func(i int) Key { return objs[i].Key }
	next := prev.Moved(map[Key]Source{key(1): {File: "b.yaml", Line: 3}, key(2): {}})
	if reflect.ValueOf(next.Sources).Pointer() != reflect.ValueOf(prev.Sources).Pointer() || next.Compact() == next {
		t.Fatal("Sources copied for two places")
	}
	if src, ok := next.SourceOf(key(1)); !ok || src.String() != "b.yaml:3" {
		t.Fatalf("moved: %v %v", src, ok)
	}
	if _, ok := next.SourceOf(key(2)); ok {
		t.Fatal("a removed place is still known")
	}
	if src, _ := prev.SourceOf(key(1)); src.String() != "a.yaml:11" {
		t.Fatalf("the previous Set changed: %v", src)
	}
	whole := next.Compact()
	if whole.Compact() != whole || len(whole.Sources) != 199 || whole.Sources[key(1)].String() != "b.yaml:3" || len(prev.Sources) != 200 {
		t.Fatalf("compacted: %d places", len(whole.Sources))
	}
	for i := 3; i <= 25; i++ { // 25 apart: not more than 200/8
		next = next.Moved(map[Key]Source{key(i): {File: "c.yaml", Line: i}})
	}
	if next.Compact() == next {
		t.Fatal("25 places of 200 merged")
	}
	next = next.Moved(map[Key]Source{key(26): {File: "c.yaml", Line: 26}, key(27): {File: "c.yaml", Line: 27}})
	if next.Compact() != next || reflect.ValueOf(next.Sources).Pointer() == reflect.ValueOf(prev.Sources).Pointer() ||
		next.Sources[key(27)].String() != "c.yaml:27" || len(next.Sources) != 199 {
		t.Fatal("the places apart were not merged into a new Sources map")
	}
}
