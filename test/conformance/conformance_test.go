// Package conformance runs the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance, the version go.mod pins) against
// `gantry serve --provider kube` on an envtest API server, with
// kube-controller-manager and stand-ins for a node and a load balancer
// (hack/kubestandin). `make conformance` runs it; see docs/conformance.md.
package conformance

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/apis/v1alpha2"
	"sigs.k8s.io/gateway-api/apis/v1alpha3"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/tests"
	"sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/translate"
)

// className is the GatewayClass the suite's Gateways use.
const className = "gantry-conformance"

// profiles are the conformance profiles Gantry claims (docs/conformance.md).
var profiles = []suite.ConformanceProfileName{
	suite.GatewayHTTPConformanceProfileName, suite.GatewayGRPCConformanceProfileName,
	suite.GatewayTLSConformanceProfileName, suite.GatewayTCPConformanceProfileName,
	suite.GatewayUDPConformanceProfileName,
}

// TestConformance runs every test of the suite (tests.ConformanceTests)
// whose features Gantry's GatewayClass reports as supported. Status steps
// run for real; a step that sends traffic is skipped (noDataPlane), and so
// is its test. The suite's report is written to the test's artifact
// directory (go test -artifacts -outputdir DIR), with a summary per profile.
func TestConformance(t *testing.T) {
	if os.Getenv("GANTRY_CONFORMANCE") == "" {
		t.Skip("the upstream conformance suite runs with `make conformance` (GANTRY_CONFORMANCE=1): " +
			"it needs kube-controller-manager (hack/build-envtest.sh --with-controller-manager)")
	}
	dir := t.ArtifactDir()
	c := startCluster(t, dir)
	cl, err := client.New(c.admin, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, add := range []func(*runtime.Scheme) error{v1alpha3.Install, v1alpha2.Install, xv1alpha1.Install, gwapiv1.Install, apiextensionsv1.AddToScheme} {
		if err := add(cl.Scheme()); err != nil {
			t.Fatal(err)
		}
	}
	createClass(t, cl)

	skips := newTrafficSkips()
	direct := directDialTests(t, tests.ConformanceTests)
	for _, name := range slices.Sorted(maps.Keys(direct)) {
		t.Logf("skipping %s: it %s; %s", name, direct[name], noDataPlane)
	}
	s, err := suite.NewConformanceTestSuite(options(t, c, cl, skips, slices.Sorted(maps.Keys(direct))))
	if err != nil {
		t.Fatal(err)
	}
	all := wrapTests(tests.ConformanceTests, skips)
	// Registered before Run's own cleanup, so it runs after every
	// (parallel) test finished and the suite can report.
	t.Cleanup(func() { writeReport(t, s, dir) })
	s.Setup(t, all)
	if err := s.Run(t, all); err != nil {
		t.Fatal(err)
	}
}

func options(t *testing.T, c *cluster, cl client.Client, skips *trafficSkips, skip []string) suite.ConformanceOptions {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		t.Fatal(err)
	}
	ipType := gwapiv1.IPAddressType
	version := os.Getenv("GANTRY_VERSION")
	if version == "" {
		version = "dev"
	}
	return suite.ConformanceOptions{
		ConfigurableOptions: suite.ConfigurableOptions{
			GatewayClassName: className,
			// The API server goes away with the test; per-test resources are
			// deleted (tests share namespaces).
			CleanupBaseResources: false, CleanupTestResources: true,
			TimeoutConfig:       config.DefaultTimeoutConfig(),
			SkipTests:           skip,
			ConformanceProfiles: profiles,
			Mode:                "default",
			Implementation: confv1.Implementation{
				Organization: "gantryproxy", Project: "gantry", URL: "https://github.com/gantryproxy/gantry",
				Version: version, Contact: []string{"https://github.com/gantryproxy/gantry/issues"},
			},
			UsableNetworkAddresses:   []gwapiv1.GatewaySpecAddress{{Type: &ipType, Value: usableIP}},
			UnusableNetworkAddresses: []gwapiv1.GatewaySpecAddress{{Type: &ipType, Value: unusableIP}},
		},
		Client: cl, Clientset: cs, RestConfig: c.admin,
		RoundTripper: skipRoundTripper{s: skips}, GRPCClient: skipGRPC{s: skips}, WebSocketDialer: noWebSocket{},
		ManifestFS: []fs.FS{&conformance.Manifests},
	}
}

// createClass creates the suite's GatewayClass and waits until Gantry
// accepted it and listed its supported features (the suite reads them).
func createClass(t *testing.T, cl client.Client) {
	t.Helper()
	ctx := context.Background()
	gc := &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: className},
		Spec: gwapiv1.GatewayClassSpec{ControllerName: gwapiv1.GatewayController(translate.DefaultControllerName)}}
	if err := cl.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(gc), gc); err != nil {
			return false, err
		}
		return len(gc.Status.SupportedFeatures) > 0, nil
	})
	if err != nil {
		t.Fatalf("GatewayClass %s: no supportedFeatures from Gantry: %v (status %+v)", className, err, gc.Status)
	}
}

// writeReport writes the suite's report (conformance-report.yaml) and a
// summary per profile (summary.txt) into dir, and logs the summary.
func writeReport(t *testing.T, s *suite.ConformanceTestSuite, dir string) {
	rep, err := s.Report()
	if err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	data, err := yaml.Marshal(rep)
	if err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	path := filepath.Join(dir, "conformance-report.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Errorf("conformance report: %v", err)
		return
	}
	sum := summary(rep)
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(sum), 0o644); err != nil {
		t.Errorf("conformance summary: %v", err)
	}
	t.Logf("conformance report: %s\n%s", path, sum)
}

// summary is one line per profile (by name): core and extended
// passed/skipped/failed.
func summary(rep *confv1.ConformanceReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %-6s %-22s %-22s\n", "profile", "result", "core pass/skip/fail", "extended pass/skip/fail")
	ps := slices.Clone(rep.ProfileReports)
	slices.SortFunc(ps, func(a, b confv1.ProfileReport) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range ps {
		ext := "-"
		if p.Extended != nil {
			ext = counts(p.Extended.Statistics)
		}
		fmt.Fprintf(&b, "%-14s %-6s %-22s %-22s\n", p.Name, p.Core.Result, counts(p.Core.Statistics), ext)
	}
	return b.String()
}

func counts(s confv1.Statistics) string {
	return fmt.Sprintf("%d/%d/%d", s.Passed, s.Skipped, s.Failed)
}
