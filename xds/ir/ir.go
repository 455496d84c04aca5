// Package ir is Gantry's own model of proxy configuration: listeners, route
// tables, clusters, endpoints and secrets. Translators (gateway, mesh) produce
// it; xds/envoy turns it into Envoy protos. It depends on the standard library
// only, so it carries no Kubernetes or Envoy types.
//
// Conventions:
//   - Every slice is sorted deterministically by the producer; consumers never
//     re-order.
//   - Names are stable and readable: "<namespace>/<gateway>/<port>" for
//     listeners, "<namespace>/<service>/<port>" for clusters.
//   - A nil pointer means "not set"; zero values are meaningful only where a
//     field's comment says so.
package ir

import (
	"time"

	"github.com/gantryproxy/gantry/internal/plist"
)

// Proxy is the whole configuration for one node group: the Envoy fleet of a
// Gateway, a sidecar group, or a proxyless gRPC client group.
type Proxy struct {
	// Name identifies the node group, for example "gateway/default/eg".
	Name string `json:"name"`
	// Listeners are sorted by port then name.
	Listeners []*Listener `json:"listeners,omitempty"`
	// RouteConfigs are sorted by name.
	RouteConfigs []*RouteConfig `json:"routeConfigs,omitempty"`
	// Clusters are sorted by name; each names its endpoints (EDS) by its own
	// name. A persistent list: a version that changes a few clusters (an
	// endpoint change) shares the chunks it did not reach with the one before.
	Clusters plist.List[*Cluster] `json:"clusters,omitzero"`
	// Secrets are sorted by name.
	Secrets []*Secret `json:"secrets,omitempty"`
	// Telemetry configures access logs and tracing (see telemetry.go).
	Telemetry *Telemetry `json:"telemetry,omitempty"`
	// Sidecar, on a mesh group, asks the Envoy flavor for the capture
	// listeners (see sidecar.go).
	Sidecar *Sidecar `json:"sidecar,omitempty"`
}

// Protocol is what a listener or a filter chain speaks.
type Protocol string

const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
	ProtocolTLS   Protocol = "TLS"
	ProtocolTCP   Protocol = "TCP"
	ProtocolUDP   Protocol = "UDP"
)

// Listener is one bound port.
type Listener struct {
	Name     string   `json:"name"`
	Address  string   `json:"address"`
	Port     uint32   `json:"port"`
	Protocol Protocol `json:"protocol"`
	// FilterChains are matched by SNI (ServerNames); a chain with no
	// ServerNames is the default. Sorted: most specific server names first.
	FilterChains []*FilterChain `json:"filterChains,omitempty"`
	// UDP is set for UDP listeners, which have no filter chains.
	UDP *UDPProxy `json:"udp,omitempty"`
	// API marks a listener served to proxyless gRPC clients as an
	// api_listener (no address): its RouteConfig is fetched over RDS.
	API bool `json:"api,omitempty"`
	// GRPCServer marks the inbound listener of a proxyless gRPC server
	// (grpc-go's xds.NewGRPCServer asks for it by name and checks Address
	// and Port against its own socket): one filter chain, no server names,
	// and routes whose Local action hands requests to that server. Only the
	// gRPC flavor serves it; the Envoy flavor leaves it out.
	GRPCServer bool `json:"grpcServer,omitempty"`
	// Outbound (on an API listener) and Inbound (on a GRPCServer listener)
	// place the listener in a sidecar's capture listeners (sidecar.go).
	Outbound *Outbound `json:"outbound,omitempty"`
	Inbound  *Inbound  `json:"inbound,omitempty"`
}

// FilterChain is one branch of a listener.
type FilterChain struct {
	Name string `json:"name"`
	// ServerNames are the SNI names this chain matches (exact or "*.suffix").
	ServerNames []string `json:"serverNames,omitempty"`
	// TLS terminates TLS on this chain when set.
	TLS *DownstreamTLS `json:"tls,omitempty"`
	// Exactly one of HTTP and TCP is set.
	HTTP *HTTPConnectionManager `json:"http,omitempty"`
	TCP  *TCPProxy              `json:"tcp,omitempty"`
	// Authorization, when set, is enforced on this chain before routing
	// (HTTP) or forwarding (TCP): see authz.go.
	Authorization *Authorization `json:"authorization,omitempty"`
}

