package hack

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gantryproxy/gantry"

// rule forbids a set of packages for the package dir. Every package of the
// module has exactly one rule of its own (TestEveryPackageHasARule); rules
// do not extend to the packages below their dir.
type rule struct {
	dir       string   // package path below the module ("" is the module root)
	forbidden []string // import path prefixes, direct or transitive
	// direct lists prefixes forbidden as direct imports only (loggers reach
	// translators transitively through API machinery; using one is the sin).
	direct []string
	// stdlibOnly forbids every non-standard import except the module's own
	// dir and the packages of allowed.
	stdlibOnly bool
	allowed    []string
}

var kubeClients = []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}
var loggers = []string{"log", "log/slog", "k8s.io/klog", "github.com/go-logr"}

// Groups of the module's own packages, for the rules below.
var (
	gantry       = []string{module}
	gatewayMesh  = []string{module + "/gateway", module + "/mesh"}
	translators  = []string{module + "/gateway/translate", module + "/mesh/translate"}
	providers    = []string{module + "/gateway/provider"}
	xdsServing   = []string{module + "/xds/envoy", module + "/xds/cache", module + "/xds/server"}
	xdsRuntime   = []string{module + "/xds/cache", module + "/xds/server"}
	translatorNo = concat(kubeClients, []string{"github.com/envoyproxy"}, xdsServing, providers)
	// testSupport is what tests use and the product never does.
	testSupport = []string{module + "/test", module + "/hack", module + "/internal/golden", module + "/internal/benchcpu", module + "/xds/server/xdstest",
		module + "/xds/envoy/envoytest", module + "/mesh/certs/certstest", "sigs.k8s.io/controller-runtime/pkg/envtest"}
	// containers are the module's own data structures, which know nothing
	// of Gantry: even the standard-library-only IR may hold them.
	containers = []string{module + "/internal/plist"}
	// goControlPlaneServing are go-control-plane's server, cache and Envoy
	// protos: xds/* and gateway/infra/bootstrap use them, wiring does not.
	goControlPlaneServing = []string{"github.com/envoyproxy/go-control-plane/envoy", "github.com/envoyproxy/go-control-plane/pkg/server",
		"github.com/envoyproxy/go-control-plane/pkg/cache/v3"}
)

