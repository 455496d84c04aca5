package translate

import (
	"cmp"
	"slices"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	gwtranslate "github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// EndpointReach is what a change of EndpointSlices reaches in the mesh
// beyond the endpoints of its clusters (which the endpoint fast path
// refreshes).
type EndpointReach struct {
	// All: the mesh must be translated again (an IPv6 or other non-IPv4
	// slice, a headless Service, whose addresses are client-side listeners
	// of every group, or, with mTLS, changed pod references, which are
	// SPIFFE IDs that every group's clusters accept).
	All bool
	// Namespaces whose groups' server side (gRPC servers' inbound
	// listeners, what sidecars take each inbound address and port to
	// speak) changed, sorted; RefreshServerSide recomputes it.
	Namespaces []string
}

// ReachOfEndpoints says what the mesh must recompute when next differs from
// prev only in the EndpointSlices of services (by their service label,
// before and after). The cost follows the change: the Sets' slices are
// scanned by pointer and label, only those of services are compared.
func ReachOfEndpoints(prev, next *resource.Set, services []types.NamespacedName, opts Options) EndpointReach {
	want := make(map[nsName]bool, len(services))
	for _, s := range services {
		want[nsName{s.Namespace, s.Name}] = true
	}
	before, after := slicesOfServices(prev, want), slicesOfServices(next, want)
	seen := map[string]bool{}
	var out EndpointReach
	for _, s := range services {
		k := nsName{s.Namespace, s.Name}
		a, b := before[k], after[k]
		if slicesFacts(a) == slicesFacts(b) {
			continue // a readiness or other endpoint-only change
		}
		if !ipv4Only(a) || !ipv4Only(b) || headless(next, k) || (opts.MTLS != nil && podRefs(a) != podRefs(b)) {
			return EndpointReach{All: true}
		}
		if !seen[k.ns] {
			seen[k.ns] = true
			out.Namespaces = append(out.Namespaces, k.ns)
		}
	}
	slices.Sort(out.Namespaces)
	return out
}

// slicesOfServices lists set's EndpointSlices of the Services in want.
func slicesOfServices(set *resource.Set, want map[nsName]bool) map[nsName][]*discoveryv1.EndpointSlice {
	out := map[nsName][]*discoveryv1.EndpointSlice{}
	if set == nil {
		return out
	}
	for es := range set.EndpointSlices.Values() {
		if k := (nsName{es.Namespace, es.Labels[discoveryv1.LabelServiceName]}); want[k] {
			out[k] = append(out[k], es)
		}
	}
	return out
}

func ipv4Only(list []*discoveryv1.EndpointSlice) bool {
	return !slices.ContainsFunc(list, func(es *discoveryv1.EndpointSlice) bool { return es.AddressType != discoveryv1.AddressTypeIPv4 })
}

// headless reports whether set holds Service k without a cluster IP: its
// clients' listeners capture its endpoint addresses (headlessOutbound).
func headless(set *resource.Set, k nsName) bool {
	for s := range set.Services.Values() {
		if s.Namespace == k.ns && s.Name == k.name && len(clusterIPs(s)) == 0 {
			return true
		}
	}
	return false
}

// podRefs are the slices' endpoint references, sorted.
func podRefs(list []*discoveryv1.EndpointSlice) string {
	var refs []string
	for _, es := range list {
		for _, ep := range es.Endpoints {
			if r := ep.TargetRef; r != nil {
				refs = append(refs, r.Kind+" "+cmp.Or(r.Namespace, es.Namespace)+"/"+r.Name)
			}
		}
	}
	slices.Sort(refs)
	return strings.Join(refs, ",")
}

// RefreshServerSide returns the mesh groups ps (translated with opts) with
// the server side of the groups of namespaces recomputed from set: their
// gRPC servers' inbound listeners (and what sidecars take each to speak)
// and the route table those share. It is what a full translation of set
// gives when set differs from the Set of ps only in EndpointSlices whose
// reach (ReachOfEndpoints) is these namespaces and whose clusters' endpoints
// were refreshed. Other groups are returned as they are (the same
// pointers); a recomputed group is a copy sharing everything else with the
// original. ps are not modified.
func RefreshServerSide(set *resource.Set, ps []*ir.Proxy, namespaces []string, opts Options) []*ir.Proxy {
	out := slices.Clone(ps)
	var t *translator
	for i, p := range ps {
		ns, ok := strings.CutPrefix(p.Name, GroupPrefix)
		if !ok || !slices.Contains(namespaces, ns) {
			continue
		}
		if t == nil {
			if opts.ControllerName == "" {
				opts.ControllerName = gwtranslate.DefaultControllerName
			}
			t = newTranslator(set, opts)
			t.attachTo(namespaces)
		}
		out[i] = t.withServerSide(p, ns)
	}
	return out
}

// withServerSide is p, a group of namespace ns, with its server side
// computed again.
func (t *translator) withServerSide(p *ir.Proxy, ns string) *ir.Proxy {
	listeners, rc := t.serverListeners(ns)
	for i, l := range listeners {
		cp := *l
		cp.Inbound = t.inbound(ns, l)
		listeners[i] = &cp
	}
	out := *p
	out.Listeners = make([]*ir.Listener, 0, len(p.Listeners))
	for _, l := range p.Listeners {
		if !l.GRPCServer {
			out.Listeners = append(out.Listeners, l)
		}
	}
	out.Listeners = append(out.Listeners, listeners...)
	out.RouteConfigs = make([]*ir.RouteConfig, 0, len(p.RouteConfigs)+1)
	for _, c := range p.RouteConfigs {
		if c.Name != InboundRouteConfig {
			out.RouteConfigs = append(out.RouteConfigs, c)
		}
	}
	if rc != nil {
		i, _ := slices.BinarySearchFunc(out.RouteConfigs, rc.Name, func(c *ir.RouteConfig, n string) int { return cmp.Compare(c.Name, n) })
		out.RouteConfigs = slices.Insert(out.RouteConfigs, i, rc)
	}
	return &out
}
