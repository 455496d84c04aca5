package translate

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// proxyBuilder accumulates the configuration of one Gateway's proxy.
type proxyBuilder struct {
	x         *index
	gw        *gwapiv1.Gateway
	listeners []*listenerState
	tables    map[string]*routeTable
	clusters  map[string]*ir.Cluster
	// streams holds the TLS, TCP and UDP routes attached per listener.
	streams map[*listenerState][]streamEntry
	// gwTLS is the Gateway's resolved spec.tls.backend (on first use).
	gwTLS *gatewayTLS
	// track, when set, records what the route being programmed adds (its
	// virtual hosts and clusters), for the Gateway's memo (memo.go).
	track *routeMemo
	// clusterRefs counts the routes' additions of each cluster; clash is
	// set when two routes give one cluster name different clusters.
	clusterRefs map[string]int
	clash       bool
}

// routeTable is one route configuration being built: its virtual hosts by
// hostname, and the listeners that share it.
type routeTable struct {
	name   string
	peers  []*listenerState
	vhosts map[string]*vhostState
	// hostAuthz is the authorization of the virtual hosts each listener
	// owns, for listeners with policies of their own on a shared table
	// (authz.go).
	hostAuthz map[*listenerState]*ir.Authorization
	// built are the virtual hosts of the last build by hostname, before
	// hosts of identical routes are merged; rc is that build's result.
	built map[string]*ir.VirtualHost
	rc    *ir.RouteConfig
	// merge groups the hosts by merge key, made with the table (build).
	merge *mergeIndex
}

type vhostState struct {
	// entries are in programming order until the table is built, then in
	// precedence order (sorted stably, so equal entries keep that order).
	entries []taggedEntry
	sorted  bool
	seen    map[attachKey]bool
}

// taggedEntry is a route entry with the listener it came through.
type taggedEntry struct {
	e  *routeEntry
	l  *listenerState
	id routeID
}

type attachKey struct {
	id routeID
	l  *listenerState
}

func (t *routeTable) vhost(h string) *vhostState {
	vh := t.vhosts[h]
	if vh == nil {
		vh = &vhostState{seen: map[attachKey]bool{}, sorted: t.built != nil} // sorted once the table is built
		t.vhosts[h] = vh
	}
	return vh
}

func newProxyBuilder(x *index, gw *gwapiv1.Gateway, ls []*listenerState) *proxyBuilder {
	b := &proxyBuilder{x: x, gw: gw, listeners: ls, tables: map[string]*routeTable{}, clusters: map[string]*ir.Cluster{},
		clusterRefs: map[string]int{}}
	for _, l := range ls {
		if !l.programmed() || isStreamProtocol(l.spec.Protocol) {
			continue
		}
		name := b.routeConfigName(l)
		t := b.tables[name]
		if t == nil {
			t = &routeTable{name: name, vhosts: map[string]*vhostState{}}
			b.tables[name] = t
		}
		t.peers = append(t.peers, l)
		if h := l.hostname(); h != "" {
			t.vhost(h) // a listener's own hostname always has a virtual host (isolation)
		}
	}
	return b
}

// listenerName is the ir name of the Envoy listener of a port.
func (b *proxyBuilder) listenerName(port gwapiv1.PortNumber) string {
	return b.gw.Namespace + "/" + b.gw.Name + "/" + strconv.Itoa(int(port))
}

// routeConfigName is one route table per HTTP port, one per HTTPS listener.
func (b *proxyBuilder) routeConfigName(l *listenerState) string {
	name := b.listenerName(l.spec.Port)
	if l.spec.Protocol == gwapiv1.HTTPSProtocolType {
		name += "/" + l.sectionID()
	}
	return name
}

// addHTTPEntries puts a route's entries on the virtual hosts of hostnames
// in the route table of listener l (once per route, listener and host).
func (b *proxyBuilder) addHTTPEntries(l *listenerState, id routeID, hostnames []string, entries []*routeEntry) {
	t := b.tables[b.routeConfigName(l)]
	if t == nil {
		return
	}
	k := attachKey{id: id, l: l}
	for _, h := range hostnames {
		vh := t.vhost(h)
		if vh.seen[k] {
			continue
		}
		vh.seen[k] = true
		vh.insert(id, l, entries)
		if b.track != nil {
			b.track.hosts = append(b.track.hosts, tableHost{t: t, h: h, l: l})
		}
	}
}

