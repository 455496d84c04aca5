package translate

import (
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// tlsRoute adapts a TLSRoute: connections of a TLS listener are chosen by
// SNI among the route hostnames, then either passed through (listener mode
// Passthrough) or terminated with the listener's certificates and
// forwarded as plain TCP (mode Terminate).
func tlsRoute(o *gwapiv1.TLSRoute) route {
	return &streamRoute{k: kindTLSRoute, obj: &o.ObjectMeta, refs: o.Spec.ParentRefs, hosts: o.Spec.Hostnames, withHosts: true,
		rules: streamRules(o.Spec.Rules, func(r gwapiv1.TLSRouteRule) streamRule { return streamRule{name: r.Name, backends: r.BackendRefs} })}
}

// tlsMode is a TLS listener's mode; the API default is Terminate.
func (l *listenerState) tlsMode() gwapiv1.TLSModeType {
	if l.spec.TLS == nil || l.spec.TLS.Mode == nil {
		return gwapiv1.TLSModeTerminate
	}
	return *l.spec.TLS.Mode
}

// terminatesTLS reports whether the listener needs certificates.
func (l *listenerState) terminatesTLS() bool {
	switch l.spec.Protocol {
	case gwapiv1.HTTPSProtocolType:
		return true
	case gwapiv1.TLSProtocolType:
		return l.tlsMode() == gwapiv1.TLSModeTerminate
	}
	return false
}

// resolveTLSProtocolListener checks a TLS listener: Passthrough needs no
// certificate; Terminate resolves them like an HTTPS listener.
func resolveTLSProtocolListener(x *index, l *listenerState) {
	if l.tlsMode() == gwapiv1.TLSModePassthrough {
		return
	}
	resolveListenerTLS(x, l)
}

// addStreamConfig adds the filter chains (TLS, TCP) or the UDP proxy of one
// programmed stream listener to its port's Envoy listener.
func (b *proxyBuilder) addStreamConfig(il *ir.Listener, l *listenerState) {
	entries := b.streams[l]
	if len(entries) == 0 {
		return
	}
	base := il.Name + "/" + l.sectionID()
	switch l.spec.Protocol {
	case gwapiv1.UDPProtocolType:
		if il.UDP == nil {
			il.UDP = &ir.UDPProxy{StatPrefix: base, Backends: slices.Clone(entries[0].c.backends)}
		}
	case gwapiv1.TCPProtocolType:
		il.FilterChains = append(il.FilterChains, &ir.FilterChain{
			Name: base,
			TCP:  &ir.TCPProxy{StatPrefix: base, Backends: slices.Clone(entries[0].c.backends)},
		})
	case gwapiv1.TLSProtocolType:
		b.addTLSChains(il, l, base, entries)
	}
}

// addTLSChains makes one chain per SNI name of the listener's TLSRoutes.
// A name already served on the port (by a listener with a more specific
// hostname, added first) is left to that listener.
func (b *proxyBuilder) addTLSChains(il *ir.Listener, l *listenerState, base string, entries []streamEntry) {
	taken := map[string]bool{}
	for _, fc := range il.FilterChains {
		if len(fc.ServerNames) == 0 {
			taken[anyHost] = true
		}
		for _, n := range fc.ServerNames {
			taken[n] = true
		}
	}
	for _, e := range entries {
		for _, h := range e.hostnames {
			if taken[h] || b.isolatedElsewhere(l, h) {
				continue
			}
			taken[h] = true
			fc := &ir.FilterChain{
				Name: base + "/" + h,
				TCP:  &ir.TCPProxy{StatPrefix: base + "/" + h, Backends: slices.Clone(e.c.backends)},
			}
			if h != anyHost {
				fc.ServerNames = []string{h}
			}
			if l.terminatesTLS() {
				fc.TLS = &ir.DownstreamTLS{CertificateSecrets: slices.Clone(l.certSecrets)}
			}
			il.FilterChains = append(il.FilterChains, fc)
		}
	}
}

// isolatedElsewhere reports whether SNI name h belongs to another TLS
// listener of the same port with a more specific hostname (listener
// isolation: a connection is handled by the most specific listener).
func (b *proxyBuilder) isolatedElsewhere(l *listenerState, h string) bool {
	probe := h
	if len(h) > 1 && h[0] == '*' {
		probe = "x" + h[1:]
	}
	for _, o := range b.listeners {
		if o == l || o.spec.Port != l.spec.Port || o.spec.Protocol != gwapiv1.TLSProtocolType || !o.programmed() {
			continue
		}
		oh := o.hostname()
		if oh == "" || hostSpecificity(oh) <= hostSpecificity(l.hostname()) {
			continue
		}
		if oh == h || (h != anyHost && hostMatches(oh, probe)) {
			return true
		}
	}
	return false
}
