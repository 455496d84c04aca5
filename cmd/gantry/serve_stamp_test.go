package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
)

func stampReport(accepted, resolved metav1.ConditionStatus, withListener bool) *status.Report {
	gw := status.Gateway{Namespace: "default", Name: "gw", Status: gwapiv1.GatewayStatus{
		Conditions: []metav1.Condition{{Type: "Accepted", Status: accepted}, {Type: "Programmed", Status: "True"}},
	}}
	if withListener {
		gw.Status.Listeners = []gwapiv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{{Type: "Accepted", Status: "True"}}}}
	}
	parent := func(name string) gwapiv1.RouteParentStatus {
		return gwapiv1.RouteParentStatus{ParentRef: gwapiv1.ParentReference{Name: gwapiv1.ObjectName(name)}, ControllerName: "c",
			Conditions: []metav1.Condition{{Type: "ResolvedRefs", Status: resolved}}}
	}
	return &status.Report{
		GatewayClasses: []status.GatewayClass{{Name: "gantry", Status: gwapiv1.GatewayClassStatus{Conditions: []metav1.Condition{{Type: "Accepted", Status: "True"}}}}},
		Gateways:       []status.Gateway{gw},
		Routes:         []status.Route{{Kind: "HTTPRoute", Namespace: "default", Name: "r", Parents: []gwapiv1.RouteParentStatus{parent("gw"), parent("other")}}},
	}
}

// TestTransitionClock: a condition's LastTransitionTime is when its status
// last changed; unchanged conditions keep theirs; new ones get now; the
// input report's condition lists are not shared with the stamped one.
func TestTransitionClock(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	c := newTransitionClock(func() time.Time { return now })
	at := func(ts metav1.Time) time.Time { return ts.Time.UTC() }

	r1 := stampReport("True", "True", false)
	in := r1.Gateways[0].Status.Conditions
	c.stamp(r1)
	if in[0].LastTransitionTime.IsZero() == false {
		t.Error("stamping wrote into the translation's condition list")
	}
	allConditions(r1, func(owner string, conds *[]metav1.Condition) {
		for _, cond := range *conds {
			if !at(cond.LastTransitionTime).Equal(t0) {
				t.Errorf("%s %s: %v, want %v", owner, cond.Type, cond.LastTransitionTime, t0)
			}
		}
	})

	now = t0.Add(time.Minute)
	r2 := stampReport("False", "True", true) // Gateway Accepted flips; a listener appears
	c.stamp(r2)
	g := r2.Gateways[0].Status
	if !at(g.Conditions[0].LastTransitionTime).Equal(now) {
		t.Errorf("flipped Accepted: %v, want %v", g.Conditions[0].LastTransitionTime, now)
	}
	if !at(g.Conditions[1].LastTransitionTime).Equal(t0) {
		t.Errorf("unchanged Programmed: %v, want %v", g.Conditions[1].LastTransitionTime, t0)
	}
	if !at(g.Listeners[0].Conditions[0].LastTransitionTime).Equal(now) {
		t.Errorf("new listener condition: %v, want %v", g.Listeners[0].Conditions[0].LastTransitionTime, now)
	}
	if !at(r2.GatewayClasses[0].Status.Conditions[0].LastTransitionTime).Equal(t0) {
		t.Error("unchanged GatewayClass condition got a new time")
	}

	// One route parent changes, the other keeps its time.
	now = t0.Add(2 * time.Minute)
	r3 := stampReport("False", "True", true)
	r3.Routes[0].Parents[1].Conditions[0].Status = "False"
	c.stamp(r3)
	ps := r3.Routes[0].Parents
	if !at(ps[0].Conditions[0].LastTransitionTime).Equal(t0) || !at(ps[1].Conditions[0].LastTransitionTime).Equal(now) {
		t.Errorf("route parents: %v and %v, want %v and %v", ps[0].Conditions[0].LastTransitionTime, ps[1].Conditions[0].LastTransitionTime, t0, now)
	}
	if !at(r3.Gateways[0].Status.Conditions[0].LastTransitionTime).Equal(t0.Add(time.Minute)) {
		t.Error("Accepted=False lost the time it changed")
	}
}

// TestE2EStatusHasTransitionTimes: /status in file mode shows a
// lastTransitionTime on every condition.
func TestE2EStatusHasTransitionTimes(t *testing.T) {
	e := startE2E(t, nil, map[string]string{"gw.yaml": gatewayYAML})
	_, body := httpGet(t, "http://"+e.cp.adminLn.Addr().String()+"/status")
	var doc statusDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	if doc.Status == nil || len(doc.Status.Gateways) != 1 {
		t.Fatalf("/status: %s", body)
	}
	n := 0
	allConditions(doc.Status, func(owner string, conds *[]metav1.Condition) {
		for _, cond := range *conds {
			n++
			if cond.LastTransitionTime.IsZero() {
				t.Errorf("%s %s: no lastTransitionTime", owner, cond.Type)
			}
		}
	})
	if n == 0 || strings.Contains(body, `"lastTransitionTime": null`) {
		t.Errorf("%d conditions; /status:\n%s", n, body)
	}
}

// allConditions is eachConditions with the routes' parent conditions.
func allConditions(r *status.Report, fn func(owner string, conds *[]metav1.Condition)) {
	eachConditions(r, fn)
	for i := range r.Routes {
		for j := range r.Routes[i].Parents {
			fn(r.Routes[i].Name+"/parent/"+parentKey(r.Routes[i].Parents[j].ParentRef), &r.Routes[i].Parents[j].Conditions)
		}
	}
}

