package translate

import (
	"cmp"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// udpRoute adapts a UDPRoute: the datagrams of a UDP listener go to the
// route's weighted backends.
func udpRoute(o *gwapiv1.UDPRoute) route {
	return &streamRoute{k: kindUDPRoute, obj: &o.ObjectMeta, refs: o.Spec.ParentRefs, rules: streamRules(o.Spec.Rules,
		func(r gwapiv1.UDPRouteRule) streamRule { return streamRule{name: r.Name, backends: r.BackendRefs} })}
}

// listenerSocket is what a listener binds: a port, over TCP or UDP. TCP
// and UDP listeners of one port number never conflict and get separate
// Envoy listeners.
type listenerSocket struct {
	port gwapiv1.PortNumber
	udp  bool
}

func socketOf(l *listenerState) listenerSocket {
	return listenerSocket{port: l.spec.Port, udp: l.spec.Protocol == gwapiv1.UDPProtocolType}
}

// compareSockets orders by port, TCP before UDP.
func compareSockets(a, b listenerSocket) int {
	if a.port != b.port {
		return cmp.Compare(a.port, b.port)
	}
	switch {
	case a.udp == b.udp:
		return 0
	case b.udp:
		return -1
	}
	return 1
}

// socketListenerName names the Envoy listener of a socket:
// "<ns>/<gw>/<port>", with "/udp" appended for UDP.
func (b *proxyBuilder) socketListenerName(k listenerSocket) string {
	if k.udp {
		return b.listenerName(k.port) + "/udp"
	}
	return b.listenerName(k.port)
}
