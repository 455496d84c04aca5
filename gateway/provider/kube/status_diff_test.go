package kube

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/benchcpu"
)

func diffRoute(name string) status.Route {
	return status.Route{Kind: resource.KindHTTPRoute, Namespace: "default", Name: name, Generation: 1,
		Parents: []gwapiv1.RouteParentStatus{{ParentRef: gwapiv1.ParentReference{Name: "gw"}, ControllerName: DefaultControllerName,
			Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted"}}}}}
}

// writeAll applies a diff as Write does when every write succeeds.
func writeAll(m *routeWrites, routes []status.Route) (write []string, gone []string, next *routeWrites) {
	d, ok := m.diff(routes)
	if !ok {
		return nil, nil, nil
	}
	for _, i := range d.write {
		d.next.record(i, &routes[i])
		write = append(write, routes[i].Name)
	}
	for _, k := range d.gone {
		gone = append(gone, k.Name)
	}
	return write, gone, d.next
}

// TestRouteWritesDiff: the routes to write are those new to the report or
// whose Parents slice or generation is new; routes that left it are gone;
// an unchanged report costs nothing; a report out of order is refused.
func TestRouteWritesDiff(t *testing.T) {
	a, b, c, d := diffRoute("a"), diffRoute("b"), diffRoute("c"), diffRoute("d")
	m := &routeWrites{}
	for _, step := range []struct {
		what        string
		routes      []status.Route
		write, gone []string
	}{
		{"first report", []status.Route{a, c, d}, []string{"a", "c", "d"}, nil},
		{"the same routes, a new list", []status.Route{a, c, d}, nil, nil},
		{"b inserted", []status.Route{a, b, c, d}, []string{"b"}, nil},
		{"c's entries new, d gone", []status.Route{a, b, diffRoute("c")}, []string{"c"}, []string{"d"}},
		{"a's generation new", []status.Route{{Kind: a.Kind, Namespace: a.Namespace, Name: "a", Generation: 2, Parents: a.Parents}, b}, []string{"a"}, []string{"c"}},
		{"every route gone", nil, nil, []string{"a", "b"}},
	} {
		write, gone, next := writeAll(m, slices.Clone(step.routes))
		if next == nil {
			t.Fatalf("%s: refused", step.what)
		}
		if !slices.Equal(write, step.write) || !slices.Equal(gone, step.gone) {
			t.Errorf("%s: write %v, gone %v; want %v and %v", step.what, write, gone, step.write, step.gone)
		}
		m = next
	}
	m = &routeWrites{}
	if _, ok := m.diff([]status.Route{b, a}); ok {
		t.Error("a report out of order was taken")
	}
	_, _, m = writeAll(m, []status.Route{a, c})
	if _, ok := m.diff([]status.Route{a, d, b, c}); ok {
		t.Error("a report out of order, matching around the misplaced route, was taken")
	}
}

// TestStatusWriterUnchangedRoutesNoTarget: a report whose routes' entries
// are those written last time gives no route target, whichever list holds
// them; an unsorted report is compared in order all the same.
func TestStatusWriterUnchangedRoutesNoTarget(t *testing.T) {
	w := NewStatusWriter(nil, StatusOptions{Logger: slog.New(slog.DiscardHandler)})
	routes := []status.Route{diffRoute("a"), diffRoute("b"), diffRoute("c")}
	targets := func(routes []status.Route) []string {
		ts, owned, next := w.targets(&status.Report{Routes: routes}, nil, w.routes)
		var names []string
		for _, t := range ts {
			names = append(names, t.key.Name)
			if t.done != nil {
				t.done()
			}
		}
		w.owned, w.routes = owned, next
		return names
	}
	if got := targets(routes); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("first report: targets %v", got)
	}
	if got := targets(slices.Clone(routes)); len(got) != 0 {
		t.Errorf("the same entries again: targets %v, want none", got)
	}
	if got := targets([]status.Route{routes[2], routes[0]}); !slices.Equal(got, []string{"b"}) {
		t.Errorf("b left, the rest unsorted: targets %v, want b's removal", got)
	}
}

// BenchmarkStatusTargets: the kube status writer's work to find what to
// write for a report of n routes in which one route's entries are new (a
// list the loop copied) or none are (the same list).
func BenchmarkStatusTargets(b *testing.B) {
	for _, n := range []int{10000, 30000} {
		for _, changed := range []int{0, 1} {
			b.Run(fmt.Sprintf("routes=%d/changed=%d", n, changed), func(b *testing.B) {
				routes := make([]status.Route, n)
				for i := range routes {
					routes[i] = diffRoute(fmt.Sprintf("r%06d", i))
				}
				w := NewStatusWriter(nil, StatusOptions{Logger: slog.New(slog.DiscardHandler)})
				write := func() {
					ts, owned, next := w.targets(&status.Report{Routes: routes}, nil, w.routes)
					for _, t := range ts {
						if t.done != nil {
							t.done()
						}
					}
					w.owned, w.routes = owned, next
				}
				write()
				b.ReportAllocs()
				defer benchcpu.Report(b)()
				i := 0
				for b.Loop() {
					i++
					if changed == 1 {
						routes = slices.Clone(routes)
						routes[i%n] = diffRoute(routes[i%n].Name)
					}
					write()
				}
			})
		}
	}
}
