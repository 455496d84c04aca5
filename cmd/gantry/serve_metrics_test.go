package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestServeMetricsLint: every metric of the registry gantry serve builds
// passes client_golang's linter (names, units, help strings).
func TestServeMetricsLint(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp, err := newControlPlane(&serveOptions{xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{caDir: t.TempDir()}}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.closeListeners()
	problems, err := testutil.GatherAndLint(cp.registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(cp.registry, "gantry_xds_connections", "gantry_xds_pushes_total", "gantry_xds_nacks_total",
		"gantry_status_updates_total", "gantry_translation_duration_seconds", "gantry_xds_denied_total")
	if err != nil || n == 0 {
		t.Errorf("control-plane metrics: %d series, %v", n, err)
	}
}
