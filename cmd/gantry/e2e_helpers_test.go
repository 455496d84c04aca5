package main

// End-to-end tests of the real serve wiring: the file provider on a temp
// folder, the control loop, the xDS server on 127.0.0.1:0, echo backends on
// loopback, and grpc-go's xDS client (gRPC flavor) or a real Envoy as the
// data plane.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/xds"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/echo"
)

const e2eGroup = "gateway/default/gw"

// syncBuffer collects the control plane's logs; they are printed when a
// test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type e2eEnv struct {
	t        *testing.T
	dir      string
	cp       *controlPlane
	logs     *syncBuffer
	backends map[string]*echo.Server
	cancel   context.CancelFunc
	done     chan error
	// identity of the control plane: plaintext unless a test sets it.
	identity identityOptions
	// configure, when set, adjusts the serve options before start.
	configure func(*serveOptions)
}

// startE2E starts echo backends named in backends and the control plane on
// a folder holding files (name -> YAML; "{{port:NAME}}" is replaced by the
// port of backend NAME).
func startE2E(t *testing.T, backends []string, files map[string]string) *e2eEnv {
	t.Helper()
	// Routing tests: plaintext; e2e_identity_test.go covers TLS.
	return startE2EWith(t, backends, files, identityOptions{xdsInsecure: true})
}

// startE2EWith is startE2E with the control plane's identity options.
func startE2EWith(t *testing.T, backends []string, files map[string]string, id identityOptions) *e2eEnv {
	t.Helper()
	e := &e2eEnv{t: t, dir: t.TempDir(), logs: &syncBuffer{}, backends: map[string]*echo.Server{}, identity: id}
	for _, n := range backends {
		s, err := echo.Listen("127.0.0.1:0", n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		e.backends[n] = s
	}
	for name, content := range files {
		e.write(t, name, content)
	}
	e.start(t, "127.0.0.1:0")
	t.Cleanup(func() {
		e.stop(t)
		if t.Failed() {
			t.Logf("control plane logs:\n%s", e.logs.String())
		}
	})
	return e
}

// start runs the control plane on the folder with its xDS server on
// xdsAddr and waits for the first translation.
func (e *e2eEnv) start(t *testing.T, xdsAddr string) {
	t.Helper()
	o := &serveOptions{
		provider: "file", configDirs: []string{e.dir}, controllerName: translate.DefaultControllerName,
		xdsAddress: xdsAddr, adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: e.identity,
	}
	if e.configure != nil {
		e.configure(o)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	w, err := newFileProvider(ctx, o, log)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := newControlPlane(o, w.sink, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.run(ctx, w.provider) }()
	e.cp, e.cancel, e.done = cp, cancel, done
	e.eventually(t, "the first translation", func() error {
		if !cp.loop.State().Ready {
			return fmt.Errorf("not ready")
		}
		return nil
	})
}

// stop ends the control plane started last (once).
func (e *e2eEnv) stop(t *testing.T) {
	t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop within 10s")
	}
	e.cancel = nil
}

// write puts a file into the config folder atomically (write + rename), so
// the watcher never sees half a file.
func (e *e2eEnv) write(t *testing.T, name, content string) {
	t.Helper()
	for n, s := range e.backends {
		content = strings.ReplaceAll(content, "{{port:"+n+"}}", s.Addr()[strings.LastIndex(s.Addr(), ":")+1:])
	}
	tmp := filepath.Join(e.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
		t.Fatal(err)
	}
}

// eventually retries check for up to 10 s.
func (e *e2eEnv) eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	retryFor(t, 10*time.Second, what, check)
}

// retryFor retries check every 50 ms until it succeeds, failing t with its
// last error after timeout.
func retryFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// grpcClient connects a proxyless gRPC client (its own xDS client, node id
// and ADS stream) to xds:///target.
func (e *e2eEnv) grpcClient(nodeID, target string) *grpc.ClientConn {
	e.t.Helper()
	return xdsClientConn(e.t, grpcBootstrap(e.cp.xdsLn.Addr().String(), nodeID, e2eGroup), target)
}

// grpcBootstrap is the xDS bootstrap of a gRPC-flavor node of group that
// talks to the xDS server at addr.
func grpcBootstrap(addr, nodeID, group string) []byte {
	return []byte(fmt.Sprintf(`{
  "xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
  "node": {"id": %q, "cluster": %q, "metadata": {"gantry.flavor": "grpc"}}
}`, addr, nodeID, group))
}

// xdsClientConn connects a proxyless gRPC client, configured by its xDS
// bootstrap, to xds:///target; the connection closes when the test ends.
func xdsClientConn(t *testing.T, bootstrap []byte, target string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	r, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]grpc.DialOption{grpc.WithResolvers(r), grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient("xds:///"+target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
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

// call sends one RPC whose method is the HTTP path under test and returns
// the name of the backend that answered. kv are request headers.
func call(conn *grpc.ClientConn, path string, kv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	var hdr metadata.MD
	var out []byte
	err := conn.Invoke(ctx, path, []byte("{}"), &out, grpc.ForceCodec(rawCodec{}), grpc.Header(&hdr), grpc.WaitForReady(true))
	if err != nil {
		return "", err
	}
	if v := hdr.Get(echo.HeaderName); len(v) > 0 {
		return v[0], nil
	}
	return "", fmt.Errorf("%s: reply without %s", path, echo.HeaderName)
}

// backendYAML is a Service "name" (port 8080) and its EndpointSlice with
// the echo backend of the same name (none when empty is set).
// The endpoints carry no zone on purpose: grpc-go rejects an EDS resource
// with a locality without an ID, so this checks the gRPC flavor gives one.
func backendYAML(name string, empty bool) string {
	eps := `[{addresses: ["127.0.0.1"], conditions: {ready: true}}]`
	if empty {
		eps = `[]`
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec:
  ports: [{name: grpc, port: 8080, targetPort: {{port:%[1]s}}, appProtocol: kubernetes.io/h2c}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-1, namespace: default, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: grpc, port: {{port:%[1]s}}}]
endpoints: %[2]s
`, name, eps)
}

const gatewayYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gantry}
spec: {controllerName: gantryproxy.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: gantry
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`

// clientFiles issues the identity that may receive group a client
// certificate from the control plane's CA and writes it, with the trust
// bundle, into a folder of the test: the files gantry agent keeps.
func clientFiles(t *testing.T, cp *controlPlane, group string) *bootstrap.Credentials {
	t.Helper()
	id, err := groupIdentity(group, "default")
	if err != nil {
		t.Fatal(err)
	}
	w, err := cp.security.ca.Certificate(id)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &bootstrap.Credentials{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	for path, data := range map[string][]byte{c.CAFile: cp.security.ca.Bundle(), c.CertFile: w.CertPEM, c.KeyFile: w.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
