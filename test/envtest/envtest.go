// Package envtest starts a real kube-apiserver and etcd (controller-runtime
// envtest) with the Gateway API CRDs installed, for Gantry's Kubernetes
// tests. Binaries come from KUBEBUILDER_ASSETS or hack/build-envtest.sh.
package envtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Env is a running API server.
type Env struct {
	Config *rest.Config
	env    *envtest.Environment
}

// Stop shuts the API server and etcd down.
func (e *Env) Stop() error { return e.env.Stop() }

// CRDCount is the number of CRDs the API server was started with.
func (e *Env) CRDCount() int { return len(e.env.CRDs) }

// ErrUnavailable wraps the reason the binaries could not be found or built;
// callers skip their tests with it (CI always has them).
type ErrUnavailable struct{ Reason string }

func (e *ErrUnavailable) Error() string { return "envtest unavailable: " + e.Reason }

// Options changes what StartWith installs.
type Options struct {
	// CRDPaths are CRD files or folders to install instead of the Gateway
	// API standard CRDs.
	CRDPaths []string
	// ExtraCRDPaths are CRD files installed besides the Gateway API
	// standard CRDs (ignored with CRDPaths).
	ExtraCRDPaths []string
}

// startTimeout bounds how long the API server and etcd may take to answer.
const startTimeout = 2 * time.Minute

// Start starts an API server with the Gateway API standard CRDs.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith starts an API server with the CRDs the options name.
func StartWith(o Options) (*Env, error) {
	assets, err := assetsDir()
	if err != nil {
		return nil, &ErrUnavailable{Reason: err.Error()}
	}
	crds := o.CRDPaths
	if len(crds) == 0 {
		if crds, err = crdFiles(); err != nil {
			return nil, fmt.Errorf("envtest: gateway-api CRDs: %w", err)
		}
		crds = append(crds, o.ExtraCRDPaths...)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true},
		// A loaded 2-core machine starting several API servers at once
		// (packages test in parallel) needs more than the default 20 s.
		ControlPlaneStartTimeout: startTimeout,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("envtest: start: %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return &Env{Config: cfg, env: env}, nil
}

// assetsDir returns KUBEBUILDER_ASSETS, or builds the binaries with
// hack/build-envtest.sh.
func assetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	gomod, err := goOutput("env", "GOMOD")
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS unset and repository root not found (go env GOMOD: %v)", err)
	}
	script := filepath.Join(filepath.Dir(gomod), "hack", "build-envtest.sh")
	var stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS unset and %s failed: %v: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// crdFiles lists the CRDs of the gateway-api module's standard channel
// (other manifests in that folder are skipped) and Gantry's own CRDs from the
// chart (security.gantry.io).
func crdFiles() ([]string, error) {
	dir, err := goOutput("list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err != nil {
		return nil, err
	}
	var crds []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if bytes.Contains(data, []byte("kind: CustomResourceDefinition")) {
			crds = append(crds, f)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs under %s", dir)
	}
	root, err := goOutput("list", "-m", "-f", "{{.Dir}}", "github.com/gantryproxy/gantry")
	if err != nil {
		return nil, err
	}
	own, err := filepath.Glob(filepath.Join(root, "charts", "gantry", "crds", "security.gantry.io_*.yaml"))
	if err != nil || len(own) == 0 {
		return nil, fmt.Errorf("no Gantry CRDs under %s (run make crds): %v", root, err)
	}
	return append(crds, own...), nil
}

// XMeshCRD is the experimental channel's XMesh CRD of the gateway-api
// module, for Options.ExtraCRDPaths. It is not installed by default: the
// upstream conformance suite refuses a cluster with CRDs of two channels.
func XMeshCRD() (string, error) {
	dir, err := goOutput("list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "config", "crd", "experimental", "gateway.networking.x-k8s.io_xmeshes.yaml"), nil
}

func goOutput(args ...string) (string, error) {
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// UserConfig returns a client configuration for a new user of the given
// groups (no groups: a user without any permission).
func (e *Env) UserConfig(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, e.Config)
	if err != nil {
		return nil, fmt.Errorf("envtest: add user %s: %w", name, err)
	}
	return u.Config(), nil
}
