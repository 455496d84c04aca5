package envoy

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// RBAC filter names: one deny stage, then one allow stage per rule set. Both
// Envoy and grpc-go (gRFC A41) run every RBAC filter of a chain in order, and
// grpc-go requires HTTP filter names to be distinct.
const (
	rbacHTTPFilterName    = "envoy.filters.http.rbac"
	rbacNetworkFilterName = "envoy.filters.network.rbac"
)

// rbacStage is one RBAC filter: its name suffix and rules.
type rbacStage struct {
	name string
	rbac *rbacv3.RBAC
}

// rbacStages turns an Authorization into its filters, deny first. A nil
// Authorization has none.
func rbacStages(a *ir.Authorization, http bool) ([]rbacStage, error) {
	if a == nil {
		return nil, nil
	}
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	var out []rbacStage
	if len(a.Deny) > 0 {
		r, err := rbacRules(rbacv3.RBAC_DENY, a.Deny, http)
		if err != nil {
			return nil, fmt.Errorf("authorization: deny: %w", err)
		}
		out = append(out, rbacStage{name: rbacDenyStage, rbac: r})
	}
	for _, set := range a.Allow {
		r, err := rbacRules(rbacv3.RBAC_ALLOW, set.Rules, http)
		if err != nil {
			return nil, fmt.Errorf("authorization: allow %s: %w", set.Name, err)
		}
		if len(set.Destinations) > 0 {
			// Requests the stage is not about pass it.
			dests, err := destinationPermission(set.Destinations)
			if err != nil {
				return nil, fmt.Errorf("authorization: allow %s: %w", set.Name, err)
			}
			if !set.ExceptDestinations {
				dests = &rbacv3.Permission{Rule: &rbacv3.Permission_NotRule{NotRule: dests}}
			}
			r.Policies[set.Name+"/other-destinations"] = &rbacv3.Policy{
				Permissions: []*rbacv3.Permission{dests},
				Principals:  []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Any{Any: true}}},
			}
		}
		out = append(out, rbacStage{name: rbacAllowStage(set.Name), rbac: r})
	}
	return out, nil
}

// rbacDenyStage names the deny stage; rbacAllowStage an allow stage.
const rbacDenyStage = "deny"

func rbacAllowStage(set string) string { return "allow/" + set }

// rbacStageNames are a's stage names, deny first, as rbacStages names them.
func rbacStageNames(a *ir.Authorization) []string {
	var out []string
	if len(a.Deny) > 0 {
		out = append(out, rbacDenyStage)
	}
	for _, set := range a.Allow {
		out = append(out, rbacAllowStage(set.Name))
	}
	return out
}

// mergeStageNames adds the names of more that names lacks, keeping the deny
// stage first.
func mergeStageNames(names, more []string) []string {
	for _, n := range more {
		switch {
		case slices.Contains(names, n):
		case n == rbacDenyStage:
			names = append([]string{n}, names...)
		default:
			names = append(names, n)
		}
	}
	return names
}

// markRBAC notes, per route configuration with authorized virtual hosts, the
// RBAC stages of the chains that use it and of its virtual hosts. Every such
// chain gets one filter per
// stage, in that order (a stage it has no rules for passes every request),
// so that a virtual host's RBACPerRoute reaches each filter: Envoy and
// grpc-go look a per-filter config up by the filter's name, and the most
// specific one (route, then virtual host) replaces the filter's own config.
// A virtual host's Authorization needs a chain that carries one: without it,
// the chain would have no RBAC filter and the virtual host's rules would
// silently not apply.
func (b *builder) markRBAC() error {
	hosts := map[string]bool{} // route configs with authorized virtual hosts
	for _, rc := range b.proxy.RouteConfigs {
		if rc == nil {
			continue
		}
		if b.memo != nil && b.memo.unauthorized(rc) {
			continue
		}
		in := b.info(rc.Name)
		for vh := range rc.VirtualHosts.Values() {
			if vh != nil && vh.Authorization != nil {
				hosts[rc.Name] = true
				in.rbacStages = mergeStageNames(in.rbacStages, rbacStageNames(vh.Authorization))
			}
		}
	}
	for _, l := range b.proxy.Listeners {
		if l == nil {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc == nil || fc.HTTP == nil || !hosts[fc.HTTP.RouteConfigName] {
				continue
			}
			if fc.Authorization == nil {
				return fmt.Errorf("listener %s: filter chain %s: route config %s authorizes virtual hosts, which needs an authorization (possibly empty) on the chain", l.Name, fc.Name, fc.HTTP.RouteConfigName)
			}
			in := b.info(fc.HTTP.RouteConfigName)
			// The chain's own stages come before those only its virtual
			// hosts have.
			in.rbacStages = mergeStageNames(rbacStageNames(fc.Authorization), in.rbacStages)
		}
	}
	return nil
}

