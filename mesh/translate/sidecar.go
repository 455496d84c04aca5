package translate

import (
	"cmp"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/xds/ir"
)

// The sidecar pod contract: the ports Envoy's capture listeners bind.
const (
	OutboundCapturePort = 15001
	InboundCapturePort  = 15006
)

// Keys users set on Namespaces and Pods.
const (
	// MTLSModeKey (annotation or label, on a Namespace or a Pod) is
	// "strict" or "permissive": what a workload's sidecar accepts when mesh
	// mTLS is on. Precedence: the Pod's annotation, the Pod's label, the
	// Namespace's annotation, the Namespace's label, then strict. Any other
	// value is read as strict (a typo never opens a workload).
	MTLSModeKey = "security.gantry.io/mtls-mode"
	// OutboundPolicyKey (annotation on a Namespace) is "allow-any" or
	// "registry-only": what the namespace's sidecars do with a connection
	// to a destination that no Service names. It overrides
	// Options.OutboundPolicy; any other value is read as registry-only.
	OutboundPolicyKey = "traffic.gantry.io/outbound-policy"
)

// Values of MTLSModeKey and OutboundPolicyKey.
const (
	modeStrict             = "strict"
	modePermissive         = "permissive"
	outboundAllowAny       = "allow-any"
	outboundRegistryOnly   = "registry-only"
	defaultOutboundPolicy  = ir.OutboundAllowAny
	defaultMTLSModeWhenSet = ir.MTLSStrict
)

// ParseOutboundPolicy reads "allow-any" or "registry-only" (the values of
// OutboundPolicyKey), case-insensitive.
func ParseOutboundPolicy(s string) (ir.OutboundPolicy, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case outboundAllowAny:
		return ir.OutboundAllowAny, true
	case outboundRegistryOnly:
		return ir.OutboundRegistryOnly, true
	}
	return "", false
}

// addSidecar completes group ns for Envoy sidecars: the capture settings,
// each inbound listener's protocol and mode, and no two client-side
// listeners capturing the same address and port.
func (t *translator) addSidecar(p *ir.Proxy, ns string) {
	p.Sidecar = &ir.Sidecar{
		OutboundPort:   OutboundCapturePort,
		InboundPort:    InboundCapturePort,
		OutboundPolicy: t.outboundPolicy(ns),
		InboundMode:    t.mode(nil, ns),
		DualStack:      t.dualStack(),
	}
	if t.mtls != nil {
		p.Sidecar.InboundTLS = &ir.DownstreamTLS{CertificateSecrets: []string{ca.WorkloadSecret}, ValidationSecret: ca.BundleSecret}
	}
	if t.sc.reclaimed == nil {
		t.sc.reclaimed = reclaimOutbound(p.Listeners)
	}
	for i, l := range p.Listeners {
		switch {
		case l.Outbound != nil:
			if r, ok := t.sc.reclaimed[l.Name]; ok {
				cp := *l
				cp.Outbound = r
				p.Listeners[i] = &cp
			}
		case l.GRPCServer:
			cp := *l
			cp.Inbound = t.inbound(ns, l)
			p.Listeners[i] = &cp
		}
	}
}

// dualStack reports whether the cluster uses IPv6: a Service with an IPv6
// cluster IP or an EndpointSlice of IPv6 addresses. Pods then have IPv6
// addresses and the capture rules redirect their IPv6 connections, so the
// capture listeners listen on [::] too; an IPv4-only cluster's pods may have
// IPv6 disabled, where binding [::] would fail. Computed once.
func (t *translator) dualStack() bool {
	if t.sc.ipv6 == nil {
		v6 := slices.ContainsFunc(t.set.EndpointSlices.Slice(), func(es *discoveryv1.EndpointSlice) bool {
			return es.AddressType == discoveryv1.AddressTypeIPv6
		}) || slices.ContainsFunc(t.services, func(s *corev1.Service) bool {
			return slices.ContainsFunc(clusterIPs(s), func(ip string) bool { return net.ParseIP(ip).To4() == nil })
		})
		t.sc.ipv6 = &v6
	}
	return *t.sc.ipv6
}

// outboundPolicy is the namespace's annotation, else Options.OutboundPolicy,
// else allow-any.
func (t *translator) outboundPolicy(ns string) ir.OutboundPolicy {
	if n := t.namespace(ns); n != nil {
		if v, ok := n.Annotations[OutboundPolicyKey]; ok {
			if p, ok := ParseOutboundPolicy(v); ok {
				return p
			}
			return ir.OutboundRegistryOnly
		}
	}
	return cmp.Or(t.opts.OutboundPolicy, defaultOutboundPolicy)
}

