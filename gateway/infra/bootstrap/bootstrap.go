// Package bootstrap generates the configuration a proxy starts from: an Envoy
// bootstrap that dials Gantry's ADS server, or the gRPC xDS bootstrap JSON a
// proxyless gRPC client reads. The node's cluster is its group
// ("gateway/<ns>/<name>", "mesh/<ns>", ...; see GroupForms); the gRPC flavor is chosen by the node metadata
// "gantry.flavor": "grpc".
package bootstrap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path"
	"strconv"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Node metadata keys and values Gantry reads.
const (
	MetadataFlavor = "gantry.flavor"
	FlavorGRPC     = "grpc"
	FlavorEnvoy    = "envoy"

	// XDSClusterName is the static cluster Envoy reaches Gantry through.
	XDSClusterName = "gantry_xds"
)

// Options describe one node.
type Options struct {
	// Group is the node's cluster, one of GroupForms: "gateway/<ns>/<name>"
	// for a Gateway's fleet, "mesh/<ns>" for the mesh clients of a namespace.
	Group string
	// NodeID is unique per proxy; empty means "<group>/<hostname>".
	NodeID string
	// XDSAddress is Gantry's ADS address, host:port (default 127.0.0.1:18000).
	XDSAddress string
	// AdminAddress is Envoy's admin listener, host:port; the host must be a
	// loopback address (default 127.0.0.1:0, a free port).
	AdminAddress string
	// Metadata is added to the node metadata.
	Metadata map[string]string
	// StatsAddress, host:port, when set, gets a listener that serves only
	// Envoy's Prometheus stats (see stats.go); AdminAddress must then
	// have a fixed port.
	StatsAddress string
	// Credentials, when set, make the node reach Gantry over TLS and
	// authenticate (credentials.go); nil is plaintext (gantry serve
	// --xds-insecure).
	Credentials *Credentials
	// Limits are the overload manager's; zero means DefaultLimits.
	Limits Limits
	// CertDir is where gantry agent writes the workload's certificate, key
	// and trust bundle, which a gRPC bootstrap's certificate provider reads
	// (default ca.DefaultCertDir); CertRefresh is how often it re-reads
	// them (default DefaultCertRefresh).
	CertDir     string
	CertRefresh time.Duration
}

// The gRPC bootstrap's certificate providers and server listener names, as
// the gRPC flavor of xds/envoy and the mesh translator name them.
const (
	// CertProviderInstance reads the workload's files (file_watcher).
	CertProviderInstance = "gantry"
	// SystemRootsProviderInstance reads the platform's CA bundle.
	SystemRootsProviderInstance = "gantry-system-roots"
	SystemCABundle              = "/etc/ssl/certs/ca-certificates.crt"
	// ServerListenerTemplate names the inbound listener an xDS gRPC server
	// asks for ("%s" is its listening address).
	ServerListenerTemplate = "grpc/server?xds.resource.listening_address=%s"
	// DefaultCertRefresh is how often grpc-go re-reads the files; the agent
	// renews a certificate at half of its lifetime, hours before.
	DefaultCertRefresh = 10 * time.Minute
)

func (o Options) withDefaults() (Options, error) {
	if o.Group == "" {
		return o, fmt.Errorf("bootstrap: a group is required (%s)", GroupForms)
	}
	if err := ValidateGroup(o.Group); err != nil {
		return o, err
	}
	if o.XDSAddress == "" {
		o.XDSAddress = "127.0.0.1:18000"
	}
	if o.AdminAddress == "" {
		o.AdminAddress = "127.0.0.1:0"
	}
	if o.NodeID == "" {
		o.NodeID = o.Group + "/" + hostname()
	}
	if o.Credentials != nil {
		c := *o.Credentials
		o.Credentials = &c
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits()
	}
	if o.CertDir == "" {
		o.CertDir = ca.DefaultCertDir
	}
	if o.CertRefresh == 0 {
		o.CertRefresh = DefaultCertRefresh
	}
	if o.CertRefresh < 0 {
		return o, fmt.Errorf("bootstrap: certificate refresh interval %s: want a positive duration", o.CertRefresh)
	}
	return o, nil
}

// target is Options with the defaults applied and the xDS address split
// into the host and port a client dials.
type target struct {
	Options
	xdsHost string
	xdsPort uint32
}

