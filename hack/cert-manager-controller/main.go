// Command cert-manager-controller runs cert-manager's own controllers (CA
// issuer, Issuer and ClusterIssuer readiness, the default approver) against
// the API server a kubeconfig names. Gantry's cert-manager tests run it on
// the envtest API server, so CertificateRequests are signed by the real
// cert-manager code, built from its Go module at the version Gantry pins.
//
// It lives in its own module so that cert-manager's controller packages and
// their dependencies never enter Gantry's module graph or binary.
// hack/build-cert-manager.sh builds it into ~/.cache/gantry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"

	// The CA issuer type, for the Issuer and ClusterIssuer controllers.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
)

// available is every controller this program can run, in start order. The
// imports above register them with cert-manager's controller package.
var available = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	crca.CRControllerName,
	crapprover.ControllerName,
}

type options struct {
	kubeconfig       string
	controllers      []string
	namespace        string
	clusterResources string
	workers          int
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("cert-manager-controller", flag.ContinueOnError)
	var o options
	var list string
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	fs.StringVar(&list, "controllers", strings.Join(available, ","), "comma-separated controllers to run, of: "+strings.Join(available, ", "))
	fs.StringVar(&o.namespace, "namespace", "", "watch only this namespace (empty: all)")
	fs.StringVar(&o.clusterResources, "cluster-resource-namespace", "cert-manager", "namespace of the Secrets that ClusterIssuers reference")
	fs.IntVar(&o.workers, "workers", 2, "workers per controller")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.kubeconfig == "" {
		return o, errors.New("--kubeconfig is required")
	}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(available, name) {
			return o, fmt.Errorf("unknown controller %q (available: %s)", name, strings.Join(available, ", "))
		}
		o.controllers = append(o.controllers, name)
	}
	if len(o.controllers) == 0 {
		return o, errors.New("--controllers names no controller")
	}
	return o, nil
}

// run builds the controllers from one cert-manager controller context,
// starts the shared informers and runs the controllers until ctx ends.
func run(ctx context.Context, o options) error {
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		Namespace:          o.namespace,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: o.clusterResources},
	})
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	known := controllerpkg.Known()
	var ctrls []controllerpkg.Interface
	for _, name := range o.controllers {
		c, err := known[name](factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		ctrls = append(ctrls, c)
	}
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())

	errs := make([]error, len(ctrls))
	var wg sync.WaitGroup
	for i, c := range ctrls {
		wg.Go(func() {
			if err := c.Run(o.workers, ctx); err != nil {
				errs[i] = fmt.Errorf("controller %s: %w", o.controllers[i], err)
			}
		})
	}
	fmt.Fprintf(os.Stderr, "cert-manager-controller: running %s (namespace %q)\n", strings.Join(o.controllers, ", "), o.namespace)
	wg.Wait()
	return errors.Join(errs...)
}
