package translate

import (
	"iter"
	"reflect"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Endpoints records an endpoint-only change of the memo's Set (set, whose
// proxies the endpoint refresh made again: fresh, by name, as
// RefreshServiceEndpoints gives them) and returns the memo. Nothing is
// recomputed here, so an endpoint change costs the memo nothing: the next
// Routes or Adopt first applies every endpoint change recorded since
// (settle), once, with the latest Set and proxies.
func (m *Memo) Endpoints(set *resource.Set, fresh []*ir.Proxy) *Memo {
	if m == nil {
		return nil
	}
	if m.pending == nil {
		m.pending = &pendingEndpoints{proxies: map[string]*ir.Proxy{}}
	}
	m.pending.set = set
	for _, px := range fresh {
		m.pending.proxies[px.Name] = px
	}
	return m
}

// pendingEndpoints are the endpoint changes recorded since the memo was
// last used: the latest Set and the latest refreshed proxy of each name.
type pendingEndpoints struct {
	set     *resource.Set
	proxies map[string]*ir.Proxy
}

// settle applies the recorded endpoint changes. When other inputs changed
// too, the memo keeps no Gateway (and stands for the latest Set), so the
// next Routes declines and Adopt starts again from its sub-translation.
func (m *Memo) settle() {
	if m == nil || m.pending == nil {
		return
	}
	p := m.pending
	m.pending = nil
	fresh := make([]*ir.Proxy, 0, len(p.proxies))
	for _, px := range p.proxies {
		fresh = append(fresh, px)
	}
	if !m.applyEndpoints(p.set, fresh) {
		m.set, m.gateways, m.complete = p.set, map[nsName]*gatewayMemo{}, false
	}
}

// applyEndpoints makes the memo stand for set, a change of its Set in
// EndpointSlices only: the Gateways take their refreshed proxies and
// clusters, their indexes the new EndpointSlices (the clusters they cache
// are the refreshed ones, or made again on use). A Gateway that is
// translated whole anyway is dropped from the memo. false when other
// inputs changed.
func (m *Memo) applyEndpoints(set *resource.Set, fresh []*ir.Proxy) bool {
	if !m.sameInputs(set, nil, resource.KindEndpointSlice) {
		return false
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
			for c := range changedClusters(g.proxy.Clusters, px.Clusters) {
				if g.b.clusters[c.Name] != nil {
					g.b.clusters[c.Name] = c
				}
			}
			g.proxy = px
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
			if fresh := cur[c.Name]; fresh != nil && sameButEndpoints(c, fresh) {
				kept[k] = fresh
			}
		}
		x.clusterCache = kept
	}
	m.set = set
	return true
}

// sameButEndpoints reports whether a and b differ at most in their
// endpoints. A Gateway's cluster of a name is not always the index's: a
// GRPCRoute's backend is an HTTP/2 copy of the Service port's cluster, and
// the index must keep the port's own.
func sameButEndpoints(a, b *ir.Cluster) bool {
	x, y := *a, *b
	x.Endpoints, y.Endpoints = nil, nil
	return reflect.DeepEqual(x, y)
}

// changedClusters yields the clusters of next that are not those of prev
// at their position: an endpoint refresh keeps positions, so it costs the
// chunks the refresh reached; lists of different lengths yield every
// cluster of next.
func changedClusters(prev, next plist.List[*ir.Cluster]) iter.Seq[*ir.Cluster] {
	return func(yield func(*ir.Cluster) bool) {
		if prev.Len() != next.Len() {
			for c := range next.Values() {
				if !yield(c) {
					return
				}
			}
			return
		}
		for _, c := range plist.Differ(prev, next) {
			if !yield(c) {
				return
			}
		}
	}
}
