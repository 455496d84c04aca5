package main

import (
	"errors"
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

// TestServeMeshOutboundPolicyFlag: a bad --mesh-outbound-policy stops serve
// with a usage error naming the flag; the known values start it.
func TestServeMeshOutboundPolicyFlag(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := func(policy string) *serveOptions {
		return &serveOptions{xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
			identity: identityOptions{xdsInsecure: true}, sidecar: sidecarOptions{outboundPolicy: policy}}
	}
	_, err := newControlPlane(opts("deny"), nil, log)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `--mesh-outbound-policy "deny": want allow-any or registry-only`) {
		t.Errorf("bad policy: error %v, want a usage error naming the flag", err)
	}
	for _, p := range []string{"allow-any", "Registry-Only"} {
		cp, err := newControlPlane(opts(p), nil, log)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cp.closeListeners()
	}
}
