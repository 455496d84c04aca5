package envoy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// misdirectedStatus answers a request whose Host matches no virtual host of
// a TLS chain that asked for misdirected-request detection.
const misdirectedStatus = 421

func (b *builder) info(routeConfig string) *routeConfigInfo {
	in := b.routeInfo[routeConfig]
	if in == nil {
		in = &routeConfigInfo{}
		b.routeInfo[routeConfig] = in
	}
	return in
}

// markMisdirected notes which route configurations serve a chain that asked
// for 421 on a Host that the chain's SNI names do not cover.
func (b *builder) markMisdirected() {
	for _, l := range b.proxy.Listeners {
		if l == nil {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc != nil && fc.HTTP != nil && fc.HTTP.DetectMisdirected {
				b.info(fc.HTTP.RouteConfigName).misdirected = true
			}
		}
	}
}

func (b *builder) routeConfigs() ([]types.Resource, error) {
	if err := b.markRBAC(); err != nil {
		return nil, err
	}
	out := make([]types.Resource, 0, len(b.proxy.RouteConfigs))
	seen := map[string]bool{}
	skip := b.grpcServerOnlyRoutes()
	for _, rc := range b.proxy.RouteConfigs {
		if rc == nil || skip[rc.Name] {
			continue
		}
		if rc.Name == "" {
			return nil, fmt.Errorf("route config with an empty name")
		}
		if seen[rc.Name] {
			return nil, fmt.Errorf("route config %s: duplicate name", rc.Name)
		}
		seen[rc.Name] = true
		r, err := b.routeConfigOf(rc)
		if err != nil {
			return nil, fmt.Errorf("route config %s: %w", rc.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// grpcServerOnlyRoutes lists, in the Envoy flavor, the route configurations
// that only GRPCServer listeners (which that flavor leaves out) use.
func (b *builder) grpcServerOnlyRoutes() map[string]bool {
	if b.flavor != FlavorEnvoy {
		return nil
	}
	only := map[string]bool{}
	other := map[string]bool{}
	for _, l := range b.proxy.Listeners {
		if l == nil {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc == nil || fc.HTTP == nil {
				continue
			}
			if l.GRPCServer {
				only[fc.HTTP.RouteConfigName] = true
			} else {
				other[fc.HTTP.RouteConfigName] = true
			}
		}
	}
	for name := range other {
		delete(only, name)
	}
	return only
}

func (b *builder) routeConfig(rc *ir.RouteConfig) (*routev3.RouteConfiguration, error) {
	in := b.info(rc.Name)
	out := &routev3.RouteConfiguration{
		Name:                     rc.Name,
		IgnorePortInHostMatching: rc.IgnorePortInHost,
		VirtualHosts:             make([]*routev3.VirtualHost, 0, rc.VirtualHosts.Len()+1),
	}
	domains := map[string]string{} // domain -> virtual host, to reject duplicates
	names := map[string]string{}   // emitted name -> virtual host
	for vh := range rc.VirtualHosts.Values() {
		if vh == nil {
			continue
		}
		v, err := b.virtualHost(rc.Name, vh, in)
		if err != nil {
			return nil, fmt.Errorf("virtual host %s: %w", vh.Name, err)
		}
		if other, ok := names[v.Name]; ok {
			return nil, fmt.Errorf("virtual host %s: name %q is also the name of virtual host %s", vh.Name, v.Name, other)
		}
		names[v.Name] = vh.Name
		for _, d := range v.Domains {
			key := strings.ToLower(d)
			if other, ok := domains[key]; ok {
				return nil, fmt.Errorf("virtual host %s: domain %q is also in virtual host %s", vh.Name, d, other)
			}
			domains[key] = vh.Name
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	if in.misdirected && b.flavor == FlavorEnvoy && domains["*"] == "" {
		out.VirtualHosts = append(out.VirtualHosts, misdirectedVirtualHost())
	}
	sort.Slice(in.invalidStatuses, func(i, j int) bool { return in.invalidStatuses[i] < in.invalidStatuses[j] })
	return out, nil
}

// misdirectedVirtualHost catches every Host that no other virtual host of the
// route configuration serves: on a chain selected by SNI this is a request
// for a name the chain's certificate does not cover (a reused HTTP/2
// connection), so it answers 421 Misdirected Request.
func misdirectedVirtualHost() *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name:    "gantry/misdirected",
		Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:  "gantry/misdirected",
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
				Status: misdirectedStatus,
			}},
		}},
	}
}

