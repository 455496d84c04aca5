// Package cmtest runs cert-manager's real controllers against an envtest
// API server, for Gantry's cert-manager tests: the controller binary is
// hack/cert-manager-controller (cert-manager's own controller packages,
// built from the Go module by hack/build-cert-manager.sh), the CRDs come
// from the same module. It also creates CA Issuers and ClusterIssuers.
//
// The cert-manager code runs in its own process, so it never enters
// Gantry's module graph or binary.
package cmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Controllers of hack/cert-manager-controller (cert-manager's names).
const (
	ControllerIssuers        = "issuers"
	ControllerClusterIssuers = "clusterissuers"
	ControllerCA             = "certificaterequests-issuer-ca"
	ControllerApprover       = "certificaterequests-approver"
)

// ErrUnavailable wraps the reason the controller binary could not be found
// or built.
type ErrUnavailable struct{ Reason string }

func (e *ErrUnavailable) Error() string { return "cert-manager controller unavailable: " + e.Reason }

// Options choose what one controller process runs.
type Options struct {
	Controllers []string // empty: all
	Namespace   string   // empty: every namespace
	// ClusterResourceNamespace holds the Secrets of ClusterIssuers.
	ClusterResourceNamespace string
	// Dir receives the kubeconfig and the log (a new temporary folder when
	// empty, removed by Stop).
	Dir string
}

// Controller is a running cert-manager controller process.
type Controller struct {
	cmd     *exec.Cmd
	log     string
	dir     string
	tempDir bool
	done    chan error
}

// Start writes a kubeconfig for cfg and starts the controller process.
func Start(cfg *rest.Config, o Options) (*Controller, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	c := &Controller{dir: o.Dir, done: make(chan error, 1)}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "gantry-cert-manager-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	kubeconfig := filepath.Join(c.dir, "kubeconfig")
	if err := WriteKubeconfig(cfg, kubeconfig); err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig", kubeconfig, "--namespace", o.Namespace}
	if len(o.Controllers) > 0 {
		args = append(args, "--controllers", strings.Join(o.Controllers, ","))
	}
	if o.ClusterResourceNamespace != "" {
		args = append(args, "--cluster-resource-namespace", o.ClusterResourceNamespace)
	}
	c.log = filepath.Join(c.dir, fmt.Sprintf("cert-manager-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("cmtest: start %s: %w", bin, err)
	}
	go func() {
		c.done <- c.cmd.Wait()
		logf.Close()
	}()
	return c, nil
}

// Exited reports whether the process has ended, and how.
func (c *Controller) Exited() (bool, error) {
	select {
	case err := <-c.done:
		c.done <- err
		return true, err
	default:
		return false, nil
	}
}

// LogTail returns the last n bytes of the process's log.
func (c *Controller) LogTail(n int) string {
	data, err := os.ReadFile(c.log)
	if err != nil {
		return err.Error()
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// Stop ends the process (SIGTERM, then SIGKILL after 10s) and removes a
// temporary folder.
func (c *Controller) Stop() error {
	if exited, _ := c.Exited(); !exited {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	if c.tempDir {
		return os.RemoveAll(c.dir)
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig file with cfg's server and
// credentials.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"envtest": {
			Server:                   cfg.Host,
			CertificateAuthorityData: cfg.CAData,
			CertificateAuthority:     cfg.CAFile,
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"envtest": {
			ClientCertificateData: cfg.CertData,
			ClientKeyData:         cfg.KeyData,
			ClientCertificate:     cfg.CertFile,
			ClientKey:             cfg.KeyFile,
			Token:                 cfg.BearerToken,
		}},
		Contexts:       map[string]*clientcmdapi.Context{"envtest": {Cluster: "envtest", AuthInfo: "envtest"}},
		CurrentContext: "envtest",
	}
	if err := clientcmd.WriteToFile(kc, path); err != nil {
		return fmt.Errorf("cmtest: kubeconfig: %w", err)
	}
	return nil
}

// Binary returns the controller binary: GANTRY_CERT_MANAGER_CONTROLLER, or
// what hack/build-cert-manager.sh builds (or finds in its cache).
func Binary() (string, error) {
	if p := os.Getenv("GANTRY_CERT_MANAGER_CONTROLLER"); p != "" {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", &ErrUnavailable{Reason: err.Error()}
	}
	script := filepath.Join(root, "hack", "build-cert-manager.sh")
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", &ErrUnavailable{Reason: fmt.Sprintf("%s: %v: %s", script, err, strings.TrimSpace(stderr.String()))}
	}
	return strings.TrimSpace(string(out)), nil
}

// CRDs lists the cert-manager.io CRD files of the cert-manager module (the
// version Gantry's go.mod pins).
func CRDs() ([]string, error) {
	dir, err := goOutput("list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "deploy", "crds", "cert-manager.io_*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("cmtest: no cert-manager.io CRDs under %s/deploy/crds", dir)
	}
	return files, nil
}

func repoRoot() (string, error) {
	gomod, err := goOutput("env", "GOMOD")
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.Join(errors.New("repository root not found"), err)
	}
	return filepath.Dir(gomod), nil
}

func goOutput(args ...string) (string, error) {
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