// HTTPConnectionManager is the HTTP filter of a chain.
type HTTPConnectionManager struct {
	// RouteConfigName is fetched over RDS.
	RouteConfigName string `json:"routeConfigName"`
	// StatPrefix names the stats of this manager.
	StatPrefix string `json:"statPrefix"`
	// CORS enables the CORS filter; per-route policies live on routes.
	CORS bool `json:"cors,omitempty"`
	// HTTP2 lets clients speak HTTP/2 (ALPN h2) on TLS chains.
	HTTP2 bool `json:"http2,omitempty"`
	// DetectMisdirected answers 421 when the Host does not match the SNI of
	// this chain.
	DetectMisdirected bool `json:"detectMisdirected,omitempty"`
	// Edge hardens a manager facing clients (edge.go).
	Edge *EdgeSettings `json:"edge,omitempty"`
}

// DownstreamTLS is TLS termination towards clients.
type DownstreamTLS struct {
	// CertificateSecrets are SDS secret names holding certificate + key.
	CertificateSecrets []string `json:"certificateSecrets"`
	// ValidationSecret, when set, requires client certificates signed by the
	// CA bundle in that SDS secret.
	ValidationSecret string `json:"validationSecret,omitempty"`
	// AllowInsecureFallback accepts clients without a certificate.
	AllowInsecureFallback bool     `json:"allowInsecureFallback,omitempty"`
	ALPN                  []string `json:"alpn,omitempty"`
}

// TCPProxy forwards raw bytes (TCPRoute, TLS passthrough, TLSRoute terminate).
type TCPProxy struct {
	StatPrefix string            `json:"statPrefix"`
	Backends   []WeightedCluster `json:"backends"`
}

// UDPProxy forwards datagrams.
type UDPProxy struct {
	StatPrefix string            `json:"statPrefix"`
	Backends   []WeightedCluster `json:"backends"`
}

// RouteConfig is a route table: virtual hosts chosen by Host/authority.
type RouteConfig struct {
	Name string `json:"name"`
	// VirtualHosts are sorted by name; Envoy picks by most specific domain.
	// A persistent list: a route configuration made from another by
	// changing a few hosts shares the rest of the list with it.
	VirtualHosts plist.List[*VirtualHost] `json:"virtualHosts,omitzero"`
	// IgnorePortInHost matches domains regardless of a ":port" suffix.
	IgnorePortInHost bool `json:"ignorePortInHost,omitempty"`
}

// VirtualHost groups the routes of one hostname.
type VirtualHost struct {
	Name string `json:"name"`
	// Domains are hostnames ("example.com", "*.example.com", "*").
	Domains []string `json:"domains"`
	// Routes are in match order: the first match wins.
	Routes []*Route `json:"routes,omitempty"`
	// Authorization, when set, replaces the Authorization of the filter
	// chains that use this route table for requests routed by this virtual
	// host (one listener's policies on an HTTP port that several listeners
	// share). Only chains that carry an Authorization (possibly empty)
	// enforce it; a request that matches no route of the virtual host gets
	// the chain's Authorization.
	Authorization *Authorization `json:"authorization,omitempty"`
}

