package envoy

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	otelalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	tracingv3 "github.com/envoyproxy/go-control-plane/envoy/type/tracing/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	otlpcommonv1 "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Extension names of the telemetry Gantry configures.
const (
	stdoutAccessLogName = "envoy.access_loggers.stdout"
	otelAccessLogName   = "envoy.access_loggers.open_telemetry"
	otelTracerName      = "envoy.tracers.opentelemetry"
	zipkinTracerName    = "envoy.tracers.zipkin"
	// DefaultZipkinPath is where a Zipkin collector takes spans (JSON v2).
	DefaultZipkinPath = "/api/v2/spans"
)

// HTTPAccessLogFormat is the text access log line of an HTTP request: the
// usual Envoy fields plus the route name, upstream cluster, request id and
// trace id.
const HTTPAccessLogFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`"%REQ(:AUTHORITY)%" "%DOWNSTREAM_REMOTE_ADDRESS%" route=%ROUTE_NAME% cluster=%UPSTREAM_CLUSTER% ` +
	`upstream=%UPSTREAM_HOST% request_id=%REQ(X-REQUEST-ID)% trace_id=%TRACE_ID%` + "\n"

// TCPAccessLogFormat is the text access log line of a TCP connection.
const TCPAccessLogFormat = `[%START_TIME%] tcp %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`"%DOWNSTREAM_REMOTE_ADDRESS%" cluster=%UPSTREAM_CLUSTER% upstream=%UPSTREAM_HOST%` + "\n"

// httpLogFields and tcpLogFields are the JSON (and OTLP attribute) forms
// of the same fields, in output order.
var httpLogFields = [][2]string{
	{"start_time", "%START_TIME%"},
	{"method", "%REQ(:METHOD)%"},
	{"path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"},
	{"protocol", "%PROTOCOL%"},
	{"response_code", "%RESPONSE_CODE%"},
	{"response_flags", "%RESPONSE_FLAGS%"},
	{"bytes_received", "%BYTES_RECEIVED%"},
	{"bytes_sent", "%BYTES_SENT%"},
	{"duration_ms", "%DURATION%"},
	{"authority", "%REQ(:AUTHORITY)%"},
	{"downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"},
	{"route_name", "%ROUTE_NAME%"},
	{"upstream_cluster", "%UPSTREAM_CLUSTER%"},
	{"upstream_host", "%UPSTREAM_HOST%"},
	{"request_id", "%REQ(X-REQUEST-ID)%"},
	{"trace_id", "%TRACE_ID%"},
}

var tcpLogFields = [][2]string{
	{"start_time", "%START_TIME%"},
	{"response_flags", "%RESPONSE_FLAGS%"},
	{"bytes_received", "%BYTES_RECEIVED%"},
	{"bytes_sent", "%BYTES_SENT%"},
	{"duration_ms", "%DURATION%"},
	{"downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"},
	{"upstream_cluster", "%UPSTREAM_CLUSTER%"},
	{"upstream_host", "%UPSTREAM_HOST%"},
}

// telemetryActive tells whether this build emits telemetry: only Envoy
// reads access logs and tracers.
func (b *builder) telemetryActive() bool {
	return b.flavor == FlavorEnvoy && b.proxy.Telemetry != nil
}

// addHTTPTelemetry sets the access log and tracing of an HTTP connection
// manager.
func (b *builder) addHTTPTelemetry(h *hcmv3.HttpConnectionManager) error {
	if !b.telemetryActive() {
		return nil
	}
	t := b.proxy.Telemetry
	if t.AccessLog != nil {
		al, err := b.accessLog(t.AccessLog, HTTPAccessLogFormat, httpLogFields)
		if err != nil {
			return fmt.Errorf("accessLog: %w", err)
		}
		h.AccessLog = []*accesslogv3.AccessLog{al}
	}
	if t.Tracing != nil {
		tr, err := b.tracing(t.Tracing)
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		h.Tracing = tr
	}
	return nil
}

// addTCPTelemetry sets the access log of a TCP proxy.
func (b *builder) addTCPTelemetry(p *tcpproxyv3.TcpProxy) error {
	if !b.telemetryActive() || b.proxy.Telemetry.AccessLog == nil {
		return nil
	}
	al, err := b.accessLog(b.proxy.Telemetry.AccessLog, TCPAccessLogFormat, tcpLogFields)
	if err != nil {
		return fmt.Errorf("accessLog: %w", err)
	}
	p.AccessLog = []*accesslogv3.AccessLog{al}
	return nil
}

func (b *builder) accessLog(a *ir.AccessLog, text string, fields [][2]string) (*accesslogv3.AccessLog, error) {
	switch a.Format {
	case ir.AccessLogText:
		return stdoutLog(&corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormatSource{
			TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: text}},
		}}), nil
	case ir.AccessLogJSON:
		return stdoutLog(&corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{
			JsonFormat: jsonFormat(fields),
		}}), nil
	case ir.AccessLogOTLP:
		if a.Collector == nil {
			return nil, fmt.Errorf("format OTLP: no collector")
		}
		name, err := b.collectorCluster(*a.Collector, ir.AppHTTP2)
		if err != nil {
			return nil, err
		}
		cfg := &otelalsv3.OpenTelemetryAccessLogConfig{
			GrpcService: envoyGRPC(name),
			LogName:     b.proxy.Name,
			Body:        &otlpcommonv1.AnyValue{Value: &otlpcommonv1.AnyValue_StringValue{StringValue: strings.TrimSuffix(text, "\n")}},
			Attributes:  otlpAttributes(fields),
		}
		return &accesslogv3.AccessLog{Name: otelAccessLogName, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(cfg)}}, nil
	default:
		return nil, fmt.Errorf("format %q: want Text, JSON or OTLP", a.Format)
	}
}

func stdoutLog(f *corev3.SubstitutionFormatString) *accesslogv3.AccessLog {
	return &accesslogv3.AccessLog{
		Name:       stdoutAccessLogName,
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&streamv3.StdoutAccessLog{AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: f}})},
	}
}

func jsonFormat(fields [][2]string) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, f := range fields {
		s.Fields[f[0]] = structpb.NewStringValue(f[1])
	}
	return s
}

func otlpAttributes(fields [][2]string) *otlpcommonv1.KeyValueList {
	out := &otlpcommonv1.KeyValueList{}
	for _, f := range fields {
		out.Values = append(out.Values, &otlpcommonv1.KeyValue{
			Key:   f[0],
			Value: &otlpcommonv1.AnyValue{Value: &otlpcommonv1.AnyValue_StringValue{StringValue: f[1]}},
		})
	}
	return out
}

func envoyGRPC(cluster string) *corev3.GrpcService {
	return &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster}}}
}

// tracing is the connection manager's tracer. The OpenTelemetry tracer
// reads and writes the W3C traceparent header, Zipkin's the B3 headers; a
// request that arrives with either joins that trace, one without starts a
// trace sampled at SamplingPercent.
func (b *builder) tracing(t *ir.Tracing) (*hcmv3.HttpConnectionManager_Tracing, error) {
	if t.SamplingPercent < 0 || t.SamplingPercent > 100 {
		return nil, fmt.Errorf("samplingPercent %v: want 0-100", t.SamplingPercent)
	}
	var provider *tracev3.Tracing_Http
	switch t.Provider {
	case ir.TracingOpenTelemetry:
		name, err := b.collectorCluster(t.Collector, ir.AppHTTP2)
		if err != nil {
			return nil, err
		}
		provider = &tracev3.Tracing_Http{Name: otelTracerName, ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(&tracev3.OpenTelemetryConfig{
			GrpcService: envoyGRPC(name),
			ServiceName: t.ServiceName,
		})}}
	case ir.TracingZipkin:
		name, err := b.collectorCluster(t.Collector, ir.AppHTTP1)
		if err != nil {
			return nil, err
		}
		path := t.Collector.Path
		if path == "" {
			path = DefaultZipkinPath
		}
		provider = &tracev3.Tracing_Http{Name: zipkinTracerName, ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(&tracev3.ZipkinConfig{
			CollectorCluster:         name,
			CollectorEndpoint:        path,
			CollectorEndpointVersion: tracev3.ZipkinConfig_HTTP_JSON,
			TraceId_128Bit:           true,
			CollectorHostname:        t.Collector.Host,
		})}}
	default:
		return nil, fmt.Errorf("provider %q: want OpenTelemetry or Zipkin", t.Provider)
	}
	out := &hcmv3.HttpConnectionManager_Tracing{
		Provider:       provider,
		RandomSampling: &typev3.Percent{Value: t.SamplingPercent},
	}
	for _, tag := range t.Tags {
		ct, err := customTag(tag)
		if err != nil {
			return nil, err
		}
		out.CustomTags = append(out.CustomTags, ct)
	}
	return out, nil
}

func customTag(t ir.TracingTag) (*tracingv3.CustomTag, error) {
	out := &tracingv3.CustomTag{Tag: t.Name}
	set := 0
	if t.Literal != "" {
		set++
		out.Type = &tracingv3.CustomTag_Literal_{Literal: &tracingv3.CustomTag_Literal{Value: t.Literal}}
	}
	if t.RequestHeader != "" {
		set++
		out.Type = &tracingv3.CustomTag_RequestHeader{RequestHeader: &tracingv3.CustomTag_Header{Name: t.RequestHeader}}
	}
	if t.Environment != "" {
		set++
		out.Type = &tracingv3.CustomTag_Environment_{Environment: &tracingv3.CustomTag_Environment{Name: t.Environment}}
	}
	if t.Name == "" || set != 1 {
		return nil, fmt.Errorf("tag %q: want a name and exactly one of literal, requestHeader and environment", t.Name)
	}
	return out, nil
}

// CollectorClusterName names the cluster of a telemetry collector:
// "gantry/telemetry/otlp/<host>:<port>" (HTTP/2, for OTLP/gRPC) or
// "gantry/telemetry/zipkin/<host>:<port>" (HTTP/1.1).
func CollectorClusterName(c ir.Collector, p ir.AppProtocol) string {
	kind := "zipkin"
	if p == ir.AppHTTP2 {
		kind = "otlp"
	}
	return "gantry/telemetry/" + kind + "/" + net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// collectorCluster plans the cluster of a collector and returns its name.
func (b *builder) collectorCluster(c ir.Collector, p ir.AppProtocol) (string, error) {
	if c.Host == "" || c.Port == 0 || c.Port > 65535 {
		return "", fmt.Errorf("collector %q port %d: want a host and a port 1-65535", c.Host, c.Port)
	}
	name := CollectorClusterName(c, p)
	if b.collectors == nil {
		b.collectors = map[string]collector{}
	}
	b.collectors[name] = collector{Collector: c, protocol: p}
	return name, nil
}

// collector is a planned telemetry cluster.
type collector struct {
	ir.Collector
	protocol ir.AppProtocol
}

// collectorClusters are the DNS clusters of the planned collectors, sorted
// by the caller.
func (b *builder) collectorClusters() []*clusterv3.Cluster {
	out := make([]*clusterv3.Cluster, 0, len(b.collectors))
	for name, c := range b.collectors {
		pc := &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
			DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
			LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
			LoadAssignment: &endpointv3.ClusterLoadAssignment{
				ClusterName: name,
				Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
							Address: c.Host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: c.Port},
						}}},
					}},
				}}}},
			},
		}
		if c.protocol == ir.AppHTTP2 {
			pc.TypedExtensionProtocolOptions = map[string]*anypb.Any{http2OptionsKey: mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}},
			})}
		}
		out = append(out, pc)
	}
	return out
}
