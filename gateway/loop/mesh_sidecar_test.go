package loop

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/ir"
)

// TestMeshOutboundPolicy: the loop's outbound policy (--mesh-outbound-policy)
// reaches every sidecar group, and a Namespace's annotation overrides it.
func TestMeshOutboundPolicy(t *testing.T) {
	set := &resource.Set{Namespaces: plist.Of(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "open", Annotations: map[string]string{meshtranslate.OutboundPolicyKey: "allow-any"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
	)}
	for _, tc := range []struct {
		policy ir.OutboundPolicy
		want   map[string]ir.OutboundPolicy
	}{
		{policy: "", want: map[string]ir.OutboundPolicy{"mesh/open": ir.OutboundAllowAny, "mesh/shop": ir.OutboundAllowAny}},
		{policy: ir.OutboundRegistryOnly, want: map[string]ir.OutboundPolicy{"mesh/open": ir.OutboundAllowAny, "mesh/shop": ir.OutboundRegistryOnly}},
	} {
		l := New(Options{Cache: cache.New(cache.Options{}), MeshOutboundPolicy: tc.policy})
		got := map[string]ir.OutboundPolicy{}
		for _, p := range l.meshTranslate(set, []string{"open", "shop"}, nil).Proxies {
			got[p.Name] = p.Sidecar.OutboundPolicy
		}
		for name, want := range tc.want {
			if got[name] != want {
				t.Errorf("policy %q: %s has %q, want %q", tc.policy, name, got[name], want)
			}
		}
	}
}