// namespace is the Namespace object named ns, or nil.
func (t *translator) namespace(ns string) *corev1.Namespace {
	if t.sc.nsByName == nil {
		t.sc.nsByName = map[string]*corev1.Namespace{}
		for n := range t.set.Namespaces.Values() {
			if _, dup := t.sc.nsByName[n.Name]; !dup {
				t.sc.nsByName[n.Name] = n
			}
		}
	}
	return t.sc.nsByName[ns]
}

// mode is the mTLS mode of a pod of namespace ns (pod nil: the namespace's
// own): off without mesh mTLS, else the first of the pod's annotation and
// label and the namespace's annotation and label, else strict.
func (t *translator) mode(pod *corev1.Pod, ns string) ir.MTLSMode {
	if t.mtls == nil {
		return ir.MTLSOff
	}
	var sources []map[string]string
	if pod != nil {
		sources = append(sources, pod.Annotations, pod.Labels)
	}
	if n := t.namespace(ns); n != nil {
		sources = append(sources, n.Annotations, n.Labels)
	}
	for _, m := range sources {
		if v, ok := m[MTLSModeKey]; ok {
			mode, _ := ParseMTLSMode(v) // strict when not understood
			return mode
		}
	}
	return defaultMTLSModeWhenSet
}

// ParseMTLSMode reads a value of MTLSModeKey, "strict" or "permissive"
// (case-insensitive); any other value is strict, with ok false.
func ParseMTLSMode(v string) (mode ir.MTLSMode, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case modeStrict:
		return ir.MTLSStrict, true
	case modePermissive:
		return ir.MTLSPermissive, true
	}
	return ir.MTLSStrict, false
}

// reclaimOutbound finds the client-side listeners that capture an address
// and port an earlier one (by name) captures already (two Services claiming
// one cluster IP and port: the first keeps it) and returns, by listener
// name, what each keeps (nil: nothing). Every group holds the same
// client-side listeners, so it runs once per translation.
func reclaimOutbound(listeners []*ir.Listener) map[string]*ir.Outbound {
	out := map[string]*ir.Outbound{}
	claimed := map[string]bool{} // address:port
	for _, l := range listeners {
		if l.Outbound == nil {
			continue
		}
		var keep []string
		for _, a := range l.Outbound.Addresses {
			k := net.JoinHostPort(a, strconv.Itoa(int(l.Outbound.Port)))
			if !claimed[k] {
				claimed[k] = true
				keep = append(keep, a)
			}
		}
		switch {
		case len(keep) == len(l.Outbound.Addresses):
		case len(keep) == 0:
			out[l.Name] = nil
		default:
			ob := *l.Outbound
			ob.Addresses = keep
			out[l.Name] = &ob
		}
	}
	return out
}

// outbound is how sidecars capture one Service port: its cluster IPs and
// port, as HTTP (the port's route table) or as opaque TCP to the Service's
// own cluster (added to clusters). Headless Services: see headlessOutbound.
func (t *translator) outbound(svc *corev1.Service, sp corev1.ServicePort, clusters map[string]*ir.Cluster) *ir.Outbound {
	ips := clusterIPs(svc)
	if len(ips) == 0 {
		return t.headlessOutbound(svc, sp, clusters)
	}
	out := &ir.Outbound{Addresses: ips, Port: uint32(sp.Port)}
	if t.portProtocol(portKey{ns: svc.Namespace, name: svc.Name, port: sp.Port}, sp.Name, sp.AppProtocol) != ir.AppTCP {
		return out
	}
	be := ir.WeightedCluster{Weight: 1}
	if c := t.routes.ServiceCluster(svc.Namespace, svc.Name, sp.Port); c != nil {
		clusters[c.Name] = c
		be.Cluster = c.Name
	}
	name := RouteConfigName(svc.Namespace, svc.Name, sp.Port)
	out.TCP = &ir.TCPProxy{StatPrefix: name, Backends: []ir.WeightedCluster{be}}
	return out
}

