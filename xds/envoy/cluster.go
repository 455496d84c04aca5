package envoy

import (
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/anypb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// CertificateProviderInstance is the certificate provider that the gRPC
// flavor's upstream TLS names: grpc-go reads certificates from providers
// declared in its bootstrap, not over SDS. Each SDS secret name becomes a
// certificate name of this instance.
const CertificateProviderInstance = "gantry"

// SystemCABundle is the platform's CA bundle that Envoy reads for upstream
// TLS trusting the system roots (IR SystemCA); it is where Debian, Ubuntu
// and the Envoy images keep it.
const SystemCABundle = "/etc/ssl/certs/ca-certificates.crt"

// SystemRootsProviderInstance is the certificate provider that the gRPC
// flavor names for upstream TLS trusting the platform's roots (IR SystemCA):
// a gRPC bootstrap declares it as a file_watcher whose ca_certificate_file is
// the system CA bundle.
const SystemRootsProviderInstance = "gantry-system-roots"

func (b *builder) clusters() ([]types.Resource, error) {
	var out []types.Resource
	var seen map[string]bool
	var err error
	if b.memo != nil && len(b.udpMerged) == 0 {
		out, seen, err = b.memo.irClusters(b) // shared: appended to as a copy
	} else {
		out, seen, err = b.irClusters(b.proxy.Clusters.Len() + 1)
	}
	if err != nil {
		return nil, err
	}
	for _, m := range b.udpMerged {
		if seen[m.name] {
			return nil, fmt.Errorf("cluster %s: duplicate or reserved name", m.name)
		}
		seen[m.name] = true
		out = append(out, udpMergedCluster(m))
	}
	for _, c := range b.sidecarClusterList() {
		if seen[c.Name] {
			return nil, fmt.Errorf("cluster %s: duplicate or reserved name", c.Name)
		}
		seen[c.Name] = true
		out = append(out, c)
	}
	if b.invalidBackend {
		out = append(out, b.invalidCluster())
	}
	for _, c := range b.collectorClusters() {
		if seen[c.Name] {
			return nil, fmt.Errorf("cluster %s: duplicate or reserved name", c.Name)
		}
		out = append(out, c)
	}
	return out, nil
}

// irClusters builds the proxy's IR clusters, in order, into a list of
// capacity size, with the set of their names.
func (b *builder) irClusters(size int) ([]types.Resource, map[string]bool, error) {
	out := make([]types.Resource, 0, size)
	seen := make(map[string]bool, b.proxy.Clusters.Len())
	for c := range b.proxy.Clusters.Values() {
		if c == nil || (c.OriginalDestination && b.flavor == FlavorGRPC) {
			continue
		}
		if c.Name == "" {
			return nil, nil, fmt.Errorf("cluster with an empty name")
		}
		if seen[c.Name] || c.Name == InvalidBackendCluster {
			return nil, nil, fmt.Errorf("cluster %s: duplicate or reserved name", c.Name)
		}
		seen[c.Name] = true
		pc, err := b.clusterOf(c)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		out = append(out, pc)
	}
	return out, seen, nil
}

// invalidCluster never has endpoints. Envoy gets it as a static cluster (no
// EDS round trip); grpc-go only knows EDS clusters, so the gRPC flavor serves
// it an empty ClusterLoadAssignment.
func (b *builder) invalidCluster() *clusterv3.Cluster {
	c := &clusterv3.Cluster{Name: InvalidBackendCluster, LbPolicy: clusterv3.Cluster_ROUND_ROBIN}
	if b.flavor == FlavorGRPC {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
		return c
	}
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: InvalidBackendCluster}
	return c
}

func (b *builder) cluster(c *ir.Cluster) (*clusterv3.Cluster, error) {
	if c.ConnectTimeout < 0 {
		return nil, fmt.Errorf("connectTimeout must not be negative")
	}
	out := &clusterv3.Cluster{
		Name:                 c.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
	if c.OriginalDestination {
		if len(c.Endpoints) > 0 {
			return nil, fmt.Errorf("originalDestination: the cluster cannot have endpoints")
		}
		out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		out.EdsClusterConfig = nil
		out.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	}
	if c.ConnectTimeout > 0 {
		out.ConnectTimeout = duration(c.ConnectTimeout)
	}
	var alpn []string
	switch c.Protocol {
	case ir.AppHTTP2:
		out.TypedExtensionProtocolOptions = map[string]*anypb.Any{http2OptionsKey: mustAny(&httpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			}},
		})}
		alpn = []string{"h2"}
	case ir.AppHTTP1, ir.AppWebSocket, "":
		alpn = []string{"http/1.1"}
	case ir.AppTCP, ir.AppUDP:
	default:
		return nil, fmt.Errorf("protocol %q: unknown", c.Protocol)
	}
	if c.TLS != nil {
		ts, err := b.upstreamTLS(c.TLS, alpn)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		out.TransportSocket = ts
	}
	return out, nil
}

