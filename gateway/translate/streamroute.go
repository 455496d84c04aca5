package translate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

const (
	kindTLSRoute gwapiv1.Kind = resource.KindTLSRoute
	kindTCPRoute gwapiv1.Kind = resource.KindTCPRoute
	kindUDPRoute gwapiv1.Kind = resource.KindUDPRoute
)

// isStreamProtocol reports whether a listener forwards connections or
// datagrams (TLS, TCP, UDP) rather than HTTP requests.
func isStreamProtocol(p gwapiv1.ProtocolType) bool {
	return p == gwapiv1.TLSProtocolType || p == gwapiv1.TCPProtocolType || p == gwapiv1.UDPProtocolType
}

// streamRoute adapts TLSRoute, TCPRoute and UDPRoute: one rule of weighted
// backends, no matching beyond the listener (and SNI for TLSRoute).
type streamRoute struct {
	k         gwapiv1.Kind
	obj       *metav1.ObjectMeta
	refs      []gwapiv1.ParentReference
	hosts     []gwapiv1.Hostname
	withHosts bool
	rules     []streamRule
	compiled  *compiledStream
}

// streamRule is the kind-independent form of a TLS/TCP/UDP route rule.
type streamRule struct {
	name     *gwapiv1.SectionName
	backends []gwapiv1.BackendRef
}

// streamRules converts the rules of a TLS, TCP or UDP route.
func streamRules[R any](rules []R, rule func(R) streamRule) []streamRule {
	var out []streamRule
	for _, r := range rules {
		out = append(out, rule(r))
	}
	return out
}

// compiledStream is a stream route translated once per translation.
type compiledStream struct {
	outcome  routeOutcome
	backends []ir.WeightedCluster
	clusters []*ir.Cluster
}

// streamEntry is one stream route attached to one listener.
type streamEntry struct {
	id        routeID
	hostnames []string
	c         *compiledStream
}

var _ route = (*streamRoute)(nil)

func (r *streamRoute) kind() gwapiv1.Kind                    { return r.k }
func (r *streamRoute) meta() *metav1.ObjectMeta              { return r.obj }
func (r *streamRoute) parentRefs() []gwapiv1.ParentReference { return r.refs }
func (r *streamRoute) hostnames() []gwapiv1.Hostname         { return r.hosts }
func (r *streamRoute) hasHostnames() bool                    { return r.withHosts }

func (r *streamRoute) outcome(x *index) routeOutcome {
	if r.compiled == nil {
		r.compiled = r.compile(x)
	}
	return r.compiled.outcome
}

func (r *streamRoute) program(b *proxyBuilder, l *listenerState, hostnames []string) {
	if r.compiled == nil || r.compiled.outcome.rejected {
		return
	}
	if b.streams == nil {
		b.streams = map[*listenerState][]streamEntry{}
	}
	b.streams[l] = append(b.streams[l], streamEntry{id: idOf(r), hostnames: hostnames, c: r.compiled})
	b.addClusters(r.compiled.clusters)
}

