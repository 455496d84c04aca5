// Package loop is Gantry's control loop: providers' input Sets in
// (debounced into batches), translation of the Gateways and mesh groups, the
// build of each connected group's xDS resources, snapshots into the xDS
// cache and status out to the provider's sink.
//
// The loop runs on one goroutine; the xDS server's callbacks (a new key, a
// key gone, a NACK change) only queue work for it. A panic while processing
// a batch is recovered and counted; the last good configuration stays
// served. The loop imports no Kubernetes client and no provider: providers
// reach it through Event values on a channel.
package loop

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/prometheus/client_golang/prometheus"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/ir"
	"github.com/gantryproxy/gantry/xds/server"
)

// Event is one new input Set from a provider, with a hint of what changed.
type Event struct {
	Set *resource.Set
	// EndpointsOnly is set when only EndpointSlices changed: the loop then
	// refreshes endpoints (EDS) without translating routes.
	EndpointsOnly bool
	// Initial marks the provider's first complete Set.
	Initial bool
	// ChangedAt is when the provider saw the change (zero: when received).
	ChangedAt time.Time
	// Diagnostics are the provider's current problems with its inputs
	// (file provider: broken files), shown on /status.
	Diagnostics []string
}

// Sink receives every published result (file: log and /status; kube:
// status writer and infrastructure).
type Sink func(ctx context.Context, res *translate.Result)

// Server is what the loop reads from the xDS server.
type Server interface {
	// ObserveTranslation records how long a batch took.
	ObserveTranslation(time.Duration)
	// ConnectedKeys lists the keys with a connected node.
	ConnectedKeys() []cache.Key
	// Rejections lists what connected proxies rejected.
	Rejections() []server.Rejection
}

var _ Server = (*server.Server)(nil)

// Options configure a Loop.
type Options struct {
	Cache          *cache.Cache
	ControllerName string
	// Sink may be nil.
	Sink   Sink
	Logger *slog.Logger
	// Registry, when set, receives the loop's metrics.
	Registry prometheus.Registerer
	// MeshTelemetry is --mesh-telemetry, checked.
	MeshTelemetry params.Telemetry
	// MeshSecrets, when set, are added to every mesh group (the trust
	// bundle).
	MeshSecrets func() []*ir.Secret
	MeshTLS     *meshtranslate.MTLS // nil: mesh mTLS off
	// MeshOutboundPolicy is --mesh-outbound-policy (empty: allow-any).
	MeshOutboundPolicy ir.OutboundPolicy
	// Stamp, when set, stamps the conditions' transition times of each new
	// status before it is published (file provider). It may replace the
	// report's lists but not write into them: they are shared with the
	// reports published before, which stay as they were published.
	Stamp func(*status.Report)
}

// Loop turns input batches into snapshots: translate (or refresh
// endpoints), build per group and flavor, set in the cache, report status.
type Loop struct {
	opts   Options
	log    *slog.Logger
	panics prometheus.Counter
	srv    Server
	// base is the last translated status before markRejected; only the
	// loop goroutine uses it.
	base  *status.Report
	keys  chan cache.Key
	gone  chan cache.Key
	nacks chan struct{}
	done  chan struct{}
	// built is the proxy each key's snapshot was last built from; only the
	// loop goroutine uses it.
	built map[cache.Key]*ir.Proxy
	// builders build each key's snapshot at the cost of what changed;
	// only the loop goroutine uses them.
	builders map[cache.Key]*programmed.Builder
	// pieces are the last translation's inputs and parts (scope.go); only
	// the loop goroutine uses them.
	pieces *pieces
	// endpoints indexes the Services and EndpointSlices of the Set of the
	// last endpoint-only batch (endpoint_index.go); loop goroutine only.
	endpoints *endpointIndex

	mu          sync.Mutex
	result      *translate.Result
	set         *resource.Set
	diagnostics []string
	flavors     map[string]map[string]bool // group -> flavors built
	ready       bool
}

// New returns a loop; call UseServer before Run when an xDS server feeds
// it.
func New(o Options) *Loop {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Loop{opts: o, log: log, keys: make(chan cache.Key, 64), gone: make(chan cache.Key, 64), done: make(chan struct{}),
		nacks: make(chan struct{}, 1), flavors: map[string]map[string]bool{}, built: map[cache.Key]*ir.Proxy{},
		builders: map[cache.Key]*programmed.Builder{},
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_loop_panics_total",
			Help: "Batches whose processing panicked; the previous configuration stayed served.",
		})}
	if o.Registry != nil {
		o.Registry.MustRegister(l.panics)
	}
	return l
}

// UseServer connects the xDS server's view (connected keys, rejections,
// the translation histogram). Call it before Run.
func (l *Loop) UseServer(s Server) { l.srv = s }

// SetStamp sets Options.Stamp. Call it before Run.
func (l *Loop) SetStamp(f func(*status.Report)) { l.opts.Stamp = f }

// MeshTelemetry returns the mesh telemetry setting the loop applies.
func (l *Loop) MeshTelemetry() params.Telemetry { return l.opts.MeshTelemetry }

// Wait returns once Run has returned.
func (l *Loop) Wait() { <-l.done }

