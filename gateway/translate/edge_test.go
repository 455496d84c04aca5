package translate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// TestGoldensBuild holds Gantry's isolation promise on every golden input:
// whatever translation accepts builds, in both flavors, into xDS that
// passes validation. A rule Envoy would refuse must have been dropped by
// translation, never left to fail the whole proxy's build.
func TestGoldensBuild(t *testing.T) {
	for _, c := range golden.Cases(t, "testdata", inSuffix) {
		t.Run(c.Name, func(t *testing.T) {
			res, opts := loadCase(t, c.Path)
			for _, p := range Translate(res.Set, opts).Proxies {
				for _, f := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
					if _, err := envoy.Build(p, envoy.Options{Flavor: f}); err != nil {
						t.Errorf("%s (%s): %v", p.Name, f, err)
					}
				}
			}
		})
	}
}

// TestEdgeNeighboursUnchanged checks the edge-* goldens: every rule but the
// one named "good" is dropped for a field Envoy would refuse, and the good
// rule is built exactly as it is when it is the route's only rule (its
// name, metadata and stat prefix, which carry the rule index, aside).
func TestEdgeNeighboursUnchanged(t *testing.T) {
	for _, c := range golden.Cases(t, "testdata", inSuffix) {
		if !strings.HasPrefix(c.Name, "edge-") {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			res, opts := loadCase(t, c.Path)
			got := goodRoutes(t, res.Set, opts)
			if len(got) == 0 {
				t.Fatal("the good rule is not served")
			}
			want := goodRoutes(t, onlyGoodRules(res.Set), opts)
			if diff := cmp.Diff(want, got, protocmp.Transform(),
				protocmp.IgnoreFields(&routev3.Route{}, "name", "metadata", "stat_prefix")); diff != "" {
				t.Errorf("the good rule changed beside the bad ones (-alone +beside):\n%s", diff)
			}
			for _, st := range Translate(res.Set, opts).Status.Routes {
				for _, p := range st.Parents {
					if c := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionPartiallyInvalid)); c == nil || c.Status != metav1.ConditionTrue {
						t.Errorf("%s %s: no PartiallyInvalid condition", st.Kind, st.Name)
					}
				}
			}
		})
	}
}

// goodRoutes builds the Envoy flavor and returns the routes of rules named
// "good", in order.
func goodRoutes(t *testing.T, set *resource.Set, opts Options) []*routev3.Route {
	t.Helper()
	var out []*routev3.Route
	for _, p := range Translate(set, opts).Proxies {
		res, err := envoy.Build(p, envoy.Options{})
		if err != nil {
			t.Fatalf("build %s: %v", p.Name, err)
		}
		for _, r := range res.Routes {
			for _, vh := range r.(*routev3.RouteConfiguration).GetVirtualHosts() {
				for _, rt := range vh.GetRoutes() {
					if rt.GetMetadata().GetFilterMetadata()[envoy.MetadataNamespace].GetFields()["ruleName"].GetStringValue() == "good" {
						out = append(out, rt)
					}
				}
			}
		}
	}
	return out
}

// onlyGoodRules copies set keeping, in every HTTPRoute and GRPCRoute, only
// the rules named "good".
func onlyGoodRules(set *resource.Set) *resource.Set {
	out := *set
	out.HTTPRoutes = plist.List[*gwapiv1.HTTPRoute]{}
	for r := range set.HTTPRoutes.Values() {
		c := r.DeepCopy()
		c.Spec.Rules = nil
		for _, rule := range r.Spec.Rules {
			if rule.Name != nil && *rule.Name == "good" {
				c.Spec.Rules = append(c.Spec.Rules, rule)
			}
		}
		out.HTTPRoutes = out.HTTPRoutes.Append(c)
	}
	out.GRPCRoutes = plist.List[*gwapiv1.GRPCRoute]{}
	for r := range set.GRPCRoutes.Values() {
		c := r.DeepCopy()
		c.Spec.Rules = nil
		for _, rule := range r.Spec.Rules {
			if rule.Name != nil && *rule.Name == "good" {
				c.Spec.Rules = append(c.Spec.Rules, rule)
			}
		}
		out.GRPCRoutes = out.GRPCRoutes.Append(c)
	}
	return &out
}
