package kube

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/test/envtest"
)

// routeReads counts the HTTPRoutes read through it.
type routeReads struct {
	client.Reader
	n atomic.Int32
}

func (r *routeReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*gwapiv1.HTTPRoute); ok {
		r.n.Add(1)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestStatusWriterReadsOnlyChangedRoutes: a route whose entries are the
// slice written last time is not read again; a route with a new slice is;
// a sweep (here after Forget) checks every route again and repairs an
// entry that someone else removed.
func TestStatusWriterReadsOnlyChangedRoutes(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "stmemo")
	ctrl := "gantryproxy.io/test-" + ns
	class, gw := gatewayClass("sm-"+ns, ctrl), gateway(ns, "gw", "sm-"+ns)
	a, b, d := httpRoute(ns, "a", parent(ns, "gw")), httpRoute(ns, "b", parent(ns, "gw")), httpRoute(ns, "d", parent(ns, "gw"))
	envtest.Create(t, c, class, gw, a, b, d)
	ctx := testContext(t, 60*time.Second)
	reads := &routeReads{Reader: c}
	w := NewStatusWriter(c, StatusOptions{ControllerName: ctrl, Reader: reads, SweepInterval: time.Hour})
	rep := e2eReport(ns, class, gw, []*gwapiv1.HTTPRoute{a, b, d})
	write := func(what string, wantReads int32) {
		t.Helper()
		reads.n.Store(0)
		if err := w.Write(ctx, rep); err != nil {
			t.Fatal(err)
		}
		if got := reads.n.Load(); got != wantReads {
			t.Errorf("%s: %d routes read, want %d", what, got, wantReads)
		}
	}
	write("first write", 3)
	write("the same report", 0)
	rep.Routes[1] = routeStatus(ns, b, "False", "NotAllowedByListeners")
	write("one route's entries new", 1)

	// Someone removes Gantry's entry of route a; a sweep puts it back.
	var got gwapiv1.HTTPRoute
	get(t, c, ns, "a", &got)
	got.Status.Parents = []gwapiv1.RouteParentStatus{}
	if err := c.Status().Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	w.Forget()
	write("after Forget (a sweep)", 3)
	get(t, c, ns, "a", &got)
	if len(got.Status.Parents) != 1 || string(got.Status.Parents[0].ControllerName) != ctrl {
		t.Errorf("route a after the sweep: parents %+v, want Gantry's entry back", got.Status.Parents)
	}
}