// rbacHTTPFilters are the HTTP RBAC filters of a manager, before every other
// filter: one per stage of a and of names (the stages of the other chains and
// virtual hosts of its route configuration); a stage a lacks has no rules
// and passes every request. A nil a has none (an api_listener's manager).
func rbacHTTPFilters(a *ir.Authorization, names []string) ([]*hcmv3.HttpFilter, error) {
	stages, err := rbacStages(a, true)
	if err != nil || a == nil {
		return nil, err
	}
	byName := map[string]*rbacv3.RBAC{}
	for _, s := range stages {
		byName[s.name] = s.rbac
	}
	var out []*hcmv3.HttpFilter
	for _, n := range mergeStageNames(rbacStageNames(a), names) {
		out = append(out, &hcmv3.HttpFilter{
			Name:       rbacHTTPFilterName + "/" + n,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&rbachttpv3.RBAC{Rules: byName[n]})},
		})
	}
	return out, nil
}

// rbacPerRoute is the typed_per_filter_config of a virtual host whose
// Authorization a replaces its chains': an RBACPerRoute for every RBAC
// filter (names), with a's rules for its stages and none (pass) for the
// others. The rbac field is always set: grpc-go (v1.85) reads an
// RBACPerRoute without it as a nil config.
func rbacPerRoute(a *ir.Authorization, names []string) (map[string]*anypb.Any, error) {
	stages, err := rbacStages(a, true)
	if err != nil {
		return nil, err
	}
	byName := map[string]*rbacv3.RBAC{}
	for _, s := range stages {
		byName[s.name] = s.rbac
	}
	out := map[string]*anypb.Any{}
	for _, n := range names {
		out[rbacHTTPFilterName+"/"+n] = mustAny(&rbachttpv3.RBACPerRoute{Rbac: &rbachttpv3.RBAC{Rules: byName[n]}})
	}
	return out, nil
}

// rbacNetworkFilters are the network RBAC filters of a TCP chain, before its
// proxy filter; statPrefix names their stats.
func rbacNetworkFilters(a *ir.Authorization, statPrefix string) ([]*listenerv3.Filter, error) {
	stages, err := rbacStages(a, false)
	if err != nil {
		return nil, err
	}
	var out []*listenerv3.Filter
	for _, s := range stages {
		out = append(out, &listenerv3.Filter{
			Name: rbacNetworkFilterName + "/" + s.name,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&rbacnetv3.RBAC{
				Rules: s.rbac, StatPrefix: statPrefix + "." + strings.ReplaceAll(s.name, "/", "."),
			})},
		})
	}
	return out, nil
}

// rbacRules is one policy per rule, named by the rule. An ALLOW stage with no
// rule has no policy and refuses everything.
func rbacRules(action rbacv3.RBAC_Action, rules []ir.AuthzRule, http bool) (*rbacv3.RBAC, error) {
	out := &rbacv3.RBAC{Action: action, Policies: map[string]*rbacv3.Policy{}}
	for i, r := range rules {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		if _, dup := out.Policies[name]; dup {
			return nil, fmt.Errorf("rule %s: duplicate name", name)
		}
		perms, err := rbacPermissions(r.To, http)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		princ, err := rbacPrincipals(r.Sources)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", name, err)
		}
		if len(r.Destinations) > 0 {
			dests, err := destinationPermission(r.Destinations)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", name, err)
			}
			perms = []*rbacv3.Permission{{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{
				Rules: []*rbacv3.Permission{orPermissions(perms), dests},
			}}}}
		}
		out.Policies[name] = &rbacv3.Policy{Permissions: perms, Principals: princ}
	}
	return out, nil
}