func (b *builder) virtualHost(rcName string, vh *ir.VirtualHost, in *routeConfigInfo) (*routev3.VirtualHost, error) {
	out, err := b.hostShell(rcName, vh)
	if err != nil {
		return nil, err
	}
	for i, r := range vh.Routes {
		if r == nil {
			continue
		}
		routes, err := b.route(r, in)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", routeLabel(r, i), err)
		}
		out.Routes = append(out.Routes, routes...)
	}
	if err := hostAuthorization(out, vh, in); err != nil {
		return nil, err
	}
	return out, nil
}

// hostShell is the virtual host of vh without its routes and per-filter
// config, its domains checked.
func (b *builder) hostShell(rcName string, vh *ir.VirtualHost) (*routev3.VirtualHost, error) {
	if vh.Name == "" {
		return nil, fmt.Errorf("empty name")
	}
	if len(vh.Domains) == 0 {
		return nil, fmt.Errorf("domains: none")
	}
	for _, d := range vh.Domains {
		if err := checkDomain(d); err != nil {
			return nil, err
		}
	}
	domains := append([]string{}, vh.Domains...)
	domains = append(domains, b.grpcDomains[rcName][vh.Name]...)
	out := &routev3.VirtualHost{
		Name:    vh.Name,
		Domains: domains,
		Routes:  make([]*routev3.Route, 0, len(vh.Routes)),
	}
	if b.flavor == FlavorEnvoy {
		out.Name = statToken(vh.Name) // the virtual host's stats name (routestats.go)
	}
	return out, nil
}

// hostAuthorization sets the RBAC per-filter config of a virtual host with
// an Authorization.
func hostAuthorization(out *routev3.VirtualHost, vh *ir.VirtualHost, in *routeConfigInfo) error {
	if vh.Authorization == nil {
		return nil
	}
	cfg, err := rbacPerRoute(vh.Authorization, in.rbacStages)
	if err != nil {
		return err
	}
	out.TypedPerFilterConfig = cfg
	return nil
}

// routeLabel names route r, the i-th of its virtual host, in errors.
func routeLabel(r *ir.Route, i int) string {
	if r.Name == "" {
		return fmt.Sprintf("#%d", i)
	}
	return r.Name
}

// route builds the Envoy route(s) of one IR route. The gRPC flavor splits a
// segment prefix into two routes (see pathMatches).
func (b *builder) route(r *ir.Route, in *routeConfigInfo) ([]*routev3.Route, error) {
	if err := checkOneAction(r); err != nil {
		return nil, err
	}
	matches, err := b.routeMatches(r.Match)
	if err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	proto := &routev3.Route{Name: r.Name}
	switch {
	case r.Forward != nil:
		if err := b.forward(proto, r, in); err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
	case r.Redirect != nil:
		rd, err := redirect(r.Redirect, r.Match)
		if err != nil {
			return nil, fmt.Errorf("redirect: %w", err)
		}
		proto.Action = &routev3.Route_Redirect{Redirect: rd}
	case r.DirectResponse != nil:
		proto.Action = directResponse(r.DirectResponse.Status, r.DirectResponse.Body)
	case r.Local != nil:
		proto.Action = &routev3.Route_NonForwardingAction{NonForwardingAction: &routev3.NonForwardingAction{}}
	}
	if r.Forward != nil && b.flavor == FlavorEnvoy {
		proto.StatPrefix = routeStatPrefix(r.Name)
	}
	if err := setRouteHeaders(proto, r); err != nil {
		return nil, err
	}
	if r.CORS != nil && b.flavor == FlavorEnvoy {
		cfg, err := corsPolicy(r.CORS)
		if err != nil {
			return nil, fmt.Errorf("cors: %w", err)
		}
		proto.TypedPerFilterConfig = map[string]*anypb.Any{corsFilterName: cfg}
		in.cors = true
	}
	if len(r.Metadata) > 0 {
		proto.Metadata = routeMetadata(r.Metadata)
	}
	out := make([]*routev3.Route, 0, len(matches))
	for i, m := range matches {
		rt := proto
		if i > 0 {
			rt = siblingRoute(proto, r.Name+"/exact")
		}
		rt.Match = m
		out = append(out, rt)
	}
	return out, nil
}