// headlessOutbound captures a headless Service port, whose clients dial
// its pods directly: every endpoint address of the Service (ready or not,
// as DNS may list them) with the EndpointSlice port of the same name,
// forwarded as bytes to the address dialled (an original-destination
// cluster "<ns>/<svc>/<port>/direct", added to clusters) with mTLS towards
// the Service's identities when it is on. No route applies: the client
// chose the pod. Where the slices give the port several numbers, the lowest
// is captured. nil when the Service has no endpoint address.
func (t *translator) headlessOutbound(svc *corev1.Service, sp corev1.ServicePort, clusters map[string]*ir.Cluster) *ir.Outbound {
	byPort := map[int32][]string{}
	for _, es := range t.slicesIn(svc.Namespace) {
		if es.Labels[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		for _, p := range es.Ports {
			if p.Port == nil || ptrString(p.Name) != sp.Name || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
				continue
			}
			for _, ep := range es.Endpoints {
				for _, a := range ep.Addresses {
					if ip := net.ParseIP(a); ip != nil && !slices.Contains(byPort[*p.Port], ip.String()) {
						byPort[*p.Port] = append(byPort[*p.Port], ip.String())
					}
				}
			}
		}
	}
	if len(byPort) == 0 {
		return nil
	}
	port := slices.Min(slices.Collect(maps.Keys(byPort)))
	addrs := byPort[port]
	slices.Sort(addrs)
	c := &ir.Cluster{Name: clusterNameOf(svc, sp.Port) + "/direct", Protocol: ir.AppTCP, OriginalDestination: true}
	if t.mtls != nil {
		c.TLS = t.serviceTLS(svc.Namespace, svc.Name)
	}
	clusters[c.Name] = c
	return &ir.Outbound{Addresses: addrs, Port: uint32(port), TCP: &ir.TCPProxy{
		StatPrefix: RouteConfigName(svc.Namespace, svc.Name, sp.Port),
		Backends:   []ir.WeightedCluster{{Cluster: c.Name, Weight: 1}},
	}}
}

// clusterNameOf is the cluster name of a Service port,
// "<namespace>/<service>/<port>".
func clusterNameOf(svc *corev1.Service, port int32) string {
	return svc.Namespace + "/" + svc.Name + "/" + strconv.Itoa(int(port))
}

