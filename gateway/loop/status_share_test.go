package loop

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
)

// TestPublishedStatusSharedAndNeverWritten: a route change whose status
// comes out as it was publishes the same routes' list again; one that
// changes a route's status publishes a new list that shares every other
// route's entries (the same Parents slices) with the last one; no report
// published before changes afterwards.
func TestPublishedStatusSharedAndNeverWritten(t *testing.T) {
	const n = 20
	sh := benchShape{routes: n, gateways: 1}
	set := benchWorld(n, 1)
	l := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
	var published []*status.Report
	var frozen []string
	publish := func(what string, s *resource.Set) *status.Report {
		t.Helper()
		set = s
		l.process(context.Background(), Event{Set: s, ChangedAt: time.Now()})
		rep := l.State().Result.Status
		for i, p := range published {
			if got := mustJSON(t, p); got != frozen[i] {
				t.Fatalf("%s: report %d changed after it was published", what, i)
			}
		}
		published, frozen = append(published, rep), append(frozen, mustJSON(t, rep))
		return rep
	}
	r1 := publish("first", set)
	if len(r1.Routes) != n {
		t.Fatalf("%d routes in the status, want %d", len(r1.Routes), n)
	}

	r2 := publish("a new path", withRoute(set, 5, benchRoute(5, 0, 5%sh.services(), "/other")))
	if l.pieces.path != pathMemo {
		t.Fatalf("path %q, want %q", l.pieces.path, pathMemo)
	}
	if &r2.Routes[0] != &r1.Routes[0] {
		t.Error("a change that left every status as it was published a new routes' list")
	}

	broken := benchRoute(5, 0, 5%sh.services(), "/other")
	broken.Spec.Rules[0].BackendRefs[0].Name = "missing"
	r3 := publish("a missing backend", withRoute(set, 5, broken))
	newer := benchRoute(5, 0, 5%sh.services(), "/other")
	newer.Generation = 2
	r4 := publish("a new generation", withRoute(set, 5, newer))
	for _, c := range []struct {
		what       string
		prev, next *status.Report
	}{{"a missing backend", r2, r3}, {"a new generation", r3, r4}} {
		if l := len(c.next.Routes); l != n || &c.next.Routes[0] == &c.prev.Routes[0] {
			t.Fatalf("%s: %d routes in the same list as before, want %d in a new one", c.what, l, n)
		}
		for i := range c.next.Routes {
			same := &c.next.Routes[i].Parents[0] == &c.prev.Routes[i].Parents[0]
			if changed := c.next.Routes[i].Name == "r-5"; same == changed {
				t.Errorf("%s: route %s shares its entries with the last report: %v, want %v", c.what, c.next.Routes[i].Name, same, !changed)
			}
		}
	}
	if i := slices.IndexFunc(r4.Routes, func(r status.Route) bool { return r.Name == "r-5" }); r4.Routes[i].Generation != 2 {
		t.Errorf("route r-5: generation %d, want 2", r4.Routes[i].Generation)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
