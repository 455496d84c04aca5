package conformance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gantryproxy/gantry/hack/kubestandin"
	"github.com/gantryproxy/gantry/test/envtest"
)

const (
	// gantryNS and gantrySA are the chart's release namespace and service
	// account: the controller runs as that identity, bound by the chart's RBAC.
	gantryNS = "gantry-system"
	gantrySA = "gantry"
)

// Load-balancer addresses: loopback only. Services get dynamic ones; a
// Gateway may request one of the static range (the suite's usable address);
// the unusable address is outside both, so it is never assigned.
var (
	lbDynamic  = [2]netip.Addr{netip.MustParseAddr("127.0.0.10"), netip.MustParseAddr("127.0.0.199")}
	lbStatic   = [2]netip.Addr{netip.MustParseAddr("127.0.0.200"), netip.MustParseAddr("127.0.0.249")}
	usableIP   = "127.0.0.200"
	unusableIP = "127.0.0.254"
)

// cluster is what the suite runs against.
type cluster struct {
	admin *rest.Config
}

// startCluster starts an envtest API server with the Gateway API CRDs,
// kube-controller-manager, the node and load-balancer stand-ins and
// `gantry serve --provider kube` running as the chart's service account.
// Everything stops when the test ends; logs go to dir.
func startCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	kcm := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(kcm); err != nil {
		t.Fatalf("kube-controller-manager not in KUBEBUILDER_ASSETS (%q): %v; hack/build-envtest.sh --with-controller-manager builds it", assets, err)
	}
	env, err := envtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	adminKubeconfig := filepath.Join(dir, "admin.kubeconfig")
	writeKubeconfig(t, env.Config, adminKubeconfig)

	startProcess(t, dir, "kube-controller-manager", nil, kcm,
		"--kubeconfig="+adminKubeconfig, "--leader-elect=false", "--secure-port=0",
		"--controllers="+strings.Join(controllers, ","))

	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	t.Cleanup(func() { cancel(); <-done; <-done })
	errorf := func(format string, args ...any) { t.Logf(format, args...) }
	go func() {
		defer func() { done <- struct{}{} }()
		if err := kubestandin.RunNode(ctx, cs, kubestandin.NodeOptions{Errorf: errorf}); err != nil {
			t.Errorf("node stand-in: %v", err)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		err := kubestandin.RunLoadBalancer(ctx, cs, kubestandin.LoadBalancerOptions{Dynamic: lbDynamic, Static: lbStatic, Errorf: errorf})
		if err != nil {
			t.Errorf("load balancer stand-in: %v", err)
		}
	}()

	applyChartRBAC(t, env.Config)
	user := "system:serviceaccount:" + gantryNS + ":" + gantrySA
	cfg, err := env.UserConfig(user, "system:serviceaccounts", "system:serviceaccounts:"+gantryNS, "system:authenticated")
	if err != nil {
		t.Fatal(err)
	}
	gantryKubeconfig := filepath.Join(dir, "gantry.kubeconfig")
	writeKubeconfig(t, cfg, gantryKubeconfig)
	startGantry(t, dir, gantryKubeconfig)
	return &cluster{admin: env.Config}
}

// controllers are the kube-controller-manager controllers the suite's
// backends need; the node lifecycle and cloud controllers stay off (the
// stand-ins play the node and the load balancer).
var controllers = []string{
	"deployment-controller", "replicaset-controller", "endpointslice-controller",
	"endpointslice-mirroring-controller", "garbage-collector-controller", "namespace-controller",
	"serviceaccount-controller",
}

// startGantry builds gantry from this checkout and runs `gantry serve
// --provider kube` with kubeconfig (log in dir); it waits until /readyz
// answers.
func startGantry(t *testing.T, dir, kubeconfig string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gantry")
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/gantry")
	build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gantry: %v\n%s", err, out)
	}
	ports := freePorts(t, 3)
	metrics := fmt.Sprintf("127.0.0.1:%d", ports[2])
	startProcess(t, dir, "gantry", []string{"KUBECONFIG=" + kubeconfig}, bin, "serve", "--provider", "kube",
		"--xds-address", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--admin-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--metrics-address", metrics, "--xds-service-address", "gantry."+gantryNS+".svc:18000", "--namespace", gantryNS)
	waitReady(t, "http://"+metrics+"/readyz", time.Minute)
}

// startProcess starts bin with args (environment: this process's plus
// env; output in dir/<name>.log) and stops it when the test ends.
func startProcess(t *testing.T, dir, name string, env []string, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
	})
}

// writeKubeconfig writes cfg's server and credentials as a kubeconfig.
func writeKubeconfig(t *testing.T, cfg *rest.Config, path string) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "user", Namespace: "default"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func waitReady(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url) //nolint:noctx // a loopback probe with a deadline loop
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s (last error %v)", url, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
