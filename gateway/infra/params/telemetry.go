package params

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Telemetry parameter keys: access logs and tracing of a Gateway's fleet
// (parameters ConfigMap) or of every sidecar (`gantry serve
// --mesh-telemetry KEY=VALUE`, the same keys).
const (
	KeyAccessLog              = "accessLog"              // off | text | json | otlp
	KeyAccessLogCollector     = "accessLogCollector"     // host:port of an OTLP/gRPC collector
	KeyTracing                = "tracing"                // off | opentelemetry | zipkin
	KeyTracingCollector       = "tracingCollector"       // host:port of the OTLP/gRPC or Zipkin collector
	KeyTracingSamplingPercent = "tracingSamplingPercent" // 0-100, default 1
	KeyTracingTags            = "tracingTags"            // YAML map: name -> "literal:V" | "header:NAME" | "env:NAME"
)

// TelemetryKeys lists the telemetry keys, sorted.
var TelemetryKeys = []string{
	KeyAccessLog, KeyAccessLogCollector, KeyTracing, KeyTracingCollector, KeyTracingSamplingPercent, KeyTracingTags,
}

// DefaultSamplingPercent is the share of new traces sampled when tracing is
// on and tracingSamplingPercent is not set.
const DefaultSamplingPercent = 1.0

// Access log and tracing values.
const (
	AccessLogOff  = "off"
	AccessLogText = "text"
	AccessLogJSON = "json"
	AccessLogOTLP = "otlp"

	TracingOff           = "off"
	TracingOpenTelemetry = "opentelemetry"
	TracingZipkin        = "zipkin"
)

// Telemetry is what the telemetry keys set. Empty strings mean off.
type Telemetry struct {
	AccessLog          string
	AccessLogCollector HostPort
	Tracing            string
	TracingCollector   HostPort
	SamplingPercent    float64
	// Tags are span tags by name (see TracingTag).
	Tags map[string]TracingTag
}

// HostPort is a collector address.
type HostPort struct {
	Host string
	Port uint32
}

// TracingTag is one custom span tag: exactly one field is set.
type TracingTag struct {
	Literal, Header, Env string
}

// isTelemetryKey reports whether k is a telemetry key.
func isTelemetryKey(k string) bool { return slices.Contains(TelemetryKeys, k) }

// setTelemetry applies one telemetry key.
func (t Telemetry) setTelemetry(key, v string) (Telemetry, error) {
	var err error
	switch key {
	case KeyAccessLog:
		if !slices.Contains([]string{AccessLogOff, AccessLogText, AccessLogJSON, AccessLogOTLP}, v) {
			return t, fmt.Errorf("%q is not off, text, json or otlp", v)
		}
		t.AccessLog = v
	case KeyAccessLogCollector:
		t.AccessLogCollector, err = parseHostPort(v)
	case KeyTracing:
		if !slices.Contains([]string{TracingOff, TracingOpenTelemetry, TracingZipkin}, v) {
			return t, fmt.Errorf("%q is not off, opentelemetry or zipkin", v)
		}
		t.Tracing = v
	case KeyTracingCollector:
		t.TracingCollector, err = parseHostPort(v)
	case KeyTracingSamplingPercent:
		n, perr := strconv.ParseFloat(v, 64)
		if perr != nil || n < 0 || n > 100 {
			return t, fmt.Errorf("%q is not a percentage (0-100)", v)
		}
		t.SamplingPercent = n
	case KeyTracingTags:
		t.Tags, err = parseTags(v)
	default:
		return t, fmt.Errorf("unknown key")
	}
	return t, err
}

func parseHostPort(v string) (HostPort, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return HostPort{}, fmt.Errorf("%q is not host:port", v)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return HostPort{}, fmt.Errorf("%q: port %q is not 1-65535", v, port)
	}
	return HostPort{Host: host, Port: uint32(n)}, nil
}

func parseTags(v string) (map[string]TracingTag, error) {
	var m map[string]string
	if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
		return nil, fmt.Errorf("not a map of strings: %w", err)
	}
	out := make(map[string]TracingTag, len(m))
	for _, name := range sortedKeys(m) {
		kind, val, ok := strings.Cut(m[name], ":")
		if name == "" || !ok || val == "" {
			return nil, fmt.Errorf("tag %q: %q is not literal:VALUE, header:NAME or env:NAME", name, m[name])
		}
		switch kind {
		case "literal":
			out[name] = TracingTag{Literal: val}
		case "header":
			out[name] = TracingTag{Header: val}
		case "env":
			out[name] = TracingTag{Env: val}
		default:
			return nil, fmt.Errorf("tag %q: %q is not literal:VALUE, header:NAME or env:NAME", name, m[name])
		}
	}
	return out, nil
}

// Check is run on the layered result (class, then Gateway, or the mesh
// flags): a sink that needs a collector has one.
func (t Telemetry) Check() error {
	if t.AccessLog == AccessLogOTLP && t.AccessLogCollector.Host == "" {
		return fmt.Errorf("%s is otlp but %s is not set", KeyAccessLog, KeyAccessLogCollector)
	}
	if t.TracingOn() && t.TracingCollector.Host == "" {
		return fmt.Errorf("%s is %s but %s is not set", KeyTracing, t.Tracing, KeyTracingCollector)
	}
	return nil
}

// AccessLogOn and TracingOn tell whether each part is on.
func (t Telemetry) AccessLogOn() bool { return t.AccessLog != "" && t.AccessLog != AccessLogOff }
func (t Telemetry) TracingOn() bool   { return t.Tracing != "" && t.Tracing != TracingOff }

// DefaultTelemetry is everything off, with the default sampling rate for
// when tracing is turned on.
func DefaultTelemetry() Telemetry { return Telemetry{SamplingPercent: DefaultSamplingPercent} }

// ParseTelemetry reads KEY=VALUE pairs (the mesh-wide setting) with the
// parameters ConfigMap's validation, then Check.
func ParseTelemetry(pairs []string) (Telemetry, error) {
	t := DefaultTelemetry()
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return t, fmt.Errorf("%q: want KEY=VALUE (keys: %v)", kv, TelemetryKeys)
		}
		var err error
		if t, err = t.setTelemetry(k, v); err != nil {
			if !isTelemetryKey(k) {
				return t, fmt.Errorf("%s: unknown key (telemetry keys: %v)", k, TelemetryKeys)
			}
			return t, fmt.Errorf("%s: %w", k, err)
		}
	}
	return t, t.Check()
}
