package envoy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// httpListener is an HTTP listener on port 80 named name, with one filter
// chain whose connection manager reads the route configuration of that name.
func httpListener(name string) *ir.Listener {
	return &ir.Listener{
		Name: name, Port: 80, Protocol: ir.ProtocolHTTP,
		FilterChains: []*ir.FilterChain{{
			Name: name,
			HTTP: &ir.HTTPConnectionManager{RouteConfigName: name, StatPrefix: name},
		}},
	}
}

// oneRoute is a proxy with one HTTP listener, one virtual host and r.
func oneRoute(r *ir.Route, clusters ...string) *ir.Proxy {
	p := &ir.Proxy{
		Name:      "gateway/default/eg",
		Listeners: []*ir.Listener{httpListener("default/eg/80")},
		RouteConfigs: []*ir.RouteConfig{{
			Name: "default/eg/80",
			VirtualHosts: plist.Of([]*ir.VirtualHost{{
				Name: "vh", Domains: []string{"example.com"}, Routes: []*ir.Route{r},
			}}...),
		}},
	}
	for _, c := range clusters {
		p.Clusters = p.Clusters.Append(&ir.Cluster{Name: c, Protocol: ir.AppHTTP1})
	}
	return p
}

func forwardTo(cluster string) *ir.ForwardAction {
	return &ir.ForwardAction{Backends: []ir.WeightedCluster{{Cluster: cluster, Weight: 1}}}
}

// builtRoutes builds p and returns the routes of its only virtual host.
func builtRoutes(t *testing.T, p *ir.Proxy, flavor Flavor) []*routev3.Route {
	t.Helper()
	res, err := Build(p, Options{Flavor: flavor})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	rc := res.Routes[0].(*routev3.RouteConfiguration)
	return rc.VirtualHosts[0].Routes
}

func TestSegmentPrefix(t *testing.T) {
	sep := func(p string) *routev3.RouteMatch {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}}
	}
	prefix := func(p string) *routev3.RouteMatch {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
	}
	exact := func(p string) *routev3.RouteMatch {
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: p}}
	}
	tests := []struct {
		name   string
		path   string
		flavor Flavor
		want   []*routev3.RouteMatch
	}{
		{name: "envoy plain", path: "/foo", flavor: FlavorEnvoy, want: []*routev3.RouteMatch{sep("/foo")}},
		{name: "envoy trailing slash", path: "/foo/bar/", flavor: FlavorEnvoy, want: []*routev3.RouteMatch{sep("/foo/bar")}},
		{name: "envoy root", path: "/", flavor: FlavorEnvoy, want: []*routev3.RouteMatch{prefix("/")}},
		{name: "envoy empty", path: "", flavor: FlavorEnvoy, want: []*routev3.RouteMatch{prefix("/")}},
		{name: "grpc plain", path: "/foo", flavor: FlavorGRPC, want: []*routev3.RouteMatch{prefix("/foo/"), exact("/foo")}},
		{name: "grpc trailing slashes", path: "/foo//", flavor: FlavorGRPC, want: []*routev3.RouteMatch{prefix("/foo/"), exact("/foo")}},
		{name: "grpc root", path: "/", flavor: FlavorGRPC, want: []*routev3.RouteMatch{prefix("/")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &ir.Route{Name: "r", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: tt.path}, Forward: forwardTo("c")}
			routes := builtRoutes(t, oneRoute(r, "c"), tt.flavor)
			var got []*routev3.RouteMatch
			for _, rt := range routes {
				got = append(got, rt.Match)
			}
			if d := cmp.Diff(tt.want, got, protocmp.Transform()); d != "" {
				t.Errorf("matches (-want +got):\n%s", d)
			}
			if len(routes) == 2 && routes[1].Name != "r/exact" {
				t.Errorf("second route name = %q, want r/exact", routes[1].Name)
			}
		})
	}
}