func checkOneAction(r *ir.Route) error {
	n := 0
	for _, set := range []bool{r.Forward != nil, r.Redirect != nil, r.DirectResponse != nil, r.Local != nil} {
		if set {
			n++
		}
	}
	switch n {
	case 0:
		return fmt.Errorf("no action: exactly one of forward, redirect, directResponse and local must be set")
	case 1:
		return nil
	default:
		return fmt.Errorf("%d actions: exactly one of forward, redirect, directResponse and local must be set", n)
	}
}

func setRouteHeaders(proto *routev3.Route, r *ir.Route) error {
	var err error
	if proto.RequestHeadersToAdd, proto.RequestHeadersToRemove, err = headerMutation(r.RequestHeaders); err != nil {
		return fmt.Errorf("requestHeaders: %w", err)
	}
	if proto.ResponseHeadersToAdd, proto.ResponseHeadersToRemove, err = headerMutation(r.ResponseHeaders); err != nil {
		return fmt.Errorf("responseHeaders: %w", err)
	}
	return nil
}

func directResponse(status uint32, body string) *routev3.Route_DirectResponse {
	dr := &routev3.DirectResponseAction{Status: status}
	if body != "" {
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: dr}
}

func routeMetadata(md map[string]string) *corev3.Metadata {
	fields := make(map[string]*structpb.Value, len(md))
	for k, v := range md {
		fields[k] = structpb.NewStringValue(v)
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		MetadataNamespace: {Fields: fields},
	}}
}

// routeMatches returns the Envoy match(es) of m: one, or two in the gRPC
// flavor for a segment prefix.
func (b *builder) routeMatches(m ir.RouteMatch) ([]*routev3.RouteMatch, error) {
	paths, err := b.pathMatches(m.PathType, m.Path)
	if err != nil {
		return nil, err
	}
	headers, err := headerMatchers(m, b.flavor)
	if err != nil {
		return nil, err
	}
	query, err := queryMatchers(m.Query)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		p.Headers = headers
		p.QueryParameters = query
	}
	return paths, nil
}

// pathMatches maps a path match. A segment prefix "/p" is
// path_separated_prefix "/p" for Envoy; grpc-go does not accept that field,
// so the gRPC flavor uses prefix "/p/" plus exact path "/p".
func (b *builder) pathMatches(t ir.PathMatchType, path string) ([]*routev3.RouteMatch, error) {
	switch t {
	case ir.PathExact:
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("path %q: an exact path must start with /", path)
		}
		return []*routev3.RouteMatch{{PathSpecifier: &routev3.RouteMatch_Path{Path: path}}}, nil
	case ir.PathPrefix, "":
		if t == "" && path != "" {
			return nil, fmt.Errorf("path %q: pathType is empty", path)
		}
		if path != "" && !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("path %q: a prefix must start with /", path)
		}
		trimmed := strings.TrimRight(path, "/")
		if trimmed == "" {
			return []*routev3.RouteMatch{{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}}, nil
		}
		if strings.ContainsAny(trimmed, "?#") {
			return nil, fmt.Errorf("path %q: a prefix must not contain ? or #", path)
		}
		if b.flavor == FlavorGRPC {
			return []*routev3.RouteMatch{
				{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: trimmed + "/"}},
				{PathSpecifier: &routev3.RouteMatch_Path{Path: trimmed}},
			}, nil
		}
		return []*routev3.RouteMatch{{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: trimmed}}}, nil
	case ir.PathRegex:
		re, err := safeRegex(path)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		return []*routev3.RouteMatch{{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: re}}}, nil
	default:
		return nil, fmt.Errorf("pathType %q: unknown", t)
	}
}

// safeRegex checks an RE2 expression (syntax, and program size against the
// limit every Gantry bootstrap sets) and wraps it.
func safeRegex(expr string) (*matcherv3.RegexMatcher, error) {
	if err := ir.CheckRegex(expr); err != nil {
		return nil, err
	}
	return &matcherv3.RegexMatcher{Regex: expr}, nil
}

