package envoy

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// defaultInvalidStatus is answered for an unresolvable backend whose
// InvalidStatus is unset (the Gateway API spec says 500).
const defaultInvalidStatus = 500

// forward fills the action of a forwarding route. When no share can reach a
// backend, the route answers locally with the invalid status instead.
func (b *builder) forward(out *routev3.Route, r *ir.Route, in *routeConfigInfo) error {
	f := r.Forward
	if len(f.Backends) == 0 {
		return fmt.Errorf("backends: none")
	}
	var valid, total uint64
	status := uint32(0)
	for i, be := range f.Backends {
		total += uint64(be.Weight)
		if be.Cluster != "" && be.Weight > 0 {
			valid++
		}
		if be.Cluster == "" && status == 0 && be.Weight > 0 {
			status = invalidStatus(be)
		}
		if be.Cluster == "" && be.InvalidStatus != 0 && (be.InvalidStatus < 200 || be.InvalidStatus > 599) {
			return fmt.Errorf("backends[%d]: invalidStatus %d is not an HTTP status", i, be.InvalidStatus)
		}
	}
	if total > math.MaxUint32 {
		return fmt.Errorf("backends: weights add up to %d, more than %d", total, uint64(math.MaxUint32))
	}
	if valid == 0 {
		// Every share is unresolvable (or every weight is 0): nothing can be
		// forwarded, so the whole route answers the invalid status.
		if status == 0 {
			status = defaultInvalidStatus
		}
		out.Action = directResponse(status, "")
		return nil
	}
	ra := &routev3.RouteAction{}
	if err := b.clusterSpecifier(ra, f.Backends, in); err != nil {
		return err
	}
	if err := b.forwardOptions(ra, f, r.Match); err != nil {
		return err
	}
	out.Action = &routev3.Route_Route{Route: ra}
	return nil
}

func invalidStatus(be ir.WeightedCluster) uint32 {
	if be.InvalidStatus == 0 {
		return defaultInvalidStatus
	}
	return be.InvalidStatus
}

// clusterSpecifier routes to one cluster, or to weighted clusters when there
// are several shares, an unresolvable share or per-backend header edits.
//
// An unresolvable share goes to InvalidBackendCluster, which has no
// endpoints; its per-filter config has the invalid-backend filter set
// InvalidBackendHeader to the share's status, and the connection manager's
// local reply config turns the resulting "no healthy upstream" reply into
// that status (see localReplyConfig).
func (b *builder) clusterSpecifier(ra *routev3.RouteAction, backends []ir.WeightedCluster, in *routeConfigInfo) error {
	var shares []ir.WeightedCluster
	simple := true
	for _, be := range backends {
		if be.Weight == 0 {
			continue
		}
		shares = append(shares, be)
		if be.Cluster == "" || be.RequestHeaders != nil || be.ResponseHeaders != nil {
			simple = false
		}
	}
	if simple && len(shares) == 1 {
		ra.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: shares[0].Cluster}
		return nil
	}
	wc := &routev3.WeightedCluster{Clusters: make([]*routev3.WeightedCluster_ClusterWeight, 0, len(shares))}
	for i, be := range shares {
		cw := &routev3.WeightedCluster_ClusterWeight{Name: be.Cluster, Weight: wrapperspb.UInt32(be.Weight)}
		var err error
		if cw.RequestHeadersToAdd, cw.RequestHeadersToRemove, err = headerMutation(be.RequestHeaders); err != nil {
			return fmt.Errorf("backends[%d] %s: requestHeaders: %w", i, be.Cluster, err)
		}
		if cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove, err = headerMutation(be.ResponseHeaders); err != nil {
			return fmt.Errorf("backends[%d] %s: responseHeaders: %w", i, be.Cluster, err)
		}
		if be.Cluster == "" {
			st := invalidStatus(be)
			cw.Name = InvalidBackendCluster
			b.invalidBackend = true
			if b.flavor == FlavorEnvoy {
				cw.TypedPerFilterConfig = map[string]*anypb.Any{invalidBackendFilterName: invalidBackendMark(st)}
				in.addInvalidStatus(st)
			}
		}
		wc.Clusters = append(wc.Clusters, cw)
	}
	ra.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	return nil
}

