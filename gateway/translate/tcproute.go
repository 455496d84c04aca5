package translate

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// tcpRoute adapts a TCPRoute: all connections of a TCP listener go to the
// route's weighted backends.
func tcpRoute(o *gwapiv1.TCPRoute) route {
	return &streamRoute{k: kindTCPRoute, obj: &o.ObjectMeta, refs: o.Spec.ParentRefs, rules: streamRules(o.Spec.Rules,
		func(r gwapiv1.TCPRouteRule) streamRule { return streamRule{name: r.Name, backends: r.BackendRefs} })}
}
