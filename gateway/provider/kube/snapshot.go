package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
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
	return snapshotFrom(ctx, c, opts)
}

func snapshotFrom(ctx context.Context, c client.Reader, opts Options) (*resource.Set, error) {
	b := &builder{reader: c, opts: opts, namespaces: opts.WatchNamespaces}
	set := &resource.Set{}
	optional := map[string]bool{}
	for _, k := range watchedKinds {
		optional[k.name] = k.optional
	}
	for _, l := range loaders {
		err := l.load(ctx, b, set)
		switch {
		case err == nil:
		case optional[l.kind] && meta.IsNoMatchError(err):
			opts.logger().Warn("kube snapshot: API not installed, skipped", "kind", l.kind)
		default:
			return nil, fmt.Errorf("kube snapshot: list %s: %w", l.kind, err)
		}
	}
	return filterRelevant(set, opts), nil
}