// servicePortSpec is the TCP port of svc numbered port.
func servicePortSpec(svc *corev1.Service, port int32) (corev1.ServicePort, bool) {
	for _, p := range meshPorts(svc) {
		if p.Port == port {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

// withProtocol returns c, or a copy speaking HTTP/2 when its Service port
// speaks HTTP/2 (grpc, http2, h2c: see protocol.go), so that sidecars talk
// HTTP/2 to it. One copy per cluster name, shared by groups.
func (t *translator) withProtocol(c *ir.Cluster) *ir.Cluster {
	if c.Protocol == ir.AppHTTP2 {
		return c
	}
	ns, name, ok := serviceOfCluster(c.Name)
	if !ok {
		return c
	}
	svc := t.byName[nsName{ns, name}]
	if svc == nil {
		return c
	}
	port, _ := strconv.Atoi(c.Name[strings.LastIndexByte(c.Name, '/')+1:])
	sp, ok := servicePortSpec(svc, int32(port))
	if !ok || t.portProtocol(portKey{ns: ns, name: name, port: sp.Port}, sp.Name, sp.AppProtocol) != ir.AppHTTP2 {
		return c
	}
	if h2 := t.sc.h2Clusters[c.Name]; h2 != nil {
		return h2
	}
	out := *c
	out.Protocol = ir.AppHTTP2
	if t.sc.h2Clusters == nil {
		t.sc.h2Clusters = map[string]*ir.Cluster{}
	}
	t.sc.h2Clusters[c.Name] = &out
	return &out
}

// inbound is how sidecars serve one inbound listener of namespace ns: the
// protocol of its port (see inboundProtocols) and the mode of the pod at its
// address (the namespace's for a wildcard address).
func (t *translator) inbound(ns string, l *ir.Listener) *ir.Inbound {
	protos := t.inboundProtocols(ns)
	addr := l.Address
	if ip := net.ParseIP(addr); ip == nil || ip.IsUnspecified() {
		addr = ""
	}
	proto, ok := protos[inboundKey{addr: addr, port: l.Port}]
	if !ok {
		proto = ir.AppTCP
	}
	return &ir.Inbound{Protocol: proto, Mode: t.mode(t.podAt(ns, addr), ns)}
}

// inboundKey is a workload address ("" for every address) and port.
type inboundKey struct {
	addr string
	port uint32
}

// inboundProtocols indexes, for namespace ns, what each workload address and
// port (and each port on any address) speaks, from the EndpointSlices'
// ports: as their name or appProtocol declares (they copy the Service
// port's), else as the Service port of the same name is taken to speak.
// Where slices disagree, opaque TCP. Built once per namespace.
func (t *translator) inboundProtocols(ns string) map[inboundKey]ir.AppProtocol {
	if m, ok := t.sc.inProtos[ns]; ok {
		return m
	}
	out := map[inboundKey]ir.AppProtocol{}
	set := func(k inboundKey, p ir.AppProtocol) {
		if old, ok := out[k]; ok && old != p {
			p = max(old, p) // HTTP/2 over HTTP/1.1 (both HTTP)
			if old == ir.AppTCP || p == ir.AppTCP {
				p = ir.AppTCP
			}
		}
		out[k] = p
	}
	for _, es := range t.slicesIn(ns) {
		for _, sp := range es.Ports {
			if sp.Port == nil || (sp.Protocol != nil && *sp.Protocol != corev1.ProtocolTCP) {
				continue
			}
			proto := t.slicePortProtocol(es, sp)
			set(inboundKey{port: uint32(*sp.Port)}, proto)
			for _, ep := range es.Endpoints {
				for _, a := range ep.Addresses {
					if ip := net.ParseIP(a); ip != nil {
						set(inboundKey{addr: ip.String(), port: uint32(*sp.Port)}, proto)
					}
				}
			}
		}
	}
	if t.sc.inProtos == nil {
		t.sc.inProtos = map[string]map[inboundKey]ir.AppProtocol{}
	}
	t.sc.inProtos[ns] = out
	return out
}

// slicePortProtocol is what one EndpointSlice port speaks: what its
// Service's port of the same name is taken to speak (routes included), else
// what its own name or appProtocol declares, else opaque TCP.
func (t *translator) slicePortProtocol(es *discoveryv1.EndpointSlice, sp discoveryv1.EndpointPort) ir.AppProtocol {
	name := ptrString(sp.Name)
	if svc := t.byName[nsName{es.Namespace, es.Labels[discoveryv1.LabelServiceName]}]; svc != nil {
		for _, p := range meshPorts(svc) {
			if p.Name == name {
				return t.portProtocol(portKey{ns: svc.Namespace, name: svc.Name, port: p.Port}, p.Name, p.AppProtocol)
			}
		}
	}
	if p, ok := declaredProtocol(name, sp.AppProtocol); ok {
		return p
	}
	return ir.AppTCP
}

// podAt is the pod that namespace ns's EndpointSlices place at addr (a
// targetRef of kind Pod), or nil.
func (t *translator) podAt(ns, addr string) *corev1.Pod {
	if addr == "" {
		return nil
	}
	if t.sc.podsByAddr == nil {
		pods := map[nsName]*corev1.Pod{}
		for p := range t.set.Pods.Values() {
			pods[nsName{p.Namespace, p.Name}] = p
		}
		t.sc.podsByAddr = map[nsName]*corev1.Pod{}
		for es := range t.set.EndpointSlices.Values() {
			for _, ep := range es.Endpoints {
				ref := ep.TargetRef
				if ref == nil || ref.Kind != "Pod" {
					continue
				}
				p := pods[nsName{cmp.Or(ref.Namespace, es.Namespace), ref.Name}]
				for _, a := range ep.Addresses {
					ip := net.ParseIP(a)
					if ip == nil || p == nil {
						continue
					}
					// Two pods at one address (stale slices): the first by
					// namespace and name, whatever the input order.
					k := nsName{es.Namespace, ip.String()}
					if old := t.sc.podsByAddr[k]; old == nil || byMeta(&p.ObjectMeta, &old.ObjectMeta) < 0 {
						t.sc.podsByAddr[k] = p
					}
				}
			}
		}
	}
	return t.sc.podsByAddr[nsName{ns, addr}]
}

// slicesIn lists the EndpointSlices of namespace ns, from the index that
// serverListeners also reads (built by whichever runs first).
func (t *translator) slicesIn(ns string) []*discoveryv1.EndpointSlice {
	if t.slicesByNS == nil {
		t.slicesByNS = map[string][]*discoveryv1.EndpointSlice{}
		for es := range t.set.EndpointSlices.Values() {
			t.slicesByNS[es.Namespace] = append(t.slicesByNS[es.Namespace], es)
		}
	}
	return t.slicesByNS[ns]
}

// sidecarIndex holds what sidecar.go computes once per translation, on
// first use.
type sidecarIndex struct {
	nsByName   map[string]*corev1.Namespace
	inProtos   map[string]map[inboundKey]ir.AppProtocol
	podsByAddr map[nsName]*corev1.Pod
	h2Clusters map[string]*ir.Cluster
	// reclaimed is what client-side listeners keep of the addresses they
	// capture, where another listener claims them first.
	reclaimed map[string]*ir.Outbound
	// ipv6 is set once the Set is known to use IPv6 or not.
	ipv6 *bool
}
