package translate

import (
	"cmp"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/xds/ir"
)

// MTLS turns on mutual TLS between mesh workloads.
type MTLS struct {
	// TrustDomain of the workloads' SPIFFE IDs (default
	// ca.DefaultTrustDomain).
	TrustDomain string `json:"trustDomain,omitempty"`
	// CertDir is where gantry agent writes the workload's certificate, key
	// and trust bundle inside the proxy's container (default
	// ca.DefaultCertDir).
	CertDir string `json:"certDir,omitempty"`
}

// Names of what the mesh serves for gRPC servers and mTLS.
const (
	// GRPCServerListenerPrefix starts the inbound listener names that
	// grpc-go's xDS servers ask for; a gRPC bootstrap's
	// server_listener_resource_name_template is ServerListenerTemplate.
	GRPCServerListenerPrefix = "grpc/server?xds.resource.listening_address="
	ServerListenerTemplate   = GRPCServerListenerPrefix + "%s"
	// InboundRouteConfig hands every request of an inbound listener to the
	// gRPC server itself.
	InboundRouteConfig = "mesh/inbound"
)

func (m *MTLS) withDefaults() *MTLS {
	if m == nil {
		return nil
	}
	out := *m
	out.TrustDomain = cmp.Or(out.TrustDomain, ca.DefaultTrustDomain)
	out.CertDir = cmp.Or(out.CertDir, ca.DefaultCertDir)
	return &out
}

// secrets are the workload certificate and trust bundle as the files gantry
// agent writes: no key material is served.
func (m *MTLS) secrets() []*ir.Secret {
	return []*ir.Secret{
		{Name: ca.BundleSecret, Files: &ir.SecretFiles{Directory: m.CertDir, CA: path.Join(m.CertDir, ca.CAFile)}},
		{Name: ca.WorkloadSecret, Files: &ir.SecretFiles{
			Directory: m.CertDir, Certificate: path.Join(m.CertDir, ca.CertFile), Key: path.Join(m.CertDir, ca.KeyFile),
		}},
	}
}

// identities indexes, per Service, the SPIFFE IDs of the pods its
// EndpointSlices name (targetRef kind Pod), sorted and distinct. Built once
// per translation, on first use.
func (t *translator) identities() map[nsName][]string {
	if t.spiffeIDs != nil {
		return t.spiffeIDs
	}
	pods := map[nsName]*corev1.Pod{}
	for p := range t.set.Pods.Values() {
		pods[nsName{p.Namespace, p.Name}] = p
	}
	t.spiffeIDs = map[nsName][]string{}
	for es := range t.set.EndpointSlices.Values() {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		k := nsName{es.Namespace, svc}
		for _, ep := range es.Endpoints {
			ref := ep.TargetRef
			if ref == nil || ref.Kind != "Pod" {
				continue
			}
			p := pods[nsName{cmp.Or(ref.Namespace, es.Namespace), ref.Name}]
			if p == nil {
				continue
			}
			id := ca.Identity{Namespace: p.Namespace, ServiceAccount: cmp.Or(p.Spec.ServiceAccountName, "default")}
			if s := id.SPIFFEID(t.mtls.TrustDomain); !slices.Contains(t.spiffeIDs[k], s) {
				t.spiffeIDs[k] = append(t.spiffeIDs[k], s)
			}
		}
	}
	for _, ids := range t.spiffeIDs {
		slices.Sort(ids)
	}
	return t.spiffeIDs
}

// secured returns c with upstream mTLS when mTLS is on: the workload
// certificate, the mesh bundle, and the SPIFFE IDs of the Service's pods as
// the only acceptable server names. A Service with no known pod gets no URI
// to accept; the SNI's DNS name is then checked, which no workload
// certificate carries (the certificate service refuses DNS names), so such
// calls fail closed. One secured copy per cluster name, shared by groups.
func (t *translator) secured(c *ir.Cluster) *ir.Cluster {
	if t.mtls == nil {
		return c
	}
	if s := t.securedClusters[c.Name]; s != nil {
		return s
	}
	out := *c
	if ns, svc, ok := serviceOfCluster(c.Name); ok {
		out.TLS = t.serviceTLS(ns, svc)
	} else {
		// Not a Service cluster: nothing to accept.
		out.TLS = &ir.UpstreamTLS{SNI: c.Name, ValidationSecret: ca.BundleSecret, ClientCertificateSecret: ca.WorkloadSecret}
	}
	t.securedClusters[c.Name] = &out
	return &out
}

// serviceTLS is mTLS towards the pods of Service ns/svc: the workload
// certificate, the mesh bundle, the Service's host name as SNI and its pods'
// SPIFFE IDs as the only acceptable names.
func (t *translator) serviceTLS(ns, svc string) *ir.UpstreamTLS {
	out := &ir.UpstreamTLS{SNI: HostName(ns, svc), ValidationSecret: ca.BundleSecret, ClientCertificateSecret: ca.WorkloadSecret}
	for _, id := range t.identities()[nsName{ns, svc}] {
		out.SubjectAltNameMatchers = append(out.SubjectAltNameMatchers, ir.SANMatch{Type: ir.SANURI, Value: id})
	}
	return out
}

