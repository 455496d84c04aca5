package charts

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// serveFlags returns the long flag names defined in cmd/gantry/serve*.go
// (calls like f.StringVar(&x, "name", ...)), read from the source so that the
// chart and the binary cannot drift apart.
func serveFlags(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "cmd", "gantry", "serve*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cmd/gantry/serve*.go (%v)", err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(strings.TrimSuffix(sel.Sel.Name, "P"), "Var") || len(call.Args) < 2 {
				return true
			}
			if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if name, err := strconv.Unquote(lit.Value); err == nil {
					names = append(names, name)
				}
			}
			return true
		})
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestArgsAreServeFlags checks that every flag the chart passes, with default
// and non-default values, is one `gantry serve` defines.
func TestArgsAreServeFlags(t *testing.T) {
	defined := serveFlags(t)
	for _, want := range []string{"provider", "xds-address", "metrics-address", "controller-name", "leader-elect", "envoy-image"} {
		if !slices.Contains(defined, want) {
			t.Fatalf("serve flags %v lack --%s: is the parser still right?", defined, want)
		}
	}
	for _, doc := range []string{``, `{controller: {watchNamespaces: [a, b]}}`} {
		_, c := deploymentOf(t, mustRender(t, valuesFromYAML(t, doc)))
		if len(c.Args) == 0 || c.Args[0] != "serve" {
			t.Fatalf("args %v do not start with serve", c.Args)
		}
		for _, arg := range c.Args[1:] {
			name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
			if !strings.HasPrefix(arg, "--") || !slices.Contains(defined, name) {
				t.Errorf("chart passes %q, which gantry serve does not define (%v)", arg, defined)
			}
		}
	}
}
