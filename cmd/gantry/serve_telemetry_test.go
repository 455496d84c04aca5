package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/ir"
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
	if cp.pipeline.meshTelemetry.AccessLog != "json" {
		t.Errorf("mesh telemetry = %+v", cp.pipeline.meshTelemetry)
	}
}

// TestPipelineMeshTelemetry: the pipeline gives every mesh group the
// --mesh-telemetry setting, including a group built for a namespace only a
// client knows, and leaves Gateway groups to their parameters.
func TestPipelineMeshTelemetry(t *testing.T) {
	tel, err := params.ParseTelemetry([]string{"accessLog=text", "tracing=zipkin", "tracingCollector=zipkin:9411"})
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(pipelineOptions{controllerName: translate.DefaultControllerName, meshTelemetry: tel})
	set := &resource.Set{Namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}}}
	res := p.withMesh(set, translate.Translate(set, translate.Options{}))
	var mesh int
	for _, px := range res.Proxies {
		if !strings.HasPrefix(px.Name, "mesh/") {
			continue
		}
		mesh++
		if px.Telemetry == nil || px.Telemetry.AccessLog == nil || px.Telemetry.AccessLog.Format != ir.AccessLogText ||
			px.Telemetry.Tracing == nil || px.Telemetry.Tracing.Provider != ir.TracingZipkin || px.Telemetry.Tracing.ServiceName != px.Name {
			t.Errorf("%s: telemetry %+v", px.Name, px.Telemetry)
		}
	}
	if mesh == 0 {
		t.Fatal("no mesh group")
	}
	if px := p.meshProxy(set, "mesh/elsewhere"); px == nil || px.Telemetry == nil || px.Telemetry.Tracing.ServiceName != "mesh/elsewhere" {
		t.Errorf("mesh/elsewhere: %+v", px)
	}
}