// Route is one match and what to do with it.
type Route struct {
	// Name is "<namespace>/<route>/rule/<i>/match/<j>" or similar; stable.
	Name  string     `json:"name"`
	Match RouteMatch `json:"match"`
	// Exactly one of Forward, Redirect, DirectResponse and Local is set.
	Forward        *ForwardAction  `json:"forward,omitempty"`
	Redirect       *Redirect       `json:"redirect,omitempty"`
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`
	// Local hands the request to the server that owns the listener (a
	// proxyless gRPC server's own services); only GRPCServer listeners'
	// routes may use it.
	Local *LocalAction `json:"local,omitempty"`
	// Header edits on the request before it is forwarded, and on the response.
	RequestHeaders  *HeaderMutation `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderMutation `json:"responseHeaders,omitempty"`
	CORS            *CORSPolicy     `json:"cors,omitempty"`
	// Metadata is informative (route kind, namespace, name, rule name); it is
	// emitted as filter metadata so config dumps and logs can be traced back.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// PathMatchType is how RouteMatch.Path is compared.
type PathMatchType string

const (
	PathExact  PathMatchType = "Exact"
	PathPrefix PathMatchType = "Prefix" // segment-aware: /foo matches /foo and /foo/bar, not /foobar
	PathRegex  PathMatchType = "Regex"
)

// StringMatchType is how a header or query value is compared.
type StringMatchType string

const (
	MatchExact   StringMatchType = "Exact"
	MatchRegex   StringMatchType = "Regex"
	MatchPresent StringMatchType = "Present"
	MatchPrefix  StringMatchType = "Prefix"
)

// RouteMatch is a conjunction of conditions.
type RouteMatch struct {
	PathType PathMatchType `json:"pathType"`
	Path     string        `json:"path"`
	Headers  []StringMatch `json:"headers,omitempty"`
	Query    []StringMatch `json:"query,omitempty"`
	Method   string        `json:"method,omitempty"`
	// GRPC is set for GRPCRoute matches; Path then holds "/service/method"
	// (or a regex of it) and the match requires content-type application/grpc.
	GRPC bool `json:"grpc,omitempty"`
}

// StringMatch compares one named header or query parameter.
type StringMatch struct {
	Name   string          `json:"name"`
	Type   StringMatchType `json:"type"`
	Value  string          `json:"value,omitempty"`
	Invert bool            `json:"invert,omitempty"`
}

// WeightedCluster is one backend of a route with its share.
type WeightedCluster struct {
	// Cluster is the cluster's name. Empty means the backend could not be
	// resolved: its share of traffic answers with InvalidStatus.
	Cluster string `json:"cluster,omitempty"`
	Weight  uint32 `json:"weight"`
	// InvalidStatus is the HTTP status sent for this share when Cluster is
	// empty (500 per the Gateway API spec).
	InvalidStatus uint32 `json:"invalidStatus,omitempty"`
	// Per-backend header edits (HTTPBackendRef filters).
	RequestHeaders  *HeaderMutation `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderMutation `json:"responseHeaders,omitempty"`
}

// ForwardAction sends the request to one or more clusters.
type ForwardAction struct {
	Backends []WeightedCluster `json:"backends"`
	// Timeout bounds the whole request (0: no limit set by the route).
	Timeout time.Duration `json:"timeout,omitempty"`
	// PerTryTimeout bounds each attempt to a backend.
	PerTryTimeout time.Duration `json:"perTryTimeout,omitempty"`
	Rewrite       *Rewrite      `json:"rewrite,omitempty"`
	Mirrors       []Mirror      `json:"mirrors,omitempty"`
	Retry         *RetryPolicy  `json:"retry,omitempty"`
	// UpgradeWebSocket allows the WebSocket upgrade on this route.
	UpgradeWebSocket bool `json:"upgradeWebSocket,omitempty"`
}

// Rewrite edits the request before forwarding.
type Rewrite struct {
	Hostname string `json:"hostname,omitempty"`
	// FullPath replaces the whole path; PrefixPath replaces the matched
	// prefix (only valid with PathPrefix matches). At most one is set.
	FullPath   *string `json:"fullPath,omitempty"`
	PrefixPath *string `json:"prefixPath,omitempty"`
}

// Mirror copies a share of requests to another cluster, ignoring the answer.
type Mirror struct {
	Cluster string `json:"cluster"`
	// Numerator/Denominator of requests mirrored; 0/0 means all.
	Numerator   uint32 `json:"numerator,omitempty"`
	Denominator uint32 `json:"denominator,omitempty"`
}

// RetryPolicy retries failed attempts.
type RetryPolicy struct {
	// Codes are HTTP status codes that trigger a retry.
	Codes []uint32 `json:"codes,omitempty"`
	// GRPCCodes are gRPC status names ("unavailable", "cancelled") for
	// proxyless clients and gRPC routes.
	GRPCCodes []string      `json:"grpcCodes,omitempty"`
	Attempts  uint32        `json:"attempts"`
	Backoff   time.Duration `json:"backoff,omitempty"`
	// ConnectFailure also retries on connection errors and resets.
	ConnectFailure bool `json:"connectFailure,omitempty"`
}

// Redirect answers with a redirect.
type Redirect struct {
	Scheme   string `json:"scheme,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Port 0 keeps the default port of the scheme.
	Port       uint32  `json:"port,omitempty"`
	FullPath   *string `json:"fullPath,omitempty"`
	PrefixPath *string `json:"prefixPath,omitempty"`
	// StatusCode is 301, 302, 303, 307 or 308.
	StatusCode uint32 `json:"statusCode"`
}

// LocalAction hands a request to the listening server itself (xDS
// non_forwarding_action). It has no settings.
type LocalAction struct{}

// DirectResponse answers locally.
type DirectResponse struct {
	Status uint32 `json:"status"`
	Body   string `json:"body,omitempty"`
}

// HeaderMutation adds, sets and removes headers.
type HeaderMutation struct {
	// Add appends a value; Set overwrites. Both sorted by name as given.
	Add    []Header `json:"add,omitempty"`
	Set    []Header `json:"set,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Header is a name and a value.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CORSPolicy is a per-route CORS policy.
type CORSPolicy struct {
	AllowOrigins     []StringMatch `json:"allowOrigins,omitempty"`
	AllowMethods     []string      `json:"allowMethods,omitempty"`
	AllowHeaders     []string      `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string      `json:"exposeHeaders,omitempty"`
	MaxAge           time.Duration `json:"maxAge,omitempty"`
	AllowCredentials bool          `json:"allowCredentials,omitempty"`
}

// AppProtocol is what a cluster speaks to its endpoints.
type AppProtocol string

const (
	AppHTTP1     AppProtocol = "HTTP/1.1"
	AppHTTP2     AppProtocol = "HTTP/2"    // h2c, or h2 with TLS
	AppWebSocket AppProtocol = "WebSocket" // HTTP/1.1 with upgrades
	AppTCP       AppProtocol = "TCP"       // raw, for TCP/TLS routes
	AppUDP       AppProtocol = "UDP"
)

// Cluster is a group of endpoints reached the same way.
type Cluster struct {
	// Name is "<namespace>/<service>/<port>"; EDS uses the same name.
	Name           string        `json:"name"`
	Protocol       AppProtocol   `json:"protocol"`
	ConnectTimeout time.Duration `json:"connectTimeout,omitempty"`
	// TLS originates TLS to the endpoints (BackendTLSPolicy, mesh mTLS).
	TLS *UpstreamTLS `json:"tls,omitempty"`
	// Endpoints are served over EDS under the cluster's name, sorted by
	// address then port.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// OriginalDestination connects to the address the client dialled (a
	// sidecar's capture of a headless Service's pod) instead of Endpoints;
	// only the Envoy flavor serves it.
	OriginalDestination bool `json:"originalDestination,omitempty"`
}

// HealthStatus of an endpoint.
type HealthStatus string

const (
	Healthy  HealthStatus = "Healthy"
	Draining HealthStatus = "Draining" // terminating but still serving
	Unready  HealthStatus = "Unhealthy"
)

// Endpoint is one address of a cluster.
type Endpoint struct {
	Address string       `json:"address"`
	Port    uint32       `json:"port"`
	Health  HealthStatus `json:"health"`
	// Zone is informative (topology.kubernetes.io/zone).
	Zone string `json:"zone,omitempty"`
}

// UpstreamTLS is TLS towards a backend.
type UpstreamTLS struct {
	// SNI sent to the backend and the DNS name its certificate must carry
	// unless SubjectAltNames or SubjectAltNameMatchers is set.
	SNI string `json:"sni"`
	// ValidationSecret is the SDS secret with the trusted CA bundle; empty
	// with SystemCA means the platform's roots.
	ValidationSecret string `json:"validationSecret,omitempty"`
	SystemCA         bool   `json:"systemCA,omitempty"`
	// SubjectAltNames are DNS names, one of which the certificate must
	// carry. Kept for producers written before SubjectAltNameMatchers; the
	// two lists add up (these first).
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// SubjectAltNameMatchers are typed subject alt names, one of which the
	// certificate must carry.
	SubjectAltNameMatchers []SANMatch `json:"subjectAltNameMatchers,omitempty"`
	// ClientCertificateSecret is an SDS secret with a client certificate.
	ClientCertificateSecret string   `json:"clientCertificateSecret,omitempty"`
	ALPN                    []string `json:"alpn,omitempty"`
}

// SANType is the kind of a subject alt name.
type SANType string

const (
	SANDNS SANType = "DNS" // a host name (dNSName)
	SANURI SANType = "URI" // a URI such as a SPIFFE ID (uniformResourceIdentifier)
)

// SANMatch is a subject alt name a certificate must carry, matched exactly
// against the certificate's names of that type.
type SANMatch struct {
	Type  SANType `json:"type"`
	Value string  `json:"value"`
}

// Secret is served over SDS: either a certificate with its key, or a CA bundle.
type Secret struct {
	Name string `json:"name"`
	// PEM data. Certificate and Key are set together; CA alone is a
	// validation context.
	Certificate []byte `json:"certificate,omitempty"`
	Key         []byte `json:"key,omitempty"`
	CA          []byte `json:"ca,omitempty"`
	// Files, instead of PEM data, names files on the proxy's own
	// filesystem (a workload certificate that an agent next to the proxy
	// writes): no key material travels over xDS.
	Files *SecretFiles `json:"files,omitempty"`
}

// SecretFiles are the paths of a secret's PEM files. Certificate and Key are
// set together; CA alone is a validation context.
type SecretFiles struct {
	// Directory is watched: the proxy re-reads the files when an entry is
	// moved into it (the ..data link switch of Kubernetes volumes and of
	// gantry agent), so it never pairs a certificate with another key.
	Directory   string `json:"directory"`
	Certificate string `json:"certificate,omitempty"`
	Key         string `json:"key,omitempty"`
	CA          string `json:"ca,omitempty"`
}
