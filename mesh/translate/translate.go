// Package translate turns a resource.Set into mesh configuration (xds/ir):
// for every Service, a route table that proxyless gRPC clients and sidecars
// reach by the Service's names, overridden by HTTPRoutes and GRPCRoutes whose
// parentRefs name the Service (the Gateway API "GAMMA" model).
//
// Clients are grouped by namespace: every client of namespace N shares the
// proxy "mesh/N". A route in the Service's own namespace (a producer route)
// applies to every client; a route in another namespace (a consumer route)
// applies only to clients of its namespace, and there replaces the producer
// routes of the Service ports it names.
//
// Translation is a pure function: no clients, goroutines, clock, randomness
// or logging. The same Set, in any order, gives byte-identical output, and
// the Set is never mutated. Rules, matches, filters and backends are compiled
// by the edge translator, so a route means the same on both sides.
package translate

import (
	"cmp"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/gantryproxy/gantry/gateway/authz"
	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	gwtranslate "github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// GroupPrefix starts the node group (node.cluster) of mesh clients.
const GroupPrefix = "mesh/"

// ClusterDomain is the DNS suffix of Service names.
const ClusterDomain = "cluster.local"

// Options tune a translation.
type Options struct {
	// ControllerName is written into the routes' parent statuses; empty
	// means the edge's default controller name.
	ControllerName string
	// Namespaces are client namespaces to build a group for even when the
	// Set holds nothing in them (clients connected from there).
	Namespaces []string
	// OnlyNamespaces builds groups for Namespaces alone, not for every
	// namespace the Set mentions (the control loop: only namespaces with a
	// connected client get a group). Route statuses are the same either way.
	OnlyNamespaces bool
	// Telemetry is the mesh-wide access log and tracing of every sidecar
	// (`gantry serve --mesh-telemetry`), already checked; zero is off.
	Telemetry params.Telemetry
	// MTLS, when set, secures mesh traffic: clusters originate mTLS and
	// gRPC servers' inbound listeners require a client certificate of the
	// mesh (see mtls.go).
	MTLS *MTLS
	// OutboundPolicy is what sidecars do with connections to destinations
	// that no Service names (empty: ir.OutboundAllowAny); a Namespace's
	// OutboundPolicyKey annotation overrides it (sidecar.go).
	OutboundPolicy ir.OutboundPolicy
}

// Result is the output of one translation.
type Result struct {
	// Proxies holds one entry per client namespace, sorted by Name
	// ("mesh/<namespace>").
	Proxies []*ir.Proxy `json:"proxies"`
	// Status holds the mesh parent entries of every route with a Service
	// parent.
	Status *status.Report `json:"status"`
}

// ProxyName is the node group of the mesh clients of a namespace.
func ProxyName(namespace string) string { return GroupPrefix + namespace }

// HostName is the fully qualified name of a Service.
func HostName(namespace, service string) string {
	return service + "." + namespace + ".svc." + ClusterDomain
}

// RouteConfigName names the route table (and the api_listener) of one
// Service port: "<svc>.<ns>.svc.cluster.local:<port>", the target a gRPC
// client dials as xds:///<name>.
func RouteConfigName(namespace, service string, port int32) string {
	return HostName(namespace, service) + ":" + strconv.Itoa(int(port))
}

// Translate computes the mesh configuration and route status for set.
func Translate(set *resource.Set, opts Options) *Result {
	if set == nil {
		set = &resource.Set{}
	}
	if opts.ControllerName == "" {
		opts.ControllerName = gwtranslate.DefaultControllerName
	}
	t := newTranslator(set, opts)
	res := &Result{Status: &status.Report{Routes: t.attach(), AuthorizationPolicies: authz.Status(set, t.authzOptions())}}
	for _, ns := range t.clientNamespaces() {
		res.Proxies = append(res.Proxies, t.proxy(ns))
	}
	res.Status.Sort()
	return res
}

// translator holds one translation's inputs, sorted, and what it computed.
type translator struct {
	set      *resource.Set
	opts     Options
	routes   *gwtranslate.RouteCompiler
	sc       sidecarIndex      // sidecar.go
	services []*corev1.Service // sorted by namespace, name
	byName   map[nsName]*corev1.Service
	// attached lists, per Service port, the routes that apply to it, in
	// route order (kind, namespace, name).
	attached map[portKey][]attachedRoute
	// tables caches each Service port's route table without consumer
	// routes; it is shared by every group that has no consumer override.
	tables map[tableKey]*portTable
	// ports and sharedClusters are computed once, on first use.
	ports          []servicePort
	sharedClusters *plist.List[*ir.Cluster]
	// mtls is Options.MTLS with defaults; spiffeIDs and securedClusters
	// are computed on first use (mtls.go).
	mtls            *MTLS
	spiffeIDs       map[nsName][]string
	securedClusters map[string]*ir.Cluster
	// slicesByNS indexes EndpointSlices by namespace for the server side.
	slicesByNS map[string][]*discoveryv1.EndpointSlice
	// authz compiles the AuthorizationPolicies of inbound listeners.
	authz *authz.Policies
}

type nsName struct{ ns, name string }

// portKey names one Service port.
type portKey struct {
	ns, name string
	port     int32
}

func newTranslator(set *resource.Set, opts Options) *translator {
	t := &translator{
		set:      set,
		opts:     opts,
		routes:   gwtranslate.NewRouteCompiler(set),
		byName:   map[nsName]*corev1.Service{},
		attached: map[portKey][]attachedRoute{},
		tables:   map[tableKey]*portTable{},
		mtls:     opts.MTLS.withDefaults(),

		securedClusters: map[string]*ir.Cluster{},
	}
	t.authz = authz.New(set, t.authzOptions())
	t.services = set.Services.Slice()
	slices.SortStableFunc(t.services, func(a, b *corev1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, s := range t.services {
		if _, dup := t.byName[nsName{s.Namespace, s.Name}]; !dup {
			t.byName[nsName{s.Namespace, s.Name}] = s
		}
	}
	return t
}

// authzOptions say what inbound listeners verify: with mTLS, the peers'
// mesh certificates of the trust domain.
func (t *translator) authzOptions() authz.Options {
	o := authz.Options{ControllerName: t.opts.ControllerName}
	if t.mtls != nil {
		o.MeshMTLS, o.TrustDomain = true, t.mtls.TrustDomain
	}
	return o
}

// clientNamespaces are the namespaces that get a group: every Namespace
// object, every namespace holding a Service or a mesh route, and
// Options.Namespaces. Sorted.
func (t *translator) clientNamespaces() []string {
	seen := map[string]bool{}
	if t.opts.OnlyNamespaces {
		for _, n := range t.opts.Namespaces {
			seen[n] = true
		}
		delete(seen, "")
		return slices.Sorted(maps.Keys(seen))
	}
	for n := range t.set.Namespaces.Values() {
		seen[n.Name] = true
	}
	for _, s := range t.services {
		seen[s.Namespace] = true
	}
	for _, rs := range t.attached {
		for _, r := range rs {
			seen[r.namespace] = true
		}
	}
	for _, n := range t.opts.Namespaces {
		seen[n] = true
	}
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// meshPorts are the ports of a Service that mesh clients reach: TCP ports
// of a Service that is not ExternalName.
func meshPorts(svc *corev1.Service) []corev1.ServicePort {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var out []corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.ServicePort) int { return cmp.Compare(a.Port, b.Port) })
	return out
}

// servicePort is one mesh port of a Service.
type servicePort struct {
	svc  *corev1.Service
	port int32
}

// meshPortsByName lists every mesh port of every Service, sorted by route
// configuration name (the order of a proxy's listeners and route tables),
// computed once per translation.
func (t *translator) meshPortsByName() []servicePort {
	if t.ports != nil {
		return t.ports
	}
	t.ports = []servicePort{}
	for _, svc := range t.services {
		if t.byName[nsName{svc.Namespace, svc.Name}] != svc {
			continue // a duplicate of the same name
		}
		for _, sp := range meshPorts(svc) {
			t.ports = append(t.ports, servicePort{svc: svc, port: sp.Port})
		}
	}
	slices.SortStableFunc(t.ports, func(a, b servicePort) int {
		return cmp.Compare(RouteConfigName(a.svc.Namespace, a.svc.Name, a.port), RouteConfigName(b.svc.Namespace, b.svc.Name, b.port))
	})
	return t.ports
}

// proxy builds the group of namespace ns: what its clients reach, then
// what its gRPC servers serve, and how Envoy sidecars capture both.
func (t *translator) proxy(ns string) *ir.Proxy {
	p := t.clientSide(ns)
	t.addServerSide(p, ns)
	t.addSidecar(p, ns)
	return p
}

// clientSide builds the API listeners (no port), in name order, route
// tables and clusters of the clients of namespace ns; groups without a
// consumer route share one cluster list.
func (t *translator) clientSide(ns string) *ir.Proxy {
	ports := t.meshPortsByName()
	p := &ir.Proxy{
		Name:         ProxyName(ns),
		Listeners:    make([]*ir.Listener, 0, len(ports)),
		RouteConfigs: make([]*ir.RouteConfig, 0, len(ports)+1),
		Telemetry:    gwtranslate.TelemetryIR(t.opts.Telemetry, ProxyName(ns)),
	}
	var tables []*portTable
	consumer := false
	for _, sp := range ports {
		pt, own := t.table(ns, sp.svc, sp.port)
		consumer = consumer || own
		tables = append(tables, pt)
		p.Listeners = append(p.Listeners, pt.listener)
		p.RouteConfigs = append(p.RouteConfigs, pt.config)
	}
	if !consumer && t.sharedClusters != nil {
		p.Clusters = *t.sharedClusters
		return p
	}
	p.Clusters = plist.Of(unionClusters(tables)...)
	if !consumer {
		shared := p.Clusters
		t.sharedClusters = &shared
	}
	return p
}

// addServerSide adds the inbound listeners of namespace ns's gRPC servers,
// their route table and, with mTLS, the workload certificate and bundle.
func (t *translator) addServerSide(p *ir.Proxy, ns string) {
	listeners, rc := t.serverListeners(ns)
	if rc != nil {
		p.Listeners = append(p.Listeners, listeners...)
		p.RouteConfigs = append(p.RouteConfigs, rc)
		slices.SortStableFunc(p.RouteConfigs, func(a, b *ir.RouteConfig) int { return cmp.Compare(a.Name, b.Name) })
	}
	if t.mtls != nil {
		p.Secrets = t.mtls.secrets()
	}
}

// unionClusters is every cluster of tables, once, sorted by name.
func unionClusters(tables []*portTable) []*ir.Cluster {
	byName := map[string]*ir.Cluster{}
	for _, pt := range tables {
		for _, c := range pt.clusters {
			byName[c.Name] = c
		}
	}
	out := make([]*ir.Cluster, 0, len(byName))
	for _, c := range byName {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *ir.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