// upstreamTLS originates TLS: SNI, a trust anchor (an SDS CA bundle or the
// system roots), SAN checks (see sanMatchers) and an
// optional client certificate.
func (b *builder) upstreamTLS(t *ir.UpstreamTLS, alpn []string) (*corev3.TransportSocket, error) {
	if t.ValidationSecret == "" && !t.SystemCA {
		return nil, fmt.Errorf("no trust anchor: set validationSecret or systemCA")
	}
	matchers, err := sanMatchers(t)
	if err != nil {
		return nil, err
	}
	vc := &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: matchers}
	if len(t.ALPN) > 0 {
		alpn = append([]string(nil), t.ALPN...)
	}
	ctx := &tlsv3.CommonTlsContext{AlpnProtocols: alpn}
	if b.flavor == FlavorGRPC {
		b.grpcUpstreamTLS(ctx, vc, t)
	} else {
		if t.ClientCertificateSecret != "" {
			ctx.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsConfig(t.ClientCertificateSecret)}
		}
		if t.ValidationSecret != "" {
			ctx.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         vc,
					ValidationContextSdsSecretConfig: sdsConfig(t.ValidationSecret),
				},
			}
		} else {
			// Envoy does not implement system_root_certs: name the bundle.
			vc.TrustedCa = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: SystemCABundle}}
			ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
		}
	}
	return tlsSocket(&tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: ctx}), nil
}

// sanMatchers lists the subject alt names the backend's certificate must
// carry (any one): the DNS names of SubjectAltNames, then the typed
// SubjectAltNameMatchers; with neither, the SNI as a DNS name.
func sanMatchers(t *ir.UpstreamTLS) ([]*tlsv3.SubjectAltNameMatcher, error) {
	sans := make([]ir.SANMatch, 0, len(t.SubjectAltNames)+len(t.SubjectAltNameMatchers))
	for _, s := range t.SubjectAltNames {
		sans = append(sans, ir.SANMatch{Type: ir.SANDNS, Value: s})
	}
	sans = append(sans, t.SubjectAltNameMatchers...)
	if len(sans) == 0 && t.SNI != "" {
		sans = []ir.SANMatch{{Type: ir.SANDNS, Value: t.SNI}}
	}
	out := make([]*tlsv3.SubjectAltNameMatcher, 0, len(sans))
	for i, s := range sans {
		var typ tlsv3.SubjectAltNameMatcher_SanType
		switch s.Type {
		case ir.SANDNS:
			typ = tlsv3.SubjectAltNameMatcher_DNS
		case ir.SANURI:
			typ = tlsv3.SubjectAltNameMatcher_URI
		default:
			return nil, fmt.Errorf("subject alt name %d (%q): type %q unknown, want %s or %s", i, s.Value, s.Type, ir.SANDNS, ir.SANURI)
		}
		out = append(out, &tlsv3.SubjectAltNameMatcher{
			SanType: typ,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s.Value}},
		})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// grpcUpstreamTLS names certificates through the bootstrap's certificate
// provider instance, the only source grpc-go reads.
// grpc-go checks SANs from match_subject_alt_names only, so the matchers move
// there. Those matchers carry no type: grpc-go compares each against every
// DNS name (wildcard-aware), email, IP and URI of the certificate, so a URI
// SAN still matches the certificate's URI (a DNS name holds no "://").
func (b *builder) grpcUpstreamTLS(ctx *tlsv3.CommonTlsContext, vc *tlsv3.CertificateValidationContext, t *ir.UpstreamTLS) {
	for _, m := range vc.MatchTypedSubjectAltNames {
		//lint:ignore SA1019 grpc-go reads only the deprecated untyped field
		vc.MatchSubjectAltNames = append(vc.MatchSubjectAltNames, m.Matcher)
	}
	vc.MatchTypedSubjectAltNames = nil
	if t.ClientCertificateSecret != "" {
		ctx.TlsCertificateProviderInstance = &tlsv3.CertificateProviderPluginInstance{
			InstanceName: CertificateProviderInstance, CertificateName: t.ClientCertificateSecret,
		}
	}
	if t.ValidationSecret != "" {
		vc.CaCertificateProviderInstance = &tlsv3.CertificateProviderPluginInstance{
			InstanceName: CertificateProviderInstance, CertificateName: t.ValidationSecret,
		}
	} else {
		// grpc-go only reads system_root_certs behind an experimental
		// switch, so the platform roots come from a provider of their own.
		vc.CaCertificateProviderInstance = &tlsv3.CertificateProviderPluginInstance{
			InstanceName: SystemRootsProviderInstance,
		}
	}
	ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
}

// udpMerged is a cluster joining the weighted backends of one UDP listener.
type udpMerged struct {
	name   string
	shares []ir.WeightedCluster
}

// udpMergedName names the merged cluster of a UDP listener.
func udpMergedName(listener string) string { return "gantry/udp/" + listener }

// udpMergedCluster balances over localities weighted like the backends:
// each backend's endpoints form one locality (see udpLoadAssignment).
func udpMergedCluster(m udpMerged) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 m.name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{
			LocalityConfigSpecifier: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
				LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
			},
		},
	}
}
