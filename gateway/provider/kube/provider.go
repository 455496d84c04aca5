// Package kube is Gantry's Kubernetes provider: informer caches over the
// Gateway API and core kinds, a resource.Set built on every change (with a
// hint of what changed), the status writer and leader election.
//
// The provider never translates: it hands Sets to its caller and writes the
// status.Report it is given.
package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// DefaultControllerName is the GatewayClass controllerName Gantry acts on.
const DefaultControllerName = "gantryproxy.io/gateway-controller"

// Options configure the provider and Snapshot.
type Options struct {
	// ControllerName selects the GatewayClasses to act on; empty means
	// DefaultControllerName.
	ControllerName string
	// WatchNamespaces limits namespaced objects to these namespaces; empty
	// means every namespace.
	WatchNamespaces []string
	// IncludeServiceParents keeps routes whose only parents are Services
	// (mesh routes); by default only routes attached to Gantry's Gateways
	// are part of the Set.
	IncludeServiceParents bool
	// SyncTimeout bounds the wait for the first complete read of every
	// watched kind (RBAC or API problems otherwise hang silently); default
	// 2 minutes.
	SyncTimeout time.Duration
	// Logger receives provider logs; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) controllerName() string {
	if o.ControllerName == "" {
		return DefaultControllerName
	}
	return o.ControllerName
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Event is one new Set and what changed since the previous Event.
type Event struct {
	Set *resource.Set
	// Changed lists the kinds (resource.Key.Kind) with an added, updated or
	// deleted object since the previous event, sorted. The first event of a
	// run has Initial set and lists every kind present.
	Changed []string
	Initial bool
}

// EndpointsOnly reports whether only EndpointSlices changed, so that the
// caller may take the endpoint fast path.
func (e Event) EndpointsOnly() bool {
	return !e.Initial && len(e.Changed) == 1 && e.Changed[0] == resource.KindEndpointSlice
}

// Provider watches the API server and emits an Event for every relevant
// change. Create it with New and start it with Run.
type Provider struct {
	cfg  *rest.Config
	opts Options

	kick chan struct{}

	mu     sync.RWMutex
	reader cache.Cache
	last   *resource.Set
}

// New returns a provider for the cluster behind cfg.
func New(cfg *rest.Config, opts Options) *Provider {
	return &Provider{cfg: cfg, opts: opts, kick: make(chan struct{}, 1)}
}

// Reader returns the provider's cache once Run has synced it, else nil. The
// status writer and infrastructure manager read through it.
func (p *Provider) Reader() cache.Cache {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.reader
}

// Last returns the most recently emitted Set, or nil.
func (p *Provider) Last() *resource.Set {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.last
}

// Run starts the informers, waits for them to sync and sends an Event to out
// for the initial state and after every relevant change, until ctx ends.
// Changes that arrive while out is busy are coalesced into the next Event.
func (p *Provider) Run(ctx context.Context, out chan<- Event) error {
	log := p.opts.logger()
	scheme, err := NewScheme()
	if err != nil {
		return err
	}
	c, err := newCache(p.cfg, scheme, p.opts)
	if err != nil {
		return err
	}
	present, err := p.registerInformers(ctx, c)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(ctx) }()
	timeout := p.opts.SyncTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	syncCtx, cancel := context.WithTimeout(ctx, timeout)
	synced := c.WaitForCacheSync(syncCtx)
	cancel()
	if !synced {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kube provider: informer caches (%s) did not sync within %v: check RBAC and installed CRDs", strings.Join(present, ", "), timeout)
	}
	p.mu.Lock()
	p.reader = c
	p.mu.Unlock()
	log.Info("kube provider synced", "kinds", present, "namespaces", p.opts.WatchNamespaces)

	b := &builder{reader: c, scheme: scheme, opts: p.opts, kinds: present}
	var prev fingerprint
	first := true
	for {
		set, fp, err := b.build(ctx)
		if err != nil {
			log.Error("kube provider: building the input set", "error", err)
		} else if changed := fp.diff(prev); first || len(changed) > 0 {
			ev := Event{Set: set, Changed: changed, Initial: first}
			if first {
				ev.Changed = fp.kinds()
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
			p.mu.Lock()
			p.last = set
			p.mu.Unlock()
			prev, first = fp, false
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("kube provider: cache: %w", err)
			}
			return nil
		case <-p.kick:
		}
	}
}

// registerInformers starts an informer per watched kind and returns the
// kinds whose API exists (optional CRDs may be missing).
func (p *Provider) registerInformers(ctx context.Context, c cache.Cache) ([]string, error) {
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	var present []string
	for _, k := range watchedKinds() {
		inf, err := c.GetInformer(ctx, newObject(k), cache.BlockUntilSynced(false))
		if err != nil {
			if meta.IsNoMatchError(err) && k.Watch == resource.WatchOptional {
				p.opts.logger().Warn("kube provider: API not installed, not watching", "kind", k.Kind)
				continue
			}
			return nil, fmt.Errorf("kube provider: informer for %s: %w", k.Kind, err)
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("kube provider: handler for %s: %w", k.Kind, err)
		}
		present = append(present, k.Kind)
	}
	sort.Strings(present)
	return present, nil
}

func (p *Provider) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// fingerprint is the resourceVersion of every object of a built Set.
type fingerprint map[resource.Key]string

// diff returns the kinds whose objects differ between fp and prev, sorted.
func (fp fingerprint) diff(prev fingerprint) []string {
	kinds := map[string]bool{}
	for k, v := range fp {
		if pv, ok := prev[k]; !ok || pv != v {
			kinds[k.Kind] = true
		}
	}
	for k := range prev {
		if _, ok := fp[k]; !ok {
			kinds[k.Kind] = true
		}
	}
	return sortedKeys(kinds)
}

func (fp fingerprint) kinds() []string {
	kinds := map[string]bool{}
	for k := range fp {
		kinds[k.Kind] = true
	}
	return sortedKeys(kinds)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
