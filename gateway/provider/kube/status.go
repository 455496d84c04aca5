package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// AddressSource gives a Gateway's status.addresses (kube: from the
// generated Service). Implemented by the infrastructure manager.
type AddressSource interface {
	GatewayAddresses(ctx context.Context, gw *gwapiv1.Gateway) (status.BoundAddresses, error)
}

// StatusOptions configure a StatusWriter.
type StatusOptions struct {
	// ControllerName owns the route parent and policy ancestor entries the
	// writer manages; empty means DefaultControllerName.
	ControllerName string
	// Reader, when set (the provider's cache), is read first so that
	// unchanged status costs no API call.
	Reader client.Reader
	// QPS and Burst bound status writes (client-side token bucket);
	// defaults 50 and 100.
	QPS   float32
	Burst int
	// Addresses fills Gateway status.addresses; nil keeps the report's.
	Addresses AddressSource
	// Namespaces limits the sweep for stale entries (the watched
	// namespaces); empty means every namespace.
	Namespaces []string
	// SweepInterval is how often, at most, Write lists the API server for
	// route and policy entries of this controller that the report no longer
	// contains, besides the first Write after NewStatusWriter or Forget;
	// zero means DefaultSweepInterval, negative never sweeps.
	SweepInterval time.Duration
	// Now is the clock for LastTransitionTime; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// StatusWriter writes status.Reports to the status subresource.
type StatusWriter struct {
	client  client.Client
	opts    StatusOptions
	limiter flowcontrol.RateLimiter

	mu sync.Mutex
	// owned are the policies that had entries of this controller in the
	// previous report, and the routes and policies whose last write
	// failed: dropped ones get their entries removed. (The routes of the
	// previous report are in routes.)
	owned map[resource.Key]bool
	// lastSweep is when the API server was last listed for stale entries;
	// zero until the first sweep and after Forget.
	lastSweep time.Time
	// writes counts status updates sent (tests, metrics).
	writes int
	// routes are the previous report's routes and the entries last
	// written for each (status_memo.go); only Write uses them.
	routes *routeWrites
}

// NewStatusWriter returns a writer using c for reads and updates.
func NewStatusWriter(c client.Client, opts StatusOptions) *StatusWriter {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	if opts.QPS <= 0 {
		opts.QPS = 50
	}
	if opts.Burst <= 0 {
		opts.Burst = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &StatusWriter{
		client:  c,
		opts:    opts,
		limiter: flowcontrol.NewTokenBucketRateLimiter(opts.QPS, opts.Burst),
		owned:   map[resource.Key]bool{},
		routes:  &routeWrites{},
	}
}

// Writes returns how many status updates the writer has sent.
func (w *StatusWriter) Writes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

// Forget clears what the writer remembers of earlier reports (call it when
// leadership is regained); the next Write sweeps the API server for
// entries of this controller that its report does not contain.
func (w *StatusWriter) Forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.owned = map[resource.Key]bool{}
	w.routes = &routeWrites{}
	w.lastSweep = time.Time{}
}

// target is one object whose status is to be written.
type target struct {
	key    resource.Key
	object func() client.Object
	// apply sets the desired status on obj and reports whether it changed.
	apply func(ctx context.Context, obj client.Object, now metav1.Time) (bool, error)
	// done, when set, runs once the object holds the desired status.
	done func()
}

// Write writes every status of rep; objects that are gone are skipped. The
// errors of individual objects are joined; one failure does not stop the
// others.
func (w *StatusWriter) Write(ctx context.Context, rep *status.Report) error {
	if rep == nil {
		return nil
	}
	var errs []error
	var stale map[resource.Key]bool
	w.mu.Lock()
	memo := w.routes
	w.mu.Unlock()
	if w.sweepDue() {
		memo = &routeWrites{} // every route is checked again
		w.mu.Lock()
		w.routes = memo
		w.mu.Unlock()
		var err error
		if stale, err = w.sweep(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("status sweep: %w", err))
		}
	}
	targets, owned, next := w.targets(rep, stale, memo)
	for _, t := range targets {
		if err := w.update(ctx, t); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("status of %s: %w", t.key, err))
			if hasEntries(t.key.Kind) {
				// Remembered, so that the next Write retries removing
				// entries of a route or policy rep no longer mentions.
				owned[t.key] = true
			}
			continue
		}
		if t.done != nil {
			t.done()
		}
	}
	w.mu.Lock()
	w.owned, w.routes = owned, next
	w.mu.Unlock()
	return errors.Join(errs...)
}

