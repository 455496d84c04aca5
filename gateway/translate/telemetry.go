package translate

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/xds/ir"
)

// gatewayTelemetry layers the telemetry keys of the class's parameters
// ConfigMap and then the Gateway's (both already validated key by key) and
// checks the result: a sink that needs a collector names one.
func (t *translator) gatewayTelemetry(gw *gwapiv1.Gateway, gc *gwapiv1.GatewayClass) (*ir.Telemetry, error) {
	p := params.Default()
	var err error
	for _, cm := range t.parameterMaps(gw, gc) {
		if p, err = p.Apply(cm); err != nil {
			return nil, err
		}
	}
	if err := p.Telemetry.Check(); err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	return TelemetryIR(p.Telemetry, ProxyName(gw.Namespace, gw.Name)), nil
}

// parameterMaps are the parameters ConfigMaps of a Gateway, class first.
func (t *translator) parameterMaps(gw *gwapiv1.Gateway, gc *gwapiv1.GatewayClass) []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	if gc != nil && gc.Spec.ParametersRef != nil {
		if ns, name, err := params.ClassRef(gc.Spec.ParametersRef); err == nil {
			if cm := t.x.extras().configMaps[nsName{ns, name}]; cm != nil {
				out = append(out, cm)
			}
		}
	}
	if name, ok, err := params.GatewayRef(gw); ok && err == nil {
		if cm := t.x.extras().configMaps[nsName{gw.Namespace, name}]; cm != nil {
			out = append(out, cm)
		}
	}
	return out
}

// TelemetryIR turns checked telemetry parameters into the IR of a proxy
// group whose spans are named serviceName; nil when everything is off.
func TelemetryIR(tel params.Telemetry, serviceName string) *ir.Telemetry {
	out := &ir.Telemetry{}
	switch tel.AccessLog {
	case params.AccessLogText:
		out.AccessLog = &ir.AccessLog{Format: ir.AccessLogText}
	case params.AccessLogJSON:
		out.AccessLog = &ir.AccessLog{Format: ir.AccessLogJSON}
	case params.AccessLogOTLP:
		out.AccessLog = &ir.AccessLog{Format: ir.AccessLogOTLP, Collector: &ir.Collector{Host: tel.AccessLogCollector.Host, Port: tel.AccessLogCollector.Port}}
	}
	if tel.TracingOn() {
		provider := ir.TracingOpenTelemetry
		if tel.Tracing == params.TracingZipkin {
			provider = ir.TracingZipkin
		}
		out.Tracing = &ir.Tracing{
			Provider:        provider,
			Collector:       ir.Collector{Host: tel.TracingCollector.Host, Port: tel.TracingCollector.Port},
			ServiceName:     serviceName,
			SamplingPercent: tel.SamplingPercent,
		}
		for _, name := range sortedMapKeys(tel.Tags) {
			tag := tel.Tags[name]
			out.Tracing.Tags = append(out.Tracing.Tags, ir.TracingTag{Name: name, Literal: tag.Literal, RequestHeader: tag.Header, Environment: tag.Env})
		}
	}
	if out.AccessLog == nil && out.Tracing == nil {
		return nil
	}
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
