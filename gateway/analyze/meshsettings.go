package analyze

import (
	"github.com/gantryproxy/gantry/gateway/resource"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
)

// meshSettingsAnalyzer finds mesh settings on Namespaces and Pods whose
// value the mesh translator does not understand and reads in the safe
// direction: an mTLS mode as strict, an outbound policy as registry-only.
type meshSettingsAnalyzer struct{}

func (meshSettingsAnalyzer) Name() string { return "mesh-settings" }
func (meshSettingsAnalyzer) Description() string {
	return meshtranslate.MTLSModeKey + " (Namespace, Pod) and " + meshtranslate.OutboundPolicyKey + " (Namespace) have known values"
}

func (meshSettingsAnalyzer) Run(ctx *Context) {
	for ns := range ctx.Set.Namespaces.Values() {
		k := key(resource.KindNamespace, "", ns.Name)
		checkMode(ctx, k, "annotation", ns.Annotations)
		checkMode(ctx, k, "label", ns.Labels)
		if v, ok := ns.Annotations[meshtranslate.OutboundPolicyKey]; ok {
			if _, known := meshtranslate.ParseOutboundPolicy(v); !known {
				ctx.Report(MeshSettingUnknown, k, "annotation %s: %q is not allow-any or registry-only; the mesh reads it as registry-only",
					meshtranslate.OutboundPolicyKey, v)
			}
		}
	}
	for p := range ctx.Set.Pods.Values() {
		k := key(resource.KindPod, p.Namespace, p.Name)
		checkMode(ctx, k, "annotation", p.Annotations)
		checkMode(ctx, k, "label", p.Labels)
	}
}

// checkMode reports an mTLS mode in m (an object's annotations or labels)
// that is neither strict nor permissive.
func checkMode(ctx *Context, k resource.Key, where string, m map[string]string) {
	v, ok := m[meshtranslate.MTLSModeKey]
	if !ok {
		return
	}
	if _, known := meshtranslate.ParseMTLSMode(v); known {
		return
	}
	ctx.Report(MeshSettingUnknown, k, "%s %s: %q is not strict or permissive; the mesh reads it as strict", where, meshtranslate.MTLSModeKey, v)
}
