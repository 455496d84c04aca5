package conformance

// The environment of the MESH equivalents: the upstream suite's own mesh
// manifests (mesh/manifests.yaml and tests/mesh/*.yaml, embedded in the
// conformance module) with each Deployment played by an echo backend on
// loopback and an EndpointSlice per Service and backend, served by a real
// `gantry serve` (file provider) to grpc-go's xDS client.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/xds"
	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/internal/echo"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
)

// The suite's mesh namespaces (suite.MeshNamespace, MeshConsumerNamespace).
const (
	meshNS     = "gateway-conformance-mesh"
	consumerNS = "gateway-conformance-mesh-consumer"
)

// manifestDoc is one document of an upstream manifest.
type manifestDoc struct {
	raw  string
	kind string
	meta struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	deployLabels map[string]string // Deployment: the pod template's labels
	selector     map[string]string // Service
	ports        []string          // Service: port names
}

// readManifests parses the named files of the conformance module's
// embedded manifests.
func readManifests(t *testing.T, names ...string) []manifestDoc {
	t.Helper()
	var out []manifestDoc
	for _, n := range names {
		data, err := conformance.Manifests.ReadFile(n)
		if err != nil {
			t.Fatalf("upstream manifest %s: %v", n, err)
		}
		for _, raw := range strings.Split(string(data), "\n---") {
			var obj struct {
				Kind     string          `json:"kind"`
				Metadata json.RawMessage `json:"metadata"`
				Spec     struct {
					Selector json.RawMessage `json:"selector"`
					Template struct {
						Metadata struct {
							Labels map[string]string `json:"labels"`
						} `json:"metadata"`
					} `json:"template"`
					Ports []struct {
						Name string `json:"name"`
					} `json:"ports"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal([]byte(raw), &obj); err != nil {
				t.Fatalf("upstream manifest %s: %v", n, err)
			}
			if obj.Kind == "" {
				continue
			}
			d := manifestDoc{raw: raw, kind: obj.Kind}
			if err := json.Unmarshal(obj.Metadata, &d.meta); err != nil {
				t.Fatalf("upstream manifest %s: metadata: %v", n, err)
			}
			switch obj.Kind {
			case "Deployment":
				d.deployLabels = obj.Spec.Template.Metadata.Labels
			case "Service":
				if err := json.Unmarshal(obj.Spec.Selector, &d.selector); err != nil {
					t.Fatalf("upstream manifest %s: Service selector: %v", n, err)
				}
				for _, p := range obj.Spec.Ports {
					d.ports = append(d.ports, p.Name)
				}
			}
			out = append(out, d)
		}
	}
	return out
}

// meshEnv is the mesh manifests plus one test's, served by gantry serve.
type meshEnv struct {
	t        *testing.T
	dir      string
	xds      string
	backends map[string]*echo.Server // by "<namespace>/<deployment>"
}

// startMesh writes the suite's mesh manifests and the given test manifests
// (paths in the conformance module, e.g. "tests/mesh/mesh-split.yaml")
// into a folder, with Deployments replaced by echo backends named after
// them, and runs gantry serve on it.
func startMesh(t *testing.T, manifests ...string) *meshEnv {
	t.Helper()
	return startMeshWith(t, "", manifests...)
}

// startMeshWith is startMesh with extra YAML of the test's own.
func startMeshWith(t *testing.T, extra string, manifests ...string) *meshEnv {
	t.Helper()
	e := writeMesh(t, extra, manifests...)
	e.xds = startGantryFile(t, e.dir)
	return e
}

// writeMesh writes the folder startMeshWith serves (and starts the echo
// backends) without starting gantry serve.
func writeMesh(t *testing.T, extra string, manifests ...string) *meshEnv {
	t.Helper()
	e := &meshEnv{t: t, dir: t.TempDir(), backends: map[string]*echo.Server{}}
	docs := readManifests(t, append([]string{"mesh/manifests.yaml"}, manifests...)...)
	var out []string
	for _, d := range docs {
		if d.kind != "Deployment" {
			out = append(out, d.raw)
			continue
		}
		s, err := echo.Listen("127.0.0.1:0", d.meta.Name+"."+d.meta.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		e.backends[d.meta.Namespace+"/"+d.meta.Name] = s
	}
	out = append(out, endpointSlices(t, docs, e.backends)...)
	if extra != "" {
		out = append(out, extra)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "mesh.yaml"), []byte(strings.Join(out, "\n---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// endpointSlices gives every Service one EndpointSlice per Deployment it
// selects, whose endpoint is that Deployment's echo backend on every port.
func endpointSlices(t *testing.T, docs []manifestDoc, backends map[string]*echo.Server) []string {
	t.Helper()
	var out []string
	for _, svc := range docs {
		if svc.kind != "Service" {
			continue
		}
		for _, dep := range docs {
			if dep.kind != "Deployment" || dep.meta.Namespace != svc.meta.Namespace || !selects(svc.selector, dep.deployLabels) {
				continue
			}
			addr := backends[dep.meta.Namespace+"/"+dep.meta.Name].Addr()
			_, port, _ := strings.Cut(addr, ":")
			var ports []string
			for _, p := range svc.ports {
				ports = append(ports, fmt.Sprintf("{name: %s, port: %s}", p, port))
			}
			out = append(out, fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-%[2]s, namespace: %[3]s, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [%[4]s]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]`, svc.meta.Name, dep.meta.Name, svc.meta.Namespace, strings.Join(ports, ", ")))
		}
	}
	if len(out) == 0 {
		t.Fatal("the mesh manifests gave no EndpointSlice: no Service selects a Deployment")
	}
	return out
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

var (
	gantryBinOnce sync.Once
	gantryBin     string
	gantryBinErr  error
)

// buildGantry builds gantry from this checkout once per test binary.
func buildGantry(t *testing.T) string {
	t.Helper()
	gantryBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gantry-conformance-bin")
		if err != nil {
			gantryBinErr = err
			return
		}
		gantryBin = filepath.Join(dir, "gantry")
		root, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			gantryBinErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		build := exec.Command("go", "build", "-o", gantryBin, "./cmd/gantry")
		build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
		if out, err := build.CombinedOutput(); err != nil {
			gantryBinErr = fmt.Errorf("go build ./cmd/gantry: %w\n%s", err, out)
		}
	})
	if gantryBinErr != nil {
		t.Fatal(gantryBinErr)
	}
	return gantryBin
}

