package hack

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gantryproxy/gantry"

// rule forbids a set of packages (by prefix) for the packages under dir.
type rule struct {
	dir       string   // package path below the module, prefix match
	forbidden []string // import path prefixes
	// direct lists prefixes forbidden as direct imports only (loggers reach
	// translators transitively through API machinery; using one is the sin).
	direct []string
	// stdlibOnly forbids every non-standard import except the module's own dir.
	stdlibOnly bool
}

var kubeClients = []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime"}
var loggers = []string{"log", "log/slog", "k8s.io/klog", "github.com/go-logr"}

// rules is the import table of docs/architecture.md.
var rules = []rule{
	{dir: "xds/ir", stdlibOnly: true},
	{dir: "xds/envoy", forbidden: append([]string{module + "/gateway", module + "/mesh"}, kubeClients...)},
	{dir: "xds/cache", forbidden: append([]string{module + "/gateway", module + "/mesh"}, kubeClients...)},
	{dir: "xds/server", forbidden: append([]string{module + "/gateway", module + "/mesh"}, kubeClients...)},
	{dir: "xds/probe", forbidden: append([]string{module + "/gateway", module + "/mesh"}, kubeClients...)},
	{dir: "gateway/resource", forbidden: append([]string{module + "/xds"}, kubeClients...)},
	{dir: "gateway/status", forbidden: append([]string{module + "/xds"}, kubeClients...)},
	{dir: "gateway/translate", direct: loggers, forbidden: concat(kubeClients, []string{"github.com/envoyproxy", module + "/xds/envoy", module + "/xds/cache", module + "/xds/server", module + "/gateway/provider"})},
	{dir: "mesh/translate", direct: loggers, forbidden: concat(kubeClients, []string{"github.com/envoyproxy", module + "/xds/envoy", module + "/xds/cache", module + "/xds/server", module + "/gateway/provider"})},
	{dir: "gateway/console", forbidden: concat(kubeClients, []string{"github.com/envoyproxy", module + "/xds/envoy", module + "/xds/cache", module + "/xds/server", module + "/gateway/provider", module + "/gateway/translate"})},
	// The control loop: providers' events in through loop.Event, snapshots
	// and status out; no Kubernetes client, no provider.
	{dir: "gateway/loop", forbidden: concat(kubeClients, []string{module + "/gateway/provider"})},
	{dir: "gateway/programmed", forbidden: concat(kubeClients, []string{module + "/gateway/provider", module + "/xds/cache", module + "/xds/server"})},
	{dir: "mesh/certs", forbidden: concat(kubeClients, []string{module + "/gateway", module + "/xds/envoy", module + "/xds/cache", module + "/xds/server"})},
	{dir: "mesh/agent", forbidden: concat(kubeClients, []string{module + "/gateway", module + "/xds/envoy", module + "/xds/cache", module + "/xds/server"})},
	{dir: "gateway/provider/file", forbidden: []string{module + "/gateway/translate", module + "/xds", module + "/gateway/provider/kube", "k8s.io/client-go", "sigs.k8s.io/controller-runtime"}},
	{dir: "gateway/provider/kube", forbidden: []string{module + "/gateway/translate", module + "/xds"}},
	// The cert-manager issuer talks to the API server (client-go is fine) and
	// reaches xds/ir only through mesh/ca's Signer interface.
	{dir: "mesh/ca/certmanager", direct: []string{module + "/xds"}, forbidden: concat([]string{module + "/gateway", module + "/mesh/translate", module + "/xds/envoy", module + "/xds/cache", module + "/xds/server"}, certManagerControllers)},
	// cert-manager's controllers run only in the test harness's own module.
	{dir: "cmd", forbidden: certManagerControllers},
	// The conformance run's node and load balancer stand in for the cluster,
	// not for Gantry: they know nothing of it.
	{dir: "hack/kubestandin", forbidden: []string{module + "/gateway", module + "/mesh", module + "/xds", module + "/cmd"}},
	// Identity proofs and the xDS policy: no translation, no providers, no
	// controller-runtime (TokenReview goes through client-go's typed client).
	// The CA's Kubernetes storage and publishing: client-go only.
	{dir: "mesh/ca/kubeca", forbidden: []string{module + "/gateway", module + "/xds/server", module + "/mesh/translate", "sigs.k8s.io/controller-runtime"}},
	{dir: "mesh/identity", forbidden: []string{module + "/gateway/translate", module + "/mesh/translate", module + "/gateway/provider", "sigs.k8s.io/controller-runtime"}},
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
var pureDirs = []string{"gateway/translate", "mesh/translate"}

func TestImportRules(t *testing.T) {
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
	for _, v := range checkRules(pkgs, rules) {
		t.Error(v)
	}
}

// pkgDeps are a package's transitive and direct imports.
type pkgDeps struct{ all, direct []string }

// checkRules returns one message per forbidden dependency.
func checkRules(pkgs map[string]pkgDeps, rules []rule) []string {
	var violations []string
	for path, deps := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		for _, r := range rules {
			if rel != r.dir && !strings.HasPrefix(rel, r.dir+"/") {
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
		return strings.Contains(first, ".") && !strings.HasPrefix(dep, module+"/"+r.dir)
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
		module + "/xds/ir":                {all: []string{"fmt", "google.golang.org/protobuf/proto"}},
		module + "/gateway/translate":     {all: []string{"sort", module + "/xds/ir"}, direct: []string{"log/slog"}},
		module + "/xds/envoy":             {all: []string{module + "/gateway/resource"}},
		module + "/gateway/provider/file": {all: []string{module + "/gateway/provider/kube"}},
	}
	got := checkRules(pkgs, rules)
	if len(got) != 4 {
		t.Fatalf("want 4 violations, got %d: %v", len(got), got)
	}
	clean := map[string]pkgDeps{
		module + "/xds/ir":            {all: []string{"fmt", "time"}},
		module + "/gateway/translate": {all: []string{module + "/xds/ir", "log/slog", "sigs.k8s.io/gateway-api/apis/v1"}},
	}
	if got := checkRules(clean, rules); len(got) != 0 {
		t.Fatalf("want no violations, got %v", got)
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
