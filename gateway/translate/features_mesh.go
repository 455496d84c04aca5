package translate

import (
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// MeshFeatureInfo is one row of the mesh feature table: how far a feature
// holds for routes whose parent is a Service (GAMMA).
type MeshFeatureInfo struct {
	Name  features.FeatureName
	State FeatureState
	// Tests are test functions ("TestXxx") that fail when the feature breaks
	// in the mesh.
	Tests []string
	// Note is shown in docs/conformance.md.
	Note string
}

// Works reports whether the feature is claimed in XMesh status.
func (f MeshFeatureInfo) Works() bool { return f.State != FeatureMissing }

// meshFeatureTable is the single source of what Gantry's mesh supports:
// XMesh status.supportedFeatures and the MESH tables of docs/conformance.md
// are derived from it. It lists the features of the MESH profiles and the
// route features the upstream MESH tests of Gateway API v1.6.3 require (a
// test checks both).
var meshFeatureTable = []MeshFeatureInfo{
	{Name: features.SupportMesh, State: FeatureMissing, Tests: []string{"TestMeshBasic", "TestMeshHTTPRouteSimpleSameNamespace", "TestMeshEnvoyRedirects", "TestMeshEnvoyRequestHeaders"}, Note: meshSidecarNote},
	{Name: features.SupportHTTPRoute, State: FeatureMissing, Tests: []string{"TestMeshHTTPRouteMatching", "TestMeshTrafficSplit", "TestMeshHTTPRouteWeight"}, Note: meshSidecarNote},
	{Name: features.SupportGRPCRoute, State: FeatureMissing, Tests: []string{"TestMeshGRPCRouteWeight"}, Note: meshSidecarNote},
	{Name: features.SupportMeshClusterIPMatching, State: FeatureMissing, Note: "not claimed: proxyless clients pick the route table by the name they dial; matching by cluster IP whatever the Host header is the sidecar's outbound listener's, which no test here runs"},
	{Name: features.SupportMeshConsumerRoute, State: FeatureMissing, Tests: []string{"TestMeshConsumerRoute", "TestMeshEnvoyResponseHeaders"}, Note: "not claimed: works with a ReferenceGrant for the consumer route's backendRef (its parent Service, in the producer namespace); the upstream manifest has none and Gantry requires one, so that backend would answer 500; and " + meshSidecarNote},
	{Name: features.SupportMeshHTTPRouteRewritePath, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRewritePath"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportMeshHTTPRouteSchemeRedirect, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRedirects"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportMeshHTTPRouteRedirectPort, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRedirects"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportMeshHTTPRouteRedirectPath, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRedirects"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportMeshHTTPRouteBackendRequestHeaderModification, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRequestHeaders"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportMeshHTTPRouteQueryParamMatching, State: FeatureMissing, Tests: []string{"TestMeshEnvoyQueryParams"}, Note: "not claimed: grpc-go ignores routes with query matches; " + meshEnvoyOnlyNote},
	{Name: features.SupportMeshHTTPRouteNamedRouteRule, State: FeatureMissing, Tests: []string{"TestMeshHTTPRouteNamedRule"}, Note: meshSidecarNote},
	// Route features the upstream MESH tests require besides the profiles'.
	{Name: features.SupportHTTPRouteParentRefPort, State: FeatureMissing, Tests: []string{"TestMeshEnvoyResponseHeaders"}, Note: meshSidecarNote},
	{Name: features.SupportHTTPRouteResponseHeaderModification, State: FeatureMissing, Tests: []string{"TestMeshEnvoyResponseHeaders"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportHTTPRoute303RedirectStatusCode, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRedirects"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportHTTPRoute307RedirectStatusCode, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRedirects"}, Note: meshEnvoyOnlyNote},
	{Name: features.SupportHTTPRoute308RedirectStatusCode, State: FeatureMissing, Tests: []string{"TestMeshEnvoyRedirects"}, Note: meshEnvoyOnlyNote},
}

const (
	meshSidecarNote   = "not claimed: works for proxyless gRPC clients and in the Envoy flavor's route tables (the tests); the upstream tests send HTTP from a pod through a captured sidecar, and that data path has not run here"
	meshEnvoyOnlyNote = "not claimed: the Envoy flavor's mesh route tables apply it (the tests); proxyless gRPC clients cannot, and no sidecar has run here"
)

// MeshFeatures returns a copy of the mesh feature table in its documented
// order.
func MeshFeatures() []MeshFeatureInfo {
	return slices.Clone(meshFeatureTable)
}

// MeshFeatureByName returns the mesh table row of a feature.
func MeshFeatureByName(name features.FeatureName) (MeshFeatureInfo, bool) {
	for _, f := range meshFeatureTable {
		if f.Name == name {
			return f, true
		}
	}
	return MeshFeatureInfo{}, false
}

// MeshSupportedFeatures is XMesh status.supportedFeatures: every mesh
// feature that works, sorted by name. Gateway features never appear there
// (the conformance suite ignores them on an XMesh).
func MeshSupportedFeatures() []gwapiv1.SupportedFeature {
	gatewayOnly := features.SetsToNamesSet(features.GatewayCoreFeatures, features.GatewayExtendedFeatures)
	var out []gwapiv1.SupportedFeature
	for _, f := range meshFeatureTable {
		if f.Works() && !gatewayOnly.Has(f.Name) {
			out = append(out, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f.Name)})
		}
	}
	slices.SortFunc(out, func(a, b gwapiv1.SupportedFeature) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out
}

// meshOnly reports whether a feature is a MESH profile feature, which the
// conformance suite ignores on a GatewayClass.
func meshOnly(name features.FeatureName) bool {
	return features.SetsToNamesSet(features.MeshCoreFeatures, features.MeshExtendedFeatures).Has(name)
}

// writeMeshProfile renders a MESH profile's table from meshFeatureTable.
func writeMeshProfile(b *strings.Builder, p Profile) {
	fmt.Fprintf(b, "\n### %s\n\n| Feature | Level | State | Tests | Note |\n| --- | --- | --- | --- | --- |\n", p.Name)
	for _, level := range []struct {
		name string
		list []features.FeatureName
	}{{"core", p.Core}, {"extended", p.Extended}} {
		for _, n := range level.list {
			f, _ := MeshFeatureByName(n)
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", n, level.name, meshStateOf(f), codeList(f.Tests), f.Note)
		}
	}
}

// writeMeshOthers renders the mesh rows of the route features the MESH
// tests require besides their profiles' own.
func writeMeshOthers(b *strings.Builder) {
	inProfiles := map[features.FeatureName]bool{}
	for _, p := range Profiles() {
		if p.Mesh {
			for _, n := range append(slices.Clone(p.Core), p.Extended...) {
				inProfiles[n] = true
			}
		}
	}
	b.WriteString("\n### Route features in the mesh\n\nThe upstream MESH tests also require these route features; the suite takes them from the\nGatewayClass or the XMesh. Their state for routes whose parent is a Service:\n\n| Feature | State | Tests | Note |\n| --- | --- | --- | --- |\n")
	for _, f := range meshFeatureTable {
		if !inProfiles[f.Name] {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", f.Name, meshStateOf(f), codeList(f.Tests), f.Note)
		}
	}
}

func meshStateOf(f MeshFeatureInfo) FeatureState {
	if f.State == "" {
		return FeatureMissing
	}
	return f.State
}