// Run processes batches of events until ctx ends or events closes.
func (l *Loop) Run(ctx context.Context, events <-chan Event) {
	defer close(l.done)
	batches := make(chan Event)
	go debounce(ctx, events, batches, QuietWindow, MaxDelay)
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-batches:
			if !ok {
				return
			}
			l.safely("batch", l.batchNames(b.Set), func() { l.process(ctx, b) })
		case k := <-l.keys:
			l.safely("new key "+k.Group, noNames, func() { l.addKey(k) })
		case k := <-l.gone:
			l.safely("key gone "+k.Group, noNames, func() { l.dropKey(k) })
		case <-l.nacks:
			l.safely("NACK change", noNames, func() { l.republish(ctx) })
		}
	}
}

func (l *Loop) process(ctx context.Context, b Event) {
	start := time.Now()
	l.mu.Lock()
	prev, prevSet := l.result, l.set
	l.mu.Unlock()
	if b.EndpointsOnly && prev != nil {
		if res, ok := l.endpointsOnly(b, prev, prevSet); ok {
			l.finish(b, res, start)
			return
		}
	}
	res := l.translate(b.Set)
	live := map[string]bool{}
	for _, px := range res.Proxies {
		live[px.Name] = true
		for _, f := range l.flavorsOf(px.Name) {
			if reason, err := l.build(px, f, b.ChangedAt); err != nil {
				programmed.Mark(res.Status, px.Name, reason, err.Error())
			}
		}
	}
	l.base = cloneGateways(res.Status)
	l.markRejected(res.Status)
	if l.opts.Stamp != nil { // after the builds and NACKs, which may turn Programmed False
		l.opts.Stamp(res.Status)
	}
	l.retire(live, b.ChangedAt)
	l.dropBuilders()
	l.finish(b, res, start)
	if l.opts.Sink != nil {
		l.opts.Sink(ctx, res)
	}
}

// retire empties the snapshots of groups that are gone but still wanted by
// a connected node, and frees the others.
func (l *Loop) retire(live map[string]bool, changedAt time.Time) {
	for _, k := range l.opts.Cache.Keys() {
		switch {
		case live[k.Group]:
		case l.wanted(k):
			// The Gateway is gone: its nodes get an empty configuration.
			l.setSnapshot(k, map[string][]types.Resource{}, changedAt)
			delete(l.built, k)
		default:
			// Nobody is connected to it any more: free it.
			l.opts.Cache.Delete(k)
			delete(l.built, k)
		}
	}
	l.emptyForUnknown(live, changedAt)
}

func (l *Loop) finish(b Event, res *translate.Result, start time.Time) {
	if l.srv != nil {
		l.srv.ObserveTranslation(time.Since(start))
	}
	l.mu.Lock()
	l.result, l.set, l.diagnostics, l.ready = res, b.Set, b.Diagnostics, true
	l.mu.Unlock()
}

// flavorsOf lists the flavors to build for a group: always Envoy, plus any
// flavor a connected node asked for.
func (l *Loop) flavorsOf(group string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []string{cache.FlavorEnvoy}
	for f := range l.flavors[group] {
		if f != cache.FlavorEnvoy {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// build turns px into the snapshot of one flavor. The proxy last built for
// that key (the same pointer) is skipped: a change elsewhere costs nothing
// here. Otherwise the key's builder reuses the protos of the IR parts that
// did not change, and the cache marshals only the new ones (an unchanged
// configuration is then not pushed). A configuration that cannot be served
// (build, validation, message size, or the cache refusing it) returns the
// Programmed=False reason and why; the key keeps its previous snapshot.
func (l *Loop) build(px *ir.Proxy, flavor string, changedAt time.Time) (gwapiv1.GatewayConditionReason, error) {
	k := cache.Key{Group: px.Name, Flavor: flavor}
	if prev, ok := l.built[k]; ok && prev == px {
		return "", nil
	}
	b := l.builders[k]
	if b == nil {
		b = programmed.NewBuilder(envoyFlavor(flavor))
		l.builders[k] = b
	}
	out, err := b.Build(px)
	if err != nil {
		l.log.Error("building xDS failed; keeping the previous configuration", "group", px.Name, "flavor", flavor, "error", err)
		return programmed.Reason(err), err
	}
	if err := l.setSnapshot(k, out.ByType(), changedAt); err != nil {
		return programmed.ReasonNotServed, err
	}
	l.built[k] = px
	return "", nil
}

func (l *Loop) setSnapshot(k cache.Key, byType map[string][]types.Resource, changedAt time.Time) error {
	if err := l.opts.Cache.SetSnapshot(k, byType, cache.SetOptions{ChangedAt: changedAt}); err != nil {
		l.log.Error("snapshot refused; keeping the previous configuration", "group", k.Group, "flavor", k.Flavor, "error", err)
		return fmt.Errorf("snapshot of %s (%s) refused: %w", k.Group, k.Flavor, err)
	}
	return nil
}

// View is the loop's published state.
type View struct {
	// Result is the last published result (nil before the first batch).
	Result *translate.Result
	// Set is the input Set it was computed from.
	Set         *resource.Set
	Diagnostics []string
	// Ready is set once the first batch was processed.
	Ready bool
}

// State returns the last published state.
func (l *Loop) State() View {
	l.mu.Lock()
	defer l.mu.Unlock()
	return View{Result: l.result, Set: l.set, Diagnostics: l.diagnostics, Ready: l.ready}
}

// dropBuilders forgets the builders of keys that are no longer built.
func (l *Loop) dropBuilders() {
	for k := range l.builders {
		if _, ok := l.built[k]; !ok {
			delete(l.builders, k)
		}
	}
}
