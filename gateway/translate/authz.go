package translate

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/authz"
	"github.com/gantryproxy/gantry/xds/ir"
)

// policies are the Set's AuthorizationPolicies, indexed on first use. At
// the edge no source has a mesh identity, so no mesh option applies.
func (x *index) policies() *authz.Policies {
	if x.authz == nil {
		x.authz = authz.New(x.set, authz.Options{})
	}
	return x.authz
}

// sectionOf is the name a sectionName policy uses for l: a listener of the
// Gateway itself; "" for a ListenerSet's, which only Gateway-wide policies
// reach.
func sectionOf(l *listenerState) string {
	if l.set != nil {
		return ""
	}
	return string(l.spec.Name)
}

// authorizeChains sets the authorization of each chain of the listeners: an
// HTTP port's chain (shared by its HTTP listeners, httpPeers), an HTTPS
// listener's chain, and the chains of stream listeners (TCP: RBAC network
// filters).
func (b *proxyBuilder) authorizeChains(listeners []*ir.Listener, httpPeers map[*ir.Listener][]string, owners map[*ir.FilterChain]*listenerState) {
	p := b.x.policies()
	if p.Empty() {
		return
	}
	for _, il := range listeners {
		for _, fc := range il.FilterChains {
			c := authz.GatewayChain{Namespace: b.gw.Namespace, Gateway: b.gw.Name, HTTP: fc.HTTP != nil}
			if t := fc.TLS; t != nil {
				c.ClientCertificate = t.ValidationSecret != "" && !t.AllowInsecureFallback
			}
			switch {
			case owners[fc] != nil:
				c.Listeners = []string{sectionOf(owners[fc])}
			case len(httpPeers[il]) > 0:
				c.Listeners = httpPeers[il]
			default:
				continue
			}
			fc.Authorization = p.Gateway(c)
			if fc.Authorization != nil || fc.HTTP == nil {
				continue
			}
			if t := b.tables[fc.HTTP.RouteConfigName]; t != nil && len(t.hostAuthz) > 0 {
				// The chain's RBAC filters carry its hosts' authorization.
				fc.Authorization = &ir.Authorization{}
			}
		}
	}
}

// authorizeHosts computes, for every HTTP listener that shares its port's
// chain with other listeners and is named by a sectionName policy, the
// authorization of the virtual hosts it owns: its own policies with the
// chain's, in place of the chain's. Listener B's hosts never see A's.
func (b *proxyBuilder) authorizeHosts() {
	p := b.x.policies()
	if p.Empty() {
		return
	}
	for _, t := range b.tables {
		if len(t.peers) < 2 {
			continue
		}
		for _, l := range t.peers {
			if l.spec.Protocol != gwapiv1.HTTPProtocolType || sectionOf(l) == "" {
				continue
			}
			c := authz.GatewayChain{Namespace: b.gw.Namespace, Gateway: b.gw.Name, HTTP: true}
			if a := p.GatewayListener(c, sectionOf(l)); a != nil {
				if t.hostAuthz == nil {
					t.hostAuthz = map[*listenerState]*ir.Authorization{}
				}
				t.hostAuthz[l] = a
			}
		}
	}
}
