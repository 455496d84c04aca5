package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// leakKey is a private key made for one test, with the forms in which it
// could leak: the PEM block, its body, and the base64 of the whole PEM (how
// a Secret's data, and JSON of the IR or of protobuf bytes, carry it).
type leakKey struct {
	certPEM, keyPEM []byte
	needles         []string
}

func newLeakKey(t *testing.T, host string) leakKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	k := leakKey{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	body := base64.StdEncoding.EncodeToString(keyDER)
	whole := base64.StdEncoding.EncodeToString(k.keyPEM)
	k.needles = []string{"PRIVATE KEY", body[8:48], whole[40:100], base64.RawURLEncoding.EncodeToString(k.keyPEM)[40:100]}
	return k
}

// check fails t when out holds the key in any form.
func (k leakKey) check(t *testing.T, what, out string) {
	t.Helper()
	for _, n := range k.needles {
		if strings.Contains(out, n) {
			t.Errorf("%s shows the private key (%q)", what, n)
			return
		}
	}
}

func leakFiles(k leakKey) map[string]string {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	return map[string]string{
		"gateway.yaml": `apiVersion: gateway.networking.k8s.io/v1
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
  - name: https
    port: 443
    protocol: HTTPS
    hostname: secure.example.com
    tls: {mode: Terminate, certificateRefs: [{name: cert}]}
  - name: broken
    port: 443
    protocol: HTTPS
    hostname: broken.example.com
    tls: {mode: Terminate, certificateRefs: [{name: broken}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 8080}]
`,
		"secrets.yaml": fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
---
apiVersion: v1
kind: Secret
metadata: {name: broken, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
`, b64(k.certPEM), b64(k.keyPEM), b64([]byte("not a certificate")), b64(k.keyPEM)),
	}
}

// TestSecretsNeverLeave runs Gantry with a known private key in its input,
// lets a node fetch its SDS secret (the one place the key must go), then
// walks every admin and metrics endpoint and every CLI output (translate in
// every output type and format, analyze in every format, proxy-config,
// errors, and the control plane's debug logs) and fails if the key shows.
func TestSecretsNeverLeave(t *testing.T) {
	k := newLeakKey(t, "secure.example.com")
	e := startE2E(t, nil, leakFiles(k))
	probe := fetchSecrets(t, e)
	if !strings.Contains(probe, string(k.keyPEM)) {
		t.Fatal("the node did not receive its key over SDS; the probe proves nothing")
	}
	admin, metrics := "http://"+e.cp.adminLn.Addr().String(), "http://"+e.cp.metricLn.Addr().String()
	for _, url := range []string{admin + "/status", admin + "/proxies", admin + "/proxies/leak-probe", admin + "/debug/pprof/",
		admin + "/debug/pprof/cmdline", admin + "/debug/pprof/goroutine?debug=2", metrics + "/metrics", metrics + "/healthz", metrics + "/readyz"} {
		code, body := httpGet(t, url)
		if code != http.StatusOK {
			t.Errorf("%s: %d", url, code)
		}
		k.check(t, url, body)
		if strings.HasSuffix(url, "/proxies/leak-probe") && !strings.Contains(body, redacted) {
			t.Errorf("%s: no secret shown redacted; the walk did not see the key's place", url)
		}
	}
	adminAddr := e.cp.adminLn.Addr().String()
	for _, args := range [][]string{
		{"proxy-config", "--admin-address", adminAddr},
		{"proxy-config", "--admin-address", adminAddr, "leak-probe"},
		{"proxy-config", "--admin-address", adminAddr, "leak-probe", "-o", "json"},
	} {
		k.check(t, strings.Join(args, " "), runCLI(t, args...))
	}
	for _, args := range cliOutputs(e.dir) {
		k.check(t, strings.Join(args, " "), runCLI(t, args...))
	}
	if shown := runCLI(t, "translate", "-f", e.dir, "--show-secrets"); !strings.Contains(shown, base64.StdEncoding.EncodeToString(k.keyPEM)[40:100]) {
		t.Error("--show-secrets does not show the key: the checks above could not see one")
	}
	k.check(t, "the control plane's debug logs", e.logs.String())
}

// cliOutputs are the offline commands over dir, including ones that fail.
func cliOutputs(dir string) [][]string {
	broken := filepath.Join(dir, "..", "broken.yaml")
	_ = os.WriteFile(broken, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: x\n"), 0o644)
	var out [][]string
	for _, o := range []string{"yaml", "json"} {
		for _, typ := range []string{"all", "ir", "xds", "status"} {
			out = append(out, []string{"translate", "-f", dir, "-o", o, "--output-type", typ})
		}
	}
	for _, o := range []string{"log", "json", "yaml"} {
		out = append(out, []string{"analyze", "-f", dir, "-o", o})
	}
	return append(out, []string{"translate", "-f", dir, "-f", broken}, []string{"analyze", "-f", dir, "-f", broken})
}

// runCLI runs the root command and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		out.WriteString(err.Error())
	}
	return out.String()
}

// fetchSecrets connects as an Envoy node of the Gateway's group, asks for
// its SDS secrets and returns what it received.
func fetchSecrets(t *testing.T, e *e2eEnv) string {
	t.Helper()
	res := e.cp.loop.State().Result
	var names []string
	for _, p := range res.Proxies {
		for _, s := range p.Secrets {
			names = append(names, s.Name)
		}
	}
	conn, err := grpc.NewClient(e.cp.xdsLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "leak-probe", Cluster: "gateway/default/gw"}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, r := range resp.GetResources() {
		got.Write(r.GetValue())
	}
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: names,
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	e.eventually(t, "the probe node on /proxies", func() error {
		if len(e.cp.xds.Proxy("leak-probe")) == 0 {
			return fmt.Errorf("not connected")
		}
		return nil
	})
	return got.String()
}