// TestTransitionClockRoutesByChange: a route handed in with the same
// Parents slice gets the stamped copy of last time (same times, same
// backing array, input untouched); a new slice is stamped against the
// previous conditions of its keys; a route that was left out of a report
// and comes back gets new times.
func TestTransitionClockRoutesByChange(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	c := newTransitionClock(func() time.Time { return now })
	r1 := stampReport("True", "True", false)
	in := r1.Routes[0].Parents
	c.stamp(r1)
	stamped := r1.Routes[0].Parents
	if !in[0].Conditions[0].LastTransitionTime.IsZero() {
		t.Fatal("stamping wrote into the translation's route conditions")
	}

	now = t0.Add(time.Minute)
	r2 := stampReport("True", "True", false)
	r2.Routes[0].Parents = in // unchanged route: the same slice
	c.stamp(r2)
	if &r2.Routes[0].Parents[0] != &stamped[0] {
		t.Error("an unchanged Parents slice was stamped again")
	}

	now = t0.Add(2 * time.Minute)
	r3 := stampReport("True", "True", false) // equal content, new slice
	r3.Routes[0].Parents[1].Conditions[0].Status = "False"
	c.stamp(r3)
	ps := r3.Routes[0].Parents
	if got := ps[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(t0) {
		t.Errorf("unchanged condition of a new slice: %v, want %v", got, t0)
	}
	if got := ps[1].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(now) {
		t.Errorf("flipped condition: %v, want %v", got, now)
	}

	now = t0.Add(3 * time.Minute)
	gone := stampReport("True", "True", false)
	gone.Routes = nil
	c.stamp(gone)
	now = t0.Add(4 * time.Minute)
	back := stampReport("True", "True", false)
	c.stamp(back)
	if got := back.Routes[0].Parents[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(now) {
		t.Errorf("route back after it was gone: %v, want %v", got, now)
	}
}

// TestTransitionClockSharesLists: the routes' list the loop hands in again
// gets the stamped list of last time; a new list shares the stamped
// entries of every route whose Parents slice it kept (a route inserted or
// removed around them included); no list handed in or out is written.
func TestTransitionClockSharesLists(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	c := newTransitionClock(func() time.Time { return now })
	route := func(name string, resolved metav1.ConditionStatus) status.Route {
		r := stampReport("True", resolved, false).Routes[0]
		r.Name = name
		return r
	}
	a, b, d := route("a", "True"), route("b", "False"), route("d", "True")
	stamp := func(routes ...status.Route) []status.Route {
		t.Helper()
		in := slices.Clone(routes)
		before := mustMarshal(t, in)
		r := &status.Report{Routes: in}
		c.stamp(r)
		if mustMarshal(t, in) != before {
			t.Fatal("the stamp wrote into the list handed in")
		}
		return r.Routes
	}
	out1 := stamp(a, d)
	frozen := mustMarshal(t, out1)
	r := &status.Report{Routes: c.routes.in}
	c.stamp(r)
	if &r.Routes[0] != &out1[0] {
		t.Error("the same list handed in again was stamped again")
	}

	now = t0.Add(time.Minute)
	out2 := stamp(a, b, d) // b inserted between a and d
	if &out2[0].Parents[0] != &out1[0].Parents[0] || &out2[2].Parents[0] != &out1[1].Parents[0] {
		t.Error("routes kept around an inserted one were stamped again")
	}
	if got := out2[1].Parents[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(now) {
		t.Errorf("inserted route: %v, want %v", got, now)
	}
	now = t0.Add(2 * time.Minute)
	flipped := route("a", "False")
	out3 := stamp(flipped, d) // b removed, a's status flips
	if got := out3[0].Parents[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(now) {
		t.Errorf("flipped route: %v, want %v", got, now)
	}
	if &out3[1].Parents[0] != &out1[1].Parents[0] {
		t.Error("route kept after a removed one was stamped again")
	}
	if mustMarshal(t, out1) != frozen {
		t.Error("a stamped list handed out changed afterwards")
	}
	now = t0.Add(3 * time.Minute)
	out4 := stamp(flipped, b, d) // b back, its status as before it was removed
	if got := out4[1].Parents[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(now) {
		t.Errorf("route back after it was gone: %v, want %v", got, now)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTransitionClockRoutesOutOfOrder: a routes' list not in the report's
// order still finds each route's previous stamp.
func TestTransitionClockRoutesOutOfOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	c := newTransitionClock(func() time.Time { return now })
	route := func(name string) status.Route {
		r := stampReport("True", "True", false).Routes[0]
		r.Name = name
		return r
	}
	c.stamp(&status.Report{Routes: []status.Route{route("b"), route("a")}})
	now = t0.Add(time.Minute)
	r := &status.Report{Routes: []status.Route{route("c"), route("b"), route("a")}} // new slices, same statuses
	c.stamp(r)
	for _, rt := range r.Routes[1:] {
		if got := rt.Parents[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(t0) {
			t.Errorf("route %s: %v, want its previous time %v", rt.Name, got, t0)
		}
	}
	if got := r.Routes[0].Parents[0].Conditions[0].LastTransitionTime.Time.UTC(); !got.Equal(now) {
		t.Errorf("new route c: %v, want %v", got, now)
	}
}