func TestInvalidBackendShare(t *testing.T) {
	r := &ir.Route{
		Name:  "r",
		Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"},
		Forward: &ir.ForwardAction{Backends: []ir.WeightedCluster{
			{Cluster: "c", Weight: 3},
			{Weight: 1, InvalidStatus: 500},
		}},
	}
	res, err := Build(oneRoute(r, "c"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	route := res.Routes[0].(*routev3.RouteConfiguration).VirtualHosts[0].Routes[0]
	want := &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
		{Name: "c", Weight: wrapperspb.UInt32(3)},
		{
			Name:   InvalidBackendCluster,
			Weight: wrapperspb.UInt32(1),
			TypedPerFilterConfig: map[string]*anypb.Any{invalidBackendFilterName: mustAny(&headermutationv3.HeaderMutationPerRoute{
				Mutations: &headermutationv3.Mutations{RequestMutations: []*mutationrulesv3.HeaderMutation{{
					Action: &mutationrulesv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
						Header:       &corev3.HeaderValue{Key: InvalidBackendHeader, Value: "500"},
						AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
					}},
				}}},
			})},
		},
	}}
	if d := cmp.Diff(want, route.GetRoute().GetWeightedClusters(), protocmp.Transform()); d != "" {
		t.Errorf("weighted clusters (-want +got):\n%s", d)
	}
	// The invalid-backend cluster exists, is static and has no endpoints.
	var invalid *clusterv3.Cluster
	for _, c := range res.Clusters {
		if c.(*clusterv3.Cluster).Name == InvalidBackendCluster {
			invalid = c.(*clusterv3.Cluster)
		}
	}
	if invalid == nil || invalid.GetType() != clusterv3.Cluster_STATIC || len(invalid.GetLoadAssignment().GetEndpoints()) != 0 {
		t.Fatalf("invalid-backend cluster = %v, want a static cluster with no endpoints", invalid)
	}
	// The manager runs the marking filter before the router, and maps "no
	// healthy upstream" on a marked request to 500.
	hcm := listenerHCM(t, res.Listeners[0].(*listenerv3.Listener))
	var filters []string
	for _, f := range hcm.GetHttpFilters() {
		filters = append(filters, f.GetName())
	}
	if want := []string{invalidBackendFilterName, routerFilterName}; !cmp.Equal(filters, want) {
		t.Errorf("http filters = %v, want %v", filters, want)
	}
	mappers := hcm.GetLocalReplyConfig().GetMappers()
	if len(mappers) != 1 || mappers[0].GetStatusCode().GetValue() != 500 {
		t.Fatalf("local reply mappers = %v, want one mapping to 500", mappers)
	}
	and := mappers[0].GetFilter().GetAndFilter().GetFilters()
	if len(and) != 2 || and[0].GetHeaderFilter().GetHeader().GetName() != InvalidBackendHeader ||
		and[0].GetHeaderFilter().GetHeader().GetStringMatch().GetExact() != "500" ||
		!cmp.Equal(and[1].GetResponseFlagFilter().GetFlags(), []string{"UH"}) {
		t.Errorf("mapper filter = %v, want header %s=500 and flag UH", mappers[0].GetFilter(), InvalidBackendHeader)
	}

	// gRPC flavor: the same share goes to an EDS cluster with an empty assignment.
	gres, err := Build(oneRoute(r, "c"), Options{Flavor: FlavorGRPC})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range gres.Endpoints {
		if resourceName(e) == InvalidBackendCluster {
			found = true
		}
	}
	if !found {
		t.Error("gRPC flavor: no ClusterLoadAssignment for the invalid-backend cluster")
	}

	// Every share unresolvable: a direct 500, and no invalid-backend cluster.
	r.Forward.Backends = []ir.WeightedCluster{{Weight: 1}, {Weight: 2, InvalidStatus: 500}}
	res, err = Build(oneRoute(r), Options{})
	if err != nil {
		t.Fatal(err)
	}
	route = res.Routes[0].(*routev3.RouteConfiguration).VirtualHosts[0].Routes[0]
	if got := route.GetDirectResponse().GetStatus(); got != 500 {
		t.Errorf("all-invalid route: direct response status %d, want 500", got)
	}
	if len(res.Clusters) != 0 {
		t.Errorf("all-invalid route: clusters %v, want none", res.Clusters)
	}
}