// rules is the import table of docs/architecture.md, one rule per package.
var rules = []rule{
	// xDS: Gantry's model and serving know nothing of Gateway API or Kubernetes.
	{dir: "xds/ir", stdlibOnly: true, allowed: containers},
	{dir: "xds/envoy", forbidden: concat(gatewayMesh, kubeClients)},
	{dir: "xds/cache", forbidden: concat(gatewayMesh, kubeClients)},
	{dir: "xds/server", forbidden: concat(gatewayMesh, kubeClients)},
	{dir: "xds/server/xdstest", forbidden: concat(gatewayMesh, kubeClients)},
	{dir: "xds/envoy/envoytest", forbidden: concat(gatewayMesh, kubeClients)},
	{dir: "xds/probe", forbidden: concat(gatewayMesh, kubeClients)},

	// Gantry's own API types: data, like the Gateway API's.
	{dir: "api/security/v1alpha1", forbidden: concat(gantry, kubeClients)},

	// Inputs and status are data: no clients, no xDS.
	{dir: "gateway/resource", forbidden: concat([]string{module + "/xds"}, kubeClients)},
	{dir: "gateway/resource/crds", stdlibOnly: true},
	{dir: "gateway/status", forbidden: concat([]string{module + "/xds"}, kubeClients)},
	// Translators are pure functions: no clients, no Envoy types, no logging.
	{dir: "gateway/translate", direct: loggers, forbidden: translatorNo},
	{dir: "mesh/translate", direct: loggers, forbidden: translatorNo},
	// Authorization policies compile like routes: pure, below both translators.
	{dir: "gateway/authz", direct: loggers, forbidden: concat(translatorNo, translators, []string{module + "/mesh"})},
	// Offline analysis runs without a cluster or a server.
	{dir: "gateway/analyze", direct: loggers, forbidden: concat(kubeClients, providers, xdsRuntime)},
	{dir: "gateway/console", forbidden: concat(translatorNo, []string{module + "/gateway/translate"})},
	{dir: "gateway/programmed", forbidden: concat(kubeClients, providers, xdsRuntime)},
	// The control loop: providers' events in through loop.Event, snapshots
	// and status out; no Kubernetes client, no provider.
	{dir: "gateway/loop", forbidden: concat(kubeClients, providers)},
	{dir: "gateway/provider/file", forbidden: concat([]string{module + "/gateway/translate", module + "/xds", module + "/gateway/provider/kube"}, kubeClients)},
	{dir: "gateway/provider/kube", forbidden: []string{module + "/gateway/translate", module + "/xds"}},
	// The Envoy fleet: bootstraps are built from parameters and the CA's
	// names, never from translation or a running server.
	{dir: "gateway/infra/params", forbidden: concat(gantry, kubeClients)},
	{dir: "gateway/infra/bootstrap", forbidden: concat(translators, providers, xdsServing, kubeClients)},
	{dir: "gateway/infra/host", forbidden: concat(translators, providers, xdsServing, kubeClients)},
	{dir: "gateway/infra/kube", forbidden: concat(translators, providers, xdsServing)},

	// Workload identity.
	{dir: "mesh/ca", forbidden: concat([]string{module + "/gateway", module + "/mesh/translate"}, xdsServing, kubeClients)},
	{dir: "mesh/certs", forbidden: concat([]string{module + "/gateway"}, xdsServing, kubeClients)},
	{dir: "mesh/certs/certstest", forbidden: concat([]string{module + "/gateway"}, xdsServing, kubeClients)},
	{dir: "mesh/agent", forbidden: concat([]string{module + "/gateway"}, xdsServing, kubeClients)},
	// The injector is pod in, patch out: no client, no translation.
	{dir: "mesh/inject", forbidden: concat(translators, providers, xdsServing, kubeClients)},
	// The cert-manager issuer talks to the API server (client-go is fine) and
	// reaches xds/ir only through mesh/ca's Signer interface.
	{dir: "mesh/ca/certmanager", direct: []string{module + "/xds"}, forbidden: concat([]string{module + "/gateway", module + "/mesh/translate"}, xdsServing, certManagerControllers)},
	// Identity proofs and the xDS policy: no translation, no providers, no
	// controller-runtime (TokenReview goes through client-go's typed client).
	// The CA's Kubernetes storage and publishing: client-go only.
	{dir: "mesh/ca/kubeca", forbidden: []string{module + "/gateway", module + "/xds/server", module + "/mesh/translate", "sigs.k8s.io/controller-runtime"}},
	{dir: "mesh/identity", forbidden: []string{module + "/gateway/translate", module + "/mesh/translate", module + "/gateway/provider", "sigs.k8s.io/controller-runtime"}},
	// Traffic capture (the init container's nftables rules): nothing of
	// Gantry, no Kubernetes, no logging (gantry capture reports).
	{dir: "mesh/capture", direct: loggers, forbidden: concat(gantry, []string{"k8s.io"}, kubeClients)},

	// The binary is wiring: it uses the product's packages, never test
	// support, cert-manager's controllers (they run only in the test
	// harness's own module) or go-control-plane's server, cache and Envoy
	// protos directly (xds/* owns them).
	{dir: "cmd/gantry", forbidden: certManagerControllers, direct: goControlPlaneServing},

	// Helpers that know nothing of Gantry.
	{dir: "internal/echo", forbidden: gantry},
	{dir: "internal/golden", forbidden: gantry},
	{dir: "internal/benchcpu", stdlibOnly: true},
	{dir: "internal/plist", stdlibOnly: true},
	{dir: "internal/golden/goldenset", forbidden: concat([]string{module + "/xds"}, translators, providers, kubeClients)},
	{dir: "test/envtest", forbidden: gantry},
	{dir: "test/cmtest", forbidden: concat(gantry, certManagerControllers)},
	// Test-only packages: their package code imports nothing.
	{dir: "test/conformance", stdlibOnly: true},
	{dir: "examples", stdlibOnly: true},
	{dir: "examples/bookinfo", stdlibOnly: true},
	{dir: "examples/bookinfo/authorization", stdlibOnly: true},
	{dir: "charts", stdlibOnly: true},

	// Tools. The import checker itself uses the standard library only.
	{dir: "hack", stdlibOnly: true},
	// The conformance run's node and load balancer stand in for the cluster,
	// not for Gantry: they know nothing of it.
	{dir: "hack/kubestandin", forbidden: []string{module + "/gateway", module + "/mesh", module + "/xds", module + "/cmd"}},
	// Load and soak tools measure a running server from outside: they never
	// translate or read inputs as a provider does (soak borrows the kube
	// provider's scheme for its own client).
	{dir: "hack/xdsload", forbidden: concat(translators, providers)},
	// A client of a running gantry serve: nothing of Gantry but the xDS test client.
	{dir: "hack/loopbench", forbidden: concat(gatewayMesh, kubeClients)},
	// Measures a running gantry serve with mesh clients from outside, like loopbench.
	{dir: "hack/meshbench", forbidden: concat(gatewayMesh, kubeClients)},
	// The gantry serve subprocess and ADS client both tools measure with.
	{dir: "hack/benchserve", forbidden: concat(gatewayMesh, kubeClients)},
	{dir: "hack/soak", forbidden: concat(translators, certManagerControllers)},
}

