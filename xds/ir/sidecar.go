package ir

// Sidecar settings of a mesh group whose Envoy sidecars capture the
// application's traffic. The Envoy flavor renders the group's client-side
// listeners that carry an Outbound as filter chains of one outbound capture
// listener, and its inbound listeners that carry an Inbound as filter chains
// of one inbound capture listener; the gRPC flavor ignores all of it.
type Sidecar struct {
	// OutboundPort is the port of the outbound capture listener (name
	// OutboundListenerName), where outgoing connections are redirected.
	OutboundPort uint32 `json:"outboundPort"`
	// InboundPort is the port of the inbound capture listener (name
	// InboundListenerName), where incoming connections are redirected.
	InboundPort uint32 `json:"inboundPort"`
	// OutboundPolicy is what happens to a connection whose original
	// destination no Outbound names.
	OutboundPolicy OutboundPolicy `json:"outboundPolicy"`
	// InboundMode is the mode of incoming connections to an address that no
	// Inbound names (a workload not yet in an EndpointSlice): the
	// namespace's mode.
	InboundMode MTLSMode `json:"inboundMode,omitempty"`
	// InboundTLS is what inbound chains that no inbound listener defines
	// (the passthrough to ports no Service declares) terminate in the
	// Strict and Permissive modes; required when a mode asks for TLS.
	InboundTLS *DownstreamTLS `json:"inboundTLS,omitempty"`
	// DualStack makes the capture listeners listen on [::] as well as
	// 0.0.0.0, for the IPv6 connections the capture rules redirect.
	DualStack bool `json:"dualStack,omitempty"`
}

// Names of the capture listeners.
const (
	OutboundListenerName = "mesh-outbound"
	InboundListenerName  = "mesh-inbound"
)

// OutboundPolicy is what a sidecar does with a connection to a destination
// outside the mesh's Services.
type OutboundPolicy string

const (
	// OutboundAllowAny forwards it to its original destination.
	OutboundAllowAny OutboundPolicy = "AllowAny"
	// OutboundRegistryOnly closes it.
	OutboundRegistryOnly OutboundPolicy = "RegistryOnly"
)

// MTLSMode is what an inbound listener of a sidecar accepts.
type MTLSMode string

const (
	// MTLSOff (mesh mTLS off): plaintext, and any bytes as they come.
	MTLSOff MTLSMode = ""
	// MTLSStrict: only mutual TLS with a certificate of the mesh.
	MTLSStrict MTLSMode = "Strict"
	// MTLSPermissive: mutual TLS with a certificate of the mesh, or
	// plaintext (a namespace migrating to the mesh).
	MTLSPermissive MTLSMode = "Permissive"
)

// Outbound places a client-side listener (a Service port) in the outbound
// capture listener: connections whose original destination is one of
// Addresses and Port take the listener's HTTP connection manager, or TCP
// when it is set.
type Outbound struct {
	// Addresses are IP addresses (a Service's cluster IPs), sorted.
	Addresses []string `json:"addresses"`
	Port      uint32   `json:"port"`
	// TCP, when set, forwards the bytes as they are (an opaque port).
	TCP *TCPProxy `json:"tcp,omitempty"`
}

// Inbound says how a sidecar serves an inbound listener (one workload
// address and port, or a wildcard address for every workload on the port):
// it terminates what Mode says, then hands the connection to the
// application on the loopback interface, on the listener's port.
type Inbound struct {
	// Protocol is what the application speaks on the port: AppHTTP1 or
	// AppHTTP2 (an HTTP connection manager, the listener's own chain's
	// settings and filters) or AppTCP (a TCP proxy).
	Protocol AppProtocol `json:"protocol"`
	// Mode is what the listener accepts; with MTLSStrict or MTLSPermissive
	// the listener's filter chain carries the TLS settings.
	Mode MTLSMode `json:"mode,omitempty"`
}
