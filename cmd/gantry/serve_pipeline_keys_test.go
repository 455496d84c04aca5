package main

import (
	"testing"
	"time"
)

// TestE2EMeshClientOfUnknownNamespace: a proxyless client whose group is
// mesh/<ns> for a namespace no input mentions reaches a Service as soon as
// it connects, with no input change to trigger a translation.
func TestE2EMeshClientOfUnknownNamespace(t *testing.T) {
	e := startE2E(t, []string{"reviews"}, map[string]string{"reviews.yaml": meshServiceYAML("reviews")})
	conn := e.meshClient("stranger-1", "elsewhere", "reviews.default.svc.cluster.local:9080")
	start := time.Now()
	got, err := call(conn, "/reviews.Reviews/Get")
	if err != nil || got != "reviews" {
		t.Fatalf("call from mesh/elsewhere: backend %q, error %v", got, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("first call took %v; the group was not built when its node connected", d)
	}
}