func listenerHCM(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	return hcm
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		flavor  Flavor
		want    *routev3.RouteAction
	}{
		{name: "envoy zero is explicit 0s", flavor: FlavorEnvoy, want: &routev3.RouteAction{Timeout: durationpb.New(0)}},
		{name: "envoy set", timeout: 10 * time.Second, flavor: FlavorEnvoy, want: &routev3.RouteAction{Timeout: durationpb.New(10 * time.Second)}},
		{name: "grpc zero is unset", flavor: FlavorGRPC, want: &routev3.RouteAction{}},
		{name: "grpc set is max_stream_duration", timeout: 1500 * time.Millisecond, flavor: FlavorGRPC, want: &routev3.RouteAction{
			MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: durationpb.New(1500 * time.Millisecond)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := forwardTo("c")
			f.Timeout = tt.timeout
			r := &ir.Route{Name: "r", Match: ir.RouteMatch{PathType: ir.PathExact, Path: "/"}, Forward: f}
			got := builtRoutes(t, oneRoute(r, "c"), tt.flavor)[0].GetRoute()
			tt.want.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "c"}
			if d := cmp.Diff(tt.want, got, protocmp.Transform()); d != "" {
				t.Errorf("route action (-want +got):\n%s", d)
			}
		})
	}
}

func TestRetryMapping(t *testing.T) {
	tests := []struct {
		name   string
		retry  *ir.RetryPolicy
		perTry time.Duration
		flavor Flavor
		want   *routev3.RetryPolicy
	}{
		{name: "none", flavor: FlavorEnvoy},
		{
			name: "per-try timeout alone", perTry: time.Second, flavor: FlavorEnvoy,
			want: &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(0), PerTryTimeout: durationpb.New(time.Second)},
		},
		{
			name:   "http codes, connect failure, grpc codes, backoff",
			retry:  &ir.RetryPolicy{Codes: []uint32{502, 503}, GRPCCodes: []string{"UNAVAILABLE"}, Attempts: 3, Backoff: 25 * time.Millisecond, ConnectFailure: true},
			perTry: 2 * time.Second, flavor: FlavorEnvoy,
			want: &routev3.RetryPolicy{
				RetryOn:              "retriable-status-codes,connect-failure,refused-stream,reset,unavailable",
				NumRetries:           wrapperspb.UInt32(3),
				RetriableStatusCodes: []uint32{502, 503},
				PerTryTimeout:        durationpb.New(2 * time.Second),
				RetryBackOff:         &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(25 * time.Millisecond)},
			},
		},
		{
			name:   "grpc flavor keeps gRPC codes only",
			retry:  &ir.RetryPolicy{Codes: []uint32{503}, GRPCCodes: []string{"unavailable", "resource_exhausted"}, Attempts: 2, Backoff: 10 * time.Millisecond, ConnectFailure: true},
			perTry: time.Second, flavor: FlavorGRPC,
			want: &routev3.RetryPolicy{
				RetryOn:    "unavailable,resource-exhausted",
				NumRetries: wrapperspb.UInt32(2),
				RetryBackOff: &routev3.RetryPolicy_RetryBackOff{
					BaseInterval: durationpb.New(10 * time.Millisecond), MaxInterval: durationpb.New(100 * time.Millisecond),
				},
			},
		},
		{name: "grpc flavor without gRPC codes", retry: &ir.RetryPolicy{Codes: []uint32{503}, Attempts: 2}, flavor: FlavorGRPC},
		{name: "grpc flavor with zero attempts", retry: &ir.RetryPolicy{GRPCCodes: []string{"unavailable"}}, flavor: FlavorGRPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := forwardTo("c")
			f.Retry, f.PerTryTimeout = tt.retry, tt.perTry
			r := &ir.Route{Name: "r", Match: ir.RouteMatch{PathType: ir.PathExact, Path: "/"}, Forward: f}
			got := builtRoutes(t, oneRoute(r, "c"), tt.flavor)[0].GetRoute().GetRetryPolicy()
			if d := cmp.Diff(tt.want, got, protocmp.Transform()); d != "" {
				t.Errorf("retry policy (-want +got):\n%s", d)
			}
		})
	}
}

