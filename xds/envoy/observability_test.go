package envoy

import (
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/xds/ir"
)

// TestValidateTelemetryClusters: an access log or tracer naming a cluster
// that is not in the output is a dangling reference.
func TestValidateTelemetryClusters(t *testing.T) {
	p := &ir.Proxy{
		Name: "gateway/default/eg",
		Listeners: []*ir.Listener{{Name: "l", Port: 80, Protocol: ir.ProtocolHTTP, FilterChains: []*ir.FilterChain{{
			Name: "c", HTTP: &ir.HTTPConnectionManager{RouteConfigName: "r"},
		}}}},
		RouteConfigs: []*ir.RouteConfig{{Name: "r"}},
		Telemetry: &ir.Telemetry{
			AccessLog: &ir.AccessLog{Format: ir.AccessLogOTLP, Collector: &ir.Collector{Host: "otel", Port: 4317}},
			Tracing:   &ir.Tracing{Provider: ir.TracingZipkin, Collector: ir.Collector{Host: "zipkin", Port: 9411}},
		},
	}
	res, err := Build(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Clusters) != 2 {
		t.Fatalf("want the two collector clusters, got %d", len(res.Clusters))
	}
	res.Clusters = nil
	err = Validate(res)
	for _, want := range []string{`cluster "gantry/telemetry/otlp/otel:4317", which does not exist`, `cluster "gantry/telemetry/zipkin/zipkin:9411", which does not exist`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate without the collector clusters: %v; want %q", err, want)
		}
	}
}
