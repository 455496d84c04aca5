package ir

// Telemetry is what a proxy group reports about the traffic it carries:
// access logs and traces. It applies to every HTTP connection manager and
// TCP proxy of the group (Envoy flavor only: proxyless gRPC clients ignore
// it). nil means neither.
type Telemetry struct {
	AccessLog *AccessLog `json:"accessLog,omitempty"`
	Tracing   *Tracing   `json:"tracing,omitempty"`
}

// AccessLogFormat is where and how an access log entry is written.
type AccessLogFormat string

const (
	// AccessLogText writes one line of text per request to the proxy's stdout.
	AccessLogText AccessLogFormat = "Text"
	// AccessLogJSON writes one JSON object per request to the proxy's stdout.
	AccessLogJSON AccessLogFormat = "JSON"
	// AccessLogOTLP sends log records to an OpenTelemetry collector over
	// OTLP/gRPC.
	AccessLogOTLP AccessLogFormat = "OTLP"
)

// AccessLog is one access log of every request (HTTP) or connection (TCP).
type AccessLog struct {
	Format AccessLogFormat `json:"format"`
	// Collector receives the records when Format is AccessLogOTLP.
	Collector *Collector `json:"collector,omitempty"`
}

// TracingProvider is the tracer a proxy reports spans to.
type TracingProvider string

const (
	// TracingOpenTelemetry reports spans over OTLP/gRPC and propagates the
	// W3C trace context (traceparent, tracestate).
	TracingOpenTelemetry TracingProvider = "OpenTelemetry"
	// TracingZipkin reports spans to a Zipkin collector (HTTP, JSON v2) and
	// propagates B3 headers.
	TracingZipkin TracingProvider = "Zipkin"
)

// Tracing starts or joins a trace for every HTTP request.
type Tracing struct {
	Provider  TracingProvider `json:"provider"`
	Collector Collector       `json:"collector"`
	// ServiceName names the proxy in its spans.
	ServiceName string `json:"serviceName"`
	// SamplingPercent is the share of requests without a sampling decision
	// that start a sampled trace (0-100).
	SamplingPercent float64 `json:"samplingPercent"`
	// Tags are added to every span, sorted by name.
	Tags []TracingTag `json:"tags,omitempty"`
}

// TracingTag is one custom span tag. Exactly one of Literal, RequestHeader
// and Environment is set.
type TracingTag struct {
	Name          string `json:"name"`
	Literal       string `json:"literal,omitempty"`
	RequestHeader string `json:"requestHeader,omitempty"`
	Environment   string `json:"environment,omitempty"`
}

// Collector is a telemetry collector reached by host name (or address) and
// port; the builder makes a DNS cluster for it.
type Collector struct {
	Host string `json:"host"`
	Port uint32 `json:"port"`
	// Path is the HTTP path of a Zipkin collector ("/api/v2/spans" when
	// empty); unused for OTLP.
	Path string `json:"path,omitempty"`
}
