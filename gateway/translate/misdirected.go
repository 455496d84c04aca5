package translate

import (
	"cmp"
	"iter"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// misdirectedStatus is the answer to a request whose Host belongs to another
// HTTPS listener than the one its TLS connection (SNI) selected.
const misdirectedStatus = 421

// addMisdirectedHosts gives each HTTPS listener with no hostname, or a
// wildcard one, a 421 virtual host for every more specific hostname of a
// sibling HTTPS listener on the same port: such a request reached this
// listener's chain by SNI (or connection reuse) but is meant for the
// sibling, whose certificate and routes apply. Listeners with an exact
// hostname get the same answer from the data plane for any other Host.
func (b *proxyBuilder) addMisdirectedHosts(p *ir.Proxy) {
	byName := map[string]*ir.RouteConfig{}
	for _, rc := range p.RouteConfigs {
		byName[rc.Name] = rc
	}
	for _, l := range b.listeners {
		if l.spec.Protocol != gwapiv1.HTTPSProtocolType || !l.programmed() || hostSpecificity(l.hostname()) >= hostSpecificity("x") {
			continue
		}
		rc := byName[b.routeConfigName(l)]
		if rc == nil {
			continue
		}
		var added []*ir.VirtualHost
		for _, o := range b.listeners {
			h := o.hostname()
			if o == l || o.spec.Port != l.spec.Port || o.spec.Protocol != gwapiv1.HTTPSProtocolType || !o.programmed() || h == "" {
				continue
			}
			if hostSpecificity(h) <= hostSpecificity(l.hostname()) || !coversHost(l.hostname(), h) || hasVirtualHost(rc.VirtualHosts.Values(), h) || hasVirtualHost(slices.Values(added), h) {
				continue
			}
			added = append(added, &ir.VirtualHost{Name: h, Domains: []string{h}, Routes: []*ir.Route{{
				Name:           rc.Name + "/misdirected/" + h,
				Match:          ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"},
				DirectResponse: &ir.DirectResponse{Status: misdirectedStatus},
			}}})
		}
		if len(added) > 0 {
			vhs := rc.VirtualHosts.AppendTo(nil)
			vhs = append(vhs, added...)
			slices.SortFunc(vhs, func(a, b *ir.VirtualHost) int { return cmp.Compare(a.Name, b.Name) })
			rc.VirtualHosts = plist.Of(vhs...)
		}
	}
}

// coversHost reports whether listener hostname lh (empty: any) matches the
// hostname h (exact or wildcard).
func coversHost(lh, h string) bool {
	if lh == "" {
		return true
	}
	probe := h
	if len(h) > 1 && h[0] == '*' {
		probe = "x" + h[1:]
	}
	return hostMatches(lh, probe)
}

func hasVirtualHost(vhs iter.Seq[*ir.VirtualHost], h string) bool {
	for vh := range vhs {
		if slices.Contains(vh.Domains, h) {
			return true
		}
	}
	return false
}
