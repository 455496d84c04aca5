package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// DefaultSweepInterval is how often, at most, the status writer lists the
// API server for route and policy entries of its controller that it no
// longer reports (besides the first write after it starts or Forget).
const DefaultSweepInterval = 10 * time.Minute

// sweepPageSize bounds each list call of a sweep.
const sweepPageSize = 500

// sweepKinds are the kinds whose status holds per-controller entries: every
// route kind (status.parents) and policy kind (status.ancestors).
func sweepKinds() []resource.KindInfo {
	return append(resource.KindsWith(resource.RoleRoute), resource.KindsWith(resource.RolePolicy)...)
}

// sweepDue reports whether the next Write should sweep: after the writer
// started, after Forget (leadership regained), and then every interval.
func (w *StatusWriter) sweepDue() bool {
	if w.opts.SweepInterval < 0 {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSweep.IsZero() || w.opts.Now().Sub(w.lastSweep) >= w.opts.SweepInterval
}

// sweep lists, straight from the API server, the routes and policies
// (in the writer's namespaces) that carry an entry of this controller.
// Entries survive a restart: a route that left Gantry's scope while no
// leader was writing still holds them, and the writer's memory of what it
// wrote is empty. Kinds whose CRD is not installed are skipped.
func (w *StatusWriter) sweep(ctx context.Context) (map[resource.Key]bool, error) {
	ours := gwapiv1.GatewayController(w.opts.ControllerName)
	namespaces := w.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	found := map[resource.Key]bool{}
	var errs []error
	for _, k := range sweepKinds() {
		for _, ns := range namespaces {
			err := w.listPages(ctx, k, ns, func(obj client.Object) {
				if hasEntryOf(obj, k.Role, ours) {
					found[resource.Key{Kind: k.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}] = true
				}
			})
			if err != nil && !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("list %s: %w", k.Kind, err))
			}
		}
	}
	if len(errs) == 0 {
		w.mu.Lock()
		w.lastSweep = w.opts.Now()
		w.mu.Unlock()
	}
	return found, errors.Join(errs...)
}

// listPages lists one kind in ns ("" = all) page by page.
func (w *StatusWriter) listPages(ctx context.Context, k resource.KindInfo, ns string, fn func(client.Object)) error {
	cont := ""
	for {
		list, err := newList(w.client.Scheme(), k)
		if err != nil {
			return err
		}
		opts := []client.ListOption{client.Limit(sweepPageSize), client.Continue(cont)}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := w.client.List(ctx, list, opts...); err != nil {
			return err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, it := range items {
			if obj, ok := it.(client.Object); ok {
				fn(obj)
			}
		}
		if cont = list.GetContinue(); cont == "" {
			return nil
		}
	}
}

// hasEntryOf reports whether obj's status holds an entry of controller c.
func hasEntryOf(obj client.Object, role resource.Role, c gwapiv1.GatewayController) bool {
	if role == resource.RolePolicy {
		for _, a := range *policyAncestors(obj) {
			if a.ControllerName == c {
				return true
			}
		}
		return false
	}
	for _, p := range *routeParents(obj) {
		if p.ControllerName == c {
			return true
		}
	}
	return false
}