// layers apply to every package below dir (the rule of each package
// still applies): the product never depends on test support.
var layers = []rule{
	{dir: "gateway", forbidden: testSupport},
	{dir: "mesh", forbidden: testSupport},
	{dir: "xds", forbidden: testSupport},
	{dir: "cmd", forbidden: testSupport},
	{dir: "internal/echo", forbidden: testSupport},
}

var certManagerControllers = []string{"github.com/cert-manager/cert-manager/pkg/controller", "github.com/cert-manager/cert-manager/pkg/issuer"}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// pureDirs may not read the clock.
var pureDirs = []string{"gateway/translate", "mesh/translate", "gateway/authz"}

// listPackages returns every package of the module with its imports.
func listPackages(t *testing.T) map[string]pkgDeps {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Deps \" \"}}|{{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgDeps{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("unexpected go list line %q", line)
		}
		pkgs[parts[0]] = pkgDeps{all: strings.Fields(parts[1]), direct: strings.Fields(parts[2])}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	for _, v := range checkRules(listPackages(t), rules, layers) {
		t.Error(v)
	}
}

// TestEveryPackageHasARule fails when a package of the module has no rule
// of its own, or a rule names no package.
func TestEveryPackageHasARule(t *testing.T) {
	for _, p := range coverage(listPackages(t), rules) {
		t.Error(p)
	}
}

// pkgDeps are a package's transitive and direct imports.
type pkgDeps struct{ all, direct []string }

