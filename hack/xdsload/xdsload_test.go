package main

import (
	"testing"
	"time"
)

// A small in-process run: every client converges after the change, and the
// reconnect storm re-sends nothing.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the load tool's smoke run")
	}
	res, err := measure(40, 0.5, 10, 300*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.convergence) != 40 {
		t.Fatalf("%d clients converged, want 40", len(res.convergence))
	}
	if res.convergence[0] <= 0 {
		t.Errorf("non-positive convergence time %v", res.convergence[0])
	}
	if res.responses != 0 || res.resent != 0 {
		t.Errorf("reconnect storm: %d responses, %d resent resources; want 0", res.responses, res.resent)
	}
}
