package translate

import (
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// FeatureState says how far Gantry supports one Gateway API feature.
type FeatureState string

const (
	// FeatureTested works and has golden cases and a test that can fail.
	FeatureTested FeatureState = "works and tested"
	// FeatureUntested works but lacks a test of its own.
	FeatureUntested FeatureState = "works untested"
	// FeatureMissing is not supported.
	FeatureMissing FeatureState = "missing"
)

// FeatureInfo is one row of the feature table.
type FeatureInfo struct {
	Name  features.FeatureName
	State FeatureState
	// Goldens are gateway/translate golden cases (testdata/<name>.in.yaml)
	// that exercise the feature.
	Goldens []string
	// Tests are test functions ("TestXxx") that fail when the feature breaks.
	Tests []string
	// Note is shown in docs/conformance.md.
	Note string
}

// Works reports whether the feature is claimed in GatewayClass status.
func (f FeatureInfo) Works() bool { return f.State != FeatureMissing }

// featureTable is the single source of what Gantry supports: GatewayClass
// status.supportedFeatures and docs/conformance.md are both derived from it.
// It lists every feature of Gateway API v1.6.3 exactly once (a test checks
// it against sigs.k8s.io/gateway-api/pkg/features).
var featureTable = []FeatureInfo{
	// Core features of the Gateway profiles.
	{Name: features.SupportGateway, State: FeatureTested, Goldens: []string{"basic-http", "gateway-multiple"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportReferenceGrant, State: FeatureTested, Goldens: []string{"backend-cross-namespace-granted", "https-cross-namespace-granted"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRoute, State: FeatureTested, Goldens: []string{"basic-http", "match-paths", "precedence"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportGRPCRoute, State: FeatureTested, Goldens: []string{"grpcroute-matching", "grpcroute-invalid", "grpcroute-http-conflict"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer", "TestE2EGRPCRoute", "TestGRPCRoutePrecedence"}},
	{Name: features.SupportTLSRoute, State: FeatureTested, Goldens: []string{"tlsroute-passthrough", "tlsroute-terminate", "tlsroute-mixed"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer", "TestSurfaceStreamProtos"}},
	{Name: features.SupportTCPRoute, State: FeatureTested, Goldens: []string{"tcproute-weighted", "stream-http-same-service"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer", "TestSurfaceStreamProtos"}},
	{Name: features.SupportUDPRoute, State: FeatureTested, Goldens: []string{"udproute-basic", "udproute-tcp-same-port"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer", "TestSurfaceStreamProtos"}, Note: "several weighted backends are merged into one locality-weighted cluster by xds/envoy"},

	// Gateway extended features.
	{Name: features.SupportGatewayPort8080, State: FeatureTested, Goldens: []string{"listener-port-8080"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportGatewayStaticAddresses, State: FeatureTested, Goldens: []string{"gateway-addresses"}, Tests: []string{"TestGolden", "TestLoadBalancerAddressInGatewayStatus", "TestConformance"}, Note: "translation validates the addresses; the kube infrastructure requests the first IP from the LoadBalancer Service and reports the addresses the load balancer bound; a requested address it did not assign makes the Gateway Programmed=False/AddressNotUsable (envtest, and the upstream GatewayStaticAddresses test with a stand-in load balancer); not run against a real load balancer"},
	{Name: features.SupportGatewayHTTPListenerIsolation, State: FeatureTested, Goldens: []string{"listener-isolation"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportGatewayHTTPSListenerDetectMisdirectedRequests, State: FeatureTested, Goldens: []string{"misdirected-requests", "https-basic"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild"}},
	{Name: features.SupportGatewayInfrastructure, State: FeatureTested, Goldens: []string{"gateway-infrastructure"}, Tests: []string{"TestGolden", "TestFleetObjects"}, Note: "labels and annotations are propagated to the Envoy fleet by the kube infrastructure manager (gateway/infra/kube, envtest)"},
	{Name: features.SupportGatewayAddressEmpty, State: FeatureTested, Goldens: []string{"gateway-addresses"}, Tests: []string{"TestGolden", "TestEmptyGatewayAddressIsAssigned"}, Note: "an entry without a value requests no IP; the kube infrastructure reports the Service's bound addresses of the requested type, and Programmed=False/AddressNotAssigned while there is none (envtest, with the load balancer's status written by the test)"},
	{Name: features.SupportGatewayBackendClientCertificate, State: FeatureTested, Goldens: []string{"backend-client-certificate"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer"}},
	{Name: features.SupportGatewayFrontendClientCertificateValidation, State: FeatureTested, Goldens: []string{"frontend-client-validation", "frontend-client-validation-invalid"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer"}},
	{Name: features.SupportGatewayFrontendClientCertificateValidationInsecureFallback, State: FeatureTested, Goldens: []string{"frontend-client-validation"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild"}},
	{Name: features.SupportListenerSet, State: FeatureTested, Goldens: []string{"listenerset-basic", "listenerset-conflicts"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer"}},

	// HTTPRoute extended features.
	{Name: features.SupportHTTPRouteDestinationPortMatching, State: FeatureMissing, Note: "a mesh feature (matching on the Service port a client dialled): not built; parentRefs[].port limits a mesh route to one Service port instead (docs/mesh.md)"},
	{Name: features.SupportHTTPRouteBackendRequestHeaderModification, State: FeatureTested, Goldens: []string{"filters-headers"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteQueryParamMatching, State: FeatureTested, Goldens: []string{"match-headers-query-method"}, Tests: []string{"TestGolden", "TestCompileMatch"}},
	{Name: features.SupportHTTPRouteMethodMatching, State: FeatureTested, Goldens: []string{"match-headers-query-method"}, Tests: []string{"TestGolden", "TestCompileMatch"}},
	{Name: features.SupportHTTPRouteResponseHeaderModification, State: FeatureTested, Goldens: []string{"filters-headers"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRoutePortRedirect, State: FeatureTested, Goldens: []string{"filters-redirect"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteSchemeRedirect, State: FeatureTested, Goldens: []string{"filters-redirect", "https-and-http-redirect"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRoutePathRedirect, State: FeatureTested, Goldens: []string{"filters-redirect"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteHostRewrite, State: FeatureTested, Goldens: []string{"filters-rewrite"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRoutePathRewrite, State: FeatureTested, Goldens: []string{"filters-rewrite"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRequestMirror, State: FeatureTested, Goldens: []string{"filters-mirror"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRequestMultipleMirrors, State: FeatureTested, Goldens: []string{"filters-mirror"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRequestPercentageMirror, State: FeatureTested, Goldens: []string{"filters-mirror"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRequestTimeout, State: FeatureTested, Goldens: []string{"timeouts-retry"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteBackendTimeout, State: FeatureTested, Goldens: []string{"timeouts-retry"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteParentRefPort, State: FeatureTested, Goldens: []string{"parentref-section-port"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteBackendProtocolH2C, State: FeatureTested, Goldens: []string{"backend-app-protocol"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteBackendProtocolWebSocket, State: FeatureTested, Goldens: []string{"backend-app-protocol"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteNamedRouteRule, State: FeatureTested, Goldens: []string{"named-rules"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteCORS, State: FeatureTested, Goldens: []string{"cors-policy"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestOriginMatch"}},
	{Name: features.SupportHTTPRoute303RedirectStatusCode, State: FeatureTested, Goldens: []string{"filters-redirect"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRoute307RedirectStatusCode, State: FeatureTested, Goldens: []string{"filters-redirect"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRoute308RedirectStatusCode, State: FeatureTested, Goldens: []string{"filters-redirect"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRetry, State: FeatureTested, Goldens: []string{"timeouts-retry"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRetryBackendTimeout, State: FeatureTested, Goldens: []string{"timeouts-retry"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportHTTPRouteRetryConnectionError, State: FeatureTested, Goldens: []string{"retry-connection-errors"}, Tests: []string{"TestGolden"}},

	// GRPCRoute, TLSRoute and BackendTLSPolicy extended features.
	{Name: features.SupportGRPCRouteNamedRouteRule, State: FeatureTested, Goldens: []string{"grpcroute-matching"}, Tests: []string{"TestGolden"}},
	{Name: features.SupportTLSRouteModeTerminate, State: FeatureTested, Goldens: []string{"tlsroute-terminate"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild"}},
	{Name: features.SupportTLSRouteModeMixed, State: FeatureTested, Goldens: []string{"tlsroute-mixed"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStreamProtos"}},
	{Name: features.SupportBackendTLSPolicy, State: FeatureTested, Goldens: []string{"backendtls-configmap", "backendtls-system-san", "backendtls-invalid"}, Tests: []string{"TestGolden", "TestSurfaceGoldensBuild", "TestSurfaceStatusOnAPIServer"}},
	{Name: features.SupportBackendTLSPolicySANValidation, State: FeatureTested, Goldens: []string{"backendtls-system-san", "backendtls-invalid"}, Tests: []string{"TestGolden", "TestSurfaceBackendTLSSANTypes"}, Note: "Hostname SANs become DNS matchers and URI SANs URI matchers (the gRPC flavor lists both in match_subject_alt_names, which grpc-go compares with the certificate's DNS names and URIs)"},

	// Mesh (GAMMA) features belong to the mesh: XMesh status, from
	// meshFeatureTable (features_mesh.go). They are never claimed here.
	{Name: features.SupportMesh, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshClusterIPMatching, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshConsumerRoute, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteRewritePath, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteSchemeRedirect, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteRedirectPort, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteRedirectPath, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteBackendRequestHeaderModification, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteQueryParamMatching, State: FeatureMissing, Note: meshRowNote},
	{Name: features.SupportMeshHTTPRouteNamedRouteRule, State: FeatureMissing, Note: meshRowNote},
}

// meshRowNote marks the MESH features in the Gateway table.
const meshRowNote = "a mesh feature: reported in XMesh status, see the MESH tables"

// Features returns a copy of the feature table in its documented order.
func Features() []FeatureInfo {
	return slices.Clone(featureTable)
}

// SupportedFeatures is GatewayClass status.supportedFeatures: every feature
// that works, sorted by name; MESH features are XMesh's
// (MeshSupportedFeatures).
func SupportedFeatures() []gwapiv1.SupportedFeature {
	var out []gwapiv1.SupportedFeature
	for _, f := range featureTable {
		if f.Works() && !meshOnly(f.Name) {
			out = append(out, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f.Name)})
		}
	}
	slices.SortFunc(out, func(a, b gwapiv1.SupportedFeature) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Profile is a Gateway API conformance profile: the features it tests.
type Profile struct {
	Name     string
	Core     []features.FeatureName
	Extended []features.FeatureName
	// Mesh profiles are claimed in XMesh status (meshFeatureTable).
	Mesh bool
}

// Profiles lists the conformance profiles of Gateway API v1.6.3 with their
// features, each list sorted by name.
func Profiles() []Profile {
	gwExt := names(features.GatewayExtendedFeatures.UnsortedList())
	return []Profile{
		{Name: "GATEWAY-HTTP",
			Core: sorted(features.SupportGateway, features.SupportReferenceGrant, features.SupportHTTPRoute),
			Extended: sorted(concatNames(gwExt, names(features.HTTPRouteExtendedFeatures.UnsortedList()),
				names(features.BackendTLSPolicyCoreFeatures.UnsortedList()), names(features.BackendTLSPolicyExtendedFeatures.UnsortedList()))...)},
		{Name: "GATEWAY-GRPC",
			Core:     sorted(features.SupportGateway, features.SupportReferenceGrant, features.SupportGRPCRoute),
			Extended: sorted(concatNames(gwExt, names(features.GRPCRouteExtendedFeatures.UnsortedList()))...)},
		{Name: "GATEWAY-TLS",
			Core:     sorted(features.SupportGateway, features.SupportReferenceGrant, features.SupportTLSRoute),
			Extended: sorted(concatNames(gwExt, names(features.TLSRouteExtendedFeatures.UnsortedList()))...)},
		{Name: "GATEWAY-TCP",
			Core:     sorted(features.SupportGateway, features.SupportTCPRoute),
			Extended: sorted(gwExt...)},
		{Name: "GATEWAY-UDP",
			Core:     sorted(features.SupportGateway, features.SupportUDPRoute),
			Extended: sorted(gwExt...)},
		{Name: "MESH-HTTP", Mesh: true,
			Core:     sorted(features.SupportMesh, features.SupportHTTPRoute),
			Extended: sorted(names(features.MeshExtendedFeatures.UnsortedList())...)},
		{Name: "MESH-GRPC", Mesh: true,
			Core:     sorted(features.SupportMesh, features.SupportGRPCRoute),
			Extended: sorted(names(features.MeshExtendedFeatures.UnsortedList())...)},
	}
}

func names(fs []features.Feature) []features.FeatureName {
	out := make([]features.FeatureName, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func concatNames(lists ...[]features.FeatureName) []features.FeatureName {
	var out []features.FeatureName
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func sorted(in ...features.FeatureName) []features.FeatureName {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// FeatureByName returns the table row of a feature.
func FeatureByName(name features.FeatureName) (FeatureInfo, bool) {
	for _, f := range featureTable {
		if f.Name == name {
			return f, true
		}
	}
	return FeatureInfo{}, false
}

// FeatureTableMarkdown renders the feature table of every profile as the
// Markdown that docs/conformance.md embeds (a test keeps them equal).
func FeatureTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| Profile | Core features that work | Extended features that work |\n| --- | --- | --- |\n")
	for _, p := range Profiles() {
		fmt.Fprintf(&b, "| %s | %d of %d | %d of %d |\n", p.Name, countWorking(p, p.Core), len(p.Core), countWorking(p, p.Extended), len(p.Extended))
	}
	for _, p := range Profiles() {
		if p.Mesh {
			writeMeshProfile(&b, p)
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n| Feature | Level | State | Golden cases | Tests | Note |\n| --- | --- | --- | --- | --- | --- |\n", p.Name)
		for _, level := range []struct {
			name string
			list []features.FeatureName
		}{{"core", p.Core}, {"extended", p.Extended}} {
			for _, n := range level.list {
				f, _ := FeatureByName(n)
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", n, level.name, stateOf(f), codeList(f.Goldens), codeList(f.Tests), f.Note)
			}
		}
	}
	writeMeshOthers(&b)
	return b.String()
}

func stateOf(f FeatureInfo) FeatureState {
	if f.State == "" {
		return FeatureMissing
	}
	return f.State
}

func countWorking(p Profile, list []features.FeatureName) int {
	n := 0
	for _, name := range list {
		if p.Mesh {
			if f, ok := MeshFeatureByName(name); ok && f.Works() {
				n++
			}
		} else if f, ok := FeatureByName(name); ok && f.Works() {
			n++
		}
	}
	return n
}

func codeList(items []string) string {
	out := make([]string, 0, len(items))
	for _, s := range items {
		out = append(out, "`"+s+"`")
	}
	return strings.Join(out, ", ")
}
