package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/consts"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// clusterReadTimeout bounds the whole live read.
const clusterReadTimeout = 2 * time.Minute

// clusterInput is what --use-kube reads.
type clusterInput struct {
	set  *resource.Set
	crds []analyze.CRD
	// namespace is the kubeconfig context's namespace, the default for -n.
	namespace string
}

// readCluster reads the cluster of the kubeconfig context: the Set the
// controller would see (kube.Snapshot), plus what only analyze needs: the
// GatewayClasses of other controllers, the Pods and the Gateway API CRDs.
func readCluster(cmd *cobra.Command, f *analyzeFlags) (*clusterInput, error) {
	cc := f.kube.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig namespace: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), clusterReadTimeout)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	set, err := kube.Snapshot(ctx, cfg, kube.Options{ControllerName: f.controller, IncludeServiceParents: true, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", cfg.Host, err)
	}
	scheme, err := kube.NewScheme()
	if err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", cfg.Host, err)
	}
	out := &clusterInput{namespace: ns}
	if out.set, err = addClusterExtras(ctx, c, set); err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", cfg.Host, err)
	}
	if out.crds, err = clusterCRDs(ctx, c); err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", cfg.Host, err)
	}
	return out, nil
}

// addClusterExtras returns set plus the GatewayClasses it lacks and every
// Pod; set is not modified.
func addClusterExtras(ctx context.Context, c client.Reader, set *resource.Set) (*resource.Set, error) {
	out := *set
	var classes gwapiv1.GatewayClassList
	if err := c.List(ctx, &classes); err != nil {
		return nil, fmt.Errorf("list GatewayClasses: %w", err)
	}
	have := map[string]bool{}
	for gc := range set.GatewayClasses.Values() {
		have[gc.Name] = true
	}
	var missing []*gwapiv1.GatewayClass
	for i := range classes.Items {
		if !have[classes.Items[i].Name] {
			missing = append(missing, &classes.Items[i])
		}
	}
	out.GatewayClasses = set.GatewayClasses.Append(missing...)
	var pods corev1.PodList
	if err := c.List(ctx, &pods); err != nil {
		return nil, fmt.Errorf("list Pods: %w", err)
	}
	all := make([]*corev1.Pod, len(pods.Items))
	for i := range pods.Items {
		all[i] = &pods.Items[i]
	}
	out.Pods = plist.Of(all...)
	return &out, nil
}

// clusterCRDs lists the installed Gateway API CRDs.
func clusterCRDs(ctx context.Context, c client.Reader) ([]analyze.CRD, error) {
	var list apiextensionsv1.CustomResourceDefinitionList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list CustomResourceDefinitions: %w", err)
	}
	var out []analyze.CRD
	for _, crd := range list.Items {
		if crd.Spec.Group != gwapiv1.GroupName || !strings.HasSuffix(crd.Name, "."+gwapiv1.GroupName) {
			continue
		}
		out = append(out, analyze.CRD{Name: crd.Name, BundleVersion: crd.Annotations[consts.BundleVersionAnnotation]})
	}
	return out, nil
}