// invalidBackendMark is the per-filter config of an unresolvable share: the
// invalid-backend filter sets InvalidBackendHeader to the share's status.
func invalidBackendMark(status uint32) *anypb.Any {
	return mustAny(&headermutationv3.HeaderMutationPerRoute{Mutations: &headermutationv3.Mutations{
		RequestMutations: []*mutationrulesv3.HeaderMutation{{
			Action: &mutationrulesv3.HeaderMutation_Append{Append: setHeader(InvalidBackendHeader, fmt.Sprint(status))},
		}},
	}})
}

func (in *routeConfigInfo) addInvalidStatus(st uint32) {
	for _, s := range in.invalidStatuses {
		if s == st {
			return
		}
	}
	in.invalidStatuses = append(in.invalidStatuses, st)
}

// forwardOptions sets timeouts, retries, mirrors, rewrites and upgrades.
func (b *builder) forwardOptions(ra *routev3.RouteAction, f *ir.ForwardAction, match ir.RouteMatch) error {
	if f.Timeout < 0 || f.PerTryTimeout < 0 {
		return fmt.Errorf("timeouts must not be negative")
	}
	if b.flavor == FlavorGRPC {
		// grpc-go reads max_stream_duration, not timeout; unset = no limit.
		if f.Timeout > 0 {
			ra.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: duration(f.Timeout)}
		}
	} else {
		// Always explicit: 0s disables Envoy's 15 s default route timeout.
		ra.Timeout = duration(f.Timeout)
	}
	rp, err := b.retryPolicy(f.Retry, f.PerTryTimeout)
	if err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	ra.RetryPolicy = rp
	for i, m := range f.Mirrors {
		mp, err := mirrorPolicy(m)
		if err != nil {
			return fmt.Errorf("mirrors[%d]: %w", i, err)
		}
		ra.RequestMirrorPolicies = append(ra.RequestMirrorPolicies, mp)
	}
	if f.Rewrite != nil {
		if err := rewrite(ra, f.Rewrite, match); err != nil {
			return fmt.Errorf("rewrite: %w", err)
		}
	}
	if f.UpgradeWebSocket {
		ra.UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket"}}
	}
	return nil
}

// grpcRetryOn are the retry_on names that are gRPC status codes: the only
// ones grpc-go honours.
var grpcRetryOn = map[string]bool{
	"cancelled": true, "deadline-exceeded": true, "internal": true,
	"resource-exhausted": true, "unavailable": true,
}

func grpcCodes(codes []string) ([]string, error) {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(c)), "_", "-")
		if !grpcRetryOn[n] {
			return nil, fmt.Errorf("grpcCodes: %q is not a retriable gRPC code (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable)", c)
		}
		out = append(out, n)
	}
	return out, nil
}

// retryPolicy maps retries. Envoy: HTTP codes through
// retriable-status-codes, connection failures and resets, gRPC codes; the
// per-try timeout applies to the first attempt too, so it is set even with no
// retries (num_retries is explicit: unset means 1 in Envoy). gRPC flavor:
// gRPC codes only, and only with at least one retry (grpc-go rejects 0).
func (b *builder) retryPolicy(r *ir.RetryPolicy, perTry time.Duration) (*routev3.RetryPolicy, error) {
	if r == nil {
		if perTry == 0 || b.flavor == FlavorGRPC {
			return nil, nil
		}
		return &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(0), PerTryTimeout: duration(perTry)}, nil
	}
	if r.Backoff < 0 {
		return nil, fmt.Errorf("backoff must not be negative")
	}
	codes, err := grpcCodes(r.GRPCCodes)
	if err != nil {
		return nil, err
	}
	if b.flavor == FlavorGRPC {
		if len(codes) == 0 || r.Attempts == 0 {
			return nil, nil
		}
		rp := &routev3.RetryPolicy{RetryOn: strings.Join(codes, ","), NumRetries: wrapperspb.UInt32(r.Attempts)}
		if r.Backoff > 0 {
			rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: duration(r.Backoff), MaxInterval: duration(10 * r.Backoff)}
		}
		return rp, nil
	}
	var on []string
	for _, c := range r.Codes {
		if c < 100 || c > 599 {
			return nil, fmt.Errorf("codes: %d is not an HTTP status", c)
		}
	}
	if len(r.Codes) > 0 {
		on = append(on, "retriable-status-codes")
	}
	if r.ConnectFailure {
		on = append(on, "connect-failure", "refused-stream", "reset")
	}
	on = append(on, codes...)
	rp := &routev3.RetryPolicy{
		RetryOn:              strings.Join(on, ","),
		NumRetries:           wrapperspb.UInt32(r.Attempts),
		RetriableStatusCodes: append([]uint32(nil), r.Codes...),
	}
	if perTry > 0 {
		rp.PerTryTimeout = duration(perTry)
	}
	if r.Backoff > 0 {
		rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: duration(r.Backoff)}
	}
	return rp, nil
}

