// Package authorization holds the tests of the bookinfo authorization
// example: the policies load with Gantry's loader next to the bookinfo
// example, compile to the callers the docs promise, and gantry analyze finds
// nothing wrong with them.
package authorization

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/authz"
	"github.com/gantryproxy/gantry/gateway/resource"
)

func load(t *testing.T) *resource.Set {
	t.Helper()
	res, err := resource.LoadWithDiagnostics("..") // the example and, below it, this folder
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append(res.Errors, res.Warnings...) {
		if !strings.Contains(d.Message, "unknown kind") { // Deployments and ServiceAccounts are for the cluster
			t.Errorf("%v", d)
		}
	}
	if res.Set.AuthorizationPolicies.Len() != 3 {
		t.Fatalf("%d AuthorizationPolicies loaded, want 3", res.Set.AuthorizationPolicies.Len())
	}
	return res.Set
}

// TestCallers: reviews and details admit only productpage's ServiceAccount,
// ratings only reviews' (and only GET /ratings...); productpage itself has
// no policy.
func TestCallers(t *testing.T) {
	p := authz.New(load(t), authz.Options{MeshMTLS: true, TrustDomain: "cluster.local"})
	want := map[string]string{
		"reviews": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage",
		"details": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage",
		"ratings": "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews",
	}
	for svc, caller := range want {
		a := p.MeshInbound("bookinfo", []string{svc})
		if a == nil || len(a.Deny) != 0 || len(a.Allow) != 1 || len(a.Allow[0].Rules) != 1 {
			t.Fatalf("%s: %+v", svc, a)
		}
		r := a.Allow[0].Rules[0]
		if len(r.Sources) != 1 || r.Sources[0].Principal == nil || r.Sources[0].Principal.Value != caller {
			t.Errorf("%s: sources %+v, want only %s", svc, r.Sources, caller)
		}
		if svc == "ratings" && (len(r.To) != 1 || !slices.Equal(r.To[0].Methods, []string{"GET"})) {
			t.Errorf("ratings: to %+v, want GET /ratings", r.To)
		}
	}
	if a := p.MeshInbound("bookinfo", []string{"productpage"}); a != nil {
		t.Errorf("productpage: %+v, want no authorization", a)
	}
}

// TestAnalyzeClean: gantry analyze reports no authorization problem.
func TestAnalyzeClean(t *testing.T) {
	msgs, err := analyze.Analyze(load(t), analyze.Options{Analyzers: []string{"authorization"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		t.Errorf("%s %s: %s", m.Code, m.Name, m.Message)
	}
}