func headerMatchers(m ir.RouteMatch, flavor Flavor) ([]*routev3.HeaderMatcher, error) {
	var out []*routev3.HeaderMatcher
	for _, h := range m.Headers {
		hm, err := headerMatcher(h)
		if err != nil {
			return nil, fmt.Errorf("header %q: %w", h.Name, err)
		}
		out = append(out, hm)
	}
	// grpc-go matches headers on call metadata, which has no :method; every
	// gRPC call is a POST, so the gRPC flavor drops a POST match (always
	// true) and keeps any other (never true), as Envoy would see it.
	if m.Method != "" && !(flavor == FlavorGRPC && strings.EqualFold(m.Method, "POST")) {
		out = append(out, &routev3.HeaderMatcher{
			Name:                 ":method",
			HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Method}}),
		})
	}
	// A proxyless gRPC client picks a route before content-type is part of
	// the call's metadata, so in the gRPC flavor a content-type matcher would
	// never match; every call there is gRPC anyway.
	if m.GRPC && flavor != FlavorGRPC {
		out = append(out, &routev3.HeaderMatcher{
			Name:                 "content-type",
			HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "application/grpc"}}),
		})
	}
	return out, nil
}

func stringMatch(sm *matcherv3.StringMatcher) *routev3.HeaderMatcher_StringMatch {
	return &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
}

func headerMatcher(h ir.StringMatch) (*routev3.HeaderMatcher, error) {
	if h.Name == "" {
		return nil, fmt.Errorf("empty name")
	}
	out := &routev3.HeaderMatcher{Name: strings.ToLower(h.Name), InvertMatch: h.Invert}
	if h.Type == ir.MatchPresent {
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		return out, nil
	}
	sm, err := stringMatcher(h)
	if err != nil {
		return nil, err
	}
	out.HeaderMatchSpecifier = stringMatch(sm)
	return out, nil
}

// stringMatcher maps an exact, prefix or regex comparison.
func stringMatcher(h ir.StringMatch) (*matcherv3.StringMatcher, error) {
	switch h.Type {
	case ir.MatchExact, "":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h.Value}}, nil
	case ir.MatchPrefix:
		if h.Value == "" {
			return nil, fmt.Errorf("prefix: empty value")
		}
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: h.Value}}, nil
	case ir.MatchRegex:
		re, err := safeRegex(h.Value)
		if err != nil {
			return nil, err
		}
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: re}}, nil
	default:
		return nil, fmt.Errorf("type %q: unknown", h.Type)
	}
}

func queryMatchers(q []ir.StringMatch) ([]*routev3.QueryParameterMatcher, error) {
	var out []*routev3.QueryParameterMatcher
	for _, h := range q {
		if h.Name == "" {
			return nil, fmt.Errorf("query parameter: empty name")
		}
		if h.Invert {
			return nil, fmt.Errorf("query parameter %q: invert is not supported", h.Name)
		}
		qm := &routev3.QueryParameterMatcher{Name: h.Name}
		if h.Type == ir.MatchPresent {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			sm, err := stringMatcher(h)
			if err != nil {
				return nil, fmt.Errorf("query parameter %q: %w", h.Name, err)
			}
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}
		}
		out = append(out, qm)
	}
	return out, nil
}

// checkDomain rejects what Envoy refuses: an empty domain and a wildcard
// anywhere but at the start or the end.
func checkDomain(d string) error {
	if d == "" {
		return fmt.Errorf("domains: empty domain")
	}
	if d == "*" {
		return nil
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(d, "*"), "*")
	if strings.Contains(inner, "*") || (strings.HasPrefix(d, "*") && strings.HasSuffix(d, "*")) {
		return fmt.Errorf("domain %q: a wildcard is allowed only at the start or the end", d)
	}
	return nil
}

// siblingRoute is a second route with the same action and edits as r (the
// gRPC flavor's exact half of a segment prefix). It shares r's sub-messages,
// which are never modified after they are built.
func siblingRoute(r *routev3.Route, name string) *routev3.Route {
	return &routev3.Route{
		Name:                    name,
		Action:                  r.Action,
		Metadata:                r.Metadata,
		TypedPerFilterConfig:    r.TypedPerFilterConfig,
		RequestHeadersToAdd:     r.RequestHeadersToAdd,
		RequestHeadersToRemove:  r.RequestHeadersToRemove,
		ResponseHeadersToAdd:    r.ResponseHeadersToAdd,
		ResponseHeadersToRemove: r.ResponseHeadersToRemove,
	}
}
