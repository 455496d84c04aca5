package translate

import (
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// TestEveryRouteKindTranslated fails when a route kind of resource's table
// has no case in routeOf (its routes would be silently left out), or when
// a listener protocol names a route kind the table does not have.
func TestEveryRouteKindTranslated(t *testing.T) {
	for _, k := range resource.KindsWith(resource.RoleRoute) {
		set := &resource.Set{}
		k.Put(set, []any{k.Named("ns", "r")})
		got := collectRoutes(set)
		if len(got) != 1 || string(got[0].kind()) != k.Kind || got[0].meta().Name != "r" {
			t.Errorf("route kind %s: collected %d routes; add its case to routeOf", k.Kind, len(got))
		}
	}
	for proto, kinds := range listenerProtocols {
		for _, kind := range kinds {
			if k, ok := resource.KindOf(string(kind)); !ok || k.Role != resource.RoleRoute {
				t.Errorf("listener protocol %s allows %s, which is no route kind of resource's table", proto, kind)
			}
		}
	}
}
