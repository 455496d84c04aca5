package kube

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/test/envtest"
)

func cond(typ string, st metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: reason}
}

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(c.t.Load(), 0) }
func (c *clock) set(t time.Time)         { c.t.Store(t.Unix()) }
func newClock(t time.Time) *clock        { c := &clock{}; c.set(t); return c }
func (c *clock) advance(d time.Duration) { c.set(c.now().Add(d)) }

// routeStatus is a route's status with one parent (gw) in ns.
func routeStatus(ns string, r *gwapiv1.HTTPRoute, st metav1.ConditionStatus, reason string) status.Route {
	return status.Route{Kind: resource.KindHTTPRoute, Namespace: ns, Name: r.Name, Generation: r.Generation,
		Parents: []gwapiv1.RouteParentStatus{{ParentRef: parent(ns, "gw"),
			Conditions: []metav1.Condition{cond("Accepted", st, reason), cond("ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")}}}}
}

// e2eReport accepts the class, the Gateway and its listener, rejects the
// first route (NotAllowedByListeners) and accepts the others.
func e2eReport(ns string, class *gwapiv1.GatewayClass, gw *gwapiv1.Gateway, routes []*gwapiv1.HTTPRoute) *status.Report {
	rep := &status.Report{
		GatewayClasses: []status.GatewayClass{{Name: class.Name, Generation: class.Generation,
			Status: gwapiv1.GatewayClassStatus{Conditions: []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted")}}}},
		Gateways: []status.Gateway{{Namespace: ns, Name: "gw", Generation: gw.Generation, Status: gwapiv1.GatewayStatus{
			Conditions: []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted"), cond("Programmed", metav1.ConditionTrue, "Programmed")},
			Listeners: []gwapiv1.ListenerStatus{{Name: "http", AttachedRoutes: 2,
				SupportedKinds: []gwapiv1.RouteGroupKind{{Kind: "HTTPRoute"}},
				Conditions:     []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted")}}}}}},
	}
	for i, r := range routes {
		st, reason := metav1.ConditionTrue, "Accepted"
		if i == 0 {
			st, reason = metav1.ConditionFalse, "NotAllowedByListeners"
		}
		rep.Routes = append(rep.Routes, routeStatus(ns, r, st, reason))
	}
	return rep
}

func TestStatusWriterEndToEnd(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "status")
	ctrl := "gantryproxy.io/test-" + ns
	class, gw := gatewayClass("st-"+ns, ctrl), gateway(ns, "gw", "st-"+ns)
	ok, bad := httpRoute(ns, "ok", parent(ns, "gw")), httpRoute(ns, "bad", parent(ns, "gw"))
	shared := httpRoute(ns, "shared", parent(ns, "gw"), parent(ns, "foreign"))
	envtest.Create(t, c, class, gw, ok, bad, shared)
	ctx := testContext(t, 60*time.Second)

	// Another controller already reports on the shared route.
	foreign := gwapiv1.RouteParentStatus{ParentRef: parent(ns, "foreign"), ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted",
			LastTransitionTime: metav1.NewTime(time.Unix(1000, 0)), ObservedGeneration: 1}}}
	shared.Status.Parents = []gwapiv1.RouteParentStatus{foreign}
	if err := c.Status().Update(ctx, shared); err != nil {
		t.Fatal(err)
	}

	clk := newClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := NewStatusWriter(c, StatusOptions{ControllerName: ctrl, Now: clk.now})
	rep := e2eReport(ns, class, gw, []*gwapiv1.HTTPRoute{bad, ok, shared})
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	first := w.Writes()
	if first != 5 {
		t.Errorf("first write sent %d updates, want 5", first)
	}

	var gotGW gwapiv1.Gateway
	get(t, c, ns, "gw", &gotGW)
	if len(gotGW.Status.Conditions) != 2 || gotGW.Status.Conditions[1].Type != "Programmed" ||
		gotGW.Status.Conditions[1].ObservedGeneration != gw.Generation || !gotGW.Status.Conditions[1].LastTransitionTime.Time.Equal(clk.now()) {
		t.Errorf("Gateway conditions = %+v", gotGW.Status.Conditions)
	}
	if l := gotGW.Status.Listeners; len(l) != 1 || l[0].AttachedRoutes != 2 {
		t.Errorf("Gateway listeners = %+v", l)
	}
	var gotBad gwapiv1.HTTPRoute
	get(t, c, ns, "bad", &gotBad)
	if p := gotBad.Status.Parents; len(p) != 1 || string(p[0].ControllerName) != ctrl ||
		p[0].Conditions[0].Status != metav1.ConditionFalse || p[0].Conditions[0].Reason != "NotAllowedByListeners" {
		t.Errorf("rejected route status = %+v", p)
	}
	var gotShared gwapiv1.HTTPRoute
	get(t, c, ns, "shared", &gotShared)
	if p := gotShared.Status.Parents; len(p) != 2 || p[0].ControllerName != "example.com/other" ||
		!p[0].Conditions[0].LastTransitionTime.Time.Equal(time.Unix(1000, 0)) || string(p[1].ControllerName) != ctrl {
		t.Errorf("shared route parents = %+v, want the other controller's entry kept first", p)
	}

	// The same report again: nothing is written.
	clk.advance(time.Minute)
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if w.Writes() != first {
		t.Errorf("unchanged report sent %d updates", w.Writes()-first)
	}

	// The rejected route becomes accepted: only its transition time moves,
	// and only Accepted's.
	rep.Routes[0] = routeStatus(ns, bad, metav1.ConditionTrue, "Accepted")
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if w.Writes() != first+1 {
		t.Errorf("one changed route sent %d updates, want 1", w.Writes()-first)
	}
	get(t, c, ns, "bad", &gotBad)
	conds := gotBad.Status.Parents[0].Conditions
	if conds[0].Status != metav1.ConditionTrue || !conds[0].LastTransitionTime.Time.Equal(clk.now()) {
		t.Errorf("Accepted after flip = %+v, want True at %v", conds[0], clk.now())
	}
	if !conds[1].LastTransitionTime.Time.Equal(clk.now().Add(-time.Minute)) {
		t.Errorf("ResolvedRefs transition time moved to %v though its status did not change", conds[1].LastTransitionTime)
	}

	// The shared route leaves the report: Gantry's entry goes, the other
	// controller's stays.
	rep.Routes = rep.Routes[:2]
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	get(t, c, ns, "shared", &gotShared)
	if p := gotShared.Status.Parents; len(p) != 1 || p[0].ControllerName != "example.com/other" {
		t.Errorf("after the route left the report, parents = %+v, want only the other controller's", p)
	}
}

func TestStatusWriterRetriesConflictsAndRateLimits(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "conflict")
	var routes []status.Route
	for _, name := range []string{"r0", "r1", "r2", "r3", "r4", "r5"} {
		r := httpRoute(ns, name, parent(ns, "gw"))
		envtest.Create(t, c, r)
		routes = append(routes, status.Route{Kind: resource.KindHTTPRoute, Namespace: ns, Name: name, Generation: 1,
			Parents: []gwapiv1.RouteParentStatus{{ParentRef: parent(ns, "gw"),
				Conditions: []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted")}}}})
	}
	var conflicts atomic.Int32
	flaky := interceptor.NewClient(c, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, cl client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if obj.GetName() == "r0" && conflicts.Add(1) <= 2 {
				return apierrors.NewConflict(schema.GroupResource{Resource: "httproutes"}, obj.GetName(), nil)
			}
			return cl.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	// Reading through a cache: the first conflict falls back to read-modify-write.
	w := NewStatusWriter(flaky, StatusOptions{QPS: 5, Burst: 1, Reader: c, Namespaces: []string{ns}})
	start := time.Now()
	if err := w.Write(testContext(t, 30*time.Second), &status.Report{Routes: routes}); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if conflicts.Load() < 3 {
		t.Errorf("conflicting update tried %d times, want retries after 2 conflicts", conflicts.Load())
	}
	var r0 gwapiv1.HTTPRoute
	get(t, c, ns, "r0", &r0)
	if len(r0.Status.Parents) != 1 {
		t.Errorf("r0 status not written after conflicts: %+v", r0.Status)
	}
	// 6 writes at 5/s with a burst of 1 take at least 1s.
	if w.Writes() != 6 || elapsed < 900*time.Millisecond {
		t.Errorf("%d writes in %v, want 6 rate-limited to >= 1s", w.Writes(), elapsed)
	}
}

func get(t *testing.T, c client.Client, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
}