func TestPrefixRewrite(t *testing.T) {
	tests := []struct {
		match, replacement string
		wantPrefix         string
		wantRegex          *matcherv3.RegexMatchAndSubstitute
	}{
		{match: "/foo", replacement: "/bar", wantPrefix: "/bar"},
		{match: "/foo/", replacement: "/bar/", wantPrefix: "/bar"},
		{match: "/foo", replacement: "/", wantRegex: &matcherv3.RegexMatchAndSubstitute{
			Pattern: &matcherv3.RegexMatcher{Regex: "^/foo/*"}, Substitution: "/",
		}},
		{match: "/a.b", replacement: "/", wantRegex: &matcherv3.RegexMatchAndSubstitute{
			Pattern: &matcherv3.RegexMatcher{Regex: `^/a\.b/*`}, Substitution: "/",
		}},
		{match: "/", replacement: "/app", wantPrefix: "/app/"},
		{match: "/", replacement: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.match+"->"+tt.replacement, func(t *testing.T) {
			prefix, re, err := prefixRewrite(ir.RouteMatch{PathType: ir.PathPrefix, Path: tt.match}, tt.replacement)
			if err != nil {
				t.Fatal(err)
			}
			if prefix != tt.wantPrefix {
				t.Errorf("prefix_rewrite = %q, want %q", prefix, tt.wantPrefix)
			}
			if d := cmp.Diff(tt.wantRegex, re, protocmp.Transform()); d != "" {
				t.Errorf("regex_rewrite (-want +got):\n%s", d)
			}
		})
	}
	if _, _, err := prefixRewrite(ir.RouteMatch{PathType: ir.PathExact, Path: "/a"}, "/b"); err == nil {
		t.Error("prefix rewrite of an exact match: no error")
	}
}