func (o Options) resolve() (target, error) {
	o, err := o.withDefaults()
	if err != nil {
		return target{}, err
	}
	host, port, err := splitHostPort(o.XDSAddress, "xDS address")
	if err != nil {
		return target{}, err
	}
	return target{Options: o, xdsHost: dialable(host), xdsPort: port}, nil
}

// Envoy returns the Envoy bootstrap for opts, validated.
func Envoy(o Options) (*bootstrapv3.Bootstrap, error) {
	opts, err := o.resolve()
	if err != nil {
		return nil, err
	}
	adminHost, adminPort, err := splitHostPort(opts.AdminAddress, "admin address")
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(adminHost); adminHost != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("bootstrap: admin address %q must be on loopback", opts.AdminAddress)
	}
	meta, err := nodeMetadata(opts.Metadata, FlavorEnvoy)
	if err != nil {
		return nil, err
	}
	xdsCluster, err := xdsCluster(opts.xdsHost, opts.xdsPort)
	if err != nil {
		return nil, err
	}
	if c := opts.Credentials; c != nil {
		if err := c.check(false); err != nil {
			return nil, err
		}
		name := c.ServerName
		if name == "" {
			name = opts.xdsHost
		}
		if xdsCluster.TransportSocket, err = XDSTransportSocket(c, name); err != nil {
			return nil, err
		}
	}
	ads := &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: opts.NodeID, Cluster: opts.Group, Metadata: meta},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             corev3.ApiConfigSource_GRPC,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
						EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
					},
				}},
				SetNodeOnFirstMessageOnly: true,
			},
			LdsConfig: ads,
			CdsConfig: ads,
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xdsCluster}},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress(adminHost, adminPort),
		},
		LayeredRuntime:  Runtime(),
		OverloadManager: Overload(opts.Limits),
	}
	if err := addStats(b, opts.Options, adminHost, adminPort); err != nil {
		return nil, err
	}
	if err := Validate(b); err != nil {
		return nil, err
	}
	return b, nil
}

// xdsCluster is the static HTTP/2 cluster pointing at the ADS server.
func xdsCluster(host string, port uint32) (*clusterv3.Cluster, error) {
	protoOpts, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	discovery := clusterv3.Cluster_STATIC
	if net.ParseIP(host) == nil {
		discovery = clusterv3.Cluster_LOGICAL_DNS
	}
	return &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ConnectTimeout:                durationpb.New(5 * time.Second),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: discovery},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": protoOpts},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: XDSClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
						Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)},
					},
				}},
			}},
		},
	}, nil
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func nodeMetadata(extra map[string]string, flavor string) (*structpb.Struct, error) {
	fields := map[string]any{MetadataFlavor: flavor}
	for k, v := range extra {
		fields[k] = v
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: node metadata: %w", err)
	}
	return s, nil
}

// Validate runs ValidateAll on the bootstrap and on the messages packed in
// its typed extension options, which ValidateAll does not open.
func Validate(b *bootstrapv3.Bootstrap) error {
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap: invalid: %w", err)
	}
	if err := validateOverload(b.GetOverloadManager()); err != nil {
		return err
	}
	for _, c := range b.GetStaticResources().GetClusters() {
		for name, a := range c.GetTypedExtensionProtocolOptions() {
			m, err := a.UnmarshalNew()
			if err != nil {
				return fmt.Errorf("bootstrap: cluster %s: %s: %w", c.GetName(), name, err)
			}
			if v, ok := m.(interface{ ValidateAll() error }); ok {
				if err := v.ValidateAll(); err != nil {
					return fmt.Errorf("bootstrap: cluster %s: %s: %w", c.GetName(), name, err)
				}
			}
		}
	}
	return nil
}