// serviceOfCluster reads "<namespace>/<service>/<port>".
func serviceOfCluster(name string) (ns, svc string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	if _, err := strconv.ParseUint(parts[2], 10, 16); err != nil {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// serverListeners are the inbound listeners of the gRPC servers of
// namespace ns: one per endpoint address and port of the namespace's
// EndpointSlices (TCP), and per port one for each wildcard address (a
// server listening on ":port"), sorted by port then name; plus the route table they
// share. With mTLS on, they require a client certificate of the mesh
// bundle. Each carries the authorization of the Services it serves
// (gateway/authz).
func (t *translator) serverListeners(ns string) ([]*ir.Listener, *ir.RouteConfig) {
	if t.slicesByNS == nil {
		t.slicesByNS = map[string][]*discoveryv1.EndpointSlice{}
		for es := range t.set.EndpointSlices.Values() {
			t.slicesByNS[es.Namespace] = append(t.slicesByNS[es.Namespace], es)
		}
	}
	addrs := map[string][]string{} // address -> the Services it serves
	serve := func(a, svc string) {
		if !slices.Contains(addrs[a], svc) {
			addrs[a] = append(addrs[a], svc)
		}
	}
	// byPort: port -> Service -> its endpoint addresses, for the wildcard
	// listeners' authorization.
	byPort := map[string]map[string][]string{}
	policies := t.authz.In(ns)
	for _, es := range t.slicesByNS[ns] {
		svc := es.Labels[discoveryv1.LabelServiceName]
		for _, p := range es.Ports {
			if p.Port == nil || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
				continue
			}
			port := strconv.Itoa(int(*p.Port))
			serve(net.JoinHostPort("0.0.0.0", port), svc)
			serve(net.JoinHostPort("::", port), svc)
			for _, ep := range es.Endpoints {
				for _, a := range ep.Addresses {
					if ip := net.ParseIP(a); ip != nil {
						serve(net.JoinHostPort(ip.String(), port), svc)
						if !policies {
							continue
						}
						if byPort[port] == nil {
							byPort[port] = map[string][]string{}
						}
						byPort[port][svc] = append(byPort[port][svc], ip.String())
					}
				}
			}
		}
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	var out []*ir.Listener
	for a, svcs := range addrs {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.ParseUint(port, 10, 32)
		fc := &ir.FilterChain{Name: InboundRouteConfig, HTTP: &ir.HTTPConnectionManager{RouteConfigName: InboundRouteConfig, StatPrefix: InboundRouteConfig}}
		if t.mtls != nil {
			fc.TLS = &ir.DownstreamTLS{CertificateSecrets: []string{ca.WorkloadSecret}, ValidationSecret: ca.BundleSecret}
		}
		slices.Sort(svcs)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			fc.Authorization = t.authz.MeshWildcard(ns, sortedAddresses(byPort[port], svcs))
		} else {
			fc.Authorization = t.authz.MeshInbound(ns, svcs)
		}
		out = append(out, &ir.Listener{
			Name: GRPCServerListenerPrefix + a, Address: host, Port: uint32(p), Protocol: ir.ProtocolHTTP,
			GRPCServer: true, FilterChains: []*ir.FilterChain{fc},
		})
	}
	slices.SortFunc(out, func(a, b *ir.Listener) int { return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Name, b.Name)) })
	return out, &ir.RouteConfig{Name: InboundRouteConfig, VirtualHosts: plist.Of(&ir.VirtualHost{
		Name: InboundRouteConfig, Domains: []string{"*"},
		Routes: []*ir.Route{{Name: InboundRouteConfig + "/local", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, Local: &ir.LocalAction{}}},
	})}
}

// sortedAddresses is, for each of services, its addresses in byService,
// sorted and distinct.
func sortedAddresses(byService map[string][]string, services []string) map[string][]string {
	out := make(map[string][]string, len(services))
	for _, svc := range services {
		a := slices.Clone(byService[svc])
		slices.Sort(a)
		out[svc] = slices.Compact(a)
	}
	return out
}

// EndpointFacts is what the mesh derives from EndpointSlices beyond the
// endpoints themselves (the gRPC servers' inbound listeners, what sidecars
// take each port to speak, the pods whose mTLS mode applies and, with mTLS,
// the SPIFFE IDs clusters accept): per slice, its namespace, Service, TCP
// ports (number, name, appProtocol), addresses and pod references, in a
// canonical order. When it is
// equal for two Sets that differ only in EndpointSlices, refreshing
// endpoints (EDS) is enough; otherwise the mesh must be translated again.
func EndpointFacts(set *resource.Set) string {
	if set == nil {
		return ""
	}
	return slicesFacts(set.EndpointSlices.Slice())
}

// slicesFacts is EndpointFacts of a list of slices.
func slicesFacts(list []*discoveryv1.EndpointSlice) string {
	lines := make([]string, 0, len(list))
	for _, es := range list {
		var b strings.Builder
		b.WriteString(es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName] + ":")
		var parts []string
		for _, p := range es.Ports {
			if p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				// The name and appProtocol say what sidecars take it to speak.
				parts = append(parts, "p"+strconv.Itoa(int(*p.Port))+"/"+ptrString(p.Name)+"/"+ptrString(p.AppProtocol))
			}
		}
		for _, ep := range es.Endpoints {
			parts = append(parts, ep.Addresses...)
			if r := ep.TargetRef; r != nil {
				parts = append(parts, "ref "+r.Kind+" "+r.Namespace+"/"+r.Name)
			}
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, ","))
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