func relPath(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

// coverage returns one message per package without a rule, per rule
// without a package and per package with two rules.
func coverage(pkgs map[string]pkgDeps, rules []rule) []string {
	var out []string
	count := map[string]int{}
	for _, r := range rules {
		count[r.dir]++
	}
	for _, path := range slices.Sorted(maps.Keys(pkgs)) {
		rel := relPath(path)
		switch count[rel] {
		case 0:
			out = append(out, fmt.Sprintf("package %s has no import rule: add one to rules in hack/imports_test.go "+
				"(what it must not import, and why) and a row to the import table of docs/architecture.md", rel))
		case 1:
		default:
			out = append(out, fmt.Sprintf("package %s has %d import rules, want one", rel, count[rel]))
		}
	}
	for _, r := range rules {
		if _, ok := pkgs[strings.TrimSuffix(module+"/"+r.dir, "/")]; !ok {
			out = append(out, fmt.Sprintf("the import rule for %s names no package of the module: remove it", r.dir))
		}
	}
	return out
}

// checkRules returns one message per forbidden dependency: each package is
// checked against its own rule and every layer above it.
func checkRules(pkgs map[string]pkgDeps, rules, layers []rule) []string {
	var violations []string
	for _, path := range slices.Sorted(maps.Keys(pkgs)) {
		deps := pkgs[path]
		rel := relPath(path)
		for _, r := range append(slices.Clone(rules), layers...) {
			exact := rel == r.dir
			below := slices.ContainsFunc(layers, func(l rule) bool { return l.dir == r.dir }) && strings.HasPrefix(rel, r.dir+"/")
			if !exact && !below {
				continue
			}
			for _, d := range deps.all {
				if bad(d, r) {
					violations = append(violations, rel+" must not depend on "+d)
				}
			}
			for _, d := range deps.direct {
				if hasPrefix(d, r.direct) {
					violations = append(violations, rel+" must not import "+d)
				}
			}
		}
	}
	return violations
}

func bad(dep string, r rule) bool {
	if r.stdlibOnly {
		first, _, _ := strings.Cut(dep, "/")
		return strings.Contains(first, ".") && !strings.HasPrefix(dep, module+"/"+r.dir) && !hasPrefix(dep, r.allowed)
	}
	return hasPrefix(dep, r.forbidden)
}

func hasPrefix(dep string, prefixes []string) bool {
	for _, f := range prefixes {
		if dep == f || strings.HasPrefix(dep, f+"/") {
			return true
		}
	}
	return false
}

func TestCheckRulesCatchesViolations(t *testing.T) {
	pkgs := map[string]pkgDeps{
		module + "/xds/ir":                {all: []string{"fmt", "google.golang.org/protobuf/proto", module + "/internal/plistx"}},
		module + "/gateway/translate":     {all: []string{"sort", module + "/xds/ir"}, direct: []string{"log/slog"}},
		module + "/xds/envoy":             {all: []string{module + "/gateway/resource"}},
		module + "/gateway/provider/file": {all: []string{module + "/gateway/provider/kube"}},
		module + "/gateway/loop":          {all: []string{module + "/test/envtest"}},
		module + "/cmd/gantry":            {all: []string{module + "/xds/server/xdstest"}, direct: []string{"github.com/envoyproxy/go-control-plane/pkg/server/v3"}},
	}
	got := checkRules(pkgs, rules, layers)
	if len(got) != 8 {
		t.Fatalf("want 8 violations, got %d: %v", len(got), got)
	}
	clean := map[string]pkgDeps{
		module + "/xds/ir":            {all: []string{"fmt", "time", module + "/internal/plist"}},
		module + "/gateway/translate": {all: []string{module + "/xds/ir", "log/slog", "sigs.k8s.io/gateway-api/apis/v1"}},
	}
	if got := checkRules(clean, rules, layers); len(got) != 0 {
		t.Fatalf("want no violations, got %v", got)
	}
}

func TestCoverageCatchesGaps(t *testing.T) {
	pkgs := map[string]pkgDeps{module + "/xds/ir": {}, module + "/gateway/loop": {}}
	got := coverage(pkgs, []rule{{dir: "xds/ir"}, {dir: "xds/ir"}, {dir: "gone"}})
	want := []string{"package gateway/loop has no import rule", "package xds/ir has 2 import rules", "the import rule for gone names no package"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %d messages", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("message %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

// TestPureTranslators checks that translators never read the clock.
func TestPureTranslators(t *testing.T) {
	root := filepath.Join("..")
	for _, dir := range pureDirs {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			if calls := clockCalls(t, f); len(calls) > 0 {
				t.Errorf("%s reads the clock: %v", f, calls)
			}
		}
	}
}

func clockCalls(t *testing.T, file string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since") {
			found = append(found, fset.Position(sel.Pos()).String())
		}
		return true
	})
	return found
}

func TestClockCallsDetected(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.go")
	if err := os.WriteFile(p, []byte("package x\nimport \"time\"\nvar _ = time.Now()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := clockCalls(t, p); len(got) != 1 {
		t.Fatalf("want 1 clock call, got %v", got)
	}
}

// TestImportTableMatchesRules fails when the import table of
// docs/architecture.md and rules name different packages.
func TestImportTableMatchesRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Import rules\n")
	if !ok {
		t.Fatal("docs/architecture.md has no Import rules section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.Contains(cells[1], "`") {
			continue
		}
		for _, name := range strings.Split(cells[1], ",") {
			documented[strings.Trim(strings.TrimSpace(name), "`")] = true
		}
	}
	ruled := map[string]bool{}
	for _, r := range rules {
		ruled[r.dir] = true
		if !documented[r.dir] {
			t.Errorf("%s has a rule but no row in the import table of docs/architecture.md", r.dir)
		}
	}
	for d := range documented {
		if !ruled[d] {
			t.Errorf("docs/architecture.md's import table names %s, which has no rule", d)
		}
	}
}
