package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gantryproxy/gantry/test/envtest"
)

// local is an envtest API server plus a gantry serve subprocess.
type local struct {
	cfg                    *rest.Config
	metricsURL, xdsAddress string
	env                    *envtest.Env
	cmd                    *exec.Cmd
	dir                    string
}

func startLocal(ctx context.Context, c config) (*local, error) {
	dir, err := os.MkdirTemp("", "gantry-soak-")
	if err != nil {
		return nil, err
	}
	l := &local{dir: dir}
	bin := c.gantryBin
	if bin == "" {
		bin = filepath.Join(dir, "gantry")
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gantry")
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/gantry: %w", err)
		}
	}
	fmt.Fprintln(os.Stderr, "starting envtest API server")
	if l.env, err = envtest.Start(); err != nil {
		return nil, err
	}
	l.cfg = l.env.Config
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(l.cfg, kubeconfig); err != nil {
		l.stop()
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		l.stop()
		return nil, err
	}
	l.xdsAddress = fmt.Sprintf("127.0.0.1:%d", ports[0])
	l.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])
	l.cmd = exec.Command(bin, "serve", "--provider", "kube",
		"--xds-address", l.xdsAddress, "--admin-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--metrics-address", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--xds-service-address", "gantry.gantry-system.svc:18000", "--log-level", "warn",
		"--namespace", localNamespace, "--xds-server-names", "127.0.0.1")
	l.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logf, err := os.Create(filepath.Join(dir, "gantry.log"))
	if err != nil {
		l.stop()
		return nil, err
	}
	l.cmd.Stdout, l.cmd.Stderr = logf, logf
	if err := l.cmd.Start(); err != nil {
		l.stop()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "gantry serve pid %d, logs in %s\n", l.cmd.Process.Pid, logf.Name())
	if err := waitHTTP(ctx, strings.TrimSuffix(l.metricsURL, "/metrics")+"/healthz", 30*time.Second); err != nil {
		l.stop()
		return nil, err
	}
	return l, nil
}

// localNamespace holds the local controller's CA Secret.
const localNamespace = "default"

func (l *local) stop() {
	if l.cmd != nil && l.cmd.Process != nil {
		_ = l.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = l.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = l.cmd.Process.Kill()
		}
	}
	if l.env != nil {
		_ = l.env.Stop()
	}
	_ = os.RemoveAll(l.dir)
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest", Namespace: "default"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering after %v: %v", url, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
