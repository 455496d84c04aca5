package params

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTelemetryKeys(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Data: map[string]string{
		KeyAccessLog: "otlp", KeyAccessLogCollector: "otel.obs:4317", KeyTracing: "zipkin", KeyTracingCollector: "[::1]:9411",
		KeyTracingSamplingPercent: "12.5", KeyTracingTags: "env: literal:prod\nua: header:user-agent\npod: env:POD_NAME\n",
	}}
	p, err := Default().Apply(cm)
	if err != nil {
		t.Fatal(err)
	}
	tel := p.Telemetry
	if tel.AccessLog != AccessLogOTLP || tel.AccessLogCollector != (HostPort{Host: "otel.obs", Port: 4317}) ||
		tel.Tracing != TracingZipkin || tel.TracingCollector != (HostPort{Host: "::1", Port: 9411}) || tel.SamplingPercent != 12.5 ||
		tel.Tags["env"] != (TracingTag{Literal: "prod"}) || tel.Tags["ua"] != (TracingTag{Header: "user-agent"}) || tel.Tags["pod"] != (TracingTag{Env: "POD_NAME"}) {
		t.Errorf("Apply = %+v", tel)
	}
	if err := tel.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	for key, val := range map[string]string{
		KeyAccessLog: "syslog", KeyAccessLogCollector: "otel", KeyTracing: "jaeger", KeyTracingCollector: "z:0",
		KeyTracingSamplingPercent: "101", KeyTracingTags: "a: b",
	} {
		bad := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Data: map[string]string{key: val}}
		if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "ConfigMap ns/p: data."+key) {
			t.Errorf("%s=%q: error = %v, want one naming ConfigMap ns/p: data.%s", key, val, err, key)
		}
	}
}

func TestTelemetryCheckAndParse(t *testing.T) {
	if _, err := ParseTelemetry([]string{"accessLog=otlp"}); err == nil || !strings.Contains(err.Error(), "accessLogCollector is not set") {
		t.Errorf("otlp without collector: %v", err)
	}
	if _, err := ParseTelemetry([]string{"tracing=opentelemetry"}); err == nil || !strings.Contains(err.Error(), "tracingCollector is not set") {
		t.Errorf("tracing without collector: %v", err)
	}
	if _, err := ParseTelemetry([]string{"replicas=2"}); err == nil || !strings.Contains(err.Error(), "replicas: unknown key") {
		t.Errorf("non-telemetry key: %v", err)
	}
	if _, err := ParseTelemetry([]string{"tracing"}); err == nil || !strings.Contains(err.Error(), "want KEY=VALUE") {
		t.Errorf("no value: %v", err)
	}
	tel, err := ParseTelemetry([]string{"accessLog=json", "tracing=opentelemetry", "tracingCollector=otel:4317"})
	if err != nil || !tel.AccessLogOn() || !tel.TracingOn() || tel.SamplingPercent != DefaultSamplingPercent {
		t.Errorf("ParseTelemetry = %+v, %v", tel, err)
	}
}