func mirrorPolicy(m ir.Mirror) (*routev3.RouteAction_RequestMirrorPolicy, error) {
	if m.Cluster == "" {
		return nil, fmt.Errorf("cluster: empty")
	}
	mp := &routev3.RouteAction_RequestMirrorPolicy{Cluster: m.Cluster}
	if m.Denominator == 0 {
		if m.Numerator != 0 {
			return nil, fmt.Errorf("numerator %d with denominator 0", m.Numerator)
		}
		return mp, nil
	}
	if m.Numerator > m.Denominator {
		return nil, fmt.Errorf("numerator %d is more than denominator %d", m.Numerator, m.Denominator)
	}
	mp.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: fraction(m.Numerator, m.Denominator)}
	return mp, nil
}

// fraction maps n/d to Envoy's fixed denominators, exactly when d is one of
// them and rounded to millionths otherwise.
func fraction(n, d uint32) *typev3.FractionalPercent {
	switch d {
	case 100:
		return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_HUNDRED}
	case 10000:
		return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_TEN_THOUSAND}
	case 1000000:
		return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_MILLION}
	}
	scaled := (uint64(n)*1000000 + uint64(d)/2) / uint64(d)
	return &typev3.FractionalPercent{Numerator: uint32(scaled), Denominator: typev3.FractionalPercent_MILLION}
}

// rewrite maps host and path rewrites onto the route action.
func rewrite(ra *routev3.RouteAction, rw *ir.Rewrite, match ir.RouteMatch) error {
	if rw.Hostname != "" {
		ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Hostname}
	}
	if rw.FullPath != nil && rw.PrefixPath != nil {
		return fmt.Errorf("fullPath and prefixPath are both set")
	}
	if rw.FullPath != nil {
		re, err := fullPathRewrite(*rw.FullPath)
		if err != nil {
			return err
		}
		ra.RegexRewrite = re
	}
	if rw.PrefixPath != nil {
		prefix, re, err := prefixRewrite(match, *rw.PrefixPath)
		if err != nil {
			return err
		}
		ra.PrefixRewrite, ra.RegexRewrite = prefix, re
	}
	return nil
}

