package translate

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// TestListenerPolicyIsolation: on port 80, which listeners a (a.example.com)
// and b (b.example.com) share, a policy naming listener a changes what a's
// host enforces and never what b's host enforces. What a host enforces is
// read from the Envoy output the way Envoy resolves it: for each RBAC filter
// of the chain, in order, the virtual host's RBACPerRoute when it has one
// (it replaces the filter's config), else the filter's own config; a config
// without rules passes every request and is left out of the comparison.
func TestListenerPolicyIsolation(t *testing.T) {
	res, opts := loadCase(t, "testdata/authz-edge.in.yaml")
	base := withoutPolicy(res.Set, "only-a")
	wantB := hostRBAC(t, base, opts, "b.example.com")
	wantA := hostRBAC(t, base, opts, "a.example.com")
	if len(wantB) == 0 || !strings.HasPrefix(wantB[0], "envoy.filters.http.rbac/deny ") {
		t.Fatalf("without a listener policy, b's host enforces %v, want the Gateway-wide deny stage", wantB)
	}
	if !slices.Equal(wantA, wantB) {
		t.Fatalf("without a listener policy, a's host enforces %v and b's %v", wantA, wantB)
	}
	onlyA := policyNamed(res.Set, "only-a")
	deny := onlyA.DeepCopy()
	deny.Spec.Action = securityv1alpha1.ActionDeny
	denyAll := onlyA.DeepCopy()
	denyAll.Spec.Rules = nil
	for name, ap := range map[string]*securityv1alpha1.AuthorizationPolicy{"allow": onlyA, "deny": deny, "allow-nothing": denyAll} {
		set := withoutPolicy(res.Set, "only-a")
		set.AuthorizationPolicies = set.AuthorizationPolicies.Append(ap)
		if got := hostRBAC(t, set, opts, "b.example.com"); !slices.Equal(got, wantB) {
			t.Errorf("%s: b's host enforces %v, want %v (as without the policy on a)", name, got, wantB)
		}
		gotA := hostRBAC(t, set, opts, "a.example.com")
		if slices.Equal(gotA, wantA) {
			t.Errorf("%s: a's host enforces the same as without its policy: %v", name, gotA)
		}
		if len(gotA) == 0 || !strings.HasPrefix(gotA[0], "envoy.filters.http.rbac/deny ") {
			t.Errorf("%s: a's host does not check the deny stage first: %v", name, gotA)
		}
	}
}

func policyNamed(set *resource.Set, name string) *securityv1alpha1.AuthorizationPolicy {
	for ap := range set.AuthorizationPolicies.Values() {
		if ap.Name == name {
			return ap
		}
	}
	return nil
}

// withoutPolicy is a shallow copy of set without the named policy.
func withoutPolicy(set *resource.Set, name string) *resource.Set {
	out := *set
	out.AuthorizationPolicies = set.AuthorizationPolicies.Filter(func(ap *securityv1alpha1.AuthorizationPolicy) bool {
		return ap.Name != name
	})
	return &out
}

// hostRBAC is what the port 80 chain of Gateway default/gw enforces on
// requests to host: "<filter> <rules>" per RBAC filter whose effective
// config has rules, in filter order.
func hostRBAC(t *testing.T, set *resource.Set, opts Options, host string) []string {
	t.Helper()
	var out []string
	for _, p := range Translate(set, opts).Proxies {
		r, err := envoy.Build(p, envoy.Options{Flavor: envoy.FlavorEnvoy})
		if err != nil {
			t.Fatal(err)
		}
		overrides := hostOverrides(t, r, "default/gw/80", host)
		for _, f := range chainFilters(t, r, "default/gw/80") {
			if !strings.HasPrefix(f.GetName(), "envoy.filters.http.rbac/") {
				continue
			}
			cfg := &rbachttpv3.RBAC{}
			if err := f.GetTypedConfig().UnmarshalTo(cfg); err != nil {
				t.Fatal(err)
			}
			if o, ok := overrides[f.GetName()]; ok {
				per := &rbachttpv3.RBACPerRoute{}
				if err := o.UnmarshalTo(per); err != nil {
					t.Fatal(err)
				}
				cfg = per.GetRbac()
			}
			if cfg.GetRules() == nil {
				continue
			}
			b, err := protojson.MarshalOptions{}.Marshal(cfg.GetRules())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, f.GetName()+" "+string(b))
		}
	}
	return out
}

func chainFilters(t *testing.T, r *envoy.Resources, listener string) []*hcmv3.HttpFilter {
	t.Helper()
	for _, res := range r.Listeners {
		l := res.(*listenerv3.Listener)
		if l.GetName() != listener {
			continue
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			t.Fatal(err)
		}
		return hcm.GetHttpFilters()
	}
	t.Fatalf("no listener %s", listener)
	return nil
}

func hostOverrides(t *testing.T, r *envoy.Resources, routeConfig, host string) map[string]*anypb.Any {
	t.Helper()
	for _, res := range r.Routes {
		rc := res.(*routev3.RouteConfiguration)
		if rc.GetName() != routeConfig {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			if slices.Contains(vh.GetDomains(), host) {
				return vh.GetTypedPerFilterConfig()
			}
		}
	}
	t.Fatalf("no virtual host for %s in %s", host, routeConfig)
	return nil
}
