package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestServeMeshTelemetryFlag: a bad --mesh-telemetry stops serve before it
// listens, naming the flag and the key.
func TestServeMeshTelemetryFlag(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		pairs []string
		want  string
	}{
		{pairs: []string{"accessLog=otlp"}, want: "--mesh-telemetry: accessLog is otlp but accessLogCollector is not set"},
		{pairs: []string{"tracing=jaeger"}, want: `--mesh-telemetry: tracing: "jaeger" is not off, opentelemetry or zipkin`},
		{pairs: []string{"replicas=1"}, want: "--mesh-telemetry: replicas: unknown key"},
	} {
		_, err := newControlPlane(&serveOptions{meshTelemetry: tc.pairs, xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
			identity: identityOptions{xdsInsecure: true}}, nil, log)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.pairs, err, tc.want)
		}
	}
	cp, err := newControlPlane(&serveOptions{meshTelemetry: []string{"accessLog=json"}, xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{xdsInsecure: true}}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.closeListeners()
	if cp.loop.MeshTelemetry().AccessLog != "json" {
		t.Errorf("mesh telemetry = %+v", cp.loop.MeshTelemetry())
	}
}
