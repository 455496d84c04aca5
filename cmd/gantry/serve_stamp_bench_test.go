package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/benchcpu"
)

// BenchmarkStatusSinks: the file provider's stamp and status log for a
// report of n routes (in route order) after a route change, whose status
// is the same (changed=0) or new for one route (changed=1), as the loop
// hands the routes' list over:
//   - loop=share: the loop's own list, copied (with the new entry) only
//     when a route's status changed, never written once handed over;
//   - loop=clone: a copy of the loop's list every batch, which the sinks
//     may write into (how the loop handed it over before lists were
//     shared; the only case the sinks of that time can be run with).
//
// The loop's copies are made in the timed loop: they are part of what a
// batch costs.
func BenchmarkStatusSinks(b *testing.B) {
	for _, n := range []int{10000, 30000} {
		for _, loop := range []string{"share", "clone"} {
			for _, changed := range []bool{false, true} {
				name := fmt.Sprintf("routes=%d/loop=%s/changed=%d", n, loop, map[bool]int{false: 0, true: 1}[changed])
				b.Run(name, func(b *testing.B) { benchSinks(b, n, loop == "clone", changed) })
			}
		}
	}
}

func benchSinks(b *testing.B, n int, clone, changed bool) {
	routes := make([]status.Route, n) // the loop's list
	for i := range routes {
		routes[i] = status.Route{Kind: "HTTPRoute", Namespace: "default", Name: fmt.Sprintf("r%06d", i), Parents: benchParents("True")}
	}
	c := newTransitionClock(time.Now)
	s := newStatusLog(slog.New(slog.DiscardHandler))
	publish := func() {
		r := &status.Report{Routes: routes}
		if clone {
			r.Routes = append([]status.Route(nil), routes...)
		}
		c.stamp(r)
		s.sink(context.Background(), &translate.Result{Status: r})
	}
	publish()
	b.ReportAllocs()
	defer benchcpu.Report(b)()
	i := 0
	for b.Loop() {
		i++
		if changed {
			if !clone {
				routes = append([]status.Route(nil), routes...)
			}
			routes[i%n].Parents = benchParents([]metav1.ConditionStatus{"True", "False"}[i%2])
		}
		publish()
	}
}

func benchParents(accepted metav1.ConditionStatus) []gwapiv1.RouteParentStatus {
	return []gwapiv1.RouteParentStatus{{ParentRef: gwapiv1.ParentReference{Name: "gw"}, ControllerName: "gantry.io/gateway-controller",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: accepted, Reason: "Accepted"}, {Type: "ResolvedRefs", Status: "True", Reason: "ResolvedRefs"}}}}
}
