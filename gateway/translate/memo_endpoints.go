package translate

import (
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Endpoints returns the memo for set, a change of the memo's Set in
// EndpointSlices only, whose proxies the endpoint refresh made again
// (fresh, every proxy by name, as RefreshServiceEndpoints gives them): the
// Gateways take their refreshed proxies and clusters, their indexes the new
// EndpointSlices (the clusters they cache are the refreshed ones, or made
// again on use). A Gateway that is translated whole anyway is dropped from
// the memo. nil when other inputs changed: there is no memo then.
func (m *Memo) Endpoints(set *resource.Set, fresh []*ir.Proxy) *Memo {
	if m == nil || !sameInputs(m.set, set, nil, resource.KindEndpointSlice) {
		return nil
	}
	byName := make(map[string]*ir.Proxy, len(fresh))
	for _, px := range fresh {
		byName[px.Name] = px
	}
	// current is, per index, every cluster of its Gateways by name; nil
	// where two Gateways hold different ones.
	current := map[*index]map[string]*ir.Cluster{}
	for k, g := range m.gateways {
		if g == nil {
			continue
		}
		if !g.incremental() {
			delete(m.gateways, k)
			m.complete = false
			continue
		}
		if px := byName[g.proxy.Name]; px != nil && px != g.proxy {
			g.proxy = px
			for _, c := range px.Clusters {
				if g.b.clusters[c.Name] != nil {
					g.b.clusters[c.Name] = c
				}
			}
		}
		cur := current[g.x]
		if cur == nil {
			cur = map[string]*ir.Cluster{}
			current[g.x] = cur
		}
		for n, c := range g.b.clusters {
			if have, ok := cur[n]; ok && have != c {
				c = nil
			}
			cur[n] = c
		}
	}
	for x, cur := range current {
		x.set = set
		x.slices = indexSlices(set)
		x.endpointsCache = map[string][]ir.Endpoint{}
		kept := map[servicePortKey]*ir.Cluster{}
		for k, c := range x.clusterCache {
			if c := cur[c.Name]; c != nil {
				kept[k] = c
			}
		}
		x.clusterCache = kept
	}
	m.set = set
	return m
}
