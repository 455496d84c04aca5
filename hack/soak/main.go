// Command soak drives Gantry's Kubernetes mode and reports its memory and
// reaction time. It is not part of CI.
//
//	go run ./hack/soak -mode bench -routes 1000 -samples 200
//	go run ./hack/soak -mode soak -routes 200 -duration 10m
//	go run ./hack/soak -kubeconfig ~/.kube/config -metrics-url http://127.0.0.1:19001/metrics \
//	    -xds-address 127.0.0.1:18000 -mode bench      # a controller already running in a cluster
//
// Without -kubeconfig it starts an envtest API server (hack/build-envtest.sh)
// and a `gantry serve --provider kube` subprocess built from this checkout.
//
// bench: creates -routes HTTPRoutes on one Gateway, waits until every one is
// Accepted, reports the controller's RSS (process_resident_memory_bytes from
// its /metrics), then updates one route -samples times and reports the time
// from the API write to the new RouteConfiguration at a connected ADS client
// (p50, p99, max).
//
// soak: creates and deletes -routes routes in a loop for -duration and
// reports RSS after every cycle.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/gateway/provider/kube"
)

type config struct {
	mode, kubeconfig, metricsURL, xdsAddress, gantryBin, namespace string
	// caNamespace and caSecret locate the controller's CA, which issues
	// the bench client its fleet certificate.
	caNamespace, caSecret string
	routes, samples       int
	duration              time.Duration
}

func main() {
	var c config
	// A FlagSet of its own: client libraries register -kubeconfig globally.
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	fs.StringVar(&c.mode, "mode", "bench", "bench or soak")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "cluster to use; empty starts envtest and a gantry subprocess")
	fs.StringVar(&c.metricsURL, "metrics-url", "", "the controller's /metrics (with -kubeconfig)")
	fs.StringVar(&c.xdsAddress, "xds-address", "", "the controller's xDS address (with -kubeconfig)")
	fs.StringVar(&c.gantryBin, "gantry", "", "gantry binary for the subprocess (default: go build ./cmd/gantry)")
	fs.StringVar(&c.namespace, "namespace", "soak", "namespace for the generated objects")
	fs.StringVar(&c.caNamespace, "ca-namespace", "gantry-system", "with -kubeconfig: the controller's namespace (its CA Secret)")
	fs.StringVar(&c.caSecret, "ca-secret", "gantry-ca", "the controller's CA Secret")
	fs.IntVar(&c.routes, "routes", 1000, "number of HTTPRoutes")
	fs.IntVar(&c.samples, "samples", 200, "bench: number of route updates timed")
	fs.DurationVar(&c.duration, "duration", 5*time.Minute, "soak: how long to loop")
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	var cfg *rest.Config
	if c.kubeconfig != "" {
		var err error
		if cfg, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig); err != nil {
			return err
		}
		if c.metricsURL == "" || c.xdsAddress == "" {
			return fmt.Errorf("-kubeconfig needs -metrics-url and -xds-address of the running controller")
		}
	} else {
		local, err := startLocal(ctx, c)
		if err != nil {
			return err
		}
		defer local.stop()
		cfg, c.metricsURL, c.xdsAddress, c.caNamespace = local.cfg, local.metricsURL, local.xdsAddress, localNamespace
	}
	cfg.QPS, cfg.Burst = 500, 1000
	scheme, err := kube.NewScheme()
	if err != nil {
		return err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	l := &load{c: cl, ns: c.namespace, cfg: cfg}
	if err := l.setup(ctx); err != nil {
		return err
	}
	switch c.mode {
	case "bench":
		return bench(ctx, c, l)
	case "soak":
		return soak(ctx, c, l)
	}
	return fmt.Errorf("-mode %q: want bench or soak", c.mode)
}