// targets lists the writes for rep, plus empty route/policy entries for
// objects of the previous report, or found by a sweep (stale), that rep no
// longer mentions; and the routes' memory to keep once they are written.
// Routes cost what changed (routeWrites.diff): only routes whose entries
// are new, and routes that came or went, are looked at.
func (w *StatusWriter) targets(rep *status.Report, stale map[resource.Key]bool, memo *routeWrites) ([]target, map[resource.Key]bool, *routeWrites) {
	var ts []target
	for _, c := range rep.GatewayClasses {
		ts = append(ts, w.classTarget(c))
	}
	for _, g := range rep.Gateways {
		ts = append(ts, w.gatewayTarget(g))
	}
	for _, ls := range rep.ListenerSets {
		ts = append(ts, w.listenerSetTarget(ls))
	}
	for _, m := range rep.XMeshes {
		ts = append(ts, meshTarget(m))
	}
	routes := rep.Routes
	d, ok := memo.diff(routes)
	if !ok { // not in report order (never so from the loop)
		routes = sortedRoutes(routes)
		d, _ = memo.diff(routes)
	}
	for _, i := range d.write {
		if t, ok := w.routeTarget(routes[i]); ok {
			t.done = func() { d.next.record(i, &routes[i]) }
			ts = append(ts, t)
		}
	}
	owned := map[resource.Key]bool{}
	for _, p := range slices.Concat(rep.BackendTLSPolicies, rep.AuthorizationPolicies) {
		if t, ok := w.policyTarget(p); ok {
			ts = append(ts, t)
			owned[t.key] = true
		}
	}
	w.mu.Lock()
	prev := maps.Clone(w.owned)
	w.mu.Unlock()
	maps.Copy(prev, stale)
	for _, k := range d.gone {
		prev[k] = true
	}
	for _, k := range sortedResourceKeys(prev) {
		role := kindRole(k.Kind)
		if owned[k] || (role != resource.RolePolicy && inRoutes(routes, k)) {
			continue
		}
		var t target
		var ok bool
		if role == resource.RolePolicy {
			t, ok = w.policyTarget(status.Policy{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name})
		} else {
			t, ok = w.routeTarget(status.Route{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name})
		}
		if ok {
			ts = append(ts, t)
		}
	}
	return ts, owned, d.next
}

// update writes one target: the desired status is applied to the cached
// object and, if it changed, sent with the cached resourceVersion; on a
// conflict (or without a cache) it is read-modify-write against the API
// server with retries.
func (w *StatusWriter) update(ctx context.Context, t target) error {
	nn := types.NamespacedName{Namespace: t.key.Namespace, Name: t.key.Name}
	now := metav1.NewTime(w.opts.Now().Truncate(time.Second))
	if w.opts.Reader != nil {
		obj := t.object()
		if err := w.opts.Reader.Get(ctx, nn, obj); err == nil {
			changed, err := t.apply(ctx, obj, now)
			if err != nil {
				return err
			}
			if !changed {
				return nil
			}
			err = w.send(ctx, obj)
			if err == nil || apierrors.IsNotFound(err) {
				return nil
			}
			if !apierrors.IsConflict(err) {
				return err
			}
		}
	}
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		obj := t.object()
		if err := w.client.Get(ctx, nn, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		changed, err := t.apply(ctx, obj, now)
		if err != nil || !changed {
			return err
		}
		return w.send(ctx, obj)
	})
}

// send writes obj's status, rate-limited.
func (w *StatusWriter) send(ctx context.Context, obj client.Object) error {
	if err := w.limiter.Wait(ctx); err != nil {
		return err
	}
	if err := w.client.Status().Update(ctx, obj); err != nil {
		return err
	}
	w.mu.Lock()
	w.writes++
	w.mu.Unlock()
	return nil
}

func (w *StatusWriter) classTarget(c status.GatewayClass) target {
	return target{
		key:    resource.Key{Kind: resource.KindGatewayClass, Name: c.Name},
		object: func() client.Object { return &gwapiv1.GatewayClass{} },
		apply: func(_ context.Context, obj client.Object, now metav1.Time) (bool, error) {
			gc := obj.(*gwapiv1.GatewayClass)
			want := c.Status
			want.Conditions = mergeConditions(gc.Status.Conditions, c.Status.Conditions, generation(c.Generation, gc), now)
			return setIfChanged(&gc.Status, want), nil
		},
	}
}

func (w *StatusWriter) gatewayTarget(g status.Gateway) target {
	return target{
		key:    resource.Key{Kind: resource.KindGateway, Namespace: g.Namespace, Name: g.Name},
		object: func() client.Object { return &gwapiv1.Gateway{} },
		apply: func(ctx context.Context, obj client.Object, now metav1.Time) (bool, error) {
			gw := obj.(*gwapiv1.Gateway)
			desired := g.Status
			if w.opts.Addresses != nil {
				b, err := w.opts.Addresses.GatewayAddresses(ctx, gw)
				if err != nil {
					return false, fmt.Errorf("addresses: %w", err)
				}
				desired = withBoundAddresses(desired, b)
			}
			want := mergeGatewayStatus(gw.Status, desired, desired.Addresses, generation(g.Generation, gw), now)
			return setIfChanged(&gw.Status, want), nil
		},
	}
}

