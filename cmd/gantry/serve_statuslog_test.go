package main

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// TestStatusLogWarnsOnChange: a route or Gateway that is not accepted is
// warned about when its status is new, not again on every batch; a new
// status of the same object is warned about again.
func TestStatusLogWarnsOnChange(t *testing.T) {
	var buf bytes.Buffer
	s := newStatusLog(slog.New(slog.NewTextHandler(&buf, nil)))
	count := func(what string) int { return strings.Count(buf.String(), what) }

	r1 := stampReport("False", "False", false)
	s.sink(context.Background(), &translate.Result{Status: r1})
	if count("route not ResolvedRefs") != 2 || count("gateway not Accepted") != 1 {
		t.Fatalf("first batch:\n%s", buf.String())
	}
	r2 := stampReport("False", "False", false)
	r2.Routes[0].Parents = r1.Routes[0].Parents // unchanged route
	s.sink(context.Background(), &translate.Result{Status: r2})
	if count("route not ResolvedRefs") != 2 || count("gateway not Accepted") != 1 || count("configuration translated") != 2 {
		t.Fatalf("an unchanged status was logged again:\n%s", buf.String())
	}
	r3 := stampReport("False", "False", false)
	r3.Gateways[0].Status.Conditions[0].Message = "another reason"
	s.sink(context.Background(), &translate.Result{Status: r3})
	if count("route not ResolvedRefs") != 4 || count("gateway not Accepted") != 2 {
		t.Fatalf("a new status was not logged:\n%s", buf.String())
	}
}

// TestStatusLogReadsOnlyNewSlices: routes kept (the same Parents slices)
// around a route inserted or removed are not warned about again; a route
// that was gone and comes back is.
func TestStatusLogReadsOnlyNewSlices(t *testing.T) {
	var buf bytes.Buffer
	s := newStatusLog(slog.New(slog.NewTextHandler(&buf, nil)))
	route := func(name string) status.Route {
		r := stampReport("True", "False", false).Routes[0]
		r.Name = name
		return r
	}
	a, b, d := route("a"), route("b"), route("d")
	batch := func(routes ...status.Route) int {
		buf.Reset()
		s.sink(context.Background(), &translate.Result{Status: &status.Report{Routes: slices.Clone(routes)}})
		return strings.Count(buf.String(), "route not ResolvedRefs")
	}
	if n := batch(a, d); n != 4 {
		t.Fatalf("first batch: %d warnings, want 4 (two parents each)\n%s", n, buf.String())
	}
	if n := batch(a, b, d); n != 2 {
		t.Errorf("b inserted: %d warnings, want b's 2\n%s", n, buf.String())
	}
	if n := batch(a, d); n != 0 {
		t.Errorf("b removed: %d warnings, want none\n%s", n, buf.String())
	}
	if n := batch(a, b, d); n != 2 {
		t.Errorf("b back: %d warnings, want b's 2\n%s", n, buf.String())
	}
}
