package kube

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/test/envtest"
)

// seedParents sets a route's status.parents through the API server.
func seedParents(ctx context.Context, t *testing.T, r *gwapiv1.HTTPRoute, parents ...gwapiv1.RouteParentStatus) {
	t.Helper()
	c := apiClient(t)
	get(t, c, r.Namespace, r.Name, r)
	r.Status.Parents = parents
	if err := c.Status().Update(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// controllersOf lists the controllerName of each of a route's parent entries.
func controllersOf(t *testing.T, ns, name string) []string {
	t.Helper()
	var r gwapiv1.HTTPRoute
	get(t, apiClient(t), ns, name, &r)
	var out []string
	for _, p := range r.Status.Parents {
		out = append(out, string(p.ControllerName))
	}
	return out
}

// TestStatusSweepRemovesStaleEntries: entries Gantry wrote before a restart,
// for a route that has since left its scope, are removed on the first Write
// (and after Forget, and once the sweep interval has passed); other
// controllers' entries and routes outside the writer's namespaces are left
// alone.
func TestStatusSweepRemovesStaleEntries(t *testing.T) {
	c := apiClient(t)
	ns, elsewhere := envtest.NewNamespace(t, c, "sweep"), envtest.NewNamespace(t, c, "sweep-other")
	ctrl := "gantryproxy.io/test-" + ns
	stale, outside := httpRoute(ns, "stale", parent(ns, "other-gw")), httpRoute(elsewhere, "outside", parent(elsewhere, "gw"))
	envtest.Create(t, c, stale, outside)
	ctx := testContext(t, 60*time.Second)
	entry := func(ns, gw, controller string) gwapiv1.RouteParentStatus {
		return gwapiv1.RouteParentStatus{ParentRef: parent(ns, gw), ControllerName: gwapiv1.GatewayController(controller),
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted",
				LastTransitionTime: metav1.NewTime(time.Unix(1000, 0)), ObservedGeneration: 1}}}
	}
	ours, theirs := entry(ns, "gw", ctrl), entry(ns, "other-gw", "example.com/other")
	seedParents(ctx, t, stale, ours, theirs)
	seedParents(ctx, t, outside, entry(elsewhere, "gw", ctrl))

	clk := newClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := NewStatusWriter(c, StatusOptions{ControllerName: ctrl, Namespaces: []string{ns}, SweepInterval: time.Hour, Now: clk.now})
	// A report that does not mention the route (it left Gantry's scope).
	rep := &status.Report{}
	write := func() {
		t.Helper()
		if err := w.Write(ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	wantControllers := func(when, ns, name string, want ...string) {
		t.Helper()
		got := controllersOf(t, ns, name)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s/%s parent entries of %v, want %v", when, ns, name, got, want)
		}
	}

	write()
	wantControllers("first write", ns, "stale", "example.com/other")
	wantControllers("first write", elsewhere, "outside", ctrl)
	if w.Writes() != 1 {
		t.Errorf("%d status writes, want 1 (the stale route only)", w.Writes())
	}

	// Between sweeps the writer relies on what it wrote: an entry that
	// appears behind its back stays until the next sweep.
	seedParents(ctx, t, stale, ours, theirs)
	write()
	wantControllers("write within the interval", ns, "stale", ctrl, "example.com/other")

	// Leadership regained: Forget makes the next Write sweep.
	w.Forget()
	write()
	wantControllers("write after Forget", ns, "stale", "example.com/other")

	// And so does the interval passing.
	seedParents(ctx, t, stale, ours, theirs)
	clk.advance(time.Hour)
	write()
	wantControllers("write after the interval", ns, "stale", "example.com/other")
	wantControllers("write after the interval", elsewhere, "outside", ctrl)
}
