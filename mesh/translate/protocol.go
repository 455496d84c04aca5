package translate

import (
	"strings"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Protocol selection: what an Envoy sidecar takes a Service port (and the
// workloads' port behind it) to speak. In order:
//
//  1. appProtocol, when set (case-insensitive): "http" and "kubernetes.io/ws"
//     are HTTP/1.1; "http2", "h2c", "kubernetes.io/h2c" and "grpc" are
//     HTTP/2; "grpc-web" is HTTP/1.1; any other value ("tcp", "tls",
//     "https", "kubernetes.io/wss", "mysql", ...) is opaque TCP.
//  2. the port name, "<protocol>" or "<protocol>-<suffix>" (Istio's
//     convention): "http" is HTTP/1.1; "http2", "grpc" are HTTP/2;
//     "grpc-web" is HTTP/1.1; "tcp", "tls", "https", "mongo", "mysql",
//     "redis" are opaque TCP.
//  3. neither says: HTTP when a mesh route attaches to the port (HTTP/2 for
//     a GRPCRoute, else HTTP/1.1), since the route says what it carries;
//     otherwise opaque TCP, which carries any protocol.
//
// A GRPCRoute attached to a port declared HTTP/1.1 makes it HTTP/2 (gRPC
// needs it); a port declared opaque stays opaque, and routes attached to it
// then apply to proxyless clients only.
//
// The proxyless gRPC flavor does not use it: a gRPC client speaks HTTP/2.

// appProtocols maps appProtocol values (lower case) to what they speak.
var appProtocols = map[string]ir.AppProtocol{
	"http":              ir.AppHTTP1,
	"kubernetes.io/ws":  ir.AppHTTP1,
	"grpc-web":          ir.AppHTTP1,
	"http2":             ir.AppHTTP2,
	"h2c":               ir.AppHTTP2,
	"kubernetes.io/h2c": ir.AppHTTP2,
	"grpc":              ir.AppHTTP2,
}

// namePrefixes maps the protocol part of a port name to what it speaks.
var namePrefixes = map[string]ir.AppProtocol{
	"http":  ir.AppHTTP1,
	"http2": ir.AppHTTP2,
	"grpc":  ir.AppHTTP2,
	"tcp":   ir.AppTCP,
	"tls":   ir.AppTCP,
	"https": ir.AppTCP,
	"mongo": ir.AppTCP,
	"mysql": ir.AppTCP,
	"redis": ir.AppTCP,
}

// declaredProtocol is what a port's appProtocol or name declares; ok is
// false when neither does.
func declaredProtocol(name string, appProtocol *string) (ir.AppProtocol, bool) {
	if appProtocol != nil && *appProtocol != "" {
		if p, ok := appProtocols[strings.ToLower(*appProtocol)]; ok {
			return p, true
		}
		return ir.AppTCP, true
	}
	name = strings.ToLower(name)
	if name == "grpc-web" || strings.HasPrefix(name, "grpc-web-") {
		return ir.AppHTTP1, true
	}
	prefix, _, _ := strings.Cut(name, "-")
	p, ok := namePrefixes[prefix]
	return p, ok
}

// portProtocol is what sidecars take a Service port to speak: as declared,
// else from the mesh routes attached to it, else opaque TCP.
func (t *translator) portProtocol(k portKey, name string, appProtocol *string) ir.AppProtocol {
	declared, ok := declaredProtocol(name, appProtocol)
	if ok && declared != ir.AppHTTP1 {
		return declared
	}
	routed := ir.AppTCP
	for _, r := range t.attached[k] {
		if r.kind == kindGRPCRoute {
			return ir.AppHTTP2 // gRPC is HTTP/2, whatever the port says
		}
		routed = ir.AppHTTP1
	}
	if ok {
		return declared
	}
	return routed
}
