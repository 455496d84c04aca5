package translate

import (
	"cmp"
	"slices"
	"strings"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// apply changes the Gateway's pieces by the plan: the changed routes'
// old additions removed, their new ones programmed, then the virtual
// hosts, route tables and clusters they reached made again. It returns
// the Gateway's new proxy and status.
func (p *gatewayPlan) apply(t *translator) (*ir.Proxy, status.Gateway) {
	g := p.g
	dirty := map[*routeTable]map[string]bool{}
	mark := func(th tableHost) {
		if dirty[th.t] == nil {
			dirty[th.t] = map[string]bool{}
		}
		dirty[th.t][th.h] = true
	}
	names := map[string]bool{} // clusters whose references changed
	for _, id := range p.changed {
		if rm := g.routes[id]; rm != nil {
			g.remove(id, rm, mark)
			for _, n := range rm.clusters {
				names[n] = true
			}
		}
	}
	for _, id := range p.changed {
		pend, ok := p.pending[id]
		if !ok {
			continue
		}
		g.noteLive(p.routes[id], pend)
		for _, pa := range pend {
			g.programParent(pa)
			p.parents[id] = append(p.parents[id], routeParent{route: pa.route, index: pa.index, status: t.parentStatus(pa.route, pa.ref, pa.at, pa.out)})
		}
		if rm := g.routes[id]; rm != nil {
			for _, th := range rm.hosts {
				mark(th)
			}
			for _, n := range rm.clusters {
				names[n] = true
			}
		}
	}
	px := *g.proxy
	if len(dirty) > 0 {
		px.RouteConfigs = slices.Clone(px.RouteConfigs)
		for rt, hosts := range dirty {
			rc := rt.rebuild(hosts)
			i, found := slices.BinarySearchFunc(px.RouteConfigs, rc.Name, func(c *ir.RouteConfig, n string) int { return cmp.Compare(c.Name, n) })
			if found {
				px.RouteConfigs[i] = rc
			}
		}
	}
	if len(names) > 0 {
		px.Clusters = g.clusterList(px.Clusters, names)
	}
	g.proxy = &px
	st := g.gatewayStatus()
	listenerSetStatuses(g.gw, &st, g.sets)
	return g.proxy, st
}

// remove takes out what route id added: its entries in virtual hosts (each
// marked), its cluster references, its listener attachments.
func (g *gatewayMemo) remove(id routeID, rm *routeMemo, mark func(tableHost)) {
	for _, th := range rm.hosts {
		vh := th.t.vhosts[th.h]
		if vh == nil {
			continue
		}
		delete(vh.seen, attachKey{id: id, l: th.l})
		vh.entries = slices.DeleteFunc(vh.entries, func(te taggedEntry) bool { return te.id == id })
		mark(th)
	}
	for _, n := range rm.clusters {
		if g.b.clusterRefs[n]--; g.b.clusterRefs[n] <= 0 {
			delete(g.b.clusterRefs, n)
			delete(g.b.clusters, n)
		}
	}
	for _, l := range rm.listeners {
		delete(l.attached, id)
	}
	if rm.live {
		g.live[rm.kind]--
	}
	delete(g.routes, id)
}

// clusterList is prev (sorted by name) with the clusters of names no
// longer referenced removed and the new ones inserted; the others keep
// their pointers. prev is returned itself when nothing changed.
func (g *gatewayMemo) clusterList(prev plist.List[*ir.Cluster], names map[string]bool) plist.List[*ir.Cluster] {
	out := prev
	for n := range names {
		i, found := plist.BinarySearchFunc(out, n, func(c *ir.Cluster, n string) int { return cmp.Compare(c.Name, n) })
		c := g.b.clusters[n]
		if c != nil {
			c = g.b.finishCluster(c)
		}
		switch {
		case found && out.At(i) == c || !found && c == nil:
		case c == nil:
			out = out.Splice(i, i+1)
		case found:
			out = out.Splice(i, i+1, c)
		default:
			out = out.Splice(i, i, c)
		}
	}
	return out
}

// rebuild makes the virtual hosts of hosts again (and every host a
// wildcard among them covers), drops those left with no route and no
// listener, and returns the table's new route configuration.
func (t *routeTable) rebuild(hosts map[string]bool) *ir.RouteConfig {
	for h := range hosts {
		if !strings.HasPrefix(h, "*") {
			continue
		}
		for other := range t.vhosts {
			if !hosts[other] && slices.Contains(coveringHosts(other), h) {
				hosts[other] = true
			}
		}
	}
	changed := make(map[string]*ir.VirtualHost, len(hosts))
	for h := range hosts {
		vs := t.vhosts[h]
		if vs != nil && len(vs.seen) == 0 && !t.listenerHost(h) {
			delete(t.vhosts, h)
			vs = nil
		}
		if vs != nil {
			changed[h] = t.buildHost(h)
		} else {
			changed[h] = nil
		}
	}
	return t.patch(changed)
}

// listenerHost reports whether h is the hostname of a listener of the
// table (which always has its virtual host).
func (t *routeTable) listenerHost(h string) bool {
	for _, l := range t.peers {
		if l.hostname() == h {
			return true
		}
	}
	return false
}