// insert puts a route's entries in place: appended while the builder
// programs every route (build sorts them once), at their place by
// precedence once the entries are sorted (a memo's update).
func (vh *vhostState) insert(id routeID, l *listenerState, entries []*routeEntry) {
	for _, e := range entries {
		te := taggedEntry{e: e, l: l, id: id}
		if !vh.sorted {
			vh.entries = append(vh.entries, te)
			continue
		}
		i, _ := slices.BinarySearchFunc(vh.entries, e, func(x taggedEntry, e *routeEntry) int {
			if compareEntries(x.e, e) <= 0 {
				return -1 // after the equal ones, as a stable sort keeps them
			}
			return 1
		})
		vh.entries = slices.Insert(vh.entries, i, te)
	}
}

func (b *proxyBuilder) addClusters(cs []*ir.Cluster) {
	for _, c := range cs {
		if have := b.clusters[c.Name]; have != nil && have != c {
			b.clash = true
		}
		b.clusters[c.Name] = c
		b.clusterRefs[c.Name]++
		if b.track != nil {
			b.track.clusters = append(b.track.clusters, c.Name)
		}
	}
}

// build emits the proxy: every slice sorted as xds/ir requires.
func (b *proxyBuilder) build() *ir.Proxy {
	p := &ir.Proxy{Name: ProxyName(b.gw.Namespace, b.gw.Name)}
	b.authorizeHosts()
	p.Listeners = b.buildListeners()
	names := make([]string, 0, len(b.tables))
	for n := range b.tables {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p.RouteConfigs = append(p.RouteConfigs, b.tables[n].build())
	}
	cnames := make([]string, 0, len(b.clusters))
	for n := range b.clusters {
		cnames = append(cnames, n)
	}
	slices.Sort(cnames)
	clusters := make([]*ir.Cluster, 0, len(cnames))
	for _, n := range cnames {
		clusters = append(clusters, b.finishCluster(b.clusters[n]))
	}
	p.Clusters = plist.Of(clusters...)
	var secrets []string
	for _, l := range b.listeners {
		if l.programmed() {
			for _, s := range l.certSecrets {
				if !contains(secrets, s) {
					secrets = append(secrets, s)
				}
			}
		}
	}
	slices.Sort(secrets)
	for _, s := range secrets {
		if sec := b.x.irSecret(s); sec != nil {
			p.Secrets = append(p.Secrets, sec)
		}
	}
	b.addReferencedSecrets(p)
	b.addMisdirectedHosts(p)
	return p
}

func (t *routeTable) build() *ir.RouteConfig {
	rc := &ir.RouteConfig{Name: t.name, IgnorePortInHost: true}
	hosts := make([]string, 0, len(t.vhosts))
	for h, vs := range t.vhosts {
		hosts = append(hosts, h)
		slices.SortStableFunc(vs.entries, func(a, b taggedEntry) int { return compareEntries(a.e, b.e) })
		vs.sorted = true
	}
	slices.Sort(hosts)
	t.built = make(map[string]*ir.VirtualHost, len(hosts))
	vhs := make([]*ir.VirtualHost, 0, len(hosts))
	for _, h := range hosts {
		vh := t.buildHost(h)
		t.built[h] = vh
		vhs = append(vhs, vh)
	}
	rc.VirtualHosts = plist.Of(mergeVirtualHosts(vhs)...)
	t.rc = rc
	// The index a later patch needs, made with the table rather than at
	// the first change: the memo's state is then complete once the first
	// translation is, and the first change costs what the others do.
	t.merge = newMergeIndex(t.built)
	return rc
}

// buildHost makes the virtual host of hostname h from the sorted entries.
// Rules of routes with the most specific matching hostname come first;
// then those of wildcard hosts that cover h, narrowest first. Only routes
// that came through the listener owning h count, each from its most
// specific host only.
func (t *routeTable) buildHost(h string) *ir.VirtualHost {
	owner := t.owner(h)
	vh := &ir.VirtualHost{Name: h, Domains: []string{h}, Authorization: t.hostAuthz[owner]}
	var covers []*vhostState
	n := 0
	for _, cover := range coveringHosts(h) {
		if vs := t.vhosts[cover]; vs != nil && len(vs.entries) > 0 {
			covers = append(covers, vs)
			n += len(vs.entries)
		}
	}
	var done map[routeID]bool // routes taken from a more specific host
	for i, vs := range covers {
		for _, te := range vs.entries {
			if te.l == owner && !done[te.id] {
				if vh.Routes == nil {
					vh.Routes = make([]*ir.Route, 0, n)
				}
				vh.Routes = append(vh.Routes, te.e.route)
			}
		}
		if i == len(covers)-1 {
			break
		}
		if done == nil {
			done = map[routeID]bool{}
		}
		for _, te := range vs.entries {
			if te.l == owner {
				done[te.id] = true
			}
		}
	}
	return vh
}