// fullPathRewrite replaces the whole path (not the query).
func fullPathRewrite(path string) (*matcherv3.RegexMatchAndSubstitute, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("fullPath %q must start with /", path)
	}
	return &matcherv3.RegexMatchAndSubstitute{
		Pattern:      &matcherv3.RegexMatcher{Regex: "^/.*$"},
		Substitution: strings.ReplaceAll(path, `\`, `\\`),
	}, nil
}

// prefixRewrite replaces a matched segment prefix, keeping segment
// boundaries: with prefix /foo, replacing by /bar turns /foo/x into /bar/x,
// and replacing by / turns /foo/x into /x (not //x) and /foo into /.
// It returns either a literal prefix_rewrite or a regex rewrite.
func prefixRewrite(match ir.RouteMatch, replacement string) (string, *matcherv3.RegexMatchAndSubstitute, error) {
	if match.PathType != ir.PathPrefix {
		return "", nil, fmt.Errorf("prefixPath needs a Prefix path match, not %q", match.PathType)
	}
	if !strings.HasPrefix(replacement, "/") {
		return "", nil, fmt.Errorf("prefixPath %q must start with /", replacement)
	}
	matched := strings.TrimRight(match.Path, "/")
	repl := strings.TrimRight(replacement, "/")
	switch {
	case matched == "" && repl == "":
		return "", nil, nil // "/" by "/": nothing changes
	case matched == "":
		// Every path starts with "/": keep it as the segment separator.
		return repl + "/", nil, nil
	case repl == "":
		return "", &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(matched) + "/*"},
			Substitution: "/",
		}, nil
	default:
		return repl, nil, nil
	}
}

// redirect maps a redirect; path edits use the same rules as rewrites.
func redirect(rd *ir.Redirect, match ir.RouteMatch) (*routev3.RedirectAction, error) {
	out := &routev3.RedirectAction{HostRedirect: rd.Hostname, PortRedirect: rd.Port}
	switch rd.Scheme {
	case "":
	case "http", "https":
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: rd.Scheme}
	default:
		return nil, fmt.Errorf("scheme %q: want http or https", rd.Scheme)
	}
	code, ok := redirectCodes[rd.StatusCode]
	if !ok {
		return nil, fmt.Errorf("statusCode %d: want 301, 302, 303, 307 or 308", rd.StatusCode)
	}
	out.ResponseCode = code
	if rd.FullPath != nil && rd.PrefixPath != nil {
		return nil, fmt.Errorf("fullPath and prefixPath are both set")
	}
	if rd.FullPath != nil {
		if !strings.HasPrefix(*rd.FullPath, "/") {
			return nil, fmt.Errorf("fullPath %q must start with /", *rd.FullPath)
		}
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *rd.FullPath}
	}
	if rd.PrefixPath != nil {
		prefix, re, err := prefixRewrite(match, *rd.PrefixPath)
		if err != nil {
			return nil, err
		}
		switch {
		case re != nil:
			out.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: re}
		case prefix != "":
			out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: prefix}
		}
	}
	return out, nil
}

var redirectCodes = map[uint32]routev3.RedirectAction_RedirectResponseCode{
	0:   routev3.RedirectAction_FOUND,
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// headerMutation maps adds (append), sets (overwrite) and removals. Values
// are literal: "%" is escaped because Envoy reads header values as format
// strings.
func headerMutation(m *ir.HeaderMutation) ([]*corev3.HeaderValueOption, []string, error) {
	if m == nil {
		return nil, nil, nil
	}
	var add []*corev3.HeaderValueOption
	for _, h := range m.Add {
		if err := checkHeader(h); err != nil {
			return nil, nil, err
		}
		add = append(add, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: h.Name, Value: escapeFormat(h.Value)},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
		})
	}
	for _, h := range m.Set {
		if err := checkHeader(h); err != nil {
			return nil, nil, err
		}
		add = append(add, setHeader(h.Name, escapeFormat(h.Value)))
	}
	var remove []string
	for _, name := range m.Remove {
		if err := ir.CheckMutableHeader(name); err != nil {
			return nil, nil, err
		}
		remove = append(remove, name)
	}
	return add, remove, nil
}

func setHeader(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func escapeFormat(v string) string { return strings.ReplaceAll(v, "%", "%%") }

// checkHeader rejects what Envoy refuses to edit (pseudo-headers and Host)
// and names or values its protos refuse (see ir.CheckMutableHeader).
func checkHeader(h ir.Header) error {
	if err := ir.CheckMutableHeader(h.Name); err != nil {
		return err
	}
	if err := ir.CheckHeaderValue(h.Value); err != nil {
		return fmt.Errorf("header %s: %w", h.Name, err)
	}
	return nil
}

// corsPolicy is the per-route config of the CORS filter.
func corsPolicy(c *ir.CORSPolicy) (*anypb.Any, error) {
	p := &corsv3.CorsPolicy{
		AllowMethods:  strings.Join(c.AllowMethods, ","),
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
	}
	if c.MaxAge > 0 {
		p.MaxAge = fmt.Sprint(int64(c.MaxAge / time.Second))
	}
	if c.AllowCredentials {
		p.AllowCredentials = wrapperspb.Bool(true)
	}
	for i, o := range c.AllowOrigins {
		if o.Type == ir.MatchPresent || o.Invert {
			return nil, fmt.Errorf("allowOrigins[%d]: only exact, prefix and regex origins are supported", i)
		}
		if (o.Type == ir.MatchExact || o.Type == "") && o.Value == "*" {
			// "*" allows any origin.
			o = ir.StringMatch{Type: ir.MatchRegex, Value: ".*"}
		}
		sm, err := stringMatcher(o)
		if err != nil {
			return nil, fmt.Errorf("allowOrigins[%d]: %w", i, err)
		}
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, sm)
	}
	return mustAny(p), nil
}
