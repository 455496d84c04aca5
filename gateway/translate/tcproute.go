package translate

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// tcpRoute adapts a TCPRoute: all connections of a TCP listener go to the
// route's weighted backends.
func tcpRoute(o *gwapiv1.TCPRoute) route {
	r := &streamRoute{k: kindTCPRoute, obj: &o.ObjectMeta, refs: o.Spec.ParentRefs}
	for _, rule := range o.Spec.Rules {
		r.rules = append(r.rules, streamRule{name: rule.Name, backends: rule.BackendRefs})
	}
	return r
}
