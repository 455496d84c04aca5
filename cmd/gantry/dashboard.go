package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
)

// dashboardFlags are the flags of gantry dashboard.
type dashboardFlags struct {
	adminAddress string
	kube         bool
	kubeconfig   string
	kubeContext  string
	namespace    string
	selector     string
	localPort    int
	noBrowser    bool
}

func newDashboardCmd() *cobra.Command {
	f := &dashboardFlags{}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Open the console of a running control plane in a browser",
		Long: `Prints the URL of the read-only console that gantry serve shows on its admin
address (loopback only) and opens it in a browser when one is found ($BROWSER,
xdg-open or open). With --kube it port-forwards a local port to the admin port of
a running controller pod, as kubectl port-forward does, and keeps the forward open
until interrupted.`,
		Example: `  gantry dashboard                          # a local gantry serve on 127.0.0.1:19000
  gantry dashboard --kube -n gantry-system  # the controller in a cluster`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDashboard(ctx, cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.adminAddress, "admin-address", "127.0.0.1:19000", "gantry serve's admin address (with --kube: its port in the pod)")
	fl.BoolVar(&f.kube, "kube", false, "port-forward to a controller pod of the current kubeconfig context")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context")
	fl.StringVarP(&f.namespace, "namespace", "n", "gantry-system", "namespace of the controller")
	fl.StringVarP(&f.selector, "selector", "l", "app.kubernetes.io/name=gantry,app.kubernetes.io/component=controller", "label selector of the controller pods")
	fl.IntVar(&f.localPort, "port", 0, "local port of the forward (default: a free one)")
	fl.BoolVar(&f.noBrowser, "no-browser", false, "print the URL only")
	return cmd
}

func runDashboard(ctx context.Context, out io.Writer, f *dashboardFlags) error {
	if !f.kube {
		url := "http://" + f.adminAddress + "/"
		if err := probeConsole(ctx, url); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("dashboard: %w (is gantry serve running with --admin-address %s?)", err, f.adminAddress)}
		}
		fmt.Fprintf(out, "Gantry console: %s\n", url)
		openBrowser(out, url, f.noBrowser)
		return nil
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
		&clientcmd.ConfigOverrides{CurrentContext: f.kubeContext}).ClientConfig()
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("dashboard: kubeconfig: %w", err)}
	}
	_, portStr, err := net.SplitHostPort(f.adminAddress)
	remote, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || remote < 1 || remote > 65535 {
		return &exitError{code: 2, err: fmt.Errorf("dashboard: --admin-address %q: want host:port", f.adminAddress)}
	}
	pod, err := controllerPod(ctx, cfg, f.namespace, f.selector)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	return forwardConsole(ctx, out, cfg, pod, f, remote)
}

// controllerPod picks a running, ready controller pod (the first by name).
func controllerPod(ctx context.Context, cfg *rest.Config, ns, selector string) (*corev1.Pod, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("dashboard: list pods in %s (%s): %w", ns, selector, err)
	}
	var best *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase != corev1.PodRunning || !podReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		if best == nil || p.Name < best.Name {
			best = p
		}
	}
	if best == nil {
		return nil, fmt.Errorf("dashboard: no running and ready controller pod in namespace %s matches %q (%d pods match)", ns, selector, len(pods.Items))
	}
	return best, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// forwardConsole port-forwards 127.0.0.1:<local> to the pod's admin port
// (websocket, falling back to SPDY as kubectl does) until ctx ends.
func forwardConsole(ctx context.Context, out io.Writer, cfg *rest.Config, pod *corev1.Pod, f *dashboardFlags, remote int) error {
	dialer, err := portForwardDialer(cfg, pod)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"},
		[]string{fmt.Sprintf("%d:%d", f.localPort, remote)}, ready, io.Discard, io.Discard)
	if err != nil {
		return fmt.Errorf("dashboard: port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	errs := make(chan error, 1)
	go func() { errs <- pf.ForwardPorts() }()
	select {
	case err := <-errs:
		return &exitError{code: 1, err: fmt.Errorf("dashboard: port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)}
	case <-ready:
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		return fmt.Errorf("dashboard: port-forward to pod %s/%s: no local port: %v", pod.Namespace, pod.Name, err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local)
	fmt.Fprintf(out, "Gantry console of pod %s/%s: %s (Ctrl-C to stop)\n", pod.Namespace, pod.Name, url)
	openBrowser(out, url, f.noBrowser)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		if err != nil {
			return fmt.Errorf("dashboard: port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		return nil
	}
}

// probeConsole checks that url answers like the console.
func probeConsole(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// openBrowser starts $BROWSER, xdg-open (Linux) or open (macOS) on url when
// one exists; otherwise the printed URL is all there is.
func openBrowser(out io.Writer, url string, disabled bool) {
	if disabled {
		return
	}
	candidates := []string{os.Getenv("BROWSER")}
	if runtime.GOOS == "darwin" {
		candidates = append(candidates, "open")
	} else {
		candidates = append(candidates, "xdg-open")
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if path, err := exec.LookPath(c); err == nil {
			if err := exec.Command(path, url).Start(); err == nil {
				return
			}
		}
	}
	fmt.Fprintln(out, "No browser found: open the URL above.")
}