// compile resolves the backends of the route's rule. Unresolved backends
// keep their share (connections to it are refused) and make ResolvedRefs
// False. The API allows exactly one rule; more are dropped.
func (r *streamRoute) compile(x *index) *compiledStream {
	c := &compiledStream{}
	c.outcome.refsOK, c.outcome.refsReason = true, gwapiv1.RouteReasonResolvedRefs
	if len(r.rules) == 0 {
		c.outcome.rejected, c.outcome.acceptedReason = true, gwapiv1.RouteReasonUnsupportedValue
		c.outcome.acceptedMsg = "rules: one rule is required"
		return c
	}
	for i := 1; i < len(r.rules); i++ {
		c.outcome.dropped = append(c.outcome.dropped, fmt.Sprintf("rule %d: only one rule is supported", i))
	}
	id := idOf(r)
	proto := corev1.ProtocolTCP
	if r.k == kindUDPRoute {
		proto = corev1.ProtocolUDP
	}
	var msgs []string
	for _, br := range r.rules[0].backends {
		w := int32(1)
		if br.Weight != nil {
			w = *br.Weight
		}
		cl, prob := x.resolveStreamBackend(id, br.BackendObjectReference, proto)
		if prob != nil {
			if c.outcome.refsOK {
				c.outcome.refsOK, c.outcome.refsReason = false, prob.reason
			}
			msgs = append(msgs, prob.msg)
			if w > 0 {
				c.backends = append(c.backends, ir.WeightedCluster{Weight: uint32(w)})
			}
			continue
		}
		c.clusters = append(c.clusters, cl)
		if w > 0 {
			c.backends = append(c.backends, ir.WeightedCluster{Cluster: cl.Name, Weight: uint32(w)})
		}
	}
	c.outcome.refsMsg = strings.Join(msgs, "; ")
	return c
}

// resolveStreamBackend resolves a Service backend of a stream route: like an
// HTTP backend, but the cluster speaks raw TCP or UDP.
func (x *index) resolveStreamBackend(from routeID, ref gwapiv1.BackendObjectReference, proto corev1.Protocol) (*ir.Cluster, *backendProblem) {
	if proto == corev1.ProtocolTCP {
		c, prob := x.resolveBackend(from, ref)
		if prob != nil {
			return nil, prob
		}
		out := *c
		out.Name = tcpClusterName(c.Name)
		out.Protocol = ir.AppTCP
		return &out, nil
	}
	svc, prob := x.streamService(from, ref)
	if prob != nil {
		return nil, prob
	}
	ns := svc.Namespace
	sp := servicePortProto(svc, *ref.Port, corev1.ProtocolUDP)
	if sp == nil {
		return nil, &backendProblem{gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s has no UDP port %d", ns, ref.Name, *ref.Port)}
	}
	return &ir.Cluster{
		Name:      udpClusterName(svc.Namespace, svc.Name, sp.Port),
		Protocol:  ir.AppUDP,
		Endpoints: x.endpoints(svc, sp),
	}, nil
}

// streamService runs the checks of resolveBackend up to the port lookup.
func (x *index) streamService(from routeID, ref gwapiv1.BackendObjectReference) (*corev1.Service, *backendProblem) {
	if deref(ref.Group) != "" || (ref.Kind != nil && *ref.Kind != kindService) {
		return nil, &backendProblem{gwapiv1.RouteReasonInvalidKind, fmt.Sprintf("backend kind %s/%s is not supported", deref(ref.Group), deref(ref.Kind))}
	}
	svc, _, prob := x.referencedService(from, ref)
	return svc, prob
}

// udpClusterName names the cluster of a Service's UDP port; the suffix keeps
// it apart from a TCP port of the same number.
func udpClusterName(ns, svc string, port int32) string {
	return clusterName(ns, svc, port) + "/udp"
}

// tcpClusterName names the raw TCP cluster of a Service port used by TCP
// and TLS routes; the suffix keeps it apart from the HTTP cluster of the
// same port, whose protocol and TLS settings differ.
func tcpClusterName(httpCluster string) string {
	return httpCluster + "/tcp"
}

func servicePortProto(svc *corev1.Service, port int32, proto corev1.Protocol) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Port == port && p.Protocol == proto {
			return p
		}
	}
	return nil
}

// serviceOfUDPCluster finds the Service UDP port of a "<ns>/<svc>/<port>/udp"
// cluster (RefreshEndpoints).
func (x *index) serviceOfUDPCluster(ns, name, port string) (*corev1.Service, *corev1.ServicePort, bool) {
	var p int32
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil {
		return nil, nil, false
	}
	svc := x.services[nsName{ns, name}]
	if svc == nil {
		return nil, nil, true
	}
	return svc, servicePortProto(svc, p, corev1.ProtocolUDP), true
}