func (w *StatusWriter) listenerSetTarget(ls status.ListenerSet) target {
	return target{
		key:    resource.Key{Kind: resource.KindListenerSet, Namespace: ls.Namespace, Name: ls.Name},
		object: func() client.Object { return &gwapiv1.ListenerSet{} },
		apply: func(_ context.Context, obj client.Object, now metav1.Time) (bool, error) {
			o := obj.(*gwapiv1.ListenerSet)
			want := mergeListenerSetStatus(o.Status, ls.Status, generation(ls.Generation, o), now)
			return setIfChanged(&o.Status, want), nil
		},
	}
}

func (w *StatusWriter) routeTarget(r status.Route) (target, bool) {
	k, ok := resource.KindOf(r.Kind)
	if !ok || k.Role != resource.RoleRoute {
		w.opts.Logger.Warn("status: unknown route kind", "kind", r.Kind, "route", r.Namespace+"/"+r.Name)
		return target{}, false
	}
	controller := gwapiv1.GatewayController(w.opts.ControllerName)
	return target{
		key:    resource.Key{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name},
		object: func() client.Object { return newObject(k) },
		apply: func(_ context.Context, obj client.Object, now metav1.Time) (bool, error) {
			parents := routeParents(obj)
			want := mergeRouteParents(*parents, r.Parents, controller, r.Namespace, generation(r.Generation, obj), now)
			return setIfChanged(parents, want), nil
		},
	}, true
}

func (w *StatusWriter) policyTarget(p status.Policy) (target, bool) {
	k, ok := resource.KindOf(p.Kind)
	if !ok || k.Role != resource.RolePolicy {
		w.opts.Logger.Warn("status: unknown policy kind", "kind", p.Kind, "policy", p.Namespace+"/"+p.Name)
		return target{}, false
	}
	controller := gwapiv1.GatewayController(w.opts.ControllerName)
	return target{
		key:    resource.Key{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name},
		object: func() client.Object { return newObject(k) },
		apply: func(_ context.Context, obj client.Object, now metav1.Time) (bool, error) {
			ancestors := policyAncestors(obj)
			want := mergePolicyAncestors(*ancestors, p.Status.Ancestors, controller, p.Namespace, generation(p.Generation, obj), now)
			return setIfChanged(ancestors, want), nil
		},
	}, true
}

// kindRole is kind's role in resource's table (0 for an unknown kind).
func kindRole(kind string) resource.Role {
	k, _ := resource.KindOf(kind)
	return k.Role
}

// hasEntries reports whether kind's status holds per-controller entries
// (route parents, policy ancestors).
func hasEntries(kind string) bool {
	r := kindRole(kind)
	return r == resource.RoleRoute || r == resource.RolePolicy
}

// routeParents points at the status.parents of an object of a route kind
// (resource.RoleRoute); each route kind has its case.
func routeParents(obj client.Object) *[]gwapiv1.RouteParentStatus {
	switch o := obj.(type) {
	case *gwapiv1.HTTPRoute:
		return &o.Status.Parents
	case *gwapiv1.GRPCRoute:
		return &o.Status.Parents
	case *gwapiv1.TLSRoute:
		return &o.Status.Parents
	case *gwapiv1.TCPRoute:
		return &o.Status.Parents
	case *gwapiv1.UDPRoute:
		return &o.Status.Parents
	}
	panic(fmt.Sprintf("routeParents: %T is not a route", obj))
}

// policyAncestors points at the status.ancestors of an object of a policy
// kind (resource.RolePolicy); each policy kind has its case.
func policyAncestors(obj client.Object) *[]gwapiv1.PolicyAncestorStatus {
	switch o := obj.(type) {
	case *gwapiv1.BackendTLSPolicy:
		return &o.Status.Ancestors
	case *securityv1alpha1.AuthorizationPolicy:
		return &o.Status.Ancestors
	}
	panic(fmt.Sprintf("policyAncestors: %T is not a policy", obj))
}

// generation is the report's generation, or the object's when the report
// has none.
func generation(reported int64, obj client.Object) int64 {
	if reported != 0 {
		return reported
	}
	return obj.GetGeneration()
}

// setIfChanged stores want in *dst and reports whether it differed.
func setIfChanged[T any](dst *T, want T) bool {
	if apiequality.Semantic.DeepEqual(*dst, want) {
		return false
	}

	*dst = want
	return true
}

func sortedResourceKeys(m map[resource.Key]bool) []resource.Key {
	keys := make([]resource.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slicesSortKeys(keys)
	return keys
}
