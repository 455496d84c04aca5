package conformance

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	meshtests "sigs.k8s.io/gateway-api/conformance/tests/mesh"
	"sigs.k8s.io/gateway-api/pkg/features"

	"github.com/gantryproxy/gantry/gateway/translate"
)

var update = flag.Bool("update", false, "rewrite the MESH test table of docs/conformance.md")

// meshEquivalent is what stands in here for one upstream MESH test.
type meshEquivalent struct {
	upstream string
	// tests are this package's tests running the upstream case's
	// manifests; full says they cover every case of the upstream test.
	tests []string
	full  bool
	how   string
}

// meshEquivalents lists every MESH test of the pinned suite. The upstream
// tests exec an HTTP (or gRPC) client in a pod of the mesh namespace whose
// traffic a sidecar captures: they need a kubelet, a container runtime and
// Envoy, none of which runs here (envtest's API server has no node to exec
// into, and a stand-in client would test the stand-in, not Gantry).
var meshEquivalents = []meshEquivalent{
	{upstream: "MeshBasic", tests: []string{"TestMeshBasic"}, full: true, how: "grpc-go"},
	{upstream: "MeshConsumerRoute", tests: []string{"TestMeshConsumerRoute", "TestMeshEnvoyResponseHeaders"}, how: "grpc-go (routing) and route tables (the response header), with a ReferenceGrant the upstream manifest lacks"},
	{upstream: "MeshFrontend", tests: []string{"TestMeshEnvoyResponseHeaders"}, how: "route tables: the Service's table sets the header; the call to the pod IP, which must bypass the route, is the sidecar listener's to prove"},
	{upstream: "MeshFrontendHostname", how: "none: routing by cluster IP whatever the Host header is the sidecar listener's (filter chains by destination), not modelled here"},
	{upstream: "MeshGRPCRouteWeight", tests: []string{"TestMeshGRPCRouteWeight"}, full: true, how: "grpc-go"},
	{upstream: "MeshHTTPRoute303Redirect", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRoute307Redirect", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRoute308Redirect", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteBackendRequestHeaderModifier", tests: []string{"TestMeshEnvoyRequestHeaders"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteMatching", tests: []string{"TestMeshHTTPRouteMatching"}, full: true, how: "grpc-go"},
	{upstream: "MeshHTTPRouteNamedRule", tests: []string{"TestMeshHTTPRouteNamedRule"}, full: true, how: "grpc-go"},
	{upstream: "MeshHTTPRouteQueryParamMatching", tests: []string{"TestMeshEnvoyQueryParams"}, full: true, how: "route tables (grpc-go ignores routes with query matches)"},
	{upstream: "MeshHTTPRouteRedirectHostAndStatus", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteRedirectPath", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteRedirectPort", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteRequestHeaderModifier", tests: []string{"TestMeshEnvoyRequestHeaders"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteRewritePath", tests: []string{"TestMeshEnvoyRewritePath"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteSchemeRedirect", tests: []string{"TestMeshEnvoyRedirects"}, full: true, how: "route tables"},
	{upstream: "MeshHTTPRouteSimpleSameNamespace", tests: []string{"TestMeshHTTPRouteSimpleSameNamespace"}, full: true, how: "grpc-go"},
	{upstream: "MeshHTTPRouteWeight", tests: []string{"TestMeshHTTPRouteWeight"}, full: true, how: "grpc-go"},
	{upstream: "MeshPorts", tests: []string{"TestMeshEnvoyResponseHeaders"}, full: true, how: "route tables (one per Service port)"},
	{upstream: "MeshTrafficSplit", tests: []string{"TestMeshTrafficSplit"}, full: true, how: "grpc-go"},
}

// TestMeshEquivalents: every MESH test of the pinned suite has a row, every
// row names tests of this package that exist, and every upstream test the
// published features enable (GatewayClass and XMesh, as the suite unions
// them) is fully covered here.
func TestMeshEquivalents(t *testing.T) {
	var want, got []string
	for _, ct := range meshtests.MeshConformanceTests {
		want = append(want, ct.ShortName)
	}
	for _, e := range meshEquivalents {
		got = append(got, e.upstream)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("meshEquivalents vs the suite's MESH tests (-suite +table, the table is sorted):\n%s", diff)
	}
	defined := testFuncs(t)
	for _, e := range meshEquivalents {
		for _, name := range e.tests {
			if !defined[name] {
				t.Errorf("%s: test %s does not exist", e.upstream, name)
			}
		}
	}
	claimed := map[features.FeatureName]bool{}
	for _, f := range append(translate.SupportedFeatures(), translate.MeshSupportedFeatures()...) {
		claimed[features.FeatureName(f.Name)] = true
	}
	for _, ct := range meshtests.MeshConformanceTests {
		enabled := true
		for _, f := range ct.Features {
			enabled = enabled && claimed[f]
		}
		i := slices.IndexFunc(meshEquivalents, func(e meshEquivalent) bool { return e.upstream == ct.ShortName })
		if enabled && (i < 0 || !meshEquivalents[i].full) {
			t.Errorf("%s runs with the published features but has no full equivalent here", ct.ShortName)
		}
	}
	checkMeshDoc(t)
}

// testFuncs lists the Test functions of this package's files.
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	out := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(data, -1) {
			out[string(m[1])] = true
		}
	}
	return out
}

const (
	conformanceDoc = "../../docs/conformance.md"
	meshTableBegin = "<!-- BEGIN MESH TESTS (generated by go test ./test/conformance -run TestMeshEquivalents -update) -->"
	meshTableEnd   = "<!-- END MESH TESTS -->"
)

// meshTableMarkdown renders meshEquivalents for docs/conformance.md.
func meshTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| Upstream MESH test | Features | Our tests | Cases covered | How |\n| --- | --- | --- | --- | --- |\n")
	for _, e := range meshEquivalents {
		var fs []string
		for _, ct := range meshtests.MeshConformanceTests {
			if ct.ShortName == e.upstream {
				for _, f := range ct.Features {
					fs = append(fs, string(f))
				}
			}
		}
		var tests []string
		for _, n := range e.tests {
			tests = append(tests, "`"+n+"`")
		}
		cover := "some"
		switch {
		case e.full:
			cover = "all"
		case len(e.tests) == 0:
			cover = "none"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", e.upstream, strings.Join(fs, ", "), strings.Join(tests, ", "), cover, e.how)
	}
	return b.String()
}

func checkMeshDoc(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(conformanceDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, meshTableBegin), strings.Index(doc, meshTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: markers %q ... %q not found", conformanceDoc, meshTableBegin, meshTableEnd)
	}
	want := "\n" + meshTableMarkdown() + "\n"
	if doc[i+len(meshTableBegin):j] == want {
		return
	}
	if *update {
		if err := os.WriteFile(conformanceDoc, []byte(doc[:i+len(meshTableBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the MESH test table is out of date (go test ./test/conformance -run TestMeshEquivalents -update):\n%s",
		conformanceDoc, cmp.Diff(want, doc[i+len(meshTableBegin):j]))
}
