// Package envoy turns Gantry's IR (xds/ir) into Envoy xDS resources
// (go-control-plane types). One file per resource kind: listener.go,
// route.go (with route_action.go), cluster.go, endpoint.go, secret.go;
// filters.go holds the explicit ordered list of HTTP filters; validate.go
// checks every output.
//
// Two flavors come out of the same IR: FlavorEnvoy for Envoy proxies and
// FlavorGRPC for proxyless gRPC clients (grpc-go's xDS client), which is also
// the end-to-end test oracle.
//
// Choices worth knowing:
//
//   - Unresolvable backends. A weight share whose Cluster is empty goes to
//     InvalidBackendCluster, which never has endpoints. Its per-filter
//     config makes a header mutation filter (before the router) set the
//     request header InvalidBackendHeader to the share's status; the router's
//     own header edits would come too late, as they are applied only once a
//     host is found. Envoy answers such a request locally with "no healthy
//     upstream" (response flag UH); the connection manager's
//     local_reply_config maps UH plus that header to the status (500 per the
//     Gateway API). A route whose every share is
//     unresolvable (or whose every weight is 0) is a direct response with the
//     status instead. The cluster is STATIC for Envoy and EDS with an empty
//     assignment for gRPC (grpc-go fails such calls with UNAVAILABLE). A
//     client that sends the header itself only changes its own 503 into the
//     status it named. TCP proxies send unresolvable shares to the same
//     cluster (the connection is closed).
//   - Timeouts. Envoy: RouteAction.timeout is always set, 0s meaning none, so
//     Envoy's 15 s default never applies. gRPC: max_stream_duration when set.
//     A per-try timeout alone is a retry policy with num_retries 0 (Envoy
//     applies it to the first attempt).
//   - Segment prefixes. Envoy: path_separated_prefix (trailing slashes
//     trimmed; "/" is prefix "/"). gRPC: prefix "/p/" and exact "/p" (two
//     routes, the second named "<route>/exact"). A prefix rewrite replaced by
//     "/" is a regex rewrite, so /p/x becomes /x rather than //x.
//   - 421. A TLS chain that asks for misdirected-request detection gets, in
//     its route configuration, a last virtual host for "*" answering 421
//     (unless the configuration already serves "*").
//   - Upstream TLS trusting the platform's roots reads SystemCABundle in
//     Envoy (which does not implement system_root_certs).
//   - Header edits are literal: "%" is escaped, Add appends, Set overwrites;
//     pseudo-headers and Host cannot be edited.
//   - gRPC flavor (grpc-go): api_listeners named "<domain>" and
//     "<domain>:<port>" per exact domain of every HTTP route configuration,
//     gRPC-code retry_on only (and only with at least one retry), no CORS
//     filter, SAN matchers in match_subject_alt_names, certificates from the
//     bootstrap's certificate provider CertificateProviderInstance instead of
//     SDS (and the platform roots from SystemRootsProviderInstance), a POST
//     method match dropped (call metadata has no :method), a locality message
//     on every locality.
//   - UDP. Envoy's UDP proxy sends a session to one cluster, so several
//     weighted backends become one EDS cluster "gantry/udp/<listener>" with a
//     locality per backend, weighted like it (locality-weighted balancing);
//     an unresolvable share is dropped when another backend resolves, and a
//     listener with none sends datagrams to InvalidBackendCluster.
//   - Envoy ignores api_listeners that arrive over LDS, so an IR API listener
//     is harmless in the Envoy flavor.
//   - Sidecars. A proxy with IR Sidecar set also gets, in the Envoy flavor,
//     the capture listeners mesh-outbound and mesh-inbound built from its
//     API listeners' Outbound and its gRPC server listeners' Inbound, and
//     the passthrough and loopback clusters they use (sidecar.go,
//     sidecar_inbound.go); its API listeners are left out (Envoy would only
//     log a warning for each).
package envoy

import (
	"fmt"
	"sort"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Flavor selects which kind of xDS client the output is for.
type Flavor string

const (
	// FlavorEnvoy is for Envoy proxies (the default).
	FlavorEnvoy Flavor = "envoy"
	// FlavorGRPC is for proxyless gRPC clients.
	FlavorGRPC Flavor = "grpc"
)

// Options tune Build.
type Options struct {
	// Flavor defaults to FlavorEnvoy when empty.
	Flavor Flavor `json:"flavor,omitempty"`
}

// Resources is the xDS output for one proxy group, each slice sorted by
// resource name. A route configuration is a *routev3.RouteConfiguration
// (Build) or a *RouteConfiguration (a Builder).
type Resources struct {
	Listeners []types.Resource
	Routes    []types.Resource
	Clusters  []types.Resource
	Endpoints []types.Resource
	Secrets   []types.Resource
}

// ByType returns the resources keyed by go-control-plane type URLs, the shape
// cache.NewSnapshot takes.
func (r *Resources) ByType() map[resourcev3.Type][]types.Resource {
	return map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: r.Listeners,
		resourcev3.RouteType:    r.Routes,
		resourcev3.ClusterType:  r.Clusters,
		resourcev3.EndpointType: r.Endpoints,
		resourcev3.SecretType:   r.Secrets,
	}
}