func rbacPrincipals(sources []ir.AuthzSource) ([]*rbacv3.Principal, error) {
	if len(sources) == 0 {
		return []*rbacv3.Principal{{Identifier: &rbacv3.Principal_Any{Any: true}}}, nil
	}
	var out []*rbacv3.Principal
	for _, s := range sources {
		switch {
		case s.Principal != nil:
			sm := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s.Principal.Value}}
			if s.Principal.Type == ir.MatchPrefix {
				sm.MatchPattern = &matcherv3.StringMatcher_Prefix{Prefix: s.Principal.Value}
			}
			out = append(out, &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{
				Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: sm},
			}})
		case s.Authenticated:
			out = append(out, &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{
				Authenticated: &rbacv3.Principal_Authenticated{},
			}})
		case s.CIDR != "":
			cidr, err := cidrRange(s.CIDR)
			if err != nil {
				return nil, err
			}
			out = append(out, &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: cidr}})
		case s.Never:
			// not(any): grpc-go and Envoy both read it, and it matches nothing.
			out = append(out, &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{
				NotId: &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}},
			}})
		}
	}
	return out, nil
}

// destinationPermission matches requests sent to one of the addresses.
func destinationPermission(addrs []string) (*rbacv3.Permission, error) {
	var out []*rbacv3.Permission
	for _, a := range addrs {
		c, err := cidrRange(a)
		if err != nil {
			return nil, err
		}
		out = append(out, &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: c}})
	}
	return orPermissions(out), nil
}

func cidrRange(s string) (*corev3.CidrRange, error) {
	p, err := ir.ParseAddressRange(s)
	if err != nil {
		return nil, fmt.Errorf("cidr: %w", err)
	}
	p = p.Masked()
	return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}, nil
}

// rbacPermissions is one permission per request entry: the AND of its lists,
// each an OR of its entries.
func rbacPermissions(to []ir.AuthzRequest, http bool) ([]*rbacv3.Permission, error) {
	if len(to) == 0 {
		return []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}}, nil
	}
	var out []*rbacv3.Permission
	for i, r := range to {
		if !http && r.HTTPOnly() {
			return nil, fmt.Errorf("to[%d]: paths, methods and headers need an HTTP chain", i)
		}
		var and []*rbacv3.Permission
		if p := orPermissions(pathPermissions(r.Paths)); p != nil {
			and = append(and, p)
		}
		var methods []*rbacv3.Permission
		for _, m := range r.Methods {
			methods = append(methods, headerPermission(&routev3.HeaderMatcher{
				Name:                 ":method",
				HeaderMatchSpecifier: stringMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m}}),
			}))
		}
		if p := orPermissions(methods); p != nil {
			and = append(and, p)
		}
		for _, h := range r.Headers {
			hm, err := headerMatcher(h)
			if err != nil {
				return nil, fmt.Errorf("to[%d]: header %q: %w", i, h.Name, err)
			}
			and = append(and, headerPermission(hm))
		}
		var ports []*rbacv3.Permission
		for _, p := range r.Ports {
			ports = append(ports, &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: p}})
		}
		if p := orPermissions(ports); p != nil {
			and = append(and, p)
		}
		switch len(and) {
		case 0:
			out = append(out, &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}})
		case 1:
			out = append(out, and[0])
		default:
			out = append(out, &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: and}}})
		}
	}
	return out, nil
}

// pathPermissions matches paths (without the query); a prefix is
// segment-aware: the path itself, or below it.
func pathPermissions(paths []ir.AuthzPath) []*rbacv3.Permission {
	var out []*rbacv3.Permission
	exact := func(v string) {
		out = append(out, urlPath(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}))
	}
	for _, p := range paths {
		if p.Type == ir.PathExact {
			exact(p.Value)
			continue
		}
		v := strings.TrimSuffix(p.Value, "/")
		if v == "" {
			out = append(out, urlPath(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "/"}}))
			continue
		}
		exact(v)
		out = append(out, urlPath(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v + "/"}}))
	}
	return out
}

func urlPath(sm *matcherv3.StringMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
		Rule: &matcherv3.PathMatcher_Path{Path: sm},
	}}}
}

func headerPermission(h *routev3.HeaderMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: h}}
}

// orPermissions is nil for none, the permission itself for one, an OR else.
func orPermissions(ps []*rbacv3.Permission) *rbacv3.Permission {
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return ps[0]
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: ps}}}
}
