package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// Snapshot reads every watched kind once, straight from the API server, and
// returns the relevant Set (as the provider would emit it). Kinds whose API
// is not installed are skipped. Used by `gantry analyze --use-kube`.
func Snapshot(ctx context.Context, cfg *rest.Config, opts Options) (*resource.Set, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kube snapshot: client: %w", err)
	}
	return snapshotFrom(ctx, c, scheme, opts)
}

func snapshotFrom(ctx context.Context, c client.Reader, scheme *runtime.Scheme, opts Options) (*resource.Set, error) {
	b := &builder{reader: c, scheme: scheme, opts: opts, namespaces: opts.WatchNamespaces}
	set := &resource.Set{}
	for _, k := range watchedKinds() {
		err := b.load(ctx, k, set)
		switch {
		case err == nil:
		case k.Watch == resource.WatchOptional && meta.IsNoMatchError(err):
			opts.logger().Warn("kube snapshot: API not installed, skipped", "kind", k.Kind)
		default:
			return nil, fmt.Errorf("kube snapshot: list %s: %w", k.Kind, err)
		}
	}
	return filterRelevant(set, opts), nil
}