// owner is the listener of the table whose hostname matches h most
// specifically: requests for h belong to it alone (listener isolation).
func (t *routeTable) owner(h string) *listenerState {
	probe := h
	if strings.HasPrefix(h, "*.") {
		probe = "x" + h[1:]
	}
	var best *listenerState
	bestRank := -1
	for _, l := range t.peers {
		lh := l.hostname()
		ok := lh == "" || lh == h || (h != anyHost && hostMatches(lh, probe))
		if ok && hostSpecificity(lh) > bestRank {
			best, bestRank = l, hostSpecificity(lh)
		}
	}
	return best
}

// coveringHosts lists h and the wildcard hosts that match it, from the most
// to the least specific: "a.b.c" -> a.b.c, *.b.c, *.c, *.
func coveringHosts(h string) []string {
	out := []string{h}
	if h == anyHost {
		return out
	}
	rest := strings.TrimPrefix(h, "*.")
	for {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		out = append(out, "*."+rest)
	}
	return append(out, anyHost)
}

// buildListeners makes one Envoy listener per port of programmed listeners.
func (b *proxyBuilder) buildListeners() []*ir.Listener {
	byPort := map[listenerSocket]*ir.Listener{}
	var ports []listenerSocket
	httpPeers := map[*ir.Listener][]string{}       // the listeners of a shared HTTP chain
	owners := map[*ir.FilterChain]*listenerState{} // the listener of every other chain
	for _, l := range b.listeners {
		if !l.programmed() {
			continue
		}
		k := socketOf(l)
		il := byPort[k]
		if il == nil {
			il = &ir.Listener{Name: b.socketListenerName(k), Address: "0.0.0.0", Port: uint32(l.spec.Port), Protocol: ir.Protocol(l.spec.Protocol)}
			byPort[k] = il
			ports = append(ports, k)
		}
		if isStreamProtocol(l.spec.Protocol) {
			before := len(il.FilterChains)
			b.addStreamConfig(il, l)
			for _, fc := range il.FilterChains[before:] {
				owners[fc] = l
			}
			continue
		}
		rcName := b.routeConfigName(l)
		if l.spec.Protocol == gwapiv1.HTTPProtocolType {
			if len(il.FilterChains) == 0 {
				il.FilterChains = []*ir.FilterChain{{Name: rcName, HTTP: &ir.HTTPConnectionManager{RouteConfigName: rcName, StatPrefix: rcName}}}
			}
			httpPeers[il] = append(httpPeers[il], sectionOf(l))
			continue
		}
		fc := &ir.FilterChain{
			Name: rcName,
			TLS: &ir.DownstreamTLS{CertificateSecrets: slices.Clone(l.certSecrets), ALPN: []string{"h2", "http/1.1"},
				ValidationSecret: l.clientCA, AllowInsecureFallback: l.clientCAInsecure},
			HTTP: &ir.HTTPConnectionManager{RouteConfigName: rcName, StatPrefix: rcName, HTTP2: true},
		}
		if h := l.hostname(); h != "" {
			fc.ServerNames = []string{h}
			fc.HTTP.DetectMisdirected = true
		}
		il.FilterChains = append(il.FilterChains, fc)
		owners[fc] = l
	}
	slices.SortFunc(ports, compareSockets)
	out := make([]*ir.Listener, 0, len(ports))
	for _, p := range ports {
		il := byPort[p]
		if len(il.FilterChains) == 0 && il.UDP == nil {
			continue // a stream listener without routes binds nothing
		}
		slices.SortStableFunc(il.FilterChains, compareChains)
		out = append(out, il)
	}
	b.authorizeChains(out, httpPeers, owners)
	return out
}

// compareChains puts the most specific server names first and the default
// chain (no server names) last.
func compareChains(a, b *ir.FilterChain) int {
	ha, hb := "", ""
	if len(a.ServerNames) > 0 {
		ha = a.ServerNames[0]
	}
	if len(b.ServerNames) > 0 {
		hb = b.ServerNames[0]
	}
	return cmp.Or(cmp.Compare(hostSpecificity(hb), hostSpecificity(ha)), cmp.Compare(ha, hb), cmp.Compare(a.Name, b.Name))
}
