package translate

import (
	"cmp"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	gwtranslate "github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// portTable is the configuration of one Service port for one kind of
// client: its api_listener, route table and the clusters the table uses.
// Tables are immutable once built and shared between groups.
type portTable struct {
	listener *ir.Listener
	config   *ir.RouteConfig
	clusters []*ir.Cluster
}

// tableKey caches producer tables: clients in the Service's namespace also
// reach it by its short name, so they get their own variant.
type tableKey struct {
	portKey
	local bool
}

// table returns the route table of a Service port as clients of namespace
// clientNS see it: that namespace's consumer routes if any name the port,
// else the producer routes, else the default route to the Service itself.
// consumer is set when the table holds clientNS's own consumer routes.
func (t *translator) table(clientNS string, svc *corev1.Service, port int32) (pt *portTable, consumer bool) {
	k := portKey{ns: svc.Namespace, name: svc.Name, port: port}
	local := clientNS == svc.Namespace
	var own, producer []attachedRoute
	for _, r := range t.attached[k] {
		switch {
		case !r.consumer(svc.Namespace):
			producer = append(producer, r)
		case r.namespace == clientNS:
			own = append(own, r)
		}
	}
	if len(own) > 0 {
		return t.buildTable(svc, port, local, own), true
	}
	tk := tableKey{portKey: k, local: local}
	if pt := t.tables[tk]; pt != nil {
		return pt, false
	}
	pt = t.buildTable(svc, port, local, producer)
	t.tables[tk] = pt
	return pt, false
}

// buildTable makes the table of one Service port from the routes that apply
// (in precedence order), or the default route when none does.
func (t *translator) buildTable(svc *corev1.Service, port int32, local bool, routes []attachedRoute) *portTable {
	name := RouteConfigName(svc.Namespace, svc.Name, port)
	vh := &ir.VirtualHost{Name: name, Domains: domains(svc, port, local)}
	clusters := map[string]*ir.Cluster{}
	var entries []gwtranslate.RouteEntry
	for _, r := range routes {
		entries = append(entries, r.compiled.Entries...)
		for _, c := range r.compiled.Clusters {
			clusters[c.Name] = c
		}
	}
	gwtranslate.SortRouteEntries(entries)
	for _, e := range entries {
		vh.Routes = append(vh.Routes, e.Route())
	}
	if len(routes) == 0 {
		if c := t.routes.ServiceCluster(svc.Namespace, svc.Name, port); c != nil {
			clusters[c.Name] = c
			vh.Routes = []*ir.Route{defaultRoute(svc, port, c.Name)}
		}
	}
	pt := &portTable{
		listener: &ir.Listener{
			Name: name, Protocol: ir.ProtocolHTTP, API: true,
			FilterChains: []*ir.FilterChain{{Name: name, HTTP: &ir.HTTPConnectionManager{RouteConfigName: name, StatPrefix: name}}},
		},
		config: &ir.RouteConfig{Name: name, VirtualHosts: plist.Of(vh)},
	}
	if sp, ok := servicePortSpec(svc, port); ok {
		pt.listener.Outbound = t.outbound(svc, sp, clusters)
	}
	for _, c := range clusters {
		if !c.OriginalDestination { // a headless capture's, already secured
			c = t.secured(t.withProtocol(c))
		}
		pt.clusters = append(pt.clusters, c)
	}
	slices.SortFunc(pt.clusters, func(a, b *ir.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	return pt
}

// defaultRoute sends all traffic of a Service port to its own endpoints.
func defaultRoute(svc *corev1.Service, port int32, cluster string) *ir.Route {
	return &ir.Route{
		Name:    svc.Namespace + "/" + svc.Name + "/" + strconv.Itoa(int(port)) + "/default",
		Match:   ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"},
		Forward: &ir.ForwardAction{Backends: []ir.WeightedCluster{{Cluster: cluster, Weight: 1}}},
		Metadata: map[string]string{
			"kind": string(kindService), "namespace": svc.Namespace, "name": svc.Name,
		},
	}
}

// domains are the names a client uses for a Service port, each bare and
// with ":<port>": "<svc>" (clients of the same namespace only), "<svc>.<ns>",
// "<svc>.<ns>.svc", "<svc>.<ns>.svc.cluster.local", and the cluster IPs.
func domains(svc *corev1.Service, port int32, local bool) []string {
	var names []string
	if local {
		names = append(names, svc.Name)
	}
	names = append(names, svc.Name+"."+svc.Namespace, svc.Name+"."+svc.Namespace+".svc", HostName(svc.Namespace, svc.Name))
	p := strconv.Itoa(int(port))
	var out []string
	for _, n := range names {
		out = append(out, n, n+":"+p)
	}
	for _, ip := range clusterIPs(svc) {
		out = append(out, ip, net.JoinHostPort(ip, p))
	}
	return out
}

// clusterIPs are the Service's virtual IPs (none for headless Services).
func clusterIPs(svc *corev1.Service) []string {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []string
	for _, ip := range ips {
		if ip != corev1.ClusterIPNone && net.ParseIP(ip) != nil && !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	return out
}
