package translate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/envoy/envoytest"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Addresses of the Envoy sidecar test, all on the loopback network: the
// Services' cluster IP and the server pod's address.
const (
	testClusterIP = "127.0.0.10"
	testPodIP     = "127.0.0.20"
)

// TestEnvoySidecars sends a request and a TCP exchange from one workload to
// another through two real Envoy sidecars configured by the Envoy flavor of
// one mesh group with mTLS (strict): the client's mesh-outbound chains, the
// server's mesh-inbound chains, the workload certificates as files. No
// capture rules run: each capture listener is bound to the address the
// capture would have redirected from (the Service's cluster IP and port for
// the client, the pod's address and port for the server), so its
// original_dst filter sees the same destination. It runs whenever an envoy
// binary is on PATH or named by GANTRY_ENVOY; otherwise it stops after
// building and validating both bootstraps.
func TestEnvoySidecars(t *testing.T) {
	var handled atomic.Int32
	web := listenLocal(t, "127.0.0.1:0")
	xfcc := make(chan string, 4)
	go func() {
		_ = http.Serve(web, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled.Add(1)
			xfcc <- r.Header.Get("X-Forwarded-Client-Cert")
			fmt.Fprint(w, "web")
		}))
	}()
	db := listenLocal(t, "127.0.0.1:0")
	go serveEcho(db, "db:")
	webPort, dbPort := portOf(web), portOf(db)
	webSvc, dbSvc := freePort(t, testClusterIP), freePort(t, testClusterIP)

	set := sidecarTestSet(t, webSvc, webPort, dbSvc, dbPort)
	authority, err := ca.New(ca.Options{TrustDomain: "cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	clientDir := writeIdentity(t, authority, "client")
	serverDir := writeIdentity(t, authority, "web")

	client := sidecarBootstrap(t, set, clientDir, ir.OutboundListenerName, map[string]string{
		"web": net.JoinHostPort(testClusterIP, strconv.Itoa(webSvc)), "db": net.JoinHostPort(testClusterIP, strconv.Itoa(dbSvc)),
	})
	server := sidecarBootstrap(t, set, serverDir, ir.InboundListenerName, map[string]string{
		"web": net.JoinHostPort(testPodIP, strconv.Itoa(webPort)), "db": net.JoinHostPort(testPodIP, strconv.Itoa(dbPort)),
	})
	// The bootstraps are built and valid without Envoy too.
	for _, path := range []string{client, server} {
		checkBootstrap(t, path)
	}
	bin := envoytest.Binary()
	if bin == "" {
		t.Skip("envoy binary not found (set GANTRY_ENVOY or put envoy on PATH): the two sidecars' bootstraps were built and validated, no traffic sent")
	}
	runEnvoy(t, bin, server, net.JoinHostPort(testPodIP, strconv.Itoa(webPort)))
	runEnvoy(t, bin, client, net.JoinHostPort(testClusterIP, strconv.Itoa(webSvc)))

	resp, err := http.Get("http://" + net.JoinHostPort(testClusterIP, strconv.Itoa(webSvc)) + "/hello")
	if err != nil {
		t.Fatalf("request through the sidecars: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "web" {
		t.Fatalf("through the sidecars: %d %q, want 200 \"web\"", resp.StatusCode, body)
	}
	if got := <-xfcc; !strings.Contains(got, "URI=spiffe://cluster.local/ns/shop/sa/client") {
		t.Errorf("the application saw x-forwarded-client-cert %q, want the client's SPIFFE ID", got)
	}

	conn, err := net.DialTimeout("tcp", net.JoinHostPort(testClusterIP, strconv.Itoa(dbSvc)), 5*time.Second)
	if err != nil {
		t.Fatalf("TCP through the sidecars: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "ping\n")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "db:ping\n" {
		t.Errorf("TCP through the sidecars: %q, %v; want \"db:ping\\n\"", line, err)
	}

	// Strict: a plaintext client of the server's inbound listener is refused.
	before := handled.Load()
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + net.JoinHostPort(testPodIP, strconv.Itoa(webPort)) + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("a plaintext request to a strict workload got %d", resp.StatusCode)
	}
	if handled.Load() != before {
		t.Error("the application handled a plaintext request to a strict workload")
	}
}

// sidecarTestSet is namespace shop with Services web (HTTP) and db (opaque
// TCP) on the test cluster IP, each with one endpoint at the test pod's
// address, the pod running as service account web.
func sidecarTestSet(t *testing.T, webSvc, webPort, dbSvc, dbPort int) *resource.Set {
	t.Helper()
	y := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec: {serviceAccountName: web, containers: [{name: app, image: web}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: %[1]s, ports: [{name: http, port: %[3]d, targetPort: %[4]d}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-a, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: %[4]d}]
endpoints: [{addresses: [%[2]s], conditions: {ready: true}, targetRef: {kind: Pod, name: web-1}}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: %[1]s, ports: [{name: tcp-db, port: %[5]d, targetPort: %[6]d}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-a, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: tcp-db, port: %[6]d}]
endpoints: [{addresses: [%[2]s], conditions: {ready: true}, targetRef: {kind: Pod, name: web-1}}]
`, testClusterIP, testPodIP, webSvc, webPort, dbSvc, dbPort)
	path := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := resource.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// sidecarBootstrap is the static bootstrap of group mesh/shop with the
// certificates of dir, keeping only the capture listener keep, bound once
// per Service to the address its capture would have redirected from.
func sidecarBootstrap(t *testing.T, set *resource.Set, dir, keep string, binds map[string]string) string {
	t.Helper()
	res := Translate(set, Options{MTLS: &MTLS{TrustDomain: "cluster.local", CertDir: dir}})
	var proxy *ir.Proxy
	for _, p := range res.Proxies {
		if p.Name == ProxyName("shop") {
			proxy = p
		}
	}
	built, err := envoy.Build(proxy, envoy.Options{Flavor: envoy.FlavorEnvoy})
	if err != nil {
		t.Fatal(err)
	}
	b, err := envoytest.StaticBootstrap(envoytest.Resources{
		Listeners: built.Listeners, Routes: built.Routes, Clusters: built.Clusters, Endpoints: built.Endpoints, Secrets: built.Secrets,
	}, &corev3.Node{Id: keep, Cluster: ProxyName("shop")})
	if err != nil {
		t.Fatal(err)
	}
	var capture *listenerv3.Listener
	for _, l := range b.StaticResources.Listeners {
		if l.Name == keep {
			capture = l
		}
	}
	b.StaticResources.Listeners = nil
	for _, svc := range []string{"db", "web"} {
		host, port, _ := net.SplitHostPort(binds[svc])
		p, _ := strconv.Atoi(port)
		l := proto.Clone(capture).(*listenerv3.Listener)
		l.Name = keep + "/" + svc
		l.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
		}}}
		b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), keep+".json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		y, _ := yaml.JSONToYAML(js)
		t.Logf("%s bootstrap:\n%s", keep, y)
	}
	return path
}

// checkBootstrap reads a bootstrap file back and validates it (the protos'
// rules; the messages inside Any fields were validated by envoy.Build).
func checkBootstrap(t *testing.T, path string) {
	t.Helper()
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if n := len(b.StaticResources.Listeners); n != 2 {
		t.Fatalf("%s: %d listeners, want one per Service", path, n)
	}
}

// writeIdentity writes the certificate, key and trust bundle of service
// account sa of namespace shop as gantry agent does.
func writeIdentity(t *testing.T, authority *ca.CA, sa string) string {
	t.Helper()
	w, err := authority.Certificate(ca.Identity{Namespace: "shop", ServiceAccount: sa})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{ca.CertFile: w.CertPEM, ca.KeyFile: w.KeyPEM, ca.CAFile: authority.Bundle()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runEnvoy starts Envoy on a bootstrap until the test ends and waits until
// addr accepts connections.
func runEnvoy(t *testing.T, bin, config, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &strings.Builder{}
	cmd := exec.CommandContext(ctx, bin, "-c", config, "--disable-hot-restart", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start envoy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("envoy %s output:\n%s", config, out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("envoy exited early:\n%s", out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("envoy does not listen on %s after 30 s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func listenLocal(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func portOf(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// freePort is a port free on host at the time of the call.
func freePort(t *testing.T, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return portOf(l)
}

// serveEcho answers every line with prefix and the line.
func serveEcho(l net.Listener, prefix string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				fmt.Fprint(c, prefix+line)
			}
		}()
	}
}
