package conformance

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	xwebsocket "golang.org/x/net/websocket"
	"sigs.k8s.io/gateway-api/conformance/utils/grpc"
	"sigs.k8s.io/gateway-api/conformance/utils/roundtripper"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
)

// noDataPlane is why traffic steps are skipped in this run.
const noDataPlane = "no data plane: this run has no Envoy, nothing serves the Gateway's address (status only)"

// trafficSkips records the conformance tests one of whose steps tried to
// send traffic, and skips that step.
type trafficSkips struct {
	mu    sync.Mutex
	tests map[string]string // top-level test name -> first skipped step
}

func newTrafficSkips() *trafficSkips { return &trafficSkips{tests: map[string]string{}} }

// skip skips t (the test or subtest sending traffic), remembering its
// conformance test.
func (s *trafficSkips) skip(t *testing.T, what string) {
	s.mu.Lock()
	if _, seen := s.tests[conformanceTestName(t.Name())]; !seen {
		s.tests[conformanceTestName(t.Name())] = what
	}
	s.mu.Unlock()
	t.Skipf("%s: %s", what, noDataPlane)
}

func (s *trafficSkips) skipped(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tests[conformanceTestName(name)]
}

// conformanceTestName is "TestConformance/<ShortName>" of a test or any of
// its subtests.
func conformanceTestName(name string) string {
	parts := strings.SplitN(name, "/", 3)
	return strings.Join(parts[:min(2, len(parts))], "/")
}

// wrapTests returns the tests with each Test function run as a subtest
// "steps" of the conformance test, which is then skipped when one of its
// steps was skipped (for traffic, or by the suite itself): a test is
// reported passed only if every step ran. (Steps may be parallel subtests
// that run after the Test function returns; t.Run waits for them.)
func wrapTests(tests []suite.ConformanceTest, s *trafficSkips) []suite.ConformanceTest {
	out := slices.Clone(tests)
	for i := range out {
		run := out[i].Test
		out[i].Test = func(t *testing.T, cs *suite.ConformanceTestSuite) {
			var steps *testing.T
			t.Run("steps", func(t *testing.T) {
				steps = t
				run(t, cs)
			})
			switch what := s.skipped(t.Name()); {
			case what != "":
				t.Skipf("a traffic step was skipped (%s): %s", what, noDataPlane)
			case steps.Skipped():
				t.Skip("the test skipped itself (see its steps)")
			}
		}
	}
	return out
}

// skipRoundTripper is the suite's HTTP (and TLS) client: every request
// skips the step that sends it.
type skipRoundTripper struct{ s *trafficSkips }

func (r skipRoundTripper) CaptureRoundTrip(req roundtripper.Request) (*roundtripper.CapturedRequest, *roundtripper.CapturedResponse, error) {
	if req.T != nil {
		r.s.skip(req.T, fmt.Sprintf("%s request to %s%s (Host %q)", req.Protocol, req.URL.Host, req.URL.Path, req.Host))
	}
	return nil, nil, errors.New(noDataPlane)
}

// skipGRPC is the suite's gRPC client, likewise.
type skipGRPC struct{ s *trafficSkips }

func (g skipGRPC) SendRPC(t *testing.T, address string, _ grpc.ExpectedResponse, _ time.Duration) (*grpc.Response, error) {
	g.s.skip(t, "gRPC request to "+address)
	return nil, errors.New(noDataPlane)
}

func (skipGRPC) Close() {}

// noWebSocket is the suite's WebSocket dialer; tests that use it are
// skipped before they start (directDialers), so it is never called.
type noWebSocket struct{}

func (noWebSocket) Dial(string, string, string) (*xwebsocket.Conn, error) {
	return nil, errors.New(noDataPlane)
}