// startGantryFile runs `gantry serve -f dir` (xDS and admin on loopback)
// until the test ends and returns its xDS address once it is ready.
func startGantryFile(t *testing.T, dir string) string {
	t.Helper()
	bin := buildGantry(t)
	ports := freePorts(t, 3)
	xdsAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	metrics := "127.0.0.1:" + strconv.Itoa(ports[2])
	logDir := t.TempDir()
	startProcess(t, logDir, "gantry", nil, bin, "serve", "--provider", "file", "-f", dir, "--xds-insecure",
		"--xds-address", xdsAddr, "--admin-address", "127.0.0.1:"+strconv.Itoa(ports[1]), "--metrics-address", metrics)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(logDir, "gantry.log"))
			t.Logf("gantry serve log:\n%s", log)
		}
	})
	waitReady(t, "http://"+metrics+"/readyz", time.Minute)
	return xdsAddr
}

// callConn is a client connection.
type callConn = *grpc.ClientConn

// client is a proxyless gRPC client of the mesh group of namespace ns
// dialling Service svc of the producer namespace on port (its xDS name).
func (e *meshEnv) client(ns, svc string, port int32) *grpc.ClientConn {
	e.t.Helper()
	return e.clientOf(ns, meshNS, svc, port)
}

// clientOf is client for a Service of namespace svcNS.
func (e *meshEnv) clientOf(ns, svcNS, svc string, port int32) *grpc.ClientConn {
	e.t.Helper()
	cfg, err := bootstrap.GRPC(bootstrap.Options{Group: meshtranslate.ProxyName(ns), NodeID: "client-" + ns, XDSAddress: e.xds})
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := xds.NewXDSResolverWithConfigForTesting(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///"+meshtranslate.RouteConfigName(svcNS, svc, port),
		grpc.WithResolvers(r), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// rawCodec sends and receives bytes as they are: the echo backend answers
// any method with JSON in a gRPC frame.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// call sends one RPC whose method is the HTTP path under test, with
// request headers kv, and returns what the backend saw.
func call(conn *grpc.ClientConn, path string, kv ...string) (echo.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	var out []byte
	var got echo.Response
	if err := conn.Invoke(ctx, path, []byte("{}"), &out, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(true)); err != nil {
		return got, err
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return got, fmt.Errorf("%s: reply %q: %w", path, out, err)
	}
	return got, nil
}

// backendCounts makes n calls of path and counts the backends that answered (a
// failed call counts under "error: ...").
func backendCounts(conn *grpc.ClientConn, n int, path string) map[string]int {
	c := map[string]int{}
	for range n {
		got, err := call(conn, path)
		if err != nil {
			c["error: "+err.Error()]++
			continue
		}
		c[got.Name]++
	}
	return c
}

// eventually retries check for up to 20 s (the client's first resources
// and a changed route arrive asynchronously).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backendName is the echo name of a Deployment of the producer namespace.
func backendName(deployment string) string { return deployment + "." + meshNS }

// sortedKeys lists a count map for messages.
func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