func TestFraction(t *testing.T) {
	tests := []struct {
		n, d uint32
		want *typev3.FractionalPercent
	}{
		{n: 25, d: 100, want: &typev3.FractionalPercent{Numerator: 25, Denominator: typev3.FractionalPercent_HUNDRED}},
		{n: 7, d: 10000, want: &typev3.FractionalPercent{Numerator: 7, Denominator: typev3.FractionalPercent_TEN_THOUSAND}},
		{n: 1, d: 3, want: &typev3.FractionalPercent{Numerator: 333333, Denominator: typev3.FractionalPercent_MILLION}},
		{n: 2, d: 3, want: &typev3.FractionalPercent{Numerator: 666667, Denominator: typev3.FractionalPercent_MILLION}},
		{n: 5, d: 5, want: &typev3.FractionalPercent{Numerator: 1000000, Denominator: typev3.FractionalPercent_MILLION}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, fraction(tt.n, tt.d), protocmp.Transform()); d != "" {
			t.Errorf("fraction(%d, %d) (-want +got):\n%s", tt.n, tt.d, d)
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	p := benchProxy(200)
	marshal := func() []byte {
		res, err := Build(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		for _, list := range [][]proto.Message{toMessages(res.Listeners), toMessages(res.Routes), toMessages(res.Clusters), toMessages(res.Endpoints)} {
			for _, m := range list {
				b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(b)
			}
		}
		return buf.Bytes()
	}
	first := marshal()
	for i := 0; i < 3; i++ {
		if !bytes.Equal(first, marshal()) {
			t.Fatal("two builds of the same IR marshal differently")
		}
	}
}

func TestResourcesSortedByName(t *testing.T) {
	p := benchProxy(50)
	// Reverse the producer's order: Build sorts at its boundary anyway.
	reversed := p.Clusters.Slice()
	slices.Reverse(reversed)
	p.Clusters = plist.Of(reversed...)
	res, err := Build(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for kind, list := range res.ByType() {
		for i := 1; i < len(list); i++ {
			if resourceName(list[i-1]) >= resourceName(list[i]) {
				t.Errorf("%s: %q before %q", kind, resourceName(list[i-1]), resourceName(list[i]))
			}
		}
	}
}

func TestBuildErrorsNameTheObject(t *testing.T) {
	tests := []struct {
		name string
		r    *ir.Route
		want string
	}{
		{
			name: "no action",
			r:    &ir.Route{Name: "ns/route/rule/3/match/0", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}},
			want: "proxy gateway/default/eg: route config default/eg/80: virtual host vh: route ns/route/rule/3/match/0: no action",
		},
		{
			name: "mirror fraction",
			r: &ir.Route{Name: "m", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, Forward: &ir.ForwardAction{
				Backends: []ir.WeightedCluster{{Cluster: "c", Weight: 1}},
				Mirrors:  []ir.Mirror{{Cluster: "c", Numerator: 3, Denominator: 2}},
			}},
			want: "route m: forward: mirrors[0]: numerator 3 is more than denominator 2",
		},
		{
			name: "unknown path type",
			r:    &ir.Route{Name: "p", Match: ir.RouteMatch{PathType: "Glob", Path: "/*"}, Forward: forwardTo("c")},
			want: `route p: match: pathType "Glob": unknown`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(oneRoute(tt.r, "c"), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Build(oneRoute(&ir.Route{Name: "r", Forward: forwardTo("c")}, "c"), Options{Flavor: "istio"}); err == nil {
		t.Error("unknown flavor: no error")
	}
}

func toMessages[T proto.Message](list []T) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

func TestMethodMatch(t *testing.T) {
	method := func(m string) *routev3.HeaderMatcher {
		return &routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m},
		})}
	}
	tests := []struct {
		name, method string
		flavor       Flavor
		want         []*routev3.HeaderMatcher
	}{
		{name: "envoy POST", method: "POST", flavor: FlavorEnvoy, want: []*routev3.HeaderMatcher{method("POST")}},
		{name: "envoy GET", method: "GET", flavor: FlavorEnvoy, want: []*routev3.HeaderMatcher{method("GET")}},
		{name: "grpc POST is always true", method: "POST", flavor: FlavorGRPC},
		{name: "grpc GET never matches a call", method: "GET", flavor: FlavorGRPC, want: []*routev3.HeaderMatcher{method("GET")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &ir.Route{Name: "r", Match: ir.RouteMatch{PathType: ir.PathExact, Path: "/a", Method: tt.method}, Forward: forwardTo("c")}
			got := builtRoutes(t, oneRoute(r, "c"), tt.flavor)[0].GetMatch().GetHeaders()
			if d := cmp.Diff(tt.want, got, protocmp.Transform()); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}

// TestGRPCContentTypeMatch: a GRPCRoute match checks content-type in the
// Envoy flavor only. grpc-go selects a route before it adds content-type to
// a call, so in the gRPC flavor that matcher would make every GRPCRoute rule
// unreachable for proxyless clients.
func TestGRPCContentTypeMatch(t *testing.T) {
	contentType := &routev3.HeaderMatcher{Name: "content-type", HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{
		MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "application/grpc"},
	})}
	tenant := &routev3.HeaderMatcher{Name: "x-tenant", HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{
		MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "blue"},
	})}
	exact := ir.RouteMatch{PathType: ir.PathExact, Path: "/echo.Echo/Say", GRPC: true}
	prefix := ir.RouteMatch{PathType: ir.PathPrefix, Path: "/echo.Echo", GRPC: true}
	regex := ir.RouteMatch{PathType: ir.PathRegex, Path: `/echo\.Echo/.+`, GRPC: true}
	header := ir.RouteMatch{GRPC: true, Headers: []ir.StringMatch{{Name: "x-tenant", Type: ir.MatchExact, Value: "blue"}}}
	tests := []struct {
		name   string
		match  ir.RouteMatch
		flavor Flavor
		want   []*routev3.HeaderMatcher // the headers of every built route
	}{
		{name: "envoy exact", match: exact, flavor: FlavorEnvoy, want: []*routev3.HeaderMatcher{contentType}},
		{name: "envoy prefix", match: prefix, flavor: FlavorEnvoy, want: []*routev3.HeaderMatcher{contentType}},
		{name: "envoy header", match: header, flavor: FlavorEnvoy, want: []*routev3.HeaderMatcher{tenant, contentType}},
		{name: "envoy HTTP match has none", match: ir.RouteMatch{PathType: ir.PathExact, Path: "/a"}, flavor: FlavorEnvoy},
		{name: "grpc exact", match: exact, flavor: FlavorGRPC},
		{name: "grpc prefix (both routes)", match: prefix, flavor: FlavorGRPC},
		{name: "grpc regex", match: regex, flavor: FlavorGRPC},
		{name: "grpc header kept", match: header, flavor: FlavorGRPC, want: []*routev3.HeaderMatcher{tenant}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &ir.Route{Name: "r", Match: tt.match, Forward: forwardTo("c")}
			routes := builtRoutes(t, oneRoute(r, "c"), tt.flavor)
			if len(routes) == 0 {
				t.Fatal("no route built")
			}
			for _, rt := range routes {
				if d := cmp.Diff(tt.want, rt.GetMatch().GetHeaders(), protocmp.Transform()); d != "" {
					t.Errorf("route %s headers (-want +got):\n%s", rt.GetName(), d)
				}
			}
		})
	}
}

