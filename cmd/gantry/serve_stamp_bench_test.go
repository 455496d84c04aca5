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
)

// BenchmarkStatusOneRouteChanged: the file provider's stamp and status log
// for a report of n routes in which one route's status is new (the others
// are the slices of the last report, as the loop hands them out).
func BenchmarkStatusOneRouteChanged(b *testing.B) {
	for _, n := range []int{1000, 10000, 30000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			base := make([]status.Route, n)
			for i := range base {
				base[i] = status.Route{Kind: "HTTPRoute", Namespace: "default", Name: fmt.Sprintf("r%d", i), Parents: benchParents("True")}
			}
			c := newTransitionClock(time.Now)
			s := newStatusLog(slog.New(slog.DiscardHandler))
			publish := func(routes []status.Route) {
				r := &status.Report{Routes: routes}
				c.stamp(r)
				s.sink(context.Background(), &translate.Result{Status: r})
			}
			publish(append([]status.Route(nil), base...))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				routes := append([]status.Route(nil), base...)
				routes[i%n].Parents = benchParents([]metav1.ConditionStatus{"True", "False"}[i%2])
				publish(routes)
			}
		})
	}
}

func benchParents(accepted metav1.ConditionStatus) []gwapiv1.RouteParentStatus {
	return []gwapiv1.RouteParentStatus{{ParentRef: gwapiv1.ParentReference{Name: "gw"}, ControllerName: "gantry.io/gateway-controller",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: accepted, Reason: "Accepted"}, {Type: "ResolvedRefs", Status: "True", Reason: "ResolvedRefs"}}}}
}
