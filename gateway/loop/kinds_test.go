package loop

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// TestLoopKnowsEveryRouteKind fails when a route kind of resource's table
// is missing from the loop's route handling (change names, parentRefs,
// subSet, routeSpecs): its changes would translate everything, or a scoped
// translation would keep or drop its routes wrongly.
func TestLoopKnowsEveryRouteKind(t *testing.T) {
	for _, k := range resource.KindsWith(resource.RoleRoute) {
		route := k.Named("ns", "r")
		if err := json.Unmarshal([]byte(`{"spec":{"parentRefs":[{"name":"gw"}]}}`), route); err != nil {
			t.Fatalf("%s: %v", k.Kind, err)
		}
		set := &resource.Set{}
		k.Put(set, []any{route})
		changes := diffSets(&resource.Set{}, set)
		if len(changes) != 1 {
			t.Fatalf("%s: %d changes, want 1", k.Kind, len(changes))
		}
		if changes[0].kind != k.Kind || !isRoute(changes[0].kind) {
			t.Errorf("%s: the change is named %q, want the route kind", k.Kind, changes[0].kind)
		}
		if got := parentRefs(route); len(got) != 1 || got[0].Name != "gw" {
			t.Errorf("%s: parentRefs = %v, want [gw]: add its case", k.Kind, got)
		}
		if n := count(subSet(set, map[objKey]bool{{"ns", "gw"}: true})); n != 1 {
			t.Errorf("%s: subSet with its Gateway holds %d routes, want 1", k.Kind, n)
		}
		if n := count(subSet(set, map[objKey]bool{{"ns", "other"}: true})); n != 0 {
			t.Errorf("%s: subSet without its Gateway holds %d routes, want 0: filter the kind in subSet", k.Kind, n)
		}
		key := routeKey{k.Kind, "ns", "r"}
		if got := routeSpecs(set, map[routeKey]bool{key: true})[key]; len(got) != 1 {
			t.Errorf("%s: routeSpecs = %v, want its parentRefs: add the kind to routeSpecs", k.Kind, got)
		}
	}
}

func count(set *resource.Set) int {
	n := 0
	set.Each(func(resource.Key, metav1.Object) { n++ })
	return n
}