// Build is called concurrently for different groups and flavors; it shares
// only read-only state and caches.
func TestBuildConcurrent(t *testing.T) {
	p := benchProxy(300)
	want := map[Flavor][]byte{}
	for _, f := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		want[f] = marshalAll(t, p, f)
	}
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		f := []Flavor{FlavorEnvoy, FlavorGRPC}[i%2]
		go func() {
			if got := marshalAll(t, p, f); !bytes.Equal(got, want[f]) {
				errs <- fmt.Errorf("%s: concurrent build differs", f)
				return
			}
			errs <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func marshalAll(t *testing.T, p *ir.Proxy, f Flavor) []byte {
	res, err := Build(p, Options{Flavor: f})
	if err != nil {
		t.Error(err)
		return nil
	}
	var buf bytes.Buffer
	for _, list := range [][]types.Resource{res.Listeners, res.Routes, res.Clusters, res.Endpoints, res.Secrets} {
		for _, m := range list {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Error(err)
				return nil
			}
			buf.Write(b)
		}
	}
	return buf.Bytes()
}

// Nil entries anywhere in the IR are skipped or reported, never a panic.
func TestBuildNilEntries(t *testing.T) {
	p := oneRoute(&ir.Route{Name: "r", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, Forward: forwardTo("c")}, "c")
	p.Listeners = append(p.Listeners, nil, &ir.Listener{
		Name: "api", API: true, FilterChains: []*ir.FilterChain{nil},
	})
	p.Listeners[0].FilterChains = append(p.Listeners[0].FilterChains, nil)
	p.RouteConfigs = append(p.RouteConfigs, nil)
	vhs := p.RouteConfigs[0].VirtualHosts
	p.RouteConfigs[0].VirtualHosts = vhs.Splice(vhs.Len(), vhs.Len(), nil)
	vhs.At(0).Routes = append(vhs.At(0).Routes, nil)
	p.Clusters = p.Clusters.Append(nil)
	p.Secrets = append(p.Secrets, nil)
	for _, f := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		_, err := Build(p, Options{Flavor: f})
		if err == nil || !strings.Contains(err.Error(), "listener api: api listener: want exactly one filter chain with http") {
			t.Errorf("%s: Build error = %v, want the api listener named", f, err)
		}
	}
	p.Listeners = p.Listeners[:2]
	for _, f := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		if _, err := Build(p, Options{Flavor: f}); err != nil {
			t.Errorf("%s: Build with nil entries: %v", f, err)
		}
	}
	if _, err := Build(nil, Options{}); err == nil {
		t.Error("nil proxy: no error")
	}
}