// InvalidBackendCluster is the cluster that a weight share with no resolvable
// backend is sent to. It never has endpoints: Envoy answers it locally, and a
// local reply mapper turns that answer into the share's InvalidStatus.
const InvalidBackendCluster = "gantry/invalid-backend"

// InvalidBackendHeader marks a request sent to InvalidBackendCluster; its
// value is the status to answer with. The HTTP connection manager's local
// reply config matches on it.
const InvalidBackendHeader = "x-gantry-invalid-backend-status"

// MetadataNamespace is the filter_metadata key of route metadata.
const MetadataNamespace = "gantry"

// Build turns p into xDS resources for opts.Flavor. The result has passed
// Validate. Invalid IR (for example a route with no action) is an error that
// names the object.
func Build(p *ir.Proxy, opts Options) (*Resources, error) {
	if p == nil {
		return nil, fmt.Errorf("build: nil proxy")
	}
	switch opts.Flavor {
	case "":
		opts.Flavor = FlavorEnvoy
	case FlavorEnvoy, FlavorGRPC:
	default:
		return nil, fmt.Errorf("proxy %s: unknown flavor %q", p.Name, opts.Flavor)
	}
	b := newBuilder(p, opts)
	out, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p.Name, err)
	}
	if err := Validate(out); err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p.Name, err)
	}
	return out, nil
}

// builder holds what one Build call learns while it goes: which route
// configurations need the CORS filter, which invalid-share statuses each
// route configuration uses, and whether the invalid-backend cluster is used.
type builder struct {
	proxy  *ir.Proxy
	flavor Flavor
	// routeInfo is keyed by route configuration name.
	routeInfo      map[string]*routeConfigInfo
	invalidBackend bool
	// gRPC flavor: extra domains per route config and virtual host, and the
	// api_listeners derived from HTTP listeners (sorted by name).
	grpcDomains map[string]map[string][]string
	grpcAPI     []grpcAPIListener
	// udpMerged are the clusters that join the weighted backends of a UDP
	// listener.
	udpMerged []udpMerged
	// collectors are the telemetry clusters, by name (observability.go).
	collectors map[string]collector
	// Sidecar capture (sidecar.go): the clusters the capture listeners add,
	// and the route tables outbound chains use.
	sidecarClusters map[string]*clusterv3.Cluster
	anyHost         map[string]bool
	// memo, when set, is the Builder whose memoized protos this build
	// reuses (incremental.go).
	memo *Builder
}

// routeConfigInfo is what listeners need to know about a route config.
type routeConfigInfo struct {
	cors            bool
	invalidStatuses []uint32 // sorted, distinct
	misdirected     bool     // a chain asked for 421 on host/SNI mismatch
	rbacStages      []string // RBAC filters of the chains using it (rbac.go)
}

func newBuilder(p *ir.Proxy, opts Options) *builder {
	return &builder{proxy: p, flavor: opts.Flavor, routeInfo: map[string]*routeConfigInfo{}, anyHost: map[string]bool{}}
}

func (b *builder) build() (*Resources, error) {
	out := &Resources{}
	b.markMisdirected()
	var err error
	if b.flavor == FlavorGRPC {
		if err = b.addGRPCDomains(); err != nil {
			return nil, err
		}
	}
	if out.Routes, err = b.routeConfigs(); err != nil {
		return nil, err
	}
	if out.Listeners, err = b.listeners(); err != nil {
		return nil, err
	}
	capture, err := b.sidecarListeners()
	if err != nil {
		return nil, err
	}
	out.Listeners = append(out.Listeners, capture...)
	b.widenOutboundHosts(out.Routes)
	if out.Clusters, err = b.clusters(); err != nil {
		return nil, err
	}
	if out.Endpoints, err = b.endpoints(); err != nil {
		return nil, err
	}
	if out.Secrets, err = b.secrets(); err != nil {
		return nil, err
	}
	for _, list := range [][]types.Resource{out.Listeners, out.Routes, out.Clusters, out.Endpoints, out.Secrets} {
		if b.memo == nil || !b.memo.sorted(list) {
			sortByName(list)
		}
	}
	return out, nil
}

// sortByName sorts resources by their name (stable for equal names, which
// Validate rejects anyway).
func sortByName(list []types.Resource) {
	less := func(i, j int) bool { return resourceName(list[i]) < resourceName(list[j]) }
	if sort.SliceIsSorted(list, less) {
		return // the usual case: the IR lists are sorted
	}
	sort.SliceStable(list, less)
}

func resourceName(r types.Resource) string {
	if n, ok := r.(types.ResourceWithName); ok {
		return n.GetName()
	}
	if cla, ok := r.(interface{ GetClusterName() string }); ok {
		return cla.GetClusterName()
	}
	return ""
}

// adsSource is the config source of everything fetched over ADS.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// mustAny packs m deterministically (map entries, such as RBAC policies,
// in key order), so equal configurations give equal bytes and content
// hashes; packing a generated message cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("pack %T: %v", m, err))
	}
	return a
}

func duration(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