// MarshalJSON renders a bootstrap as indented JSON, which Envoy reads with
// --config-path file.json.
func MarshalJSON(b *bootstrapv3.Bootstrap) ([]byte, error) {
	data, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	// protojson varies its spacing on purpose; re-indent for stable output.
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// MarshalYAML renders a bootstrap as YAML.
func MarshalYAML(b *bootstrapv3.Bootstrap) ([]byte, error) {
	data, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	out, err := yaml.JSONToYAML(data)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return out, nil
}

// GRPCBootstrap is the xDS bootstrap file of a proxyless gRPC client
// (GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG).
type GRPCBootstrap struct {
	XDSServers []GRPCServer `json:"xds_servers"`
	Node       GRPCNode     `json:"node"`
	// CertificateProviders are the certificate sources the gRPC flavor's
	// TLS names (CertProviderInstance, SystemRootsProviderInstance).
	CertificateProviders map[string]GRPCCertProvider `json:"certificate_providers,omitempty"`
	// ServerListenerTemplate names the Listener an xDS server asks for.
	ServerListenerTemplate string `json:"server_listener_resource_name_template,omitempty"`
}

// GRPCCertProvider is one certificate provider plugin instance.
type GRPCCertProvider struct {
	PluginName string            `json:"plugin_name"`
	Config     map[string]string `json:"config"`
}

// GRPCServer is one xDS server entry.
type GRPCServer struct {
	ServerURI      string            `json:"server_uri"`
	ChannelCreds   []GRPCChannelCred `json:"channel_creds"`
	CallCreds      []GRPCCallCred    `json:"call_creds,omitempty"`
	ServerFeatures []string          `json:"server_features,omitempty"`
}

// GRPCChannelCred names the credentials used to reach the server.
type GRPCChannelCred struct {
	Type   string            `json:"type"`
	Config map[string]string `json:"config,omitempty"`
}

// GRPCCallCred names per-call credentials (a token file).
type GRPCCallCred struct {
	Type   string            `json:"type"`
	Config map[string]string `json:"config,omitempty"`
}

// GRPCNode is the node a gRPC client announces.
type GRPCNode struct {
	ID       string            `json:"id"`
	Cluster  string            `json:"cluster"`
	Metadata map[string]string `json:"metadata"`
}

// GRPC returns the gRPC xDS bootstrap JSON for opts; the node metadata has
// gantry.flavor=grpc so that Gantry serves the gRPC flavor.
func GRPC(o Options) ([]byte, error) {
	opts, err := o.resolve()
	if err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for k, v := range opts.Metadata {
		meta[k] = v
	}
	meta[MetadataFlavor] = FlavorGRPC
	if c := opts.Credentials; c != nil {
		if err := c.check(true); err != nil {
			return nil, err
		}
	}
	channel, calls := grpcCreds(opts.Credentials)
	b := GRPCBootstrap{
		XDSServers: []GRPCServer{{
			ServerURI:      net.JoinHostPort(opts.xdsHost, strconv.Itoa(int(opts.xdsPort))),
			ChannelCreds:   channel,
			CallCreds:      calls,
			ServerFeatures: []string{"xds_v3"},
		}},
		Node:                   GRPCNode{ID: opts.NodeID, Cluster: opts.Group, Metadata: meta},
		CertificateProviders:   certProviders(opts.CertDir, opts.CertRefresh),
		ServerListenerTemplate: ServerListenerTemplate,
	}
	data, err := json.MarshalIndent(b, "", "  ") // map keys are sorted by encoding/json
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return append(data, '\n'), nil
}

// certProviders are grpc-go file_watcher providers: the workload's files in
// dir, and the platform's CA bundle.
func certProviders(dir string, refresh time.Duration) map[string]GRPCCertProvider {
	interval := strconv.FormatFloat(refresh.Seconds(), 'f', -1, 64) + "s"
	return map[string]GRPCCertProvider{
		CertProviderInstance: {PluginName: "file_watcher", Config: map[string]string{
			"certificate_file":    path.Join(dir, ca.CertFile),
			"private_key_file":    path.Join(dir, ca.KeyFile),
			"ca_certificate_file": path.Join(dir, ca.CAFile),
			"refresh_interval":    interval,
		}},
		SystemRootsProviderInstance: {PluginName: "file_watcher", Config: map[string]string{
			"ca_certificate_file": SystemCABundle,
			"refresh_interval":    interval,
		}},
	}
}

func splitHostPort(addr, what string) (string, uint32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("bootstrap: %s %q: %w", what, addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bootstrap: %s %q: bad port", what, addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, uint32(port), nil
}

// Clone returns a deep copy, for callers that adjust a generated bootstrap.
func Clone(b *bootstrapv3.Bootstrap) *bootstrapv3.Bootstrap {
	return proto.Clone(b).(*bootstrapv3.Bootstrap)
}

// dialable turns a listen-on-everything host into loopback, so that the
// address a server listens on (":18000", "0.0.0.0:18000") can be dialled.
func dialable(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