// directDialers are the suite's uses of a data plane that bypass the round
// tripper and gRPC client above, so a step using them cannot be skipped on
// its own: a test whose source uses one is skipped as a whole. name is a
// prefix ("" matches any use of the package); pkg "" matches a field name.
var directDialers = []struct{ pkg, name, why string }{
	{pkg: "sigs.k8s.io/gateway-api/conformance/utils/tcp", why: "opens TCP connections to the Gateway"},
	{pkg: "sigs.k8s.io/gateway-api/conformance/utils/udp", why: "sends UDP datagrams to the Gateway"},
	{pkg: "sigs.k8s.io/gateway-api/conformance/utils/tls", name: "MakeTLSConnectionAndExpectEventuallyConnectionRejection", why: "opens TLS connections to the Gateway"},
	{pkg: "net", name: "Dial", why: "dials the Gateway"},
	{pkg: "github.com/miekg/dns", name: "Exchange", why: "sends DNS queries to the Gateway"},
	{name: "WebSocketDialer", why: "opens WebSocket connections to the Gateway"},
	// Mirroring is checked in the backends' logs, read while the requests
	// are sent (and no kubelet serves logs here).
	{pkg: "sigs.k8s.io/gateway-api/conformance/utils/http", name: "ExpectMirroredRequest", why: "reads mirrored requests from the backends' logs"},
	{pkg: "sigs.k8s.io/gateway-api/conformance/utils/kubernetes", name: "DumpEchoLogs", why: "reads requests from the backends' logs"},
}

// directDialTests finds, in the suite's own source, the tests that use a
// direct dialer, with the reason: the file of each test's Test function and
// the package's functions it calls, transitively.
func directDialTests(t *testing.T, tests []suite.ConformanceTest) map[string]string {
	t.Helper()
	srcs := map[string]*suiteSource{} // by package directory
	out := map[string]string{}
	for _, ct := range tests {
		pc := reflect.ValueOf(ct.Test).Pointer()
		file, _ := runtime.FuncForPC(pc).FileLine(pc)
		if !filepath.IsAbs(file) { // built with -trimpath: module@version/path
			file = filepath.Join(goEnv(t, "GOMODCACHE"), file)
		}
		src := srcs[filepath.Dir(file)]
		if src == nil {
			var err error
			if src, err = parseSuite(filepath.Dir(file)); err != nil {
				t.Fatalf("conformance test %s: reading the suite's source: %v", ct.ShortName, err)
			}
			srcs[filepath.Dir(file)] = src
		}
		f, ok := src.files[file]
		if !ok {
			t.Fatalf("conformance test %s: its source %s is not in %s", ct.ShortName, file, src.dir)
		}
		if why := src.reasons(f, f, map[string]bool{}); len(why) > 0 {
			out[ct.ShortName] = strings.Join(why, ", ")
		}
	}
	return out
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// suiteSource is the parsed source of one package of the suite's tests.
type suiteSource struct {
	dir   string
	files map[string]*ast.File // by path
	funcs map[string]*ast.FuncDecl
	file  map[*ast.FuncDecl]*ast.File
}

func parseSuite(dir string) (*suiteSource, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	s := &suiteSource{dir: dir, files: map[string]*ast.File{}, funcs: map[string]*ast.FuncDecl{}, file: map[*ast.FuncDecl]*ast.File{}}
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		s.files[p] = f
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				s.funcs[fd.Name.Name], s.file[fd] = fd, f
			}
		}
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	return s, nil
}

// reasons lists the direct dialers node (in file) uses, itself or through
// the package's functions it calls.
func (s *suiteSource) reasons(node ast.Node, file *ast.File, seen map[string]bool) []string {
	imports := map[string]string{} // local name -> path
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[name] = path
	}
	var why []string
	add := func(w string) {
		if !slices.Contains(why, w) {
			why = append(why, w)
		}
	}
	ast.Inspect(node, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && s.funcs[id.Name] != nil && !seen[id.Name] {
				seen[id.Name] = true
				fd := s.funcs[id.Name]
				for _, w := range s.reasons(fd, s.file[fd], seen) {
					add(w)
				}
			}
		case *ast.SelectorExpr:
			pkg := ""
			if id, ok := n.X.(*ast.Ident); ok {
				pkg = imports[id.Name]
			}
			for _, d := range directDialers {
				if (d.pkg == "" && n.Sel.Name == d.name) || (d.pkg != "" && pkg == d.pkg && strings.HasPrefix(n.Sel.Name, d.name)) {
					add(d.why)
				}
			}
		}
		return true
	})
	return why
}
