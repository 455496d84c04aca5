package translate

import (
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// isolatedHostnames drops, for an HTTPS listener, the hostnames that a more
// specific HTTPS listener of the same port serves: each HTTPS listener has
// its own route table (chosen by SNI), so without this a request for
// www.example.com that reached the "*.example.com" or the catch-all chain
// (no SNI, or a coalesced HTTP/2 connection) would be routed by the wrong
// listener's routes. HTTP listeners share one table per port and are
// isolated when the table is built.
func (b *proxyBuilder) isolatedHostnames(l *listenerState, hostnames []string) []string {
	if l.spec.Protocol != gwapiv1.HTTPSProtocolType {
		return hostnames
	}
	out := hostnames[:0:0]
	for _, h := range hostnames {
		if b.httpsOwner(l.spec.Port, h) == l {
			out = append(out, h)
		}
	}
	return out
}

// httpsOwner is the programmed HTTPS listener of port whose hostname
// matches h most specifically.
func (b *proxyBuilder) httpsOwner(port gwapiv1.PortNumber, h string) *listenerState {
	probe := h
	if strings.HasPrefix(h, "*.") {
		probe = "x" + h[1:]
	}
	var best *listenerState
	bestRank := -1
	for _, p := range b.listeners {
		if p.spec.Port != port || p.spec.Protocol != gwapiv1.HTTPSProtocolType || !p.programmed() {
			continue
		}
		lh := p.hostname()
		ok := lh == "" || lh == h || (h != anyHost && hostMatches(lh, probe))
		if ok && hostSpecificity(lh) > bestRank {
			best, bestRank = p, hostSpecificity(lh)
		}
	}
	return best
}
