package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// clusterName is the ir name of the cluster of one Service port.
func clusterName(ns, svc string, port int32) string {
	return ns + "/" + svc + "/" + strconv.Itoa(int(port))
}

// backendProblem says why a backendRef could not be resolved.
type backendProblem struct {
	reason gwapiv1.RouteConditionReason
	msg    string
}

// resolveBackend turns a backend reference from a route into the cluster of
// a Service port, or says why it cannot.
func (x *index) resolveBackend(from routeID, ref gwapiv1.BackendObjectReference) (*ir.Cluster, *backendProblem) {
	group, kind := "", string(kindService)
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	if group != "" || kind != string(kindService) {
		return nil, &backendProblem{gwapiv1.RouteReasonInvalidKind, fmt.Sprintf("backend kind %s/%s is not supported", group, kind)}
	}
	svc, ns, prob := x.referencedService(from, ref)
	if prob != nil {
		return nil, prob
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, &backendProblem{gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s: type ExternalName is not supported", ns, ref.Name)}
	}
	sp := servicePort(svc, *ref.Port)
	if sp == nil {
		return nil, &backendProblem{gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s has no port %d", ns, ref.Name, *ref.Port)}
	}
	return x.cluster(svc, sp), nil
}

// referencedService returns the Service a backend reference of the kind
// Service names and its namespace: a ReferenceGrant must allow a reference
// to another namespace, the Service must exist and the reference must give
// a port. The caller checks the kind.
func (x *index) referencedService(from routeID, ref gwapiv1.BackendObjectReference) (*corev1.Service, string, *backendProblem) {
	ns := from.namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if !x.allowed(refGrant{
		fromGroup: gwapiv1.GroupName, fromKind: string(from.kind), fromNamespace: from.namespace,
		toGroup: "", toKind: string(kindService), toNamespace: ns, toName: string(ref.Name),
	}) {
		return nil, ns, &backendProblem{gwapiv1.RouteReasonRefNotPermitted, fmt.Sprintf("Service %s/%s is in another namespace and no ReferenceGrant allows it", ns, ref.Name)}
	}
	svc := x.services[nsName{ns, string(ref.Name)}]
	if svc == nil {
		return nil, ns, &backendProblem{gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s not found", ns, ref.Name)}
	}
	if ref.Port == nil {
		return nil, ns, &backendProblem{gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s: port is required", ns, ref.Name)}
	}
	return svc, ns, nil
}

func servicePort(svc *corev1.Service, port int32) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Port == port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return p
		}
	}
	return nil
}

// appProtocol maps a Service port's appProtocol to what the cluster speaks.
func appProtocol(sp *corev1.ServicePort) ir.AppProtocol {
	if sp.AppProtocol == nil {
		return ir.AppHTTP1
	}
	switch *sp.AppProtocol {
	case "kubernetes.io/h2c":
		return ir.AppHTTP2
	case "kubernetes.io/ws":
		return ir.AppWebSocket
	}
	return ir.AppHTTP1
}

// servicePortKey names one Service port.
type servicePortKey struct {
	ns, name string
	port     int32
}

// cluster returns the cluster of one Service port with its endpoints, built
// once per translation and shared by every route and proxy that uses it.
func (x *index) cluster(svc *corev1.Service, sp *corev1.ServicePort) *ir.Cluster {
	k := servicePortKey{ns: svc.Namespace, name: svc.Name, port: sp.Port}
	if c, ok := x.clusterCache[k]; ok {
		return c
	}
	c := &ir.Cluster{
		Name:      clusterName(svc.Namespace, svc.Name, sp.Port),
		Protocol:  appProtocol(sp),
		Endpoints: x.endpoints(svc, sp),
	}
	if x.clusterCache == nil {
		x.clusterCache = map[servicePortKey]*ir.Cluster{}
	}
	x.clusterCache[k] = c
	return c
}

// endpoints lists the usable addresses of one Service port from the
// Service's EndpointSlices. Ready endpoints are Healthy, serving terminating
// ones Draining; the rest are left out. Sorted by address then port.
func (x *index) endpoints(svc *corev1.Service, sp *corev1.ServicePort) []ir.Endpoint {
	key := clusterName(svc.Namespace, svc.Name, sp.Port)
	if sp.Protocol == corev1.ProtocolUDP {
		key = udpClusterName(svc.Namespace, svc.Name, sp.Port)
	}
	if eps, ok := x.endpointsCache[key]; ok {
		return eps
	}
	eps := endpointsOf(x.slices[nsName{svc.Namespace, svc.Name}], sp.Name, sp.Protocol)
	x.endpointsCache[key] = eps
	return eps
}

func endpointsOf(slices_ []*discoveryv1.EndpointSlice, portName string, proto corev1.Protocol) []ir.Endpoint {
	best := map[string]ir.Endpoint{}
	for _, es := range slices_ {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port := slicePort(es, portName, proto)
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			health, ok := endpointHealth(ep.Conditions)
			if !ok {
				continue
			}
			zone := ""
			if ep.Zone != nil {
				zone = *ep.Zone
			}
			for _, addr := range ep.Addresses {
				e := ir.Endpoint{Address: addr, Port: port, Health: health, Zone: zone}
				k := addr + "|" + strconv.Itoa(int(port))
				if old, dup := best[k]; !dup || (old.Health != ir.Healthy && health == ir.Healthy) {
					best[k] = e
				}
			}
		}
	}
	if len(best) == 0 {
		return nil
	}
	out := make([]ir.Endpoint, 0, len(best))
	for _, e := range best {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b ir.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// slicePort finds the port of a slice that backs the Service port named
// name (the targetPort, resolved by the EndpointSlice controller).
func slicePort(es *discoveryv1.EndpointSlice, name string, proto corev1.Protocol) uint32 {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, p := range es.Ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		if pn != name || p.Port == nil {
			continue
		}
		if (p.Protocol == nil && proto != corev1.ProtocolTCP) || (p.Protocol != nil && *p.Protocol != proto) {
			continue
		}
		return uint32(*p.Port)
	}
	return 0
}

// endpointHealth maps EndpointSlice conditions; ok is false for endpoints
// that must not receive traffic. Unset conditions count as true.
func endpointHealth(c discoveryv1.EndpointConditions) (ir.HealthStatus, bool) {
	ready := c.Ready == nil || *c.Ready
	serving := c.Serving == nil || *c.Serving
	terminating := c.Terminating != nil && *c.Terminating
	switch {
	case ready && !terminating:
		return ir.Healthy, true
	case serving && terminating:
		return ir.Draining, true
	}
	return "", false
}

// RefreshEndpoints returns a copy of p whose clusters' endpoints are
// recomputed from set's EndpointSlices, without any route work: the fast path
// for EndpointSlice changes. A Service cluster ("<ns>/<svc>/<port>", with
// "/tcp" or "/udp" for stream routes) whose Service port is gone gets no
// endpoints; clusters named otherwise keep
// theirs. p is not modified.
func RefreshEndpoints(set *resource.Set, p *ir.Proxy) *ir.Proxy {
	if p == nil {
		return nil
	}
	return newEndpointIndex(set).refresh(p)
}

// RefreshAllEndpoints is RefreshEndpoints for each of ps, indexing set's
// EndpointSlices once. A proxy whose endpoints come out the same is
// returned as it was (the same pointer), so that nothing downstream
// rebuilds it.
func RefreshAllEndpoints(set *resource.Set, ps []*ir.Proxy) []*ir.Proxy {
	x := newEndpointIndex(set)
	out := make([]*ir.Proxy, len(ps))
	for i, p := range ps {
		if p == nil {
			continue
		}
		out[i] = p
		if fresh := x.refresh(p); !sameEndpoints(p, fresh) {
			out[i] = fresh
		}
	}
	return out
}

// sameEndpoints reports whether every cluster of a and b (a copy of a with
// refreshed endpoints) has the same endpoints.
func sameEndpoints(a, b *ir.Proxy) bool {
	for c, d := range plist.Differ(a.Clusters, b.Clusters) {
		if (c.Endpoints == nil) != (d.Endpoints == nil) || !slices.Equal(c.Endpoints, d.Endpoints) {
			return false
		}
	}
	return true
}

func (x *index) refresh(p *ir.Proxy) *ir.Proxy {
	out := *p
	clusters := make([]*ir.Cluster, 0, p.Clusters.Len())
	for c := range p.Clusters.Values() {
		nc := *c
		if svc, sp, ok := x.serviceOfCluster(c.Name); ok {
			nc.Endpoints = nil
			if sp != nil {
				nc.Endpoints = x.endpoints(svc, sp)
			}
		}
		clusters = append(clusters, &nc)
	}
	out.Clusters = plist.Of(clusters...)
	return &out
}

// newEndpointIndex indexes only what endpoint computation needs.
func newEndpointIndex(set *resource.Set) *index {
	if set == nil {
		set = &resource.Set{}
	}
	x := &index{
		set:            set,
		services:       map[nsName]*corev1.Service{},
		slices:         map[nsName][]*discoveryv1.EndpointSlice{},
		endpointsCache: map[string][]ir.Endpoint{},
	}
	for s := range set.Services.Values() {
		x.services[nsName{s.Namespace, s.Name}] = s
	}
	for _, es := range sortedList(set.EndpointSlices) {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := nsName{es.Namespace, svc}
			x.slices[k] = append(x.slices[k], es)
		}
	}
	return x
}

// serviceOfCluster parses "<ns>/<svc>/<port>" (also with "/tcp", or "/udp"
// for a UDP port) and finds that Service port; ok is false when name is not
// a Service cluster name.
func (x *index) serviceOfCluster(name string) (*corev1.Service, *corev1.ServicePort, bool) {
	parts := strings.Split(name, "/")
	if len(parts) == 4 && parts[3] == "udp" {
		return x.serviceOfUDPCluster(parts[0], parts[1], parts[2])
	}
	if len(parts) == 4 && parts[3] == "tcp" {
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return nil, nil, false
	}
	port, err := strconv.Atoi(parts[2])
	if err != nil {
		return nil, nil, false
	}
	svc := x.services[nsName{parts[0], parts[1]}]
	if svc == nil {
		return nil, nil, true
	}
	return svc, servicePort(svc, int32(port)), true
}
